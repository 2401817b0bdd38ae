//! The double-entry ledger's rules: accounts, balanced transactions, and
//! the invariants `coffer ledger check` verifies.
//!
//! Every movement of money is one [`Transaction`] whose debits equal its
//! credits in every asset; balances are never free-floating numbers, only
//! derived from entries. Coffer books these kinds of transaction
//! (constructors in `postings.rs`):
//!
//! ```text
//!   receipt: a payment reached its confirmations
//!     debit  deposits       USDT@31337 12.5   the deposit address holds it (an asset of Coffer's)
//!     credit suspense       USDT@31337 12.5   owed, to whom not yet decided (a liability)
//!   settlement: an invoice settled with its confirmed payments
//!     debit  suspense       USDT@31337 12.5
//!     credit merchant mer_… USDT@31337 12.5   owed to the merchant (a liability)
//! ```
//!
//! So money that never settles an invoice (a partial payment that expired,
//! a wrong asset, a payment to an invalidated invoice) waits in suspense for
//! a person to refund or assign it, and is never credited to a merchant.
//!
//! Two more kinds serve a reorganisation deeper than the confirmations that
//! took away a payment already booked, whose transfer never came back:
//!
//! ```text
//!   write-off: an operator accepts the loss (the merchant keeps its credit)
//!     debit  losses         USDT@31337 12.5   what the operator lost (an expense)
//!     credit deposits       USDT@31337 12.5   the deposit address does not hold it
//!   recovery: the written-off transfer was mined after all
//!     debit  deposits       USDT@31337 12.5
//!     credit losses         USDT@31337 12.5
//! ```
//!
//! Money going out, and the treasury following it (ADR 0011: the signer
//! moves it, the gateway's books say where it is):
//!
//! ```text
//!   reserve: a merchant asked for a payout (or a refund)
//!     debit  merchant mer_… USDT@31337 5      no longer available to the merchant
//!     credit reserved mer_… USDT@31337 5      promised out, not yet sent (a liability)
//!   release: the signer refused it, or it failed on chain (the reserve reversed)
//!     debit  reserved mer_… USDT@31337 5
//!     credit merchant mer_… USDT@31337 5
//!   payout: the transfer confirmed
//!     debit  reserved mer_… USDT@31337 5
//!     credit hot            USDT@31337 5      it left the hot wallet
//!   network fee: what the chain charged, in its native coin
//!     debit  network fees   ETH@31337  0.0001 an expense
//!     credit hot            ETH@31337  0.0001 (a sweep of ETH pays its own: credit deposits)
//!   sweep: a deposit address emptied into the treasury
//!     debit  hot (or cold)  USDT@31337 12.5
//!     credit deposits       USDT@31337 12.5
//!   top-up: gas sent from the hot wallet to a deposit address, for a token sweep
//!     debit  deposits       ETH@31337  0.0001
//!     credit hot            ETH@31337  0.0001
//!   hot to cold: what sits in hot above its cap, moved to cold
//!     debit  cold           USDT@31337 100
//!     credit hot            USDT@31337 100
//! ```
//!
//! Screening (ADR 0015): a payment from a listed sender is booked away from
//! suspense, and only an operator's release moves it on:
//!
//! ```text
//!   held receipt: a held payment reached its confirmations
//!     debit  deposits       USDT@31337 12.5
//!     credit held           USDT@31337 12.5   owed to no one yet (a liability)
//!   hold release: an operator released it
//!     debit  held           USDT@31337 12.5
//!     credit suspense       USDT@31337 12.5   from here, as any receipt
//! ```
//!
//! A refund of money that never reached the merchant (an invalidated
//! invoice's payments wait in suspense) reserves from suspense instead of
//! the merchant: debit suspense, credit reserved; released back there.
//! `deposits`, `hot` and `cold` are what the ledger says each kind of wallet
//! holds: `GET /v1/treasury` sets them beside what the chain says.

use std::collections::BTreeMap;

use alloy_primitives::U256;

use crate::{Amount, AssetId, MerchantId};

