//! The ledger as stored: transactions, their entries, and running totals
//! per account, all written by [`crate::ChainStore`]'s atomic steps. The
//! reads here serve balances and `coffer ledger check`, which streams every
//! row once rather than loading the ledger into memory.

use async_trait::async_trait;
use coffer_domain::{
    Account, Amount, AssetId, InvoiceId, InvoiceStatus, LedgerTxId, MerchantId, Payment, PayoutId, Side, SweepId,
    Transaction, U256,
};

use crate::Result;

/// A ledger transaction's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PostingKind {
    /// A payment reached its confirmations.
    Receipt,
    /// An invoice settled.
    Settlement,
    /// A booked payment whose transfer left the chain for good, written off.
    WriteOff,
    /// A written-off transfer that was mined after all.
    Recovery,
    /// A payout's amount set aside.
    Reserve,
    /// A refused or failed payout's reserve given back.
    Release,
    /// A confirmed payout, out of the hot wallet.
    Payout,
    /// What a payout's or a sweep's transactions cost.
    NetworkFee,
    /// A deposit swept into a treasury wallet.
    Sweep,
    /// Gas sent from the hot wallet to a deposit, for a token sweep.
    TopUp,
    /// Hot wallet to cold address.
    HotToCold,
    /// A payment screening holds reached its confirmations: deposits to held.
    HeldReceipt,
    /// An operator released a booked held payment: held to suspense.
    HoldRelease,
}

impl PostingKind {
    /// Every kind.
    pub const ALL: [PostingKind; 13] = [
        Self::Receipt,
        Self::Settlement,
        Self::WriteOff,
        Self::Recovery,
        Self::Reserve,
        Self::Release,
        Self::Payout,
        Self::NetworkFee,
        Self::Sweep,
        Self::TopUp,
        Self::HotToCold,
        Self::HeldReceipt,
        Self::HoldRelease,
    ];

    /// As the database spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::Settlement => "settlement",
            Self::WriteOff => "write_off",
            Self::Recovery => "recovery",
            Self::Reserve => "reserve",
            Self::Release => "release",
            Self::Payout => "payout",
            Self::NetworkFee => "network_fee",
            Self::Sweep => "sweep",
            Self::TopUp => "top_up",
            Self::HotToCold => "hot_to_cold",
            Self::HeldReceipt => "held_receipt",
            Self::HoldRelease => "hold_release",
        }
    }

    /// Parses [`PostingKind::as_str`]'s text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The kind a two-entry transaction's shape says it is (which account
    /// it debits, which it credits), or `None` for a shape no posting has.
    /// The ledger audit and the store read kinds the same way.
    pub fn of(transaction: &Transaction) -> Option<Self> {
        use Account::*;
        let [debit, credit] = transaction.entries() else { return None };
        if debit.side != Side::Debit || credit.side != Side::Credit {
            return None;
        }
        Some(match (debit.account, credit.account) {
            (Deposits(_), Suspense(_)) => Self::Receipt,
            (Suspense(_), Merchant(..)) => Self::Settlement,
            (Losses(_), Deposits(_)) => Self::WriteOff,
            (Deposits(_), Losses(_)) => Self::Recovery,
            (Merchant(..) | Suspense(_), PayoutsReserved(..)) => Self::Reserve,
            (PayoutsReserved(..), Merchant(..) | Suspense(_)) => Self::Release,
            (PayoutsReserved(..), Hot(_)) => Self::Payout,
            (NetworkFees(_), Hot(_) | Deposits(_)) => Self::NetworkFee,
            (Hot(_) | Cold(_), Deposits(_)) => Self::Sweep,
            (Deposits(_), Hot(_)) => Self::TopUp,
            (Cold(_), Hot(_)) => Self::HotToCold,
            (Deposits(_), Held(_)) => Self::HeldReceipt,
            (Held(_), Suspense(_)) => Self::HoldRelease,
            _ => return None,
        })
    }
}

/// One stored entry, with its transaction's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// The transaction.
    pub transaction_id: LedgerTxId,
    /// Its kind.
    pub kind: PostingKind,
    /// The invoice it books for (receipts, settlements, write-offs, recoveries).
    pub invoice_id: Option<InvoiceId>,
    /// The payment, for a receipt.
    pub payment_id: Option<coffer_domain::PaymentId>,
    /// The payout, for a reserve, release, payout or its fee.
    pub payout_id: Option<PayoutId>,
    /// The sweep, for a sweep, its top-up or its fee.
    pub sweep_id: Option<SweepId>,
    /// The account.
    pub account: Account,
    /// Debit or credit.
    pub side: Side,
    /// How much.
    pub amount: Amount,
}

/// An account's running totals as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredBalance {
    /// The account.
    pub account: Account,
    /// Sum of its debits.
    pub debits: U256,
    /// Sum of its credits.
    pub credits: U256,
}

/// The ledger and what it must agree with, as of one instant.
#[derive(Clone, Debug, Default)]
pub struct LedgerSnapshot {
    /// Every entry, grouped by transaction.
    pub entries: Vec<StoredEntry>,
    /// Every account's running totals.
    pub balances: Vec<StoredBalance>,
    /// Every payment, canonical or orphaned.
    pub payments: Vec<Payment>,
    /// Every invoice's id, merchant, asset and status.
    pub invoices: Vec<(InvoiceId, MerchantId, AssetId, InvoiceStatus)>,
}

