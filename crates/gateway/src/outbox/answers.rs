//! A signer's outcome, turned into the change it makes to a payout or a
//! sweep (the domain's `advance`, computed from the record as stored), and
//! recorded with the outbox row's next step.

use coffer_domain::{
    Advance, ApprovalRound, EventId, Payout, PayoutProgress, Refusal, Sweep, SweepProgress, SweepTopUp, Timestamp,
};
use coffer_signer_api::{Outcome, OutcomeState, RequestId, Wallet};
use coffer_store::{AnswerChange, NewEvent, OutboxEntry, OutboxNext, SignerAnswer, SignerRequest};

use super::Outbox;
use crate::payout_view::{PayoutView, event_payload};

/// Unix seconds from the signer, as a time (before 1970 reads as 1970).
fn unix(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(u64::try_from(secs).unwrap_or_default())
}

/// What the signer says of a payout, in the domain's terms.
pub(super) fn payout_progress(state: &OutcomeState) -> PayoutProgress {
    match state {
        OutcomeState::Pending => PayoutProgress::Pending,
        OutcomeState::PendingCooldown { until } => PayoutProgress::Cooldown { until: unix(*until) },
        OutcomeState::PendingApproval { digest, expires_at, quorum, approved_by } => {
            PayoutProgress::Approval(ApprovalRound {
                digest: digest.0,
                expires_at: unix(*expires_at),
                quorum: *quorum,
                approved_by: approved_by.clone(),
            })
        }
        OutcomeState::Refused { rule, message } => {
            PayoutProgress::Refused(Refusal { rule: rule.as_str().to_owned(), message: message.clone() })
        }
        OutcomeState::Broadcast { transfer } => PayoutProgress::Broadcast { tx_hash: transfer.tx_hash },
        OutcomeState::Confirmed { transfer, network_fee, .. } => {
            PayoutProgress::Confirmed { tx_hash: transfer.tx_hash, network_fee: *network_fee }
        }
        OutcomeState::Failed { reason, tx_hash, network_fee, .. } => {
            PayoutProgress::Failed { reason: reason.clone(), tx_hash: *tx_hash, network_fee: *network_fee }
        }
    }
}

/// What the signer says of a sweep, in the domain's terms (neither a
/// cool-down nor approvals apply to sweeps; they read as pending).
pub(super) fn sweep_progress(state: &OutcomeState) -> SweepProgress {
    match state {
        OutcomeState::Pending | OutcomeState::PendingCooldown { .. } | OutcomeState::PendingApproval { .. } => {
            SweepProgress::Pending
        }
        OutcomeState::Refused { rule, message } => {
            SweepProgress::Refused { rule: rule.as_str().to_owned(), message: message.clone() }
        }
        OutcomeState::Broadcast { transfer } => SweepProgress::Broadcast { tx_hash: transfer.tx_hash },
        OutcomeState::Confirmed { transfer, network_fee, top_up, .. } => SweepProgress::Confirmed {
            tx_hash: transfer.tx_hash,
            moved: transfer.amount,
            to_cold: transfer.wallet == Some(Wallet::Cold),
            network_fee: *network_fee,
            top_up: top_up.as_ref().map(|t| SweepTopUp { amount: t.amount, network_fee: t.network_fee }),
        },
        OutcomeState::Failed { reason, tx_hash, network_fee, top_up } => SweepProgress::Failed {
            reason: reason.clone(),
            tx_hash: *tx_hash,
            network_fee: *network_fee,
            top_up: top_up.as_ref().map(|t| SweepTopUp { amount: t.amount, network_fee: t.network_fee }),
        },
    }
}

/// Why a confirmed or sent payout cannot be booked as the signer says:
/// its transfer is not the one asked for.
fn mismatch(payout: &Payout, state: &OutcomeState) -> Option<String> {
    let transfer = match state {
        OutcomeState::Broadcast { transfer } | OutcomeState::Confirmed { transfer, .. } => transfer,
        _ => return None,
    };
    (transfer.to != payout.destination || transfer.amount != payout.amount.units()).then(|| {
        format!(
            "the signer reports a transfer of {} to {} for payout {} of {} to {}; held for a person",
            transfer.amount,
            transfer.to,
            payout.id,
            payout.amount.units(),
            payout.destination
        )
    })
}

impl Outbox {
    /// When to ask again about a request in `state`: a final one never, a
    /// cool-down at its end (but at least every `retry_max`), else soon (a
    /// payout waiting for approvers too: approvals may reach the signer
    /// without passing here, and the gateway must learn when it goes out).
    pub(crate) fn next(&self, state: &OutcomeState, now: Timestamp) -> OutboxNext {
        if state.is_final() {
            return OutboxNext::Done;
        }
        let soon = now.plus(self.settings.poll_interval);
        match state {
            OutcomeState::PendingCooldown { until } => {
                OutboxNext::PollAt(unix(*until).max(soon).min(now.plus(self.settings.retry_max)))
            }
            _ => OutboxNext::PollAt(soon),
        }
    }

