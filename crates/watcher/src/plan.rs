//! From a chain update and the state of the invoices it touches to the
//! store write that applies it: new payments, bookings, invoice changes
//! with their settlements and events. Pure (no I/O, no clock of its own),
//! so every rule can be tested without a node or a database.

use std::collections::{HashMap, HashSet};

use coffer_chain::{ChainUpdate, Transfer};
use coffer_domain::{
    Address, Amount, AssetBook, ChainId, EventId, Hold, Invoice, InvoiceId, InvoiceStatus, LedgerTxId, ObservedPayment,
    Payment, PaymentId, PaymentState, Timestamp, Transaction, U256, assess, confirmations, events_for_change,
};
use coffer_store::{Booking, InvoiceChange, LedgerPosting, NewEvent, Recovery, Settlement};

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
    /// The treasury's hot wallet (`[signer] hot_wallet`), if configured.
    pub hot_wallet: Option<Address>,
    /// Screens new payments' senders (ADR 0015).
    pub screener: &'a dyn crate::Screener,
    /// The gateway's public origin, for the views' `checkout_url`.
    pub public_url: &'a str,
}

impl Rules<'_> {
    /// Whether `transfer` may be a customer's payment. What the treasury's
    /// own hot wallet sends a deposit address is the treasury moving its
    /// own money: the gas the signer tops a token deposit up with before
    /// it sweeps it. It is no payment (booked as one it would raise a
    /// `wrong_asset` exception and put the treasury's ETH in suspense); the
    /// sweep's outcome books it.
    pub fn may_be_payment(&self, transfer: &Transfer) -> bool {
        self.hot_wallet != Some(transfer.from)
    }
}

/// The invoices an update touches, as stored.
#[derive(Debug, Default)]
pub struct Touched {
    /// The invoices.
    pub invoices: HashMap<InvoiceId, Invoice>,
    /// Their payments that count: canonical, displaced or written off.
    pub payments: HashMap<InvoiceId, Vec<Payment>>,
    /// Their payments that do not count (orphaned, moved), by id: a transfer
    /// seen again revives its row.
    pub others: HashMap<PaymentId, Payment>,
}

