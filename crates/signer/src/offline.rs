//! What the signer host's operator may do with the signer stopped, from its
//! own store: lift a freeze when the policy lists no approvers.
//!
//! With approvers, lifting a freeze needs M of them (`POST /v1/control`)
//! and this refuses: the host's operator is one person, and loosening
//! needs a quorum (ADR 0013). Without approvers there is no quorum to ask,
//! and a tripwire's freeze would otherwise last for ever.

use coffer_signer_api::PolicyChange;
use serde_json::json;

use crate::config::SignerConfig;
use crate::store::{self, StoreError};

/// Why the freeze was not lifted.
#[derive(Debug, thiserror::Error)]
pub enum UnfreezeError {
    /// The policy lists approvers: they lift freezes.
    #[error(
        "this signer's policy lists approvers, so lifting a freeze needs {0} of them: coffer policy propose unfreeze, then coffer policy approve"
    )]
    HasApprovers(u8),
    /// Nothing to lift.
    #[error("outgoing payments are not frozen")]
    NotFrozen,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Lifts the freeze in the stored controls and logs it; the policy version
/// it produced. Run it with the signer stopped: a running signer keeps the
/// freeze it holds until it restarts.
pub fn unfreeze_without_approvers(config: &SignerConfig, operator: &str) -> Result<u64, UnfreezeError> {
    let mut conn = store::open(&config.database_path())?;
    let stored = store::controls(&conn)?.unwrap_or_default();
    let policy = config.policy.with_controls(stored);
    if let Some(approvals) = policy.approvals() {
        return Err(UnfreezeError::HasApprovers(approvals.quorum));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let next = policy.apply(&PolicyChange::Unfreeze, now, Some(operator)).map_err(|_| UnfreezeError::NotFrozen)?;
    let tx = store::begin(&mut conn)?;
    store::save_controls(&tx, next.controls(), now)?;
    let head = store::audit_head(&tx)?;
    let record = coffer_audit::Record {
        at_ms: now.saturating_mul(1000),
        actor: "signer-host".into(),
        action: "policy.changed".into(),
        subject: "unfreeze".into(),
        detail: json!({ "change": PolicyChange::Unfreeze, "by": operator, "policy_version": next.version(),
            "why": "no approvers are listed" }),
    };
    store::append_audit(&tx, head, record)?;
    tx.commit()?;
    Ok(next.version())
}
