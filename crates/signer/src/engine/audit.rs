//! What the engine writes on the signer's audit log, and when.
//!
//! Every decision lands on the log in the transaction that makes it, with
//! the policy version that made it and the gateway log head its request
//! carried; a refused authentication lands there too (the drill counts on
//! finding every attempt).

use crate::store::Connection;
use coffer_audit::{Head, Record};
use serde_json::{Value, json};

use super::{Engine, EngineError, now_ms};
use crate::store;

/// The actor for acts the signer does on its own (tracking, hot-cap moves).
pub(crate) const SIGNER: &str = "signer";
/// The actor for acts a gateway request asked for.
pub(crate) const GATEWAY: &str = "gateway";

pub(crate) fn append(
    conn: &Connection,
    head: Head,
    actor: &str,
    action: &str,
    subject: &str,
    detail: Value,
) -> Result<Head, EngineError> {
    let record = Record {
        at_ms: now_ms(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail,
    };
    Ok(store::append_audit(conn, head, record)?)
}

/// SHA-256 of the policy as loaded: two starts with the same digest ran the same rules.
fn policy_digest(policy: &coffer_policy::PolicyFile) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(serde_json::to_vec(policy).unwrap_or_default()))
}

impl Engine {
    /// Logs the start, and stores the controls as laid over this file (a
    /// new file version drops the old overrides: ADR 0013).
    pub(super) async fn log_start(&self, stored: Option<&coffer_policy::Controls>) -> Result<(), EngineError> {
        let mut inner = self.inner.lock().await;
        let policy = self.policy();
        self.metrics.policy(&policy);
        if stored != Some(policy.controls()) {
            store::save_controls(&inner.conn, policy.controls(), super::now())?;
        }
        let detail = json!({
            "policy_version": policy.version(),
            "file_policy_version": policy.file_version(),
            "profile": policy.profile(),
            "frozen": policy.frozen(),
            "overrides_dropped": stored.is_some_and(|s| s.file_version != policy.file_version() && !s.overrides.is_empty()),
            "policy_digest": policy_digest(&self.config.file.policy),
            "hot_wallet": self.hot().to_string(),
            "identity": self.keys.identity().public().to_string(),
            "gateway_key": self.config.gateway_key.to_string(),
            "chains": self.config.chains.iter().map(|c| json!({"chain_id": c.id.0, "cold": c.cold.to_string(),
                "confirmations": c.confirmations})).collect::<Vec<_>>(),
            "screening": {
                "evm_addresses": self.screening.evm_len(),
                "lists": self.screening.lists().iter().map(|l| json!({"name": l.name, "entries": l.entries,
                    "sha256": l.sha256})).collect::<Vec<_>>(),
            },
        });
        let head = inner.audit;
        let head = append(&inner.conn, head, SIGNER, "signer.started", "policy", detail)?;
        inner.audit = head;
        Ok(())
    }
}
