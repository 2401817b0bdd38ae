//! Row shapes shared by both backends and their conversion to domain types.
//!
//! Both schemas store the same column types as seen from Rust (ids as UUIDs,
//! times as Unix milliseconds, amounts as decimal text, addresses as 20
//! bytes), so one row type per table serves SQLite and PostgreSQL alike.

mod audit;
mod payments;
mod payouts;
mod webhooks;

use std::str::FromStr;

pub(crate) use audit::{AUDIT_COLUMNS, AuditRow, head as audit_head};
pub(crate) use payments::{
    BalanceRow, BlockRow, EntryRow, HALT_SELECT, HaltRow, PAYMENT_COLUMNS, PaymentRow, payment_params, side_text,
};
pub(crate) use payouts::{
    OUTBOX_COLUMNS, OutboxRow, PAYOUT_COLUMNS, PayoutRow, PayoutState, SWEEP_COLUMNS, SweepRow, symbol,
};
pub(crate) use webhooks::{DeliveryRow, DueRow, EndpointRow, events_text, parse_events};

use coffer_domain::{
    Address, Amount, ApiKeyId, AssetId, AssetSymbol, ChainId, Checkout, CheckoutToken, DepositAddress, DerivationIndex,
    Invoice, InvoiceId, InvoiceStatus, MerchantId, ReturnUrl, Scopes, SecretDigest, Timestamp, U256,
};
use uuid::Uuid;

use crate::{ApiKeyRecord, Merchant, StoreError};

#[derive(sqlx::FromRow)]
pub(crate) struct MerchantRow {
    id: Uuid,
    name: String,
    created_at: i64,
}