/// What to write.
#[derive(Debug, Default)]
pub struct Plan {
    /// Payments newly seen (or back on the chain, or carrying a displaced
    /// payment's booking: see [`coffer_store::ChainStep::payments`]).
    pub payments: Vec<Payment>,
    /// Payments that reached their confirmations.
    pub bookings: Vec<Booking>,
    /// Written-off payments found again.
    pub recoveries: Vec<Recovery>,
    /// Invoice changes.
    pub changes: Vec<InvoiceChange>,
    /// Touched invoices the watcher must look at again next step: payments
    /// waiting for confirmations, or displaced ones waiting for their transfer.
    pub awaiting: HashSet<InvoiceId>,
    /// Payments this update displaces must be found again by this height.
    pub displace_until: u64,
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
    /// Booked payments whose blocks a reorganisation took away were not
    /// found again by the height they were awaited until: money that was
    /// credited is not on the chain.
    #[error(
        "{} booked payment(s) left the chain in a reorganisation deeper than the confirmations and the new chain \
         does not carry the same transfer by block {head}: {}; a person must decide (coffer chain resolve)",
        .payments.len(),
        .payments.iter().map(|p| format!("{} of invoice {} (tx {})", p.id, p.invoice_id, p.tx_hash)).collect::<Vec<_>>().join(", ")
    )]
    TransferGone {
        /// The chain's height when it was found gone.
        head: u64,
        /// The payments.
        payments: Vec<Payment>,
    },
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
    let displace_until = head.saturating_add(u64::from(rules.confirmations));
    let Touched { invoices, mut payments, mut others } = touched;
    if let Some(fork) = update.reverted_above {
        // As the store does: unbooked payments above the fork are orphaned
        // (they no longer count), booked ones displaced (they do).
        for list in payments.values_mut() {
            list.retain(|p| p.block.number <= fork || p.booked_at.is_some() || p.state != PaymentState::Canonical);
            for p in list.iter_mut().filter(|p| p.block.number > fork && p.state == PaymentState::Canonical) {
                p.state = PaymentState::Displaced;
                p.displaced_until = Some(displace_until);
            }
        }
    }
    let mut plan = Plan { displace_until, ..Plan::default() };
    for transfer in update.transfers.iter().filter(|t| rules.may_be_payment(t)) {
        let Some(invoice_id) = lookup(&transfer.to).filter(|id| invoices.contains_key(id)) else { continue };
        let list = payments.entry(invoice_id).or_default();
        let seen = Payment {
            id: transfer_id(rules.chain_id, transfer),
            invoice_id,
            amount: Amount::from_units(transfer.asset, transfer.value),
            from: transfer.from,
            to: transfer.to,
            tx_hash: transfer.tx_hash,
            log_index: transfer.log_index,
            call_path: transfer.call_path.clone(),
            block: transfer.block,
            block_time: transfer.block_time,
            state: PaymentState::Canonical,
            booked_at: None,
            settled_at: None,
            seen_at: now,
            moved_from: None,
            displaced_until: None,
            hold: rules.screener.screen(&transfer.from).map(Hold::new),
        };
        match list.iter_mut().find(|p| p.id == seen.id) {
            Some(known) if known.state == PaymentState::Canonical => continue, // seen before (a step computed again)
            Some(known) => {
                // Displaced or written off, and its block is back on the chain
                // (A -> B -> A): it counts from where it was, with its booking.
                if known.state == PaymentState::WrittenOff {
                    plan.recoveries.push(recovery(known)?);
                }
                known.state = PaymentState::Canonical;
                known.displaced_until = None;
                plan.payments.push(known.clone());
                continue;
            }
            None => {}
        }
        // A row of this id that no longer counts (orphaned before it was
        // booked, or moved when its booking went elsewhere) is revived, not
        // inserted again: the store refuses a step that would do either wrong.
        let stored = others.remove(&seen.id);
        let away = |p: &Payment| matches!(p.state, PaymentState::Displaced | PaymentState::WrittenOff);
        let payment = match list.iter().position(|p| away(p) && p.same_transfer(&seen)) {
            // The same transfer, mined again in another block (or back in a
            // block it was in before) after a deep reorganisation: the booking
            // moves here; the books do not change.
            Some(index) => {
                let old = list.swap_remove(index);
                if old.state == PaymentState::WrittenOff {
                    plan.recoveries.push(recovery(&old)?);
                }
                let base = stored.unwrap_or(seen);
                Payment {
                    state: PaymentState::Canonical,
                    booked_at: old.booked_at,
                    settled_at: old.settled_at,
                    moved_from: Some(old.id),
                    displaced_until: None,
                    // The booking moves, and with it any operator's decision.
                    hold: old.hold,
                    ..base
                }
            }
            // Its booking counts in another row (which is canonical, so this
            // cannot really be on the chain twice): nothing to revive.
            None if stored.as_ref().is_some_and(|p| p.state == PaymentState::Moved) => continue,
            // Orphaned before it was booked, back with its block: unbooked as it was.
            None => match stored {
                // Screened again: lists imported since it was first seen count.
                Some(orphaned) => {
                    let hold = orphaned.hold.or(seen.hold);
                    Payment { state: PaymentState::Canonical, hold, ..orphaned }
                }
                None => seen,
            },
        };
        list.push(payment.clone());
        plan.payments.push(payment);
    }
    let gone: Vec<Payment> = payments
        .values()
        .flatten()
        .filter(|p| p.state == PaymentState::Displaced && p.displaced_until.is_some_and(|until| head >= until))
        .cloned()
        .collect();
    if !gone.is_empty() {
        return Err(PlanError::TransferGone { head, payments: gone });
    }
    let mut ids: Vec<InvoiceId> = invoices.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let invoice = &invoices[&id];
        let list = payments.entry(id).or_default();
        list.sort_by_key(|p| (p.block.number, p.log_index));
        for payment in list.iter_mut() {
            if payment.booked_at.is_none()
                && payment.state == PaymentState::Canonical
                && confirmations(payment.block.number, head) >= u64::from(rules.confirmations)
            {
                let transaction = if payment.withheld() {
                    Transaction::held_receipt(payment.amount)?
                } else {
                    Transaction::receipt(payment.amount)?
                };
                plan.bookings.push(Booking {
                    payment_id: payment.id,
                    invoice_id: id,
                    receipt: LedgerPosting { id: LedgerTxId::new(), transaction },
                });
                payment.booked_at = Some(now);
            }
        }
        if list.iter().any(|p| p.booked_at.is_none() || p.state == PaymentState::Displaced) {
            plan.awaiting.insert(id);
        }
        if let Some(change) = change_for(rules, invoice, list, Some(head), as_of, now)? {
            plan.changes.push(change);
        }
    }
    Ok(plan)
}

/// A payment's id from where its transfer sits on the chain.
fn transfer_id(chain: ChainId, transfer: &coffer_chain::Transfer) -> PaymentId {
    match &transfer.call_path {
        Some(path) => PaymentId::of_internal(chain, transfer.block.hash, transfer.tx_hash, path),
        None => PaymentId::of(chain, transfer.block.hash, transfer.tx_hash, transfer.log_index),
    }
}

/// Undoes a written-off payment's write-off: its transfer is on the chain after all.
fn recovery(written_off: &Payment) -> Result<Recovery, PlanError> {
    let transaction = Transaction::recovery(written_off.amount)?;
    Ok(Recovery {
        payment_id: written_off.id,
        invoice_id: written_off.invoice_id,
        posting: LedgerPosting { id: LedgerTxId::new(), transaction },
    })
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
            .filter(|p| p.amount.asset() == asset && p.booked_at.is_some() && p.settled_at.is_none() && !p.withheld())
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
    let view = InvoiceView::new(&after, payments, head, rules.assets, rules.public_url);
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
