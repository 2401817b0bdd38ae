//! Rows of the chain and ledger tables, shared by both backends.

use coffer_domain::{
    Account, AssetId, BlockRef, ChainId, HaltCode, Hold, HoldReason, HoldState, InvoiceId, LedgerTxId, Payment,
    PaymentId, PaymentState, Side, Timestamp,
};
use uuid::Uuid;

use super::{address, amount, b256, to_i64, to_u64};
use crate::ledger::{PostingKind, StoredBalance, StoredEntry, parse_account};
use crate::{ChainBlock, ChainHalt, StoreError};

#[derive(sqlx::FromRow)]
pub(crate) struct BlockRow {
    number: i64,
    hash: Vec<u8>,
    parent_hash: Vec<u8>,
    timestamp: i64,
}

impl TryFrom<BlockRow> for ChainBlock {
    type Error = StoreError;

    fn try_from(row: BlockRow) -> Result<Self, StoreError> {
        Ok(ChainBlock {
            number: to_u64("chain_blocks", row.number)?,
            hash: b256("chain_blocks", &row.hash)?,
            parent_hash: b256("chain_blocks", &row.parent_hash)?,
            timestamp: to_u64("chain_blocks", row.timestamp)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct HaltRow {
    chain_id: i64,
    code: String,
    reason: String,
    block: Option<i64>,
    halted_at: i64,
    resolved_at: Option<i64>,
    resolution: Option<String>,
}

/// Selects [`HaltRow`]s.
pub(crate) const HALT_SELECT: &str =
    "SELECT chain_id, code, reason, block, halted_at, resolved_at, resolution FROM chain_halts";

impl TryFrom<HaltRow> for ChainHalt {
    type Error = StoreError;

    fn try_from(row: HaltRow) -> Result<Self, StoreError> {
        const T: &str = "chain_halts";
        Ok(ChainHalt {
            chain_id: ChainId(to_u64(T, row.chain_id)?),
            code: HaltCode::parse(&row.code)
                .ok_or_else(|| StoreError::corrupt(T, format!("unknown code {:?}", row.code)))?,
            reason: row.reason,
            block: row.block.map(|b| to_u64(T, b)).transpose()?,
            halted_at: Timestamp::from_millis(row.halted_at),
            resolved: match (row.resolved_at, row.resolution) {
                (Some(at), Some(how)) => Some((Timestamp::from_millis(at), how)),
                _ => None,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PaymentRow {
    id: Vec<u8>,
    invoice_id: Uuid,
    chain_id: i64,
    asset: String,
    amount: String,
    from_address: Vec<u8>,
    to_address: Vec<u8>,
    tx_hash: Vec<u8>,
    log_index: Option<i64>,
    block_number: i64,
    block_hash: Vec<u8>,
    block_time: i64,
    state: String,
    booked_at: Option<i64>,
    settled_at: Option<i64>,
    seen_at: i64,
    moved_from: Option<Vec<u8>>,
    displaced_until: Option<i64>,
    call_path: Option<String>,
    hold_state: Option<String>,
    hold_reason: Option<String>,
    hold_decided_at: Option<i64>,
    hold_note: Option<String>,
}

/// The columns [`PaymentRow`] reads, in order.
pub(crate) const PAYMENT_COLUMNS: &str = "id, invoice_id, chain_id, asset, amount, from_address, to_address, tx_hash, \
                                          log_index, block_number, block_hash, block_time, state, booked_at, \
                                          settled_at, seen_at, moved_from, displaced_until, call_path, \
                                          hold_state, hold_reason, hold_decided_at, hold_note";

/// A stored hold's columns as a [`Hold`]: all or none of state and reason.
fn hold(
    state: Option<String>,
    reason: Option<String>,
    decided_at: Option<i64>,
    note: Option<String>,
) -> Result<Option<Hold>, StoreError> {
    const T: &str = "payments";
    let (state, reason) = match (state, reason) {
        (None, None) => return Ok(None),
        (Some(state), Some(reason)) => (state, reason),
        _ => return Err(StoreError::corrupt(T, "a hold's state without its reason")),
    };
    let state = HoldState::parse(&state).ok_or_else(|| StoreError::corrupt(T, "unknown hold state"))?;
    let reason: HoldReason =
        serde_json::from_str(&reason).map_err(|e| StoreError::corrupt(T, format!("hold reason: {e}")))?;
    let decided = match (decided_at, note) {
        (Some(at), Some(note)) => Some((Timestamp::from_millis(at), note)),
        (None, None) => None,
        _ => return Err(StoreError::corrupt(T, "a hold decision without its time or note")),
    };
    Ok(Some(Hold { state, reason, decided }))
}

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;

    fn try_from(row: PaymentRow) -> Result<Self, StoreError> {
        const T: &str = "payments";
        Ok(Payment {
            id: PaymentId(b256(T, &row.id)?),
            invoice_id: InvoiceId::from_uuid(row.invoice_id),
            amount: amount(T, row.chain_id, &row.asset, &row.amount)?,
            from: address(T, &row.from_address)?,
            to: address(T, &row.to_address)?,
            tx_hash: b256(T, &row.tx_hash)?,
            log_index: row.log_index.map(|i| to_u64(T, i)).transpose()?,
            block: BlockRef { number: to_u64(T, row.block_number)?, hash: b256(T, &row.block_hash)? },
            block_time: Timestamp::from_millis(row.block_time),
            state: PaymentState::parse(&row.state).ok_or_else(|| StoreError::corrupt(T, "unknown state"))?,
            booked_at: row.booked_at.map(Timestamp::from_millis),
            settled_at: row.settled_at.map(Timestamp::from_millis),
            seen_at: Timestamp::from_millis(row.seen_at),
            moved_from: row.moved_from.map(|id| b256(T, &id).map(PaymentId)).transpose()?,
            displaced_until: row.displaced_until.map(|n| to_u64(T, n)).transpose()?,
            call_path: row.call_path,
            hold: hold(row.hold_state, row.hold_reason, row.hold_decided_at, row.hold_note)?,
        })
    }
}

/// A payment's columns in the form both backends bind, in [`PAYMENT_COLUMNS`] order.
pub(crate) struct PaymentParams {
    pub(crate) id: Vec<u8>,
    pub(crate) invoice_id: Uuid,
    pub(crate) chain_id: i64,
    pub(crate) asset: String,
    pub(crate) amount: String,
    pub(crate) from_address: Vec<u8>,
    pub(crate) to_address: Vec<u8>,
    pub(crate) tx_hash: Vec<u8>,
    pub(crate) log_index: Option<i64>,
    pub(crate) block_number: i64,
    pub(crate) block_hash: Vec<u8>,
    pub(crate) block_time: i64,
    pub(crate) state: &'static str,
    pub(crate) booked_at: Option<i64>,
    pub(crate) settled_at: Option<i64>,
    pub(crate) seen_at: i64,
    pub(crate) moved_from: Option<Vec<u8>>,
    pub(crate) displaced_until: Option<i64>,
    pub(crate) call_path: Option<String>,
    pub(crate) hold_state: Option<&'static str>,
    pub(crate) hold_reason: Option<String>,
    pub(crate) hold_decided_at: Option<i64>,
    pub(crate) hold_note: Option<String>,
}

pub(crate) fn payment_params(payment: &Payment) -> Result<PaymentParams, StoreError> {
    let asset = payment.amount.asset();
    Ok(PaymentParams {
        id: payment.id.0.to_vec(),
        invoice_id: payment.invoice_id.as_uuid(),
        chain_id: to_i64(asset.chain_id.0, "chain id")?,
        asset: asset.symbol.as_str().to_owned(),
        amount: payment.amount.units().to_string(),
        from_address: payment.from.to_vec(),
        to_address: payment.to.to_vec(),
        tx_hash: payment.tx_hash.to_vec(),
        log_index: payment.log_index.map(|i| to_i64(i, "log index")).transpose()?,
        block_number: to_i64(payment.block.number, "block number")?,
        block_hash: payment.block.hash.to_vec(),
        block_time: payment.block_time.as_millis(),
        state: payment.state.as_str(),
        booked_at: payment.booked_at.map(Timestamp::as_millis),
        settled_at: payment.settled_at.map(Timestamp::as_millis),
        seen_at: payment.seen_at.as_millis(),
        moved_from: payment.moved_from.map(|id| id.0.to_vec()),
        displaced_until: payment.displaced_until.map(|n| to_i64(n, "block number")).transpose()?,
        call_path: payment.call_path.clone(),
        hold_state: payment.hold.as_ref().map(|h| h.state.as_str()),
        hold_reason: payment
            .hold
            .as_ref()
            .map(|h| serde_json::to_string(&h.reason).map_err(|e| StoreError::corrupt("payments", e.to_string())))
            .transpose()?,
        hold_decided_at: payment.hold.as_ref().and_then(|h| h.decided.as_ref()).map(|(at, _)| at.as_millis()),
        hold_note: payment.hold.as_ref().and_then(|h| h.decided.as_ref()).map(|(_, note)| note.clone()),
    })
}

fn side(text: &str) -> Result<Side, StoreError> {
    match text {
        "debit" => Ok(Side::Debit),
        "credit" => Ok(Side::Credit),
        other => Err(StoreError::corrupt("ledger_entries", format!("unknown side {other:?}"))),
    }
}

pub(crate) fn side_text(side: Side) -> &'static str {
    match side {
        Side::Debit => "debit",
        Side::Credit => "credit",
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EntryRow {
    transaction_id: Uuid,
    kind: String,
    invoice_id: Option<Uuid>,
    payment_id: Option<Vec<u8>>,
    payout_id: Option<Uuid>,
    sweep_id: Option<Uuid>,
    account: String,
    chain_id: i64,
    asset: String,
    side: String,
    amount: String,
}

impl TryFrom<EntryRow> for StoredEntry {
    type Error = StoreError;

    fn try_from(row: EntryRow) -> Result<Self, StoreError> {
        const T: &str = "ledger_entries";
        let amount = amount(T, row.chain_id, &row.asset, &row.amount)?;
        Ok(StoredEntry {
            transaction_id: LedgerTxId::from_uuid(row.transaction_id),
            kind: PostingKind::parse(&row.kind).ok_or_else(|| StoreError::corrupt(T, "unknown kind"))?,
            invoice_id: row.invoice_id.map(InvoiceId::from_uuid),
            payment_id: row.payment_id.map(|id| b256(T, &id).map(PaymentId)).transpose()?,
            payout_id: row.payout_id.map(coffer_domain::PayoutId::from_uuid),
            sweep_id: row.sweep_id.map(coffer_domain::SweepId::from_uuid),
            account: account(T, &row.account, amount.asset())?,
            side: side(&row.side)?,
            amount,
        })
    }
}

fn account(table: &'static str, key: &str, asset: AssetId) -> Result<Account, StoreError> {
    parse_account(key, asset).ok_or_else(|| StoreError::corrupt(table, format!("unknown account {key:?}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct BalanceRow {
    account: String,
    chain_id: i64,
    asset: String,
    debits: String,
    credits: String,
}

impl TryFrom<BalanceRow> for StoredBalance {
    type Error = StoreError;

    fn try_from(row: BalanceRow) -> Result<Self, StoreError> {
        const T: &str = "ledger_balances";
        let debits = amount(T, row.chain_id, &row.asset, &row.debits)?;
        let credits = crate::shared::units(&row.credits)?;
        Ok(StoredBalance { account: account(T, &row.account, debits.asset())?, debits: debits.units(), credits })
    }
}
