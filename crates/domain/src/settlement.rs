//! What an invoice's payments add up to: the pure rules behind the invoice
//! lifecycle, kept apart from the chain watcher and the store so that they
//! can be tested exhaustively and replayed after a reorg.
//!
//! The rules, as BTCPay Server users know them:
//!
//! - Only payments in the invoice's asset count. A payment in another asset
//!   to the invoice's address is recorded and reported (`wrong_asset`),
//!   never credited.
//! - Several payments add up. Paid in full but not yet confirmed is
//!   `processing`; once the payments with the chain's confirmations cover
//!   the amount, `settled`.
//! - Less than the amount is `paid_partial`: the invoice stays `new` until it
//!   expires, then `expired`. More is `paid_over`, and still settles.
//! - A payment in a block stamped at or after the expiry is `paid_late`; if
//!   it completes the amount, the expired invoice goes on to settle.
//! - **Exceptions are raised from confirmed payments only.** A merchant acts
//!   on them (refunds an overpayment, chases a partial one), and an
//!   unconfirmed payment can still vanish in a reorganisation: a
//!   `paid_over` raised at 0 confirmations and then reorganised away was
//!   money refunded that never arrived. `processing` alone speaks of
//!   unconfirmed money, and says so when it is withdrawn.
//! - A payment screening holds (its sender is on a sanction or stolen-funds
//!   list) never counts, in any asset, until an operator releases it; once
//!   confirmed it raises `held`. Released, it counts as if never held.
//! - Payments are facts about blocks still on the canonical chain: after a
//!   reorg the watcher removes the orphaned ones and calls [`assess`] again.
//!   An unconfirmed payment that vanishes takes `processing` back to `new`
//!   (or `expired`).
//!
//! Block time, not the time the watcher saw the block, decides lateness, so
//! a watcher catching up after downtime judges as one that never stopped.

use alloy_primitives::U256;

use crate::{AssetId, Exception, Exceptions, Invoice, InvoiceStatus, Timestamp};

/// A payment to an invoice's address, as the chain shows it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObservedPayment {
    /// What arrived: asset and base units.
    pub asset: AssetId,
    /// Base units.
    pub units: U256,
    /// Height of the block that holds it.
    pub block_number: u64,
    /// That block's timestamp.
    pub block_time: Timestamp,
    /// Already booked in the ledger: confirmed, whatever the head says now
    /// (a booked payment whose block a deep reorganisation replaced still
    /// counts until the same transfer is found again or written off).
    pub booked: bool,
    /// Held by screening (or rejected): it never counts towards the amount;
    /// once confirmed it raises `held` (ADR 0015).
    pub withheld: bool,
}

impl ObservedPayment {
    /// Whether it counts as confirmed when the head is `head`.
    pub fn is_confirmed(&self, head: u64, required_confirmations: u32) -> bool {
        self.booked || confirmations(self.block_number, head) >= u64::from(required_confirmations)
    }
}

/// An invoice's standing, computed from its payments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// The status the payments call for.
    pub status: InvoiceStatus,
    /// Base units of the invoice's asset seen, confirmed or not.
    pub seen: U256,
    /// Base units of the invoice's asset with enough confirmations.
    pub confirmed: U256,
    /// Exceptions.
    pub exceptions: Exceptions,
}

/// Confirmations of a payment in block `block` when the chain's head is `head`.
pub fn confirmations(block: u64, head: u64) -> u64 {
    head.checked_sub(block).map_or(0, |depth| depth + 1)
}

/// Assesses `invoice` given its `payments` (those on the canonical chain),
/// the chain `head`, the confirmations the chain requires, and the time `now`.
///
/// An invoice already `settled` or `invalid` keeps its status: those are
/// final, and a reorg deeper than the required confirmations is an incident
/// for people, not a state change (the caller compares and alerts).
pub fn assess(
    invoice: &Invoice,
    payments: &[ObservedPayment],
    head: u64,
    required_confirmations: u32,
    now: Timestamp,
) -> Assessment {
    let asked = invoice.amount.units();
    let asset = invoice.amount.asset();
    let mut seen = U256::ZERO;
    let mut confirmed = U256::ZERO;
    let mut exceptions = Exceptions::default();
    for payment in payments {
        let is_confirmed = payment.is_confirmed(head, required_confirmations);
        if payment.withheld {
            if is_confirmed {
                exceptions.insert(Exception::Held);
            }
            continue;
        }
        if payment.asset != asset {
            if is_confirmed {
                exceptions.insert(Exception::WrongAsset);
            }
            continue;
        }
        seen = seen.saturating_add(payment.units);
        if is_confirmed {
            confirmed = confirmed.saturating_add(payment.units);
            if payment.block_time >= invoice.expires_at {
                exceptions.insert(Exception::PaidLate);
            }
        }
    }
    // Partial: confirmed money that, even with what is still unconfirmed,
    // does not cover the amount (confirmed half of a full payment seen is
    // processing, not partial).
    if confirmed > U256::ZERO && seen < asked {
        exceptions.insert(Exception::PaidPartial);
    }
    if confirmed > asked {
        exceptions.insert(Exception::PaidOver);
    }
    // Once expired, always expired (unless paid): a clock that steps back,
    // or another gateway's slightly different clock, must not reopen it.
    let expired = now >= invoice.expires_at || invoice.status == InvoiceStatus::Expired;
    let status = if invoice.status.is_final() {
        invoice.status
    } else if confirmed >= asked {
        InvoiceStatus::Settled
    } else if seen >= asked {
        InvoiceStatus::Processing
    } else if expired {
        InvoiceStatus::Expired
    } else {
        InvoiceStatus::New
    };
    Assessment { status, seen, confirmed, exceptions }
}

#[cfg(test)]
mod tests;
