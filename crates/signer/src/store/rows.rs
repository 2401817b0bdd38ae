//! Rows of the signer's tables and the statements that read and write them.

use coffer_domain::{Address, B256, ChainId, U256};
use coffer_signer_api::OutcomeState;
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::{Result, corrupt};

/// One intent and where it stands.
#[derive(Debug, Clone)]
pub(crate) struct RequestRow {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) digest: [u8; 32],
    pub(crate) intent: String,
    pub(crate) chain_id: ChainId,
    pub(crate) asset: String,
    pub(crate) outcome: OutcomeState,
    pub(crate) wake_at: Option<i64>,
    pub(crate) policy_version: u64,
}

/// A transaction's state in the signer's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxState {
    /// Stored; not yet accepted by the node.
    Signed,
    /// The node accepted it.
    Sent,
    /// In a block, not yet deep enough.
    Mined,
    /// Deep enough; succeeded.
    Confirmed,
    /// Reverted, or dropped for good.
    Failed,
    /// Another attempt with its nonce was mined instead.
    Replaced,
}

impl TxState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TxState::Signed => "signed",
            TxState::Sent => "sent",
            TxState::Mined => "mined",
            TxState::Confirmed => "confirmed",
            TxState::Failed => "failed",
            TxState::Replaced => "replaced",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "signed" => TxState::Signed,
            "sent" => TxState::Sent,
            "mined" => TxState::Mined,
            "confirmed" => TxState::Confirmed,
            "failed" => TxState::Failed,
            "replaced" => TxState::Replaced,
            other => return Err(corrupt("tx state", other)),
        })
    }
}

/// One signed transaction (one attempt at a nonce).
#[derive(Debug, Clone)]
pub(crate) struct TxRow {
    pub(crate) request_id: Option<String>,
    pub(crate) purpose: &'static str,
    pub(crate) chain_id: ChainId,
    pub(crate) sender: Address,
    pub(crate) nonce: u64,
    pub(crate) attempt: u32,
    pub(crate) recipient: Address,
    pub(crate) asset: String,
    pub(crate) amount: U256,
    pub(crate) plan: String,
    pub(crate) raw: Vec<u8>,
    pub(crate) hash: B256,
    /// What it can cost its sender in the native coin at most (value and
    /// gas at its fee cap); `None` in rows signed before it was stored.
    pub(crate) max_cost: Option<U256>,
    pub(crate) state: TxState,
    pub(crate) block_number: Option<u64>,
    pub(crate) network_fee: Option<U256>,
    pub(crate) created_at: i64,
    pub(crate) sent_at: Option<i64>,
}

/// One entry of the spend ledger.
#[derive(Debug, Clone)]
pub(crate) struct SpendRow {
    pub(crate) at: i64,
    pub(crate) kind: &'static str,
    pub(crate) chain_id: ChainId,
    pub(crate) asset: String,
    pub(crate) merchant: Option<String>,
    pub(crate) destination: Option<Address>,
    pub(crate) amount: U256,
    pub(crate) request_id: Option<String>,
    /// Signed under the restricted profile.
    pub(crate) restricted: bool,
}

fn kind(text: &str) -> Result<&'static str> {
    match text {
        "payout" => Ok("payout"),
        "sweep" => Ok("sweep"),
        other => Err(corrupt("request kind", other)),
    }
}

fn purpose(text: &str) -> Result<&'static str> {
    ["payout", "sweep", "top_up", "to_cold"].into_iter().find(|p| *p == text).ok_or_else(|| corrupt("purpose", text))
}

fn units(text: &str) -> Result<U256> {
    U256::from_str_radix(text, 10).map_err(|e| corrupt("amount", e))
}

