//! Rows of the payout, sweep and outbox tables, shared by both backends.

use std::str::FromStr;

use coffer_domain::{
    ApprovalRound, AssetSymbol, DerivationIndex, InvoiceId, MerchantId, Payout, PayoutId, PayoutStatus, Refusal,
    ReserveSource, Sweep, SweepId, Timestamp,
};
use uuid::Uuid;

use super::{address, amount, asset, b256};
use crate::{OutboxEntry, OutboxState, SignerRequest, StoreError};

/// The columns [`PayoutRow`] reads, in order.
pub(crate) const PAYOUT_COLUMNS: &str = "id, merchant_id, chain_id, asset, amount, destination, status, source, \
     refund_of, fee_asset, cooldown_until, approval_digest, approval_expires_at, approval_quorum, approval_by, \
     refusal_rule, refusal_message, failure_reason, tx_hash, network_fee, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct PayoutRow {
    id: Uuid,
    merchant_id: Uuid,
    chain_id: i64,
    asset: String,
    amount: String,
    destination: Vec<u8>,
    status: String,
    source: String,
    refund_of: Option<Uuid>,
    fee_asset: String,
    cooldown_until: Option<i64>,
    approval_digest: Option<Vec<u8>>,
    approval_expires_at: Option<i64>,
    approval_quorum: Option<i64>,
    approval_by: Option<String>,
    refusal_rule: Option<String>,
    refusal_message: Option<String>,
    failure_reason: Option<String>,
    tx_hash: Option<Vec<u8>>,
    network_fee: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// A stored round of approvals, whole or absent (the tables' checks keep
/// its columns together).
fn approval_round(
    digest: Option<Vec<u8>>,
    expires_at: Option<i64>,
    quorum: Option<i64>,
    by: Option<String>,
) -> Result<Option<ApprovalRound>, StoreError> {
    const T: &str = "payouts";
    let (Some(digest), Some(expires_at), Some(quorum), Some(by)) = (digest, expires_at, quorum, by) else {
        return Ok(None);
    };
    Ok(Some(ApprovalRound {
        digest: <[u8; 32]>::try_from(digest.as_slice())
            .map_err(|_| StoreError::corrupt(T, "approval digest length"))?,
        expires_at: Timestamp::from_millis(expires_at),
        quorum: u8::try_from(quorum).map_err(|_| StoreError::corrupt(T, "approval quorum out of range"))?,
        approved_by: serde_json::from_str(&by).map_err(|e| StoreError::corrupt(T, e))?,
    }))
}

impl TryFrom<PayoutRow> for Payout {
    type Error = StoreError;

    fn try_from(row: PayoutRow) -> Result<Self, StoreError> {
        const T: &str = "payouts";
        let fee_asset = asset(T, row.chain_id, &row.fee_asset)?;
        Ok(Payout {
            id: PayoutId::from_uuid(row.id),
            merchant_id: MerchantId::from_uuid(row.merchant_id),
            amount: amount(T, row.chain_id, &row.asset, &row.amount)?,
            destination: address(T, &row.destination)?,
            status: PayoutStatus::from_str(&row.status).map_err(|e| StoreError::corrupt(T, e))?,
            source: ReserveSource::parse(&row.source).ok_or_else(|| StoreError::corrupt(T, "unknown source"))?,
            refund_of: row.refund_of.map(InvoiceId::from_uuid),
            fee_asset,
            cooldown_until: row.cooldown_until.map(Timestamp::from_millis),
            approval: approval_round(
                row.approval_digest,
                row.approval_expires_at,
                row.approval_quorum,
                row.approval_by,
            )?,
            refusal: match (row.refusal_rule, row.refusal_message) {
                (Some(rule), Some(message)) => Some(Refusal { rule, message }),
                _ => None,
            },
            failure: row.failure_reason,
            tx_hash: row.tx_hash.map(|h| b256(T, &h)).transpose()?,
            network_fee: row
                .network_fee
                .map(|fee| amount(T, row.chain_id, fee_asset.symbol.as_str(), &fee))
                .transpose()?,
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
        })
    }
}

/// The mutable columns of a payout, as both backends bind them.
pub(crate) struct PayoutState {
    pub(crate) status: &'static str,
    pub(crate) cooldown_until: Option<i64>,
    pub(crate) approval_digest: Option<Vec<u8>>,
    pub(crate) approval_expires_at: Option<i64>,
    pub(crate) approval_quorum: Option<i64>,
    pub(crate) approval_by: Option<String>,
    pub(crate) refusal_rule: Option<String>,
    pub(crate) refusal_message: Option<String>,
    pub(crate) failure_reason: Option<String>,
    pub(crate) tx_hash: Option<Vec<u8>>,
    pub(crate) network_fee: Option<String>,
    pub(crate) updated_at: i64,
}

