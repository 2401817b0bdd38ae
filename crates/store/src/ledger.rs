//! The ledger as stored: transactions, their entries, and running totals
//! per account, all written by [`crate::ChainStore`]'s atomic steps. The
//! reads here serve balances and `coffer ledger check`, which streams every
//! row once rather than loading the ledger into memory.

use async_trait::async_trait;
use coffer_domain::{Account, Amount, AssetId, InvoiceId, InvoiceStatus, LedgerTxId, MerchantId, Payment, Side, U256};

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
}

impl PostingKind {
    /// As the database spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::Settlement => "settlement",
            Self::WriteOff => "write_off",
            Self::Recovery => "recovery",
        }
    }

    /// Parses [`PostingKind::as_str`]'s text.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Receipt, Self::Settlement, Self::WriteOff, Self::Recovery].into_iter().find(|k| k.as_str() == text)
    }
}

/// One stored entry, with its transaction's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// The transaction.
    pub transaction_id: LedgerTxId,
    /// Its kind.
    pub kind: PostingKind,
    /// The invoice it books for.
    pub invoice_id: InvoiceId,
    /// The payment, for a receipt.
    pub payment_id: Option<coffer_domain::PaymentId>,
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
/// `losses` or `merchant:<uuid>`; the asset lives in its own columns.
pub(crate) fn account_key(account: &Account) -> String {
    match account {
        Account::Deposits(_) => "deposits".to_owned(),
        Account::Suspense(_) => "suspense".to_owned(),
        Account::Losses(_) => "losses".to_owned(),
        Account::Merchant(merchant, _) => merchant_key(*merchant),
    }
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
        _ => {
            let uuid = key.strip_prefix("merchant:")?.parse::<uuid::Uuid>().ok()?;
            Some(Account::Merchant(MerchantId::from_uuid(uuid), asset))
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
        ] {
            assert_eq!(parse_account(&account_key(&account), asset), Some(account));
        }
        assert_eq!(parse_account("merchant:nope", asset), None);
        assert_eq!(parse_account("treasury", asset), None);
    }
}