fn address(text: &str) -> Result<Address> {
    text.parse().map_err(|e| corrupt("address", e))
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn as_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

pub(crate) fn request(conn: &Connection, id: &str) -> Result<Option<RequestRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, digest, intent, chain_id, asset, outcome, wake_at, policy_version FROM requests WHERE id = ?",
    )?;
    let row = stmt
        .query_row([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Vec<u8>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, Option<i64>>(7)?,
                row.get::<_, i64>(8)?,
            ))
        })
        .optional()?;
    row.map(|(id, kind_text, digest, intent, chain_id, asset, outcome, wake_at, policy_version)| {
        Ok(RequestRow {
            id,
            kind: kind(&kind_text)?,
            digest: digest.try_into().map_err(|_| corrupt("digest", "not 32 bytes"))?,
            intent,
            chain_id: ChainId(as_u64(chain_id)),
            asset,
            outcome: serde_json::from_str(&outcome).map_err(|e| corrupt("outcome", e))?,
            wake_at,
            policy_version: as_u64(policy_version),
        })
    })
    .transpose()
}

pub(crate) fn insert_request(conn: &Connection, row: &RequestRow, now: i64) -> Result<()> {
    let outcome = serde_json::to_string(&row.outcome).map_err(|e| corrupt("outcome", e))?;
    conn.prepare_cached(
        "INSERT INTO requests (id, kind, digest, intent, chain_id, asset, outcome, final, wake_at, policy_version, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        row.id,
        row.kind,
        row.digest.as_slice(),
        row.intent,
        as_i64(row.chain_id.0),
        row.asset,
        outcome,
        row.outcome.is_final(),
        row.wake_at,
        as_i64(row.policy_version),
        now,
        now
    ])?;
    Ok(())
}

pub(crate) fn update_request(
    conn: &Connection,
    id: &str,
    outcome: &OutcomeState,
    wake_at: Option<i64>,
    policy_version: u64,
    now: i64,
) -> Result<()> {
    let text = serde_json::to_string(outcome).map_err(|e| corrupt("outcome", e))?;
    let updated = conn
        .prepare_cached(
            "UPDATE requests SET outcome = ?, final = ?, wake_at = ?, policy_version = ?, updated_at = ? \
             WHERE id = ? AND final = 0",
        )?
        .execute(params![text, outcome.is_final(), wake_at, as_i64(policy_version), now, id])?;
    if updated != 1 {
        // A final outcome is never rewritten: a confirmed payout stays confirmed.
        return Err(corrupt("request update", format!("{id} is final or missing")));
    }
    Ok(())
}

pub(crate) fn waking_requests(conn: &Connection, now: i64) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM requests WHERE wake_at IS NOT NULL AND wake_at <= ? ORDER BY wake_at")?;
    let ids = stmt.query_map([now], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// Allocates the next nonce of `sender`, starting at `first` (the node's
/// count) the first time the signer sends from it.
pub(crate) fn take_nonce(conn: &Connection, chain: ChainId, sender: Address, first: u64) -> Result<u64> {
    let next: i64 = conn
        .prepare_cached(
            "INSERT INTO nonces (chain_id, sender, next) VALUES (?, ?, ? + 1) \
             ON CONFLICT (chain_id, sender) DO UPDATE SET next = next + 1 RETURNING next - 1",
        )?
        .query_row(params![as_i64(chain.0), sender.to_string(), as_i64(first)], |row| row.get(0))?;
    Ok(as_u64(next))
}

/// Whether the signer has a nonce counter for `sender` (else it asks the node).
pub(crate) fn has_nonce(conn: &Connection, chain: ChainId, sender: Address) -> Result<bool> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT next FROM nonces WHERE chain_id = ? AND sender = ?")?
        .query_row(params![as_i64(chain.0), sender.to_string()], |row| row.get(0))
        .optional()?;
    Ok(found.is_some())
}

pub(crate) fn insert_tx(conn: &Connection, tx: &TxRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO txs (request_id, purpose, chain_id, sender, nonce, attempt, recipient, asset, amount, plan, raw, \
         hash, max_cost, state, block_number, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        tx.request_id,
        tx.purpose,
        as_i64(tx.chain_id.0),
        tx.sender.to_string(),
        as_i64(tx.nonce),
        i64::from(tx.attempt),
        tx.recipient.to_string(),
        tx.asset,
        tx.amount.to_string(),
        tx.plan,
        tx.raw.as_slice(),
        tx.hash.to_string(),
        tx.max_cost.map(|c| c.to_string()),
        tx.state.as_str(),
        tx.block_number.map(as_i64),
        tx.created_at,
        tx.sent_at
    ])?;
    Ok(())
}

