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
//! - a token sweep needs gas first, sent from the hot wallet (a top-up):
//!   debit deposits, credit hot, then that gas is spent as the fee: debit
//!   network fees, credit deposits. The signer reports the whole cost of the
//!   request (its top-up's gas included) as one fee, so the top-up is
//!   booked at that fee: whatever of a top-up the sweep did not burn stays
//!   on the deposit address, off the books, until a person looks.

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
    /// What it cost (its top-up's gas included), once confirmed.
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
        /// What the whole request cost, in the native coin's base units.
        network_fee: U256,
    },
    /// Reverted or dropped: nothing moved.
    Failed {
        /// Why.
        reason: String,
        /// The transaction that reverted, if one was mined.
        tx_hash: Option<B256>,
    },
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
            SweepProgress::Confirmed { tx_hash, moved, to_cold, network_fee } => {
                next.tx_hash = Some(*tx_hash);
                next.to_cold = Some(*to_cold);
                next.moved = Some(Amount::from_units(self.amount.asset(), *moved));
                next.network_fee = Some(Amount::from_units(self.fee_asset, *network_fee));
            }
            SweepProgress::Failed { reason, tx_hash } => {
                next.note = Some(reason.clone());
                next.tx_hash = tx_hash.or(self.tx_hash);
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
        if let (Some(moved), Some(fee), Some(to_cold)) = (next.moved, next.network_fee, next.to_cold)
            && target == PayoutStatus::Confirmed
        {
            if !moved.is_zero() {
                postings.push(Transaction::sweep(moved, to_cold)?);
            }
            if !fee.is_zero() {
                if !self.is_native() {
                    postings.push(Transaction::top_up(fee)?);
                }
                postings.push(Transaction::network_fee(fee, FeePayer::Deposit)?);
            }
        }
        Ok(Advance::Changed(SweepChange { sweep: next, postings }))
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::{Account, AssetSymbol, Balances, ChainId};

    fn asset(symbol: &str) -> AssetId {
        AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str(symbol).unwrap() }
    }

    fn sweep(symbol: &str, units: u64) -> Sweep {
        Sweep {
            id: SweepId::new(),
            invoice_id: InvoiceId::new(),
            deposit_index: DerivationIndex::try_from(7).unwrap(),
            amount: Amount::from_units(asset(symbol), U256::from(units)),
            fee_asset: asset("ETH"),
            status: PayoutStatus::Pending,
            tx_hash: None,
            to_cold: None,
            moved: None,
            network_fee: None,
            note: None,
            created_at: Timestamp::from_millis(1),
            updated_at: Timestamp::from_millis(1),
        }
    }

    fn confirmed(s: &Sweep, moved: u64, fee: u64) -> SweepChange {
        let progress = SweepProgress::Confirmed {
            tx_hash: B256::repeat_byte(1),
            moved: U256::from(moved),
            to_cold: false,
            network_fee: U256::from(fee),
        };
        match s.advance(&progress, Timestamp::from_millis(2)).unwrap() {
            Advance::Changed(change) => change,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_token_sweep_books_its_top_up_and_fee_and_empties_the_deposit() {
        let s = sweep("USDT", 12_500_000);
        let mut books = Balances::default();
        books.apply(&Transaction::receipt(s.amount).unwrap()).unwrap();
        // The operator's gas in the hot wallet, from outside the books.
        books
            .apply(
                &Transaction::new(vec![
                    crate::Entry {
                        account: Account::Hot(asset("ETH")),
                        side: crate::Side::Debit,
                        amount: Amount::from_units(asset("ETH"), U256::from(100u8)),
                    },
                    crate::Entry {
                        account: Account::Suspense(asset("ETH")),
                        side: crate::Side::Credit,
                        amount: Amount::from_units(asset("ETH"), U256::from(100u8)),
                    },
                ])
                .unwrap(),
            )
            .unwrap();
        let change = confirmed(&s, 12_500_000, 30);
        assert_eq!(change.postings.len(), 3, "sweep, top-up, fee");
        for posting in &change.postings {
            books.apply(posting).unwrap();
        }
        books.check().unwrap();
        assert!(books.balance(Account::Deposits(asset("USDT"))).unwrap().is_zero());
        assert!(books.balance(Account::Deposits(asset("ETH"))).unwrap().is_zero(), "the top-up was spent");
        assert_eq!(books.balance(Account::Hot(asset("USDT"))).unwrap(), s.amount);
        assert_eq!(books.balance(Account::Hot(asset("ETH"))).unwrap().units(), U256::from(70u8));
        assert_eq!(books.balance(Account::NetworkFees(asset("ETH"))).unwrap().units(), U256::from(30u8));
    }

    #[test]
    fn a_native_sweep_pays_its_own_gas_from_the_deposit() {
        let s = sweep("ETH", 1_000);
        let mut books = Balances::default();
        books.apply(&Transaction::receipt(s.amount).unwrap()).unwrap();
        for posting in confirmed(&s, 979, 21).postings {
            books.apply(&posting).unwrap();
        }
        books.check().unwrap();
        assert!(books.balance(Account::Deposits(asset("ETH"))).unwrap().is_zero());
        assert_eq!(books.balance(Account::Hot(asset("ETH"))).unwrap().units(), U256::from(979u32));
    }

    #[test]
    fn answers_repeated_or_out_of_order_book_nothing() {
        let s = confirmed(&sweep("USDT", 5), 5, 1).sweep;
        let again = SweepProgress::Confirmed {
            tx_hash: B256::repeat_byte(1),
            moved: U256::from(5u8),
            to_cold: false,
            network_fee: U256::from(1u8),
        };
        assert_eq!(s.advance(&again, Timestamp::from_millis(3)).unwrap(), Advance::Unchanged);
        let older = SweepProgress::Broadcast { tx_hash: B256::repeat_byte(1) };
        assert!(matches!(s.advance(&older, Timestamp::from_millis(3)).unwrap(), Advance::Stale(_)));
        let refused = SweepProgress::Refused { rule: "sweep.below_minimum".into(), message: "dust".into() };
        match sweep("USDT", 5).advance(&refused, Timestamp::from_millis(3)).unwrap() {
            Advance::Changed(change) => {
                assert!(change.postings.is_empty(), "nothing was reserved for a sweep");
                assert_eq!(change.sweep.note.as_deref(), Some("sweep.below_minimum: dust"));
            }
            other => panic!("{other:?}"),
        }
    }
}
