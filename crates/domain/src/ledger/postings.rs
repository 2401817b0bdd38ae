//! The postings Coffer books, each a balanced two-entry [`Transaction`]
//! (the table in the module docs of `ledger` says what each means).

use crate::{Account, Amount, AssetId, Entry, LedgerError, MerchantId, Side, Transaction};

/// Where a payout's money is reserved from, and released back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReserveSource {
    /// The merchant's balance: an ordinary payout, or a refund of what
    /// settled to the merchant (an overpayment, a late payment).
    Merchant,
    /// Suspense: a refund of money that never reached the merchant (what an
    /// invalidated or expired invoice received).
    Suspense,
}

impl ReserveSource {
    /// The account this source is, for `merchant` in `asset`.
    pub fn account(self, merchant: MerchantId, asset: AssetId) -> Account {
        match self {
            Self::Merchant => Account::Merchant(merchant, asset),
            Self::Suspense => Account::Suspense(asset),
        }
    }

    /// As the database spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merchant => "merchant",
            Self::Suspense => "suspense",
        }
    }

    /// Parses [`ReserveSource::as_str`]'s text.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Merchant, Self::Suspense].into_iter().find(|s| s.as_str() == text)
    }
}

/// Who paid a transaction's gas: the hot wallet (payouts, and the top-ups
/// of token sweeps), or the deposit address itself (a sweep of the native
/// coin sends its balance less its own gas).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeePayer {
    /// The hot wallet.
    Hot,
    /// The deposit address.
    Deposit,
}

/// Debit `debit`, credit `credit`, both by `amount`.
fn moving(debit: Account, credit: Account, amount: Amount) -> Result<Transaction, LedgerError> {
    Transaction::new(vec![
        Entry { account: debit, side: Side::Debit, amount },
        Entry { account: credit, side: Side::Credit, amount },
    ])
}

impl Transaction {
    /// A payment of `amount` reached its confirmations: the deposit address
    /// holds it, and until an invoice settles with it, it sits in suspense.
    pub fn receipt(amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::Deposits(asset), Account::Suspense(asset), amount)
    }

    /// A payment of `amount` that screening holds reached its confirmations:
    /// the deposit address holds it; it is owed to no one until an operator
    /// decides.
    pub fn held_receipt(amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::Deposits(asset), Account::Held(asset), amount)
    }

    /// An operator released a booked held payment of `amount`: it goes to
    /// suspense, from where its invoice settles with it as usual.
    pub fn hold_release(amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::Held(asset), Account::Suspense(asset), amount)
    }

    /// An invoice of `merchant` settled with confirmed payments totalling
    /// `amount`: that money moves from suspense to the merchant.
    pub fn settlement(merchant: MerchantId, amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::Suspense(asset), Account::Merchant(merchant, asset), amount)
    }

    /// A booked payment of `amount` whose transfer left the chain for good is
    /// written off: the deposit address does not hold it, the operator bears it.
    pub fn write_off(amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::Losses(asset), Account::Deposits(asset), amount)
    }

    /// A written-off transfer of `amount` was mined after all: the loss is undone.
    pub fn recovery(amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::Deposits(asset), Account::Losses(asset), amount)
    }

    /// `merchant` asked for a payout of `amount`: it is set aside from
    /// `source`, no longer available, until the payout confirms or fails.
    pub fn reserve(merchant: MerchantId, source: ReserveSource, amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(source.account(merchant, asset), Account::PayoutsReserved(merchant, asset), amount)
    }

    /// The payout was refused or failed: its reserve goes back to `source`.
    pub fn release(merchant: MerchantId, source: ReserveSource, amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::PayoutsReserved(merchant, asset), source.account(merchant, asset), amount)
    }

    /// The payout's transfer confirmed: the reserved money left the hot wallet.
    pub fn payout(merchant: MerchantId, amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::PayoutsReserved(merchant, asset), Account::Hot(asset), amount)
    }

    /// A transaction cost `fee` (in the chain's native coin), paid by `payer`.
    pub fn network_fee(fee: Amount, payer: FeePayer) -> Result<Self, LedgerError> {
        let asset = fee.asset();
        let from = match payer {
            FeePayer::Hot => Account::Hot(asset),
            FeePayer::Deposit => Account::Deposits(asset),
        };
        moving(Account::NetworkFees(asset), from, fee)
    }

    /// A deposit address's `amount` was swept into the hot wallet (or, with
    /// `to_cold`, the cold address).
    pub fn sweep(amount: Amount, to_cold: bool) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        let to = if to_cold { Account::Cold(asset) } else { Account::Hot(asset) };
        moving(to, Account::Deposits(asset), amount)
    }

    /// The hot wallet sent `amount` of gas to a deposit address, so that it
    /// can send its tokens.
    pub fn top_up(amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::Deposits(asset), Account::Hot(asset), amount)
    }

    /// `amount` moved from the hot wallet to the cold address.
    pub fn hot_to_cold(amount: Amount) -> Result<Self, LedgerError> {
        let asset = amount.asset();
        moving(Account::Cold(asset), Account::Hot(asset), amount)
    }

    /// Its entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}
