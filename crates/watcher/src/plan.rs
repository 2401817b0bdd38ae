//! From a chain update and the state of the invoices it touches to the
//! store write that applies it: new payments, bookings, invoice changes
//! with their settlements and events. Pure (no I/O, no clock of its own),
//! so every rule can be tested without a node or a database.

use std::collections::{HashMap, HashSet};

use coffer_chain::ChainUpdate;
use coffer_domain::{
    Address, Amount, AssetBook, ChainId, EventId, Invoice, InvoiceId, InvoiceStatus, LedgerTxId, ObservedPayment,
    Payment, PaymentId, PaymentState, Timestamp, Transaction, U256, assess, confirmations, events_for_change,
};
use coffer_store::{Booking, InvoiceChange, LedgerPosting, NewEvent, Settlement};

use crate::view::{InvoiceView, event_payload};

/// The chain's rules.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    /// The chain.
    pub chain_id: ChainId,
    /// Confirmations a payment needs before it counts.
    pub confirmations: u32,
    /// Assets, for decimals in event payloads.
    pub assets: &'a AssetBook,
}

/// The invoices an update touches, as stored.
#[derive(Debug, Default)]
pub struct Touched {
    /// The invoices.
    pub invoices: HashMap<InvoiceId, Invoice>,
    /// Their canonical payments.
    pub payments: HashMap<InvoiceId, Vec<Payment>>,
}

/// What to write.
#[derive(Debug, Default)]
pub struct Plan {
    /// Payments newly seen.
    pub payments: Vec<Payment>,
    /// Payments that reached their confirmations.
    pub bookings: Vec<Booking>,
    /// Invoice changes.
    pub changes: Vec<InvoiceChange>,
    /// Touched invoices that still have payments waiting for confirmations.
    pub awaiting: HashSet<InvoiceId>,
}

/// A rule the data broke: a bug or corrupt data, never a state to write.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A posting did not balance.
    #[error(transparent)]
    Ledger(#[from] coffer_domain::LedgerError),
    /// The lifecycle refused a status change.
    #[error(transparent)]
    Transition(#[from] coffer_domain::InvalidTransition),
    /// An invoice would settle with nothing booked to settle.
    #[error("invoice {0} would settle without booked payments")]
    NothingToSettle(InvoiceId),
}

/// Plans a chain update. `lookup` finds the invoice a deposit address
/// belongs to; `touched` holds every invoice that `lookup` returns for the
/// update's transfers, plus those with payments waiting for confirmations
/// or in reverted blocks.
pub fn plan_update(
    rules: Rules<'_>,
    update: &ChainUpdate,
    lookup: impl Fn(&Address) -> Option<InvoiceId>,
    touched: Touched,
    now: Timestamp,
) -> Result<Plan, PlanError> {
    let head = update.tip().number;
    // Expiry is judged by the chain's time: while catching up, the blocks
    // read so far are all there is to know, whatever the wall clock says.
    let as_of = update.tip().time().min(now);
    let Touched { invoices, mut payments } = touched;
    if let Some(fork) = update.reverted_above {
        // The store orphans these; the plan must not count them either.
        for list in payments.values_mut() {
            list.retain(|p| p.block.number <= fork);
        }
    }
    let mut plan = Plan::default();
    for transfer in &update.transfers {
        let Some(invoice_id) = lookup(&transfer.to).filter(|id| invoices.contains_key(id)) else { continue };
        let id = PaymentId::of(rules.chain_id, transfer.block.hash, transfer.tx_hash, transfer.log_index);
        let list = payments.entry(invoice_id).or_default();
        if list.iter().any(|p| p.id == id) {
            continue; // seen before (a step computed again after a crash)
        }
        let payment = Payment {
            id,
            invoice_id,
            amount: Amount::from_units(transfer.asset, transfer.value),
            from: transfer.from,
            to: transfer.to,
            tx_hash: transfer.tx_hash,
            log_index: transfer.log_index,
            block: transfer.block,
            block_time: transfer.block_time,
            state: PaymentState::Canonical,
            booked_at: None,
            settled_at: None,
            seen_at: now,
        };
        list.push(payment.clone());
        plan.payments.push(payment);
    }
    let mut ids: Vec<InvoiceId> = invoices.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let invoice = &invoices[&id];
        let list = payments.entry(id).or_default();
        list.sort_by_key(|p| (p.block.number, p.log_index));
        for payment in list.iter_mut() {
            if payment.booked_at.is_none()
                && confirmations(payment.block.number, head) >= u64::from(rules.confirmations)
            {
                let transaction = Transaction::receipt(payment.amount)?;
                plan.bookings.push(Booking {
                    payment_id: payment.id,
                    invoice_id: id,
                    receipt: LedgerPosting { id: LedgerTxId::new(), transaction },
                });
                payment.booked_at = Some(now);
            }
        }
        if list.iter().any(|p| p.booked_at.is_none()) {
            plan.awaiting.insert(id);
        }
        if let Some(change) = change_for(rules, invoice, list, Some(head), as_of, now)? {
            plan.changes.push(change);
        }
    }
    Ok(plan)
}