    /// Applies an outcome to the record it is about. `Err`: the attempt
    /// failed (the row is retried), with why.
    pub(super) async fn apply(&self, entry: &OutboxEntry, outcome: Outcome) -> Result<(), String> {
        let now = Timestamp::now();
        let (change, next) = match (entry.request, outcome.id) {
            (SignerRequest::Payout(id), RequestId::Payout(answered)) if id == answered => {
                let payout = self.store.payout_by_id(id).await.map_err(|e| e.to_string())?;
                let payout = payout.ok_or_else(|| format!("payout {id} is in the outbox but not stored"))?;
                if let Some(reason) = mismatch(&payout, &outcome.state) {
                    tracing::error!(payout = %id, reason, "payout held");
                    self.failed(entry, coffer_store::OutboxState::Held, reason).await;
                    return Ok(());
                }
                (self.payout_change(payout, &outcome.state, now)?, self.next(&outcome.state, now))
            }
            (SignerRequest::Sweep(id), RequestId::Sweep(answered)) if id == answered => {
                let sweep = self.store.sweep(id).await.map_err(|e| e.to_string())?;
                let sweep = sweep.ok_or_else(|| format!("sweep {id} is in the outbox but not stored"))?;
                let outcome_json = serde_json::to_string(&outcome).map_err(|e| e.to_string())?;
                (sweep_change(sweep, &outcome.state, outcome_json, now)?, self.next(&outcome.state, now))
            }
            (request, answered) => {
                return Err(format!("the signer answered about {answered} when asked about {request:?}"));
            }
        };
        let lease_until = now.plus(self.dispatcher.lease());
        let answer = SignerAnswer { request: entry.request, change, next, at: now, lease_until, relayed: None };
        let recorded = self.store.record_answer(answer).await.map_err(|e| e.to_string())?;
        if !recorded.deliveries.is_empty() {
            self.dispatcher.dispatch(recorded.deliveries);
        }
        Ok(())
    }

    /// Applies what the signer answered to an approval the gateway relayed,
    /// with the relay's audit entry, as any answer is applied (so only as
    /// the signer says); read again and retried if the payout changed
    /// meanwhile. The payout as it is then.
    pub(crate) async fn apply_relayed(
        &self,
        id: coffer_domain::PayoutId,
        outcome: &Outcome,
        audit: coffer_audit::Record,
    ) -> Result<Payout, String> {
        if outcome.id != RequestId::Payout(id) {
            return Err(format!("the signer answered about {} when given an approval of {id}", outcome.id));
        }
        for _ in 0..3 {
            let now = Timestamp::now();
            let payout = self.store.payout_by_id(id).await.map_err(|e| e.to_string())?;
            let payout = payout.ok_or_else(|| format!("payout {id} is not stored"))?;
            if let Some(reason) = mismatch(&payout, &outcome.state) {
                // The outbox holds it for a person when it asks next.
                return Err(reason);
            }
            let change = self.payout_change(payout.clone(), &outcome.state, now)?;
            let computed = change.is_some();
            let answer = SignerAnswer {
                request: SignerRequest::Payout(id),
                change,
                next: self.next(&outcome.state, now),
                at: now,
                lease_until: now.plus(self.dispatcher.lease()),
                relayed: Some(Box::new(audit.clone())),
            };
            let recorded = self.store.record_answer(answer).await.map_err(|e| e.to_string())?;
            if !recorded.deliveries.is_empty() {
                self.dispatcher.dispatch(recorded.deliveries);
            }
            if recorded.applied || !computed {
                let stored = self.store.payout_by_id(id).await.map_err(|e| e.to_string())?;
                return stored.ok_or_else(|| format!("payout {id} is not stored"));
            }
        }
        Err(format!("payout {id} kept changing while an approval's answer was applied"))
    }

    fn payout_change(
        &self,
        payout: Payout,
        state: &OutcomeState,
        now: Timestamp,
    ) -> Result<Option<AnswerChange>, String> {
        match payout.advance(&payout_progress(state), now).map_err(|e| e.to_string())? {
            Advance::Changed(change) => {
                let event = change.event.map(|kind| {
                    let id = EventId::new();
                    let view = PayoutView::new(&change.payout, &self.assets);
                    NewEvent { id, kind, payload: event_payload(id, kind, now, &view) }
                });
                tracing::info!(payout = %payout.id, status = %change.payout.status, "payout changed");
                let audit = Box::new(crate::audit::payout_changed(&change.payout, now));
                Ok(Some(AnswerChange::Payout { from: Box::new(payout), change: Box::new(change), event, audit }))
            }
            Advance::Unchanged => Ok(None),
            // A final payout and a final answer that says otherwise: the
            // signer contradicts what the books hold. Nothing is booked; a
            // person must look.
            Advance::Stale(invalid) if invalid.from.is_final() && state.is_final() => {
                tracing::error!(payout = %payout.id, %invalid, "the signer's final answer contradicts the payout's final state");
                Ok(None)
            }
            Advance::Stale(invalid) => {
                tracing::debug!(payout = %payout.id, %invalid, "an older answer from the signer; ignored");
                Ok(None)
            }
        }
    }
}

fn sweep_change(
    sweep: Sweep,
    state: &OutcomeState,
    outcome: String,
    now: Timestamp,
) -> Result<Option<AnswerChange>, String> {
    match sweep.advance(&sweep_progress(state), now).map_err(|e| e.to_string())? {
        Advance::Changed(change) => {
            Ok(Some(AnswerChange::Sweep { from: Box::new(sweep), change: Box::new(change), outcome }))
        }
        Advance::Unchanged | Advance::Stale(_) => Ok(None),
    }
}
