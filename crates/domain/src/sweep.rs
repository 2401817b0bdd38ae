//! Sweeps: a settled invoice's deposit address emptied into the treasury.
//!
//! The gateway asks the signer to sweep deposit `i` of an asset; the signer
//! derives the address, reads its balance and picks the wallet (hot, or cold
//! when hot is at its cap) itself (ADR 0011). A sweep follows the payout
//! lifecycle ([`PayoutStatus`]; a cool-down does not apply, and is read as
//! pending) and books, once confirmed, what moved and what it cost:
//!
//! - the sweep: debit hot (or cold), credit deposits, by what moved;
//! - a sweep of the native coin pays its own gas from the deposit: debit
//!   network fees, credit deposits;
//! - a token sweep needs gas first, sent from the hot wallet (a top-up).
//!   The hot wallet lost what it sent and what sending it cost; the
//!   deposit received what was sent and burnt its own transfer's gas. The
//!   top-up is booked at its whole cost to the hot wallet (debit deposits,
//!   credit hot, by what it sent plus its gas), and all of the request's
//!   gas as spent for the deposit (debit network fees, credit deposits, by
//!   the top-up's gas plus the sweep's). Every account then moves as the
//!   chain did: hot by the top-up and its gas, the deposit by the top-up
//!   less its transfer's gas (what of a top-up the sweep did not burn stays
//!   on the deposit's books, as on its address), network fees by both
//!   fees. One posting of each kind per sweep (a unique index in the
//!   store); so the top-up's gas passes through the deposit's books rather
//!   than being a second fee posting of its own.

use alloy_primitives::{B256, U256};

use crate::{
    Advance, Amount, AssetId, DerivationIndex, FeePayer, InvoiceId, LedgerError, PayoutStatus, SweepId, Timestamp,
    Transaction,
};

/// A sweep as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    /// Its id; the signer decides once per id.
    pub id: SweepId,
    /// The invoice whose deposit address it empties.
    pub invoice_id: InvoiceId,
    /// That address's index (`m/44'/60'/0'/0/index`).
    pub deposit_index: DerivationIndex,
    /// What the books held for the deposit in this asset when it was asked for.
    pub amount: Amount,
    /// The chain's native coin, in which its fees are booked.
    pub fee_asset: AssetId,
    /// Where it is.
    pub status: PayoutStatus,
    /// Its transaction, once sent.
    pub tx_hash: Option<B256>,
    /// Whether it went to the cold address (else hot), once confirmed.
    pub to_cold: Option<bool>,
    /// What moved, once confirmed.
    pub moved: Option<Amount>,
    /// What it cost in gas, its top-up's included, once confirmed.
    pub network_fee: Option<Amount>,
    /// The signer's sentence on a refusal (with its rule) or a failure.
    pub note: Option<String>,
    /// When it was asked for.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// What the signer says about a sweep, in the gateway's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SweepProgress {
    /// Accepted, not sent yet (waiting for its gas, say).
    Pending,
    /// Refused by a rule (below the signer's minimum, the fee budget…).
    Refused {
        /// The signer's rule tag.
        rule: String,
        /// Its sentence.
        message: String,
    },
    /// Sent.
    Broadcast {
        /// Its transaction.
        tx_hash: B256,
    },
    /// Mined and confirmed.
    Confirmed {
        /// Its transaction.
        tx_hash: B256,
        /// What moved, in the asset's base units.
        moved: U256,
        /// Whether it went to the cold address.
        to_cold: bool,
        /// What the sweep's own transaction cost in gas (paid by the
        /// deposit), in the native coin's base units.
        network_fee: U256,
        /// The gas the hot wallet sent the deposit first, if it did.
        top_up: Option<SweepTopUp>,
    },
    /// Reverted or dropped: nothing reached the treasury.
    Failed {
        /// Why.
        reason: String,
        /// The transaction that reverted, if one was mined.
        tx_hash: Option<B256>,
        /// What that reverted transaction cost in gas (paid by the deposit;
        /// zero if none was mined).
        network_fee: U256,
        /// The gas the hot wallet sent the deposit first, if it was mined:
        /// booked as on a confirmation (a reverted top-up moved nothing but its gas).
        top_up: Option<SweepTopUp>,
    },
}