/// The change, if any, that `invoice` needs given its canonical `payments`
/// (booking flags up to date), the chain's processed `head`, the time
/// `as_of` the chain has been read up to (for expiry) and `now` (stamps).
/// Settles with the booked, unsettled payments in the invoice's asset, and
/// credits later ones to a settled invoice the same way.
pub fn change_for(
    rules: Rules<'_>,
    invoice: &Invoice,
    payments: &mut [Payment],
    head: Option<u64>,
    as_of: Timestamp,
    now: Timestamp,
) -> Result<Option<InvoiceChange>, PlanError> {
    let observed: Vec<ObservedPayment> = payments.iter().map(Payment::observed).collect();
    // Without a known head nothing is confirmed, so nothing can settle.
    let assessment = assess(invoice, &observed, head.unwrap_or(0), rules.confirmations, as_of);
    if assessment.status != invoice.status {
        invoice.status.transition(assessment.status)?;
    }
    // A settled invoice is credited with every confirmed payment in its asset:
    // those confirmed by now when it settles, and any confirmed afterwards (an
    // overpayment in a later block, a payment after settlement), so that what
    // the merchant gets never depends on how payments fell into blocks.
    let settlement = if assessment.status == InvoiceStatus::Settled {
        let asset = invoice.amount.asset();
        let settled: Vec<&mut Payment> = payments
            .iter_mut()
            .filter(|p| p.amount.asset() == asset && p.booked_at.is_some() && p.settled_at.is_none())
            .collect();
        let total = settled.iter().fold(U256::ZERO, |sum, p| sum.saturating_add(p.amount.units()));
        if total.is_zero() {
            if invoice.status != InvoiceStatus::Settled {
                return Err(PlanError::NothingToSettle(invoice.id));
            }
            None
        } else {
            let transaction = Transaction::settlement(invoice.merchant_id, Amount::from_units(asset, total))?;
            let ids = settled.into_iter().map(|p| {
                p.settled_at = Some(now);
                p.id
            });
            Some(Settlement { posting: LedgerPosting { id: LedgerTxId::new(), transaction }, payments: ids.collect() })
        }
    } else {
        None
    };
    if assessment.status == invoice.status && assessment.exceptions == invoice.exceptions && settlement.is_none() {
        return Ok(None);
    }
    let after = Invoice { status: assessment.status, exceptions: assessment.exceptions, ..invoice.clone() };
    let view = InvoiceView::new(&after, payments, head, rules.assets);
    let events = events_for_change((invoice.status, invoice.exceptions), (after.status, after.exceptions))
        .into_iter()
        .map(|kind| {
            let id = EventId::new();
            NewEvent { id, kind, payload: event_payload(id, kind, now, &view) }
        })
        .collect();
    Ok(Some(InvoiceChange {
        invoice_id: invoice.id,
        merchant_id: invoice.merchant_id,
        from: invoice.status,
        from_exceptions: invoice.exceptions,
        status: after.status,
        exceptions: after.exceptions,
        settlement,
        events,
    }))
}

#[cfg(test)]
mod tests;