/// A ledger account. Each holds one asset. The variants' order is the order
/// in which the store takes accounts' row locks: keep new ones at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    /// Funds sitting on invoice deposit addresses (an asset of Coffer's).
    Deposits(AssetId),
    /// What Coffer owes a merchant (a liability); never below zero.
    Merchant(MerchantId, AssetId),
    /// Funds that arrived but belong to no invoice yet (a wrong asset, say),
    /// waiting for a person to decide (a liability).
    Suspense(AssetId),
    /// Booked payments whose transfer a reorganisation took away for good,
    /// written off by an operator (an expense: debit-normal).
    Losses(AssetId),
    /// What the hot wallet holds (an asset of Coffer's: debit-normal).
    Hot(AssetId),
    /// What the cold address holds (an asset of Coffer's: debit-normal).
    Cold(AssetId),
    /// Payouts a merchant asked for that have not confirmed or failed yet:
    /// promised out (a liability), no longer available to the merchant.
    PayoutsReserved(MerchantId, AssetId),
    /// Gas the chains charged, in each chain's native coin (an expense:
    /// debit-normal).
    NetworkFees(AssetId),
    /// Payments screening held (their sender is on a sanction or
    /// stolen-funds list): received, owed to no one until an operator
    /// releases them to suspense; rejected ones stay here (a liability).
    Held(AssetId),
}

impl Account {
    /// The asset the account holds.
    pub fn asset(&self) -> AssetId {
        match *self {
            Self::Deposits(asset)
            | Self::Merchant(_, asset)
            | Self::Suspense(asset)
            | Self::Losses(asset)
            | Self::Hot(asset)
            | Self::Cold(asset)
            | Self::PayoutsReserved(_, asset)
            | Self::NetworkFees(asset)
            | Self::Held(asset) => asset,
        }
    }

    /// Whether a debit raises the balance (assets and expenses) rather than
    /// a credit (liabilities).
    pub fn is_debit_normal(&self) -> bool {
        matches!(self, Self::Deposits(_) | Self::Losses(_) | Self::Hot(_) | Self::Cold(_) | Self::NetworkFees(_))
    }

    /// The balance after `debits` and `credits` on its normal side, or
    /// `None` if it would be below zero.
    pub fn balance_of(&self, debits: U256, credits: U256) -> Option<U256> {
        if self.is_debit_normal() { debits.checked_sub(credits) } else { credits.checked_sub(debits) }
    }

    /// Whether `units` can be drawn from the account at these totals without
    /// taking it below zero: the check the store makes, under its lock on the
    /// account's totals, before it books a reserve.
    pub fn can_draw(&self, debits: U256, credits: U256, units: U256) -> bool {
        self.balance_of(debits, credits).is_some_and(|balance| balance >= units)
    }
}

/// Which side of the books an entry is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Left side: raises asset accounts, lowers liabilities.
    Debit,
    /// Right side: raises liabilities, lowers asset accounts.
    Credit,
}

/// One line of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The account.
    pub account: Account,
    /// Debit or credit.
    pub side: Side,
    /// How much; positive, in the account's asset.
    pub amount: Amount,
}

/// Why a transaction or a ledger is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Fewer than two entries: nothing moves from anywhere to anywhere.
    #[error("a transaction needs at least two entries")]
    TooFewEntries,
    /// An entry of zero.
    #[error("entry {0} is zero")]
    ZeroEntry(usize),
    /// An entry's amount is in another asset than its account.
    #[error("entry {index} books {amount_asset} on an account of {account_asset}")]
    AssetMismatch {
        /// The entry.
        index: usize,
        /// The amount's asset.
        amount_asset: AssetId,
        /// The account's asset.
        account_asset: AssetId,
    },
    /// Debits and credits differ in an asset.
    #[error("unbalanced in {asset}: debits {debits}, credits {credits}")]
    Unbalanced {
        /// The asset.
        asset: AssetId,
        /// Sum of debits.
        debits: U256,
        /// Sum of credits.
        credits: U256,
    },
    /// A sum passed 2^256.
    #[error("amounts overflow in {0}")]
    Overflow(AssetId),
    /// An account that must not go negative did.
    #[error("{account:?} would go below zero")]
    Negative {
        /// The account.
        account: Account,
    },
}

