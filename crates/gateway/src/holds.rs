//! An operator's decision on a payment screening held (ADR 0015): release
//! it (it counts from now on, as if never held: its invoice may settle) or
//! reject it (never credited; it stays on the held account, for a refund
//! or a report). One store transaction writes the decision, the posting
//! that moves a booked released payment from held to suspense, the invoice
//! change that follows and its audit entry.
//!
//! The decision is computed from the payment, its invoice and the chain's
//! cursor as stored, by the same rules the watcher uses
//! (`coffer_watcher::plan::change_for`): no second implementation of what
//! settles an invoice. If the watcher books the payment or changes the
//! invoice meanwhile, the write is stale and the decision is computed again.

use coffer_domain::{HoldState, LedgerTxId, Payment, PaymentId, Timestamp, Transaction};
use coffer_store::{HoldDecision, LedgerPosting, StoreError};
use coffer_watcher::plan::{Rules, change_for};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Attempts at a decision the watcher keeps overtaking before giving up.
const ATTEMPTS: usize = 5;

/// Releases (`release`) or rejects the held payment named `short` (its
/// `pay_…` text), for `note`; returns the payment as decided.
/// `actor` names who decided on the audit log.
pub(crate) async fn decide(
    state: &AppState,
    short: [u8; 16],
    release: bool,
    note: &str,
    actor: &str,
) -> Result<Payment, ApiError> {
    if note.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "reason must say why (it goes on the audit log)"));
    }
    for _ in 0..ATTEMPTS {
        let payment = state.store.payment_by_short_id(short).await?.ok_or_else(|| ApiError::not_found("payment"))?;
        let hold = payment.hold.as_ref().ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidState, format!("payment {} is not held by screening", payment.id))
        })?;
        let to = hold.state.decide(release).map_err(|e| ApiError::new(ErrorCode::InvalidState, e.to_string()))?;
        let decision = plan(state, &payment, to, note).await?;
        let record = crate::audit::hold_decided(&payment, to, note, decision.at, actor);
        match state.store.decide_hold_audited(decision, &record).await {
            Ok((applied, _)) => {
                state.dispatcher.dispatch(applied.deliveries);
                tracing::info!(payment = %payment.id, decision = %to, "hold decided");
                let decided = state.store.payment_by_short_id(short).await?;
                return decided.ok_or_else(|| ApiError::not_found("payment"));
            }
            Err(StoreError::Stale(why)) => tracing::debug!(payment = %payment.id, why, "hold decision stale; again"),
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::new(ErrorCode::Unavailable, "the payment kept changing under the decision; retry"))
}

/// The decision to write: `payment` moved to `to`, and what that changes.
async fn plan(state: &AppState, payment: &Payment, to: HoldState, note: &str) -> Result<HoldDecision, ApiError> {
    let chain = payment.amount.asset().chain_id;
    let confirmations = state
        .watchers
        .chain(chain)
        .map(|c| c.confirmations)
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownChain, format!("chain {chain} is not configured")))?;
    let invoice = state.store.invoices_by_ids(&[payment.invoice_id]).await?.pop();
    let invoice = invoice.ok_or_else(|| ApiError::internal(&"a payment without its invoice"))?;
    let head = state.store.chain_cursor(chain).await?.map(|c| c.number);
    let mut payments = state.store.payments_of(&[invoice.id]).await?;
    let booked = payment.booked_at.is_some();
    for p in payments.iter_mut().filter(|p| p.id == payment.id) {
        if let Some(hold) = p.hold.as_mut() {
            hold.state = to;
        }
    }
    let release = if to == HoldState::Released && booked {
        let transaction = Transaction::hold_release(payment.amount).map_err(|e| ApiError::internal(&e))?;
        Some(LedgerPosting { id: LedgerTxId::new(), transaction })
    } else {
        None
    };
    let now = Timestamp::now();
    let no_screening = coffer_watcher::NoScreening;
    let rules = Rules {
        chain_id: chain,
        confirmations,
        assets: &state.assets,
        hot_wallet: None,
        screener: &no_screening,
        public_url: &state.public_url,
    };
    let change = change_for(rules, &invoice, &mut payments, head, now, now).map_err(|e| ApiError::internal(&e))?;
    Ok(HoldDecision {
        payment_id: payment.id,
        invoice_id: invoice.id,
        to,
        booked,
        release,
        change,
        note: note.to_owned(),
        at: now,
        lease_until: now.plus(state.dispatcher.lease()),
    })
}

/// `pay_…` parsed, or 404 as for any id that names nothing.
pub(crate) fn parse_payment(text: &str) -> Result<[u8; 16], ApiError> {
    PaymentId::parse_short(text).ok_or_else(|| ApiError::not_found("payment"))
}