impl From<MerchantRow> for Merchant {
    fn from(row: MerchantRow) -> Self {
        Merchant {
            id: MerchantId::from_uuid(row.id),
            name: row.name,
            created_at: Timestamp::from_millis(row.created_at),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: Uuid,
    merchant_id: Uuid,
    secret_digest: Vec<u8>,
    scopes: String,
    label: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKeyRecord {
    type Error = StoreError;

    fn try_from(row: ApiKeyRow) -> Result<Self, StoreError> {
        let digest: [u8; 32] =
            row.secret_digest.try_into().map_err(|_| StoreError::corrupt("api_keys", "digest is not 32 bytes"))?;
        Ok(ApiKeyRecord {
            id: ApiKeyId::from_uuid(row.id),
            merchant_id: MerchantId::from_uuid(row.merchant_id),
            secret_digest: SecretDigest(digest),
            scopes: Scopes::from_str(&row.scopes).map_err(|e| StoreError::corrupt("api_keys", e))?,
            label: row.label,
            created_at: Timestamp::from_millis(row.created_at),
            revoked_at: row.revoked_at.map(Timestamp::from_millis),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InvoiceRow {
    id: Uuid,
    merchant_id: Uuid,
    status: String,
    chain_id: i64,
    asset: String,
    amount: String,
    derivation_index: i64,
    address: Vec<u8>,
    order_id: Option<String>,
    metadata: String,
    created_at: i64,
    expires_at: i64,
    exceptions: String,
    checkout_token: Option<String>,
    description: Option<String>,
    success_url: Option<String>,
    cancel_url: Option<String>,
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = StoreError;

    fn try_from(row: InvoiceRow) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::corrupt("invoices", format!("invoice {}: {reason}", row.id));
        let chain_id = u64::try_from(row.chain_id).map_err(|_| bad("negative chain id".into()))?;
        let symbol = AssetSymbol::from_str(&row.asset).map_err(|e| bad(e.to_string()))?;
        let units = U256::from_str_radix(&row.amount, 10).map_err(|e| bad(format!("amount: {e}")))?;
        let index = u64::try_from(row.derivation_index)
            .ok()
            .and_then(|i| DerivationIndex::try_from(i).ok())
            .ok_or_else(|| bad("derivation index out of range".into()))?;
        let address = Address::try_from(row.address.as_slice()).map_err(|_| bad("address is not 20 bytes".into()))?;
        let metadata = serde_json::from_str(&row.metadata).map_err(|e| bad(format!("metadata: {e}")))?;
        let token = row
            .checkout_token
            .as_deref()
            .and_then(|t| t.parse::<CheckoutToken>().ok())
            .ok_or_else(|| bad("no valid checkout token".into()))?;
        let return_url = |url: Option<String>, what: &str| {
            url.map(|u| ReturnUrl::parse(&u).map_err(|e| bad(format!("{what} {e}")))).transpose()
        };
        let checkout = Checkout {
            token,
            description: row.description,
            success_url: return_url(row.success_url, "success_url")?,
            cancel_url: return_url(row.cancel_url, "cancel_url")?,
        };
        Ok(Invoice {
            id: InvoiceId::from_uuid(row.id),
            merchant_id: MerchantId::from_uuid(row.merchant_id),
            status: InvoiceStatus::from_str(&row.status).map_err(|e| bad(e.to_string()))?,
            exceptions: row.exceptions.parse().map_err(|e: coffer_domain::UnknownException| bad(e.to_string()))?,
            amount: Amount::from_units(AssetId { chain_id: ChainId(chain_id), symbol }, units),
            deposit: DepositAddress { index, address },
            order_id: row.order_id,
            metadata,
            created_at: Timestamp::from_millis(row.created_at),
            expires_at: Timestamp::from_millis(row.expires_at),
            checkout,
        })
    }
}

/// Binds an invoice's columns and idempotency key, in the order of both
/// backends' `INSERT INTO invoices` statements, to a sqlx query.
macro_rules! bind_invoice {
    ($query:expr, $params:expr, $idempotency:expr) => {{
        let p: $crate::rows::InvoiceParams = $params;
        let idempotency: Option<&$crate::Idempotency> = $idempotency;
        $query
            .bind(p.id)
            .bind(p.merchant_id)
            .bind(p.status)
            .bind(p.chain_id)
            .bind(p.asset)
            .bind(p.amount)
            .bind(p.derivation_index)
            .bind(p.address)
            .bind(p.order_id)
            .bind(p.metadata)
            .bind(p.created_at)
            .bind(p.expires_at)
            .bind(idempotency.map(|i| i.key.clone()))
            .bind(idempotency.map(|i| i.fingerprint.to_vec()))
            .bind(p.checkout_token)
            .bind(p.description)
            .bind(p.success_url)
            .bind(p.cancel_url)
    }};
}
pub(crate) use bind_invoice;

/// An invoice's columns in the form both backends bind.
pub(crate) struct InvoiceParams {
    pub(crate) id: Uuid,
    pub(crate) merchant_id: Uuid,
    pub(crate) status: &'static str,
    pub(crate) chain_id: i64,
    pub(crate) asset: String,
    pub(crate) amount: String,
    pub(crate) derivation_index: i64,
    pub(crate) address: Vec<u8>,
    pub(crate) order_id: Option<String>,
    pub(crate) metadata: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) checkout_token: String,
    pub(crate) description: Option<String>,
    pub(crate) success_url: Option<String>,
    pub(crate) cancel_url: Option<String>,
}

impl InvoiceParams {
    pub(crate) fn new(invoice: &Invoice) -> Result<Self, StoreError> {
        let asset = invoice.amount.asset();
        Ok(Self {
            id: invoice.id.as_uuid(),
            merchant_id: invoice.merchant_id.as_uuid(),
            status: invoice.status.as_str(),
            chain_id: i64::try_from(asset.chain_id.0)
                .map_err(|_| StoreError::Conflict(format!("chain id {} does not fit the schema", asset.chain_id)))?,
            asset: asset.symbol.as_str().to_owned(),
            amount: invoice.amount.units().to_string(),
            derivation_index: i64::from(invoice.deposit.index.get()),
            address: invoice.deposit.address.as_slice().to_vec(),
            order_id: invoice.order_id.clone(),
            metadata: serde_json::Value::Object(invoice.metadata.clone()).to_string(),
            created_at: invoice.created_at.as_millis(),
            expires_at: invoice.expires_at.as_millis(),
            checkout_token: invoice.checkout.token.as_str().to_owned(),
            description: invoice.checkout.description.clone(),
            success_url: invoice.checkout.success_url.as_ref().map(|u| u.as_str().to_owned()),
            cancel_url: invoice.checkout.cancel_url.as_ref().map(|u| u.as_str().to_owned()),
        })
    }
}

/// Reads a stored chain id and asset symbol back into an [`AssetId`].
pub(crate) fn asset(table: &'static str, chain_id: i64, asset: &str) -> Result<AssetId, StoreError> {
    let chain_id = u64::try_from(chain_id).map_err(|_| StoreError::corrupt(table, "negative chain id"))?;
    let symbol = AssetSymbol::from_str(asset).map_err(|e| StoreError::corrupt(table, e))?;
    Ok(AssetId { chain_id: ChainId(chain_id), symbol })
}

/// Reads a stored chain id, asset symbol and amount back into an [`Amount`].
pub(crate) fn amount(table: &'static str, chain_id: i64, symbol: &str, units: &str) -> Result<Amount, StoreError> {
    let asset = asset(table, chain_id, symbol)?;
    let units = U256::from_str_radix(units, 10).map_err(|e| StoreError::corrupt(table, format!("amount: {e}")))?;
    Ok(Amount::from_units(asset, units))
}

/// A u64 (block height, chain id) as the schemas' signed 64-bit integers.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Conflict(format!("{what} {value} does not fit the schema")))
}

/// A stored signed integer that must not be negative.
pub(crate) fn to_u64(table: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::corrupt(table, format!("negative value {value}")))
}

/// 32 stored bytes as a hash.
pub(crate) fn b256(table: &'static str, bytes: &[u8]) -> Result<coffer_domain::B256, StoreError> {
    coffer_domain::B256::try_from(bytes).map_err(|_| StoreError::corrupt(table, "hash is not 32 bytes"))
}

/// 20 stored bytes as an address.
pub(crate) fn address(table: &'static str, bytes: &[u8]) -> Result<Address, StoreError> {
    Address::try_from(bytes).map_err(|_| StoreError::corrupt(table, "address is not 20 bytes"))
}

/// Checks a counter value read back after reserving `count` indices.
pub(crate) fn reserved_range(end: i64, count: u32) -> Result<std::ops::Range<u32>, StoreError> {
    let end = u64::try_from(end).map_err(|_| StoreError::corrupt("counters", "negative deposit index"))?;
    let start = end.checked_sub(u64::from(count)).ok_or_else(|| StoreError::corrupt("counters", "index underflow"))?;
    if end > u64::from(DerivationIndex::LIMIT) {
        return Err(StoreError::IndicesExhausted);
    }
    // Both fit in u32: end <= 2^31.
    Ok(start as u32..end as u32)
}