/// A row of [`TX_COLUMNS`], read by name and checked.
fn tx_row(row: &Row<'_>) -> Result<TxRow> {
    let text = |column: &str| row.get::<_, String>(column);
    let amount_in = |column: &str| row.get::<_, Option<String>>(column);
    Ok(TxRow {
        request_id: row.get("request_id")?,
        purpose: purpose(&text("purpose")?)?,
        chain_id: ChainId(as_u64(row.get("chain_id")?)),
        sender: address(&text("sender")?)?,
        nonce: as_u64(row.get("nonce")?),
        attempt: u32::try_from(row.get::<_, i64>("attempt")?).map_err(|e| corrupt("attempt", e))?,
        recipient: address(&text("recipient")?)?,
        asset: text("asset")?,
        amount: units(&text("amount")?)?,
        plan: text("plan")?,
        raw: row.get("raw")?,
        hash: text("hash")?.parse().map_err(|e| corrupt("hash", e))?,
        max_cost: amount_in("max_cost")?.as_deref().map(units).transpose()?,
        state: TxState::parse(&text("state")?)?,
        block_number: row.get::<_, Option<i64>>("block_number")?.map(as_u64),
        network_fee: amount_in("network_fee")?.as_deref().map(units).transpose()?,
        created_at: row.get("created_at")?,
        sent_at: row.get("sent_at")?,
    })
}

const TX_COLUMNS: &str = "request_id, purpose, chain_id, sender, nonce, attempt, recipient, asset, amount, plan, raw, \
                          hash, state, block_number, network_fee, created_at, sent_at, max_cost";

fn tx_rows(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<TxRow>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut txs = Vec::new();
    while let Some(row) = rows.next()? {
        txs.push(tx_row(row)?);
    }
    Ok(txs)
}

/// Every attempt not yet final on `chain`, by sender, nonce and attempt.
pub(crate) fn open_txs(conn: &Connection, chain: ChainId) -> Result<Vec<TxRow>> {
    let sql = format!(
        "SELECT {TX_COLUMNS} FROM txs WHERE chain_id = ? AND state IN ('signed', 'sent', 'mined') \
         ORDER BY sender, nonce, attempt"
    );
    tx_rows(conn, &sql, [as_i64(chain.0)])
}

/// One attempt in flight, as the funds check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unincluded {
    pub(crate) nonce: u64,
    pub(crate) asset: String,
    pub(crate) amount: U256,
    /// Its most native-coin cost, or (rows signed before it was stored)
    /// its plan, to work it out from.
    pub(crate) max_cost: Result<U256, String>,
}

/// Every attempt `sender` signed on `chain` that is not in a block at or
/// below `block`: signed or sent, or mined above it. Each half reads an
/// index's range (`txs_open`, `txs_mined`): never the history.
pub(crate) fn unincluded(conn: &Connection, chain: ChainId, sender: Address, block: u64) -> Result<Vec<Unincluded>> {
    let columns = "nonce, asset, amount, max_cost, CASE WHEN max_cost IS NULL THEN plan END";
    let sql = format!(
        "SELECT {columns} FROM txs WHERE chain_id = ?1 AND sender = ?2 \
         AND state IN ('signed', 'sent', 'mined') AND (state <> 'mined' OR block_number > ?3) \
         UNION ALL \
         SELECT {columns} FROM txs WHERE chain_id = ?1 AND sender = ?2 AND block_number > ?3 \
         AND state IN ('confirmed', 'failed')"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![as_i64(chain.0), sender.to_string(), as_i64(block)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(nonce, asset, amount, max_cost, plan)| {
            let max_cost = match max_cost {
                Some(cost) => Ok(units(&cost)?),
                None => Err(plan.ok_or_else(|| corrupt("plan", "neither a cost nor a plan"))?),
            };
            Ok(Unincluded { nonce: as_u64(nonce), asset, amount: units(&amount)?, max_cost })
        })
        .collect()
}

/// Every attempt of one request.
pub(crate) fn txs_of(conn: &Connection, request_id: &str) -> Result<Vec<TxRow>> {
    tx_rows(conn, &format!("SELECT {TX_COLUMNS} FROM txs WHERE request_id = ? ORDER BY id"), [request_id])
}

pub(crate) fn set_tx_state(
    conn: &Connection,
    hash: B256,
    state: TxState,
    block_number: Option<u64>,
    network_fee: Option<U256>,
    sent_at: Option<i64>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE txs SET state = ?, block_number = ?, network_fee = COALESCE(?, network_fee), \
         sent_at = COALESCE(?, sent_at) WHERE hash = ?",
    )?
    .execute(params![
        state.as_str(),
        block_number.map(as_i64),
        network_fee.map(|f| f.to_string()),
        sent_at,
        hash.to_string()
    ])?;
    Ok(())
}