/// A token sweep's gas top-up from the hot wallet, confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepTopUp {
    /// What it sent the deposit, in the native coin's base units.
    pub amount: U256,
    /// What sending it cost in gas (paid by the hot wallet).
    pub network_fee: U256,
}

/// A sweep's change: the sweep after it, and what it books.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepChange {
    /// The sweep after the change.
    pub sweep: Sweep,
    /// The sweep, its top-up and its fee, on a confirmation.
    pub postings: Vec<Transaction>,
}

impl SweepProgress {
    fn status(&self) -> PayoutStatus {
        match self {
            Self::Pending => PayoutStatus::Pending,
            Self::Refused { .. } => PayoutStatus::Refused,
            Self::Broadcast { .. } => PayoutStatus::Broadcast,
            Self::Confirmed { .. } => PayoutStatus::Confirmed,
            Self::Failed { .. } => PayoutStatus::Failed,
        }
    }
}

impl Sweep {
    /// Whether the asset is the chain's native coin (the sweep pays its own gas).
    pub fn is_native(&self) -> bool {
        self.amount.asset() == self.fee_asset
    }

    /// What `progress`, the signer's answer at `at`, does to this sweep.
    pub fn advance(&self, progress: &SweepProgress, at: Timestamp) -> Result<Advance<SweepChange>, LedgerError> {
        let target = progress.status();
        let mut next = self.clone();
        match progress {
            SweepProgress::Pending => {}
            SweepProgress::Refused { rule, message } => next.note = Some(format!("{rule}: {message}")),
            SweepProgress::Broadcast { tx_hash } => next.tx_hash = Some(*tx_hash),
            SweepProgress::Confirmed { tx_hash, moved, to_cold, network_fee, top_up } => {
                next.tx_hash = Some(*tx_hash);
                next.to_cold = Some(*to_cold);
                next.moved = Some(Amount::from_units(self.amount.asset(), *moved));
                let gas = top_up.map_or(Some(*network_fee), |t| network_fee.checked_add(t.network_fee));
                let gas = gas.ok_or(LedgerError::Overflow(self.fee_asset))?;
                next.network_fee = Some(Amount::from_units(self.fee_asset, gas));
            }
            SweepProgress::Failed { reason, tx_hash, network_fee, top_up } => {
                next.note = Some(reason.clone());
                next.tx_hash = tx_hash.or(self.tx_hash);
                let gas = top_up.map_or(Some(*network_fee), |t| network_fee.checked_add(t.network_fee));
                let gas = gas.ok_or(LedgerError::Overflow(self.fee_asset))?;
                next.network_fee = (!gas.is_zero()).then(|| Amount::from_units(self.fee_asset, gas));
            }
        }
        if target == self.status {
            if self.status.is_final() || next == *self {
                return Ok(Advance::Unchanged);
            }
            next.updated_at = at;
            return Ok(Advance::Changed(SweepChange { sweep: next, postings: Vec::new() }));
        }
        if let Err(invalid) = self.status.transition(target) {
            return Ok(Advance::Stale(invalid));
        }
        next.status = target;
        next.updated_at = at;
        let mut postings = Vec::new();
        let top_up = match progress {
            SweepProgress::Confirmed { top_up, .. } | SweepProgress::Failed { top_up, .. } => *top_up,
            _ => None,
        };
        if let (SweepProgress::Confirmed { .. }, Some(moved), Some(to_cold)) = (progress, next.moved, next.to_cold)
            && !moved.is_zero()
        {
            postings.push(Transaction::sweep(moved, to_cold)?);
        }
        if let Some(top_up) = top_up {
            // What the hot wallet sent and paid reaches the deposit's books;
            // the gas then leaves them with the deposit's own (below).
            let cost = top_up.amount.checked_add(top_up.network_fee).ok_or(LedgerError::Overflow(self.fee_asset))?;
            if !cost.is_zero() {
                postings.push(Transaction::top_up(Amount::from_units(self.fee_asset, cost))?);
            }
        }
        if let Some(gas) = next.network_fee.filter(|gas| !gas.is_zero())
            && matches!(progress, SweepProgress::Confirmed { .. } | SweepProgress::Failed { .. })
        {
            postings.push(Transaction::network_fee(gas, FeePayer::Deposit)?);
        }
        Ok(Advance::Changed(SweepChange { sweep: next, postings }))
    }
}

#[cfg(test)]
mod tests;
