#![allow(clippy::unwrap_used, unreachable_pub)]

//! Approvers as the signer's tests play them: ed25519 keys the gateway
//! never holds, signing with ed25519-dalek directly (independently of the
//! signer's own key code).

use coffer_signer_api::{Approval, ChangeProposal, Decision, Digest, PolicyChange, PublicKey};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

use super::harness::{Answer, Treasury, now};

/// Approver `n`'s key (1, 2, 3 are listed in [`approvals_toml`]; others are not).
pub fn approver(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn public(key: &SigningKey) -> PublicKey {
    PublicKey::from_bytes(&key.verifying_key().to_bytes()).unwrap()
}

pub fn sign(key: &SigningKey, decision: Decision, digest: Digest) -> Approval {
    let signature = hex::encode(key.sign(decision.signed_text(&digest).as_bytes()).to_bytes());
    Approval { approver: public(key), decision, digest, signature }
}

/// `[policy.approvals]` with approvers 1–3 and quorum 2.
pub fn approvals_toml(ttl_secs: u64, timelock_secs: u64) -> String {
    let mut text = format!("[policy.approvals]\nquorum = 2\nttl_secs = {ttl_secs}\ntimelock_secs = {timelock_secs}\n");
    for n in 1..=3 {
        text.push_str(&format!(
            "[[policy.approvals.approvers]]\nname = \"approver-{n}\"\nkey = \"{}\"\n",
            public(&approver(n))
        ));
    }
    text
}

impl Treasury {
    /// The signer's controls, as anyone may read them.
    pub async fn control_state(&self) -> Value {
        let answer = self.send_unsigned("GET", "/v1/control", &Value::Null).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body
    }

    /// A proposal of `change` against the version in force, expiring in 10 minutes.
    pub async fn propose(&self, change: PolicyChange) -> ChangeProposal {
        let version = self.control_state().await["policy_version"].as_u64().unwrap();
        ChangeProposal { change, base_version: version, expires_at: now() + 600 }
    }

    /// Sends `proposal` signed by `signers`.
    pub async fn control(&self, proposal: &ChangeProposal, signers: &[(u8, Decision)]) -> Answer {
        let digest = proposal.digest();
        let approvals: Vec<_> = signers.iter().map(|(n, d)| sign(&approver(*n), *d, digest)).collect();
        self.send_unsigned("POST", "/v1/control", &json!({ "proposal": proposal, "approvals": approvals })).await
    }

    /// Approver `n`'s `decision` on payout `id`'s round `digest`.
    pub async fn approve(&self, id: &str, approval: &Approval) -> Answer {
        self.send_unsigned("POST", &format!("/v1/payouts/{id}/approvals"), &serde_json::to_value(approval).unwrap())
            .await
    }
}