pub(crate) fn insert_spend(conn: &Connection, spend: &SpendRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO spends (at, kind, chain_id, asset, merchant, destination, amount, request_id, profile) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        spend.at,
        spend.kind,
        as_i64(spend.chain_id.0),
        spend.asset,
        spend.merchant,
        spend.destination.map(|d| d.to_string()),
        spend.amount.to_string(),
        spend.request_id,
        if spend.restricted { "restricted" } else { "normal" }
    ])?;
    Ok(())
}

/// The spend ledger since `since` (an indexed range: the windows' last day).
pub(crate) fn spends_since(conn: &Connection, since: i64) -> Result<Vec<SpendRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, kind, chain_id, asset, merchant, destination, amount, request_id, profile FROM spends \
         WHERE at >= ? ORDER BY at",
    )?;
    let rows = stmt
        .query_map([since], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, Option<String>>(7)?,
                row.get::<_, String>(8)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(at, kind, chain_id, asset, merchant, destination, amount, request_id, profile)| {
            Ok(SpendRow {
                at,
                kind: if kind == "fee" { "fee" } else { "payout" },
                chain_id: ChainId(as_u64(chain_id)),
                asset,
                merchant,
                destination: destination.as_deref().map(address).transpose()?,
                amount: units(&amount)?,
                request_id,
                restricted: profile == "restricted",
            })
        })
        .collect()
}

/// What the signer knows of a destination: when it was first asked for
/// (the cool-down's clock) and whether a payout to it was ever signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Destination {
    pub(crate) first_requested_at: Option<i64>,
    pub(crate) paid: bool,
}

/// One read of a destination's row, for a decision.
pub(crate) fn destination(conn: &Connection, chain: ChainId, destination: Address) -> Result<Destination> {
    let row = conn
        .prepare_cached(
            "SELECT first_requested_at, first_paid_at FROM destinations WHERE chain_id = ? AND address = ?",
        )?
        .query_row(params![as_i64(chain.0), destination.to_string()], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    Ok(row.map_or_else(Destination::default, |(first, paid)| Destination {
        first_requested_at: Some(first),
        paid: paid.is_some(),
    }))
}

pub(crate) fn insert_destination(conn: &Connection, chain: ChainId, destination: Address, now: i64) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO destinations (chain_id, address, first_requested_at) VALUES (?, ?, ?)")?
        .execute(params![as_i64(chain.0), destination.to_string(), now])?;
    Ok(())
}

/// Accepts a request nonce once: `false` if it was seen before. Nonces
/// older than `forget_before` are forgotten (their timestamps are stale).
pub(crate) fn accept_nonce(conn: &Connection, nonce: &[u8; 16], now: i64, forget_before: i64) -> Result<bool> {
    conn.prepare_cached("DELETE FROM seen_nonces WHERE seen_at < ?")?.execute([forget_before])?;
    let inserted = conn
        .prepare_cached("INSERT OR IGNORE INTO seen_nonces (nonce, seen_at) VALUES (?, ?)")?
        .execute(params![nonce.as_slice(), now])?;
    Ok(inserted == 1)
}