impl PayoutState {
    pub(crate) fn of(payout: &Payout) -> Self {
        Self {
            status: payout.status.as_str(),
            cooldown_until: payout.cooldown_until.map(Timestamp::as_millis),
            approval_digest: payout.approval.as_ref().map(|r| r.digest.to_vec()),
            approval_expires_at: payout.approval.as_ref().map(|r| r.expires_at.as_millis()),
            approval_quorum: payout.approval.as_ref().map(|r| i64::from(r.quorum)),
            approval_by: payout.approval.as_ref().map(|r| serde_json::Value::from(r.approved_by.clone()).to_string()),
            refusal_rule: payout.refusal.as_ref().map(|r| r.rule.clone()),
            refusal_message: payout.refusal.as_ref().map(|r| r.message.clone()),
            failure_reason: payout.failure.clone(),
            tx_hash: payout.tx_hash.map(|h| h.to_vec()),
            network_fee: payout.network_fee.map(|fee| fee.units().to_string()),
            updated_at: payout.updated_at.as_millis(),
        }
    }
}

/// The columns [`SweepRow`] reads, in order.
pub(crate) const SWEEP_COLUMNS: &str = "id, chain_id, asset, deposit_index, invoice_id, amount, fee_asset, status, \
     tx_hash, wallet, moved, network_fee, outcome, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct SweepRow {
    id: Uuid,
    chain_id: i64,
    asset: String,
    deposit_index: i64,
    invoice_id: Uuid,
    amount: String,
    fee_asset: String,
    status: String,
    tx_hash: Option<Vec<u8>>,
    wallet: Option<String>,
    moved: Option<String>,
    network_fee: Option<String>,
    outcome: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SweepRow> for Sweep {
    type Error = StoreError;

    fn try_from(row: SweepRow) -> Result<Self, StoreError> {
        const T: &str = "sweeps";
        let fee_asset = asset(T, row.chain_id, &row.fee_asset)?;
        let index = u64::try_from(row.deposit_index)
            .ok()
            .and_then(|i| DerivationIndex::try_from(i).ok())
            .ok_or_else(|| StoreError::corrupt(T, "deposit index out of range"))?;
        let to_cold = match row.wallet.as_deref() {
            None => None,
            Some("hot") => Some(false),
            Some("cold") => Some(true),
            Some(other) => return Err(StoreError::corrupt(T, format!("unknown wallet {other:?}"))),
        };
        Ok(Sweep {
            id: SweepId::from_uuid(row.id),
            invoice_id: InvoiceId::from_uuid(row.invoice_id),
            deposit_index: index,
            amount: amount(T, row.chain_id, &row.asset, &row.amount)?,
            fee_asset,
            status: PayoutStatus::from_str(&row.status).map_err(|e| StoreError::corrupt(T, e))?,
            tx_hash: row.tx_hash.map(|h| b256(T, &h)).transpose()?,
            to_cold,
            moved: row.moved.map(|m| amount(T, row.chain_id, &row.asset, &m)).transpose()?,
            network_fee: row
                .network_fee
                .map(|fee| amount(T, row.chain_id, fee_asset.symbol.as_str(), &fee))
                .transpose()?,
            note: row.outcome.as_deref().and_then(note_of),
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
        })
    }
}

/// What a stored answer says for people: a refusal's rule and sentence, or
/// a failure's reason. The answer is kept as the signer gave it, so this
/// reads its documented fields and nothing else.
fn note_of(outcome: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(outcome).ok()?;
    match value.get("state")?.as_str()? {
        "refused" => Some(format!("{}: {}", value.get("rule")?.as_str()?, value.get("message")?.as_str()?)),
        "failed" => Some(value.get("reason")?.as_str()?.to_owned()),
        _ => None,
    }
}

/// The columns [`OutboxRow`] reads, in order.
pub(crate) const OUTBOX_COLUMNS: &str =
    "request_id, kind, payload, state, attempts, next_attempt_at, last_error, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    request_id: Uuid,
    kind: String,
    payload: String,
    state: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
}

impl TryFrom<OutboxRow> for OutboxEntry {
    type Error = StoreError;

    fn try_from(row: OutboxRow) -> Result<Self, StoreError> {
        const T: &str = "signer_outbox";
        let request = match row.kind.as_str() {
            "payout" => SignerRequest::Payout(PayoutId::from_uuid(row.request_id)),
            "sweep" => SignerRequest::Sweep(SweepId::from_uuid(row.request_id)),
            other => return Err(StoreError::corrupt(T, format!("unknown kind {other:?}"))),
        };
        Ok(OutboxEntry {
            request,
            payload: row.payload,
            state: OutboxState::parse(&row.state).ok_or_else(|| StoreError::corrupt(T, "unknown state"))?,
            attempts: u32::try_from(row.attempts).map_err(|_| StoreError::corrupt(T, "attempts out of range"))?,
            next_attempt_at: row.next_attempt_at.map(Timestamp::from_millis),
            last_error: row.last_error,
            created_at: Timestamp::from_millis(row.created_at),
        })
    }
}

/// An asset symbol as stored.
pub(crate) fn symbol(symbol: AssetSymbol) -> String {
    symbol.as_str().to_owned()
}
