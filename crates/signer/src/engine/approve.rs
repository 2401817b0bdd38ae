//! Approvals of a waiting payout: each checked against the signer's own
//! approver list and its own record of the payout's round, kept, and the
//! payout decided again once the round has its quorum (ADR 0013).

use coffer_signer_api::{Approval, Decision, Outcome, OutcomeState, PayoutIntent, RequestId, RuleTag};
use serde_json::json;

use super::audit::append;
use super::decide::{Answer, PayoutDecision, Round, refused};
use super::{Engine, EngineError, decision_time};
use crate::store;

/// The actor for approvers' acts on payouts.
const APPROVER: &str = "approver";

impl Engine {
    /// An approver's decision on payout `id`. The gateway may have carried
    /// it: only the approver's signature counts.
    pub(crate) async fn approve(&self, id: &str, approval: Approval) -> Result<Answer, EngineError> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let policy = self.policy();
        let Some(row) = store::request(&inner.conn, id)? else { return Ok(Answer::Unknown) };
        let (Some(rules), OutcomeState::PendingApproval { digest, expires_at, .. }) =
            (policy.approvals().cloned(), row.outcome.clone())
        else {
            let message = format!("payout {id} does not wait for approvals");
            return self.reject(inner, 409, RuleTag::ApprovalNotWaiting, message, id).await;
        };
        let name = match rules.check(&approval, &digest) {
            Ok(name) => name,
            Err(refusal) => {
                let status = if refusal.rule == RuleTag::ApprovalSignature { 401 } else { 409 };
                return self.reject(inner, status, refusal.rule, refusal.message, id).await;
            }
        };
        let now = decision_time(&inner.windows);
        if expires_at <= now {
            let message =
                format!("this round of approvals ended at {expires_at}; the payout waits again under a new digest");
            return self.reject(inner, 409, RuleTag::ApprovalMismatch, message, id).await;
        }
        let intent: PayoutIntent = serde_json::from_str(&row.intent).map_err(|e| store::corrupt("intent", e))?;
        let version = policy.version();
        let mut tx = store::begin(&mut inner.conn)?;
        let mut head = inner.audit;
        if store::insert_payout_approval(&tx, id, &approval, now)? {
            let detail = json!({ "approver": name, "decision": approval.decision, "digest": digest.to_string() });
            head = append(&tx, head, APPROVER, "payout.approval", id, detail)?;
        }
        if approval.decision == Decision::Reject {
            let state = refused(RuleTag::ApprovalRejected, format!("{name} rejected this payout."));
            store::update_request(&tx, id, &state, None, version, now)?;
            let detail = json!({ "state": &state, "policy_version": version });
            head = append(&tx, head, APPROVER, "payout.refused", id, detail)?;
            tx.commit()?;
            inner.audit = head;
            self.metrics.decided(&state);
            return Ok(outcome(&intent, state, version));
        }
        let kept = store::payout_approvals(&tx, id, &digest)?;
        let tally = rules.tally(&kept, &digest);
        let reached = rules.reached(&tally);
        let round = Round { digest, expires_at, names: tally.approved.into_iter().collect(), reached };
        // The node's estimate only when the payout may now be signed: an
        // approval below the quorum costs no node call.
        let gas = if reached { self.payout_gas(&intent).await } else { Ok(0) };
        let PayoutDecision { state, wake_at, spend, head, signed, frozen } = self
            .decide_payout(&mut tx, &inner.windows, &mut inner.alarms, head, &intent, gas, Some(&round), now)
            .await?;
        store::update_request(&tx, id, &state, wake_at, version, now)?;
        tx.commit()?;
        self.committed(inner, head, frozen, spend, &state);
        drop(guard);
        if let Some(signed) = signed {
            self.send(&signed).await;
        }
        Ok(outcome(&intent, state, version))
    }
}

fn outcome(intent: &PayoutIntent, state: OutcomeState, policy_version: u64) -> Answer {
    Answer::Outcome(Box::new(Outcome { id: RequestId::Payout(intent.id), state, policy_version }))
}