/// Reads of the ledger.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// What the merchant is owed, per asset, from the running totals (assets with nothing are left out).
    async fn merchant_balances(&self, merchant_id: MerchantId) -> Result<Vec<Amount>>;
    /// Every account's running totals.
    async fn stored_balances(&self) -> Result<Vec<StoredBalance>>;
    /// Everything the ledger audit checks, read in one consistent snapshot.
    async fn ledger_snapshot(&self) -> Result<LedgerSnapshot>;
}

/// How an account is named in the database: `deposits`, `suspense`,
/// `losses`, `hot`, `cold`, `network_fees`, `merchant:<uuid>` or
/// `reserved:<uuid>`; the asset lives in its own columns.
pub(crate) fn account_key(account: &Account) -> String {
    match account {
        Account::Deposits(_) => "deposits".to_owned(),
        Account::Suspense(_) => "suspense".to_owned(),
        Account::Losses(_) => "losses".to_owned(),
        Account::Hot(_) => "hot".to_owned(),
        Account::Cold(_) => "cold".to_owned(),
        Account::NetworkFees(_) => "network_fees".to_owned(),
        Account::Held(_) => "held".to_owned(),
        Account::Merchant(merchant, _) => merchant_key(*merchant),
        Account::PayoutsReserved(merchant, _) => reserved_key(*merchant),
    }
}

/// The key of a merchant's reserves for payouts (one per asset).
pub(crate) fn reserved_key(merchant: MerchantId) -> String {
    format!("reserved:{}", merchant.as_uuid().simple())
}

/// The key of a merchant's accounts (one per asset).
pub(crate) fn merchant_key(merchant: MerchantId) -> String {
    format!("merchant:{}", merchant.as_uuid().simple())
}

/// The account a stored key and asset name.
pub(crate) fn parse_account(key: &str, asset: AssetId) -> Option<Account> {
    match key {
        "deposits" => Some(Account::Deposits(asset)),
        "suspense" => Some(Account::Suspense(asset)),
        "losses" => Some(Account::Losses(asset)),
        "hot" => Some(Account::Hot(asset)),
        "cold" => Some(Account::Cold(asset)),
        "network_fees" => Some(Account::NetworkFees(asset)),
        "held" => Some(Account::Held(asset)),
        _ => {
            let merchant =
                |prefix: &str| key.strip_prefix(prefix)?.parse::<uuid::Uuid>().ok().map(MerchantId::from_uuid);
            if let Some(merchant) = merchant("merchant:") {
                Some(Account::Merchant(merchant, asset))
            } else {
                merchant("reserved:").map(|m| Account::PayoutsReserved(m, asset))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use coffer_domain::{AssetSymbol, ChainId};

    use super::*;

    #[test]
    fn account_keys_round_trip() {
        let asset = AssetId { chain_id: ChainId(1), symbol: AssetSymbol::from_str("USDT").unwrap() };
        for account in [
            Account::Deposits(asset),
            Account::Suspense(asset),
            Account::Losses(asset),
            Account::Merchant(MerchantId::new(), asset),
            Account::Hot(asset),
            Account::Cold(asset),
            Account::NetworkFees(asset),
            Account::PayoutsReserved(MerchantId::new(), asset),
            Account::Held(asset),
        ] {
            assert_eq!(parse_account(&account_key(&account), asset), Some(account));
        }
        assert_eq!(parse_account("merchant:nope", asset), None);
        assert_eq!(parse_account("treasury", asset), None);
        assert_eq!(parse_account("reserved:nope", asset), None);
    }

    #[test]
    fn every_posting_has_its_kind_by_shape() {
        use coffer_domain::{FeePayer, ReserveSource};
        let asset = AssetId { chain_id: ChainId(1), symbol: AssetSymbol::from_str("USDT").unwrap() };
        let amount = Amount::from_units(asset, U256::from(5u8));
        let m = MerchantId::new();
        let cases = [
            (Transaction::receipt(amount), PostingKind::Receipt),
            (Transaction::settlement(m, amount), PostingKind::Settlement),
            (Transaction::write_off(amount), PostingKind::WriteOff),
            (Transaction::recovery(amount), PostingKind::Recovery),
            (Transaction::reserve(m, ReserveSource::Suspense, amount), PostingKind::Reserve),
            (Transaction::release(m, ReserveSource::Merchant, amount), PostingKind::Release),
            (Transaction::payout(m, amount), PostingKind::Payout),
            (Transaction::network_fee(amount, FeePayer::Deposit), PostingKind::NetworkFee),
            (Transaction::sweep(amount, true), PostingKind::Sweep),
            (Transaction::top_up(amount), PostingKind::TopUp),
            (Transaction::hot_to_cold(amount), PostingKind::HotToCold),
            (Transaction::held_receipt(amount), PostingKind::HeldReceipt),
            (Transaction::hold_release(amount), PostingKind::HoldRelease),
        ];
        for (transaction, kind) in cases {
            assert_eq!(PostingKind::of(&transaction.unwrap()), Some(kind), "{kind:?}");
            assert_eq!(PostingKind::parse(kind.as_str()), Some(kind));
        }
    }
}