/// A balanced set of entries, booked together or not at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    entries: Vec<Entry>,
}

#[derive(Default)]
struct Sides {
    debits: U256,
    credits: U256,
}

impl Transaction {
    /// Checks and builds a transaction: two or more non-zero entries, each in
    /// its account's asset, debits equal to credits in every asset.
    pub fn new(entries: Vec<Entry>) -> Result<Self, LedgerError> {
        if entries.len() < 2 {
            return Err(LedgerError::TooFewEntries);
        }
        let mut sums: BTreeMap<AssetId, Sides> = BTreeMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let asset = entry.amount.asset();
            if asset != entry.account.asset() {
                return Err(LedgerError::AssetMismatch {
                    index,
                    amount_asset: asset,
                    account_asset: entry.account.asset(),
                });
            }
            if entry.amount.is_zero() {
                return Err(LedgerError::ZeroEntry(index));
            }
            let sides = sums.entry(asset).or_default();
            let sum = match entry.side {
                Side::Debit => &mut sides.debits,
                Side::Credit => &mut sides.credits,
            };
            *sum = sum.checked_add(entry.amount.units()).ok_or(LedgerError::Overflow(asset))?;
        }
        for (asset, sides) in sums {
            if sides.debits != sides.credits {
                return Err(LedgerError::Unbalanced { asset, debits: sides.debits, credits: sides.credits });
            }
        }
        Ok(Self { entries })
    }
}

/// Balances derived from entries, and the checks on them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Balances {
    /// Per account: (debits, credits).
    totals: BTreeMap<Account, (U256, U256)>,
}

impl Balances {
    /// Adds a transaction's entries.
    pub fn apply(&mut self, transaction: &Transaction) -> Result<(), LedgerError> {
        for entry in transaction.entries() {
            let (debits, credits) = self.totals.entry(entry.account).or_default();
            let sum = match entry.side {
                Side::Debit => debits,
                Side::Credit => credits,
            };
            *sum = sum.checked_add(entry.amount.units()).ok_or(LedgerError::Overflow(entry.amount.asset()))?;
        }
        Ok(())
    }

    /// An account's balance on its normal side, or `Negative` if it is below zero.
    pub fn balance(&self, account: Account) -> Result<Amount, LedgerError> {
        let (debits, credits) = self.totals.get(&account).copied().unwrap_or_default();
        let (plus, minus) = if account.is_debit_normal() { (debits, credits) } else { (credits, debits) };
        plus.checked_sub(minus)
            .map(|units| Amount::from_units(account.asset(), units))
            .ok_or(LedgerError::Negative { account })
    }

    /// An account's (debits, credits).
    pub fn totals(&self, account: Account) -> (U256, U256) {
        self.totals.get(&account).copied().unwrap_or_default()
    }

    /// Every invariant: debits equal credits in each asset across the whole
    /// ledger, and no account is below zero.
    pub fn check(&self) -> Result<(), LedgerError> {
        let mut sums: BTreeMap<AssetId, Sides> = BTreeMap::new();
        for (account, (debits, credits)) in &self.totals {
            let asset = account.asset();
            let sides = sums.entry(asset).or_default();
            sides.debits = sides.debits.checked_add(*debits).ok_or(LedgerError::Overflow(asset))?;
            sides.credits = sides.credits.checked_add(*credits).ok_or(LedgerError::Overflow(asset))?;
            self.balance(*account)?;
        }
        for (asset, sides) in sums {
            if sides.debits != sides.credits {
                return Err(LedgerError::Unbalanced { asset, debits: sides.debits, credits: sides.credits });
            }
        }
        Ok(())
    }

    /// Accounts with their balances, in a stable order.
    pub fn accounts(&self) -> impl Iterator<Item = Account> + '_ {
        self.totals.keys().copied()
    }
}

mod postings;

pub use postings::{FeePayer, ReserveSource};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod treasury_tests;
