//! Rows of the signer's tables and the statements that read and write them.

use coffer_domain::{Address, B256, ChainId, U256};
use coffer_signer_api::OutcomeState;
use sqlx::{Row as _, SqliteConnection};

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

pub(crate) async fn request(conn: &mut SqliteConnection, id: &str) -> Result<Option<RequestRow>> {
    let row = sqlx::query(
        "SELECT id, kind, digest, intent, chain_id, asset, outcome, wake_at, policy_version FROM requests WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        let digest: Vec<u8> = row.get("digest");
        Ok(RequestRow {
            id: row.get("id"),
            kind: kind(row.get("kind"))?,
            digest: digest.try_into().map_err(|_| corrupt("digest", "not 32 bytes"))?,
            intent: row.get("intent"),
            chain_id: ChainId(as_u64(row.get("chain_id"))),
            asset: row.get("asset"),
            outcome: serde_json::from_str(row.get("outcome")).map_err(|e| corrupt("outcome", e))?,
            wake_at: row.get("wake_at"),
            policy_version: as_u64(row.get("policy_version")),
        })
    })
    .transpose()
}

pub(crate) async fn insert_request(conn: &mut SqliteConnection, row: &RequestRow, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO requests (id, kind, digest, intent, chain_id, asset, outcome, final, wake_at, policy_version, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.id)
    .bind(row.kind)
    .bind(row.digest.as_slice())
    .bind(&row.intent)
    .bind(as_i64(row.chain_id.0))
    .bind(&row.asset)
    .bind(serde_json::to_string(&row.outcome).map_err(|e| corrupt("outcome", e))?)
    .bind(row.outcome.is_final())
    .bind(row.wake_at)
    .bind(as_i64(row.policy_version))
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn update_request(
    conn: &mut SqliteConnection,
    id: &str,
    outcome: &OutcomeState,
    wake_at: Option<i64>,
    policy_version: u64,
    now: i64,
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE requests SET outcome = ?, final = ?, wake_at = ?, policy_version = ?, updated_at = ? \
         WHERE id = ? AND final = 0",
    )
    .bind(serde_json::to_string(outcome).map_err(|e| corrupt("outcome", e))?)
    .bind(outcome.is_final())
    .bind(wake_at)
    .bind(as_i64(policy_version))
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    if updated.rows_affected() != 1 {
        // A final outcome is never rewritten: a confirmed payout stays confirmed.
        return Err(corrupt("request update", format!("{id} is final or missing")));
    }
    Ok(())
}

pub(crate) async fn waking_requests(conn: &mut SqliteConnection, now: i64) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT id FROM requests WHERE wake_at IS NOT NULL AND wake_at <= ? ORDER BY wake_at")
        .bind(now)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.get("id")).collect())
}

/// Allocates the next nonce of `sender`, starting at `first` (the node's
/// count) the first time the signer sends from it.
pub(crate) async fn take_nonce(
    conn: &mut SqliteConnection,
    chain: ChainId,
    sender: Address,
    first: u64,
) -> Result<u64> {
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO nonces (chain_id, sender, next) VALUES (?, ?, ? + 1) \
         ON CONFLICT (chain_id, sender) DO UPDATE SET next = next + 1 RETURNING next - 1",
    )
    .bind(as_i64(chain.0))
    .bind(sender.to_string())
    .bind(as_i64(first))
    .fetch_one(conn)
    .await?;
    Ok(as_u64(next))
}

/// Whether the signer has a nonce counter for `sender` (else it asks the node).
pub(crate) async fn has_nonce(conn: &mut SqliteConnection, chain: ChainId, sender: Address) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT next FROM nonces WHERE chain_id = ? AND sender = ?")
        .bind(as_i64(chain.0))
        .bind(sender.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

pub(crate) async fn insert_tx(conn: &mut SqliteConnection, tx: &TxRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO txs (request_id, purpose, chain_id, sender, nonce, attempt, recipient, asset, amount, plan, raw, \
         hash, state, block_number, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&tx.request_id)
    .bind(tx.purpose)
    .bind(as_i64(tx.chain_id.0))
    .bind(tx.sender.to_string())
    .bind(as_i64(tx.nonce))
    .bind(i64::from(tx.attempt))
    .bind(tx.recipient.to_string())
    .bind(&tx.asset)
    .bind(tx.amount.to_string())
    .bind(&tx.plan)
    .bind(tx.raw.as_slice())
    .bind(tx.hash.to_string())
    .bind(tx.state.as_str())
    .bind(tx.block_number.map(as_i64))
    .bind(tx.created_at)
    .bind(tx.sent_at)
    .execute(conn)
    .await?;
    Ok(())
}

fn tx_row(row: &sqlx::sqlite::SqliteRow) -> Result<TxRow> {
    Ok(TxRow {
        request_id: row.get("request_id"),
        purpose: purpose(row.get("purpose"))?,
        chain_id: ChainId(as_u64(row.get("chain_id"))),
        sender: address(row.get("sender"))?,
        nonce: as_u64(row.get("nonce")),
        attempt: u32::try_from(row.get::<i64, _>("attempt")).map_err(|e| corrupt("attempt", e))?,
        recipient: address(row.get("recipient"))?,
        asset: row.get("asset"),
        amount: units(row.get("amount"))?,
        plan: row.get("plan"),
        raw: row.get("raw"),
        hash: row.get::<String, _>("hash").parse().map_err(|e| corrupt("hash", e))?,
        state: TxState::parse(row.get("state"))?,
        block_number: row.get::<Option<i64>, _>("block_number").map(as_u64),
        network_fee: row.get::<Option<String>, _>("network_fee").as_deref().map(units).transpose()?,
        created_at: row.get("created_at"),
        sent_at: row.get("sent_at"),
    })
}

const TX_COLUMNS: &str = "request_id, purpose, chain_id, sender, nonce, attempt, recipient, asset, amount, plan, raw, \
                          hash, state, block_number, network_fee, created_at, sent_at";

/// Every attempt not yet final on `chain`, by sender, nonce and attempt.
pub(crate) async fn open_txs(conn: &mut SqliteConnection, chain: ChainId) -> Result<Vec<TxRow>> {
    // The columns are a constant of this file: no input reaches the SQL text.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TX_COLUMNS} FROM txs WHERE chain_id = ? AND state IN ('signed', 'sent', 'mined') \
         ORDER BY sender, nonce, attempt"
    )))
    .bind(as_i64(chain.0))
    .fetch_all(conn)
    .await?;
    rows.iter().map(tx_row).collect()
}

/// Every attempt `sender` signed on `chain` that is not in a block at or
/// below `block`: signed or sent, or mined above it. Each half reads an
/// index's range (`txs_open`, `txs_mined`): never the history.
pub(crate) async fn unincluded_txs(
    conn: &mut SqliteConnection,
    chain: ChainId,
    sender: Address,
    block: u64,
) -> Result<Vec<TxRow>> {
    // The columns are a constant of this file: no input reaches the SQL text.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TX_COLUMNS} FROM txs WHERE chain_id = ?1 AND sender = ?2 \
         AND state IN ('signed', 'sent', 'mined') AND (state <> 'mined' OR block_number > ?3) \
         UNION ALL \
         SELECT {TX_COLUMNS} FROM txs WHERE chain_id = ?1 AND sender = ?2 AND block_number > ?3 \
         AND state IN ('confirmed', 'failed')"
    )))
    .bind(as_i64(chain.0))
    .bind(sender.to_string())
    .bind(as_i64(block))
    .fetch_all(conn)
    .await?;
    rows.iter().map(tx_row).collect()
}

/// Every attempt of one request.
pub(crate) async fn txs_of(conn: &mut SqliteConnection, request_id: &str) -> Result<Vec<TxRow>> {
    let rows =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TX_COLUMNS} FROM txs WHERE request_id = ? ORDER BY id")))
            .bind(request_id)
            .fetch_all(conn)
            .await?;
    rows.iter().map(tx_row).collect()
}

pub(crate) async fn set_tx_state(
    conn: &mut SqliteConnection,
    hash: B256,
    state: TxState,
    block_number: Option<u64>,
    network_fee: Option<U256>,
    sent_at: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE txs SET state = ?, block_number = ?, network_fee = COALESCE(?, network_fee), \
         sent_at = COALESCE(?, sent_at) WHERE hash = ?",
    )
    .bind(state.as_str())
    .bind(block_number.map(as_i64))
    .bind(network_fee.map(|f| f.to_string()))
    .bind(sent_at)
    .bind(hash.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn insert_spend(conn: &mut SqliteConnection, spend: &SpendRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO spends (at, kind, chain_id, asset, merchant, destination, amount, request_id) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(spend.at)
    .bind(spend.kind)
    .bind(as_i64(spend.chain_id.0))
    .bind(&spend.asset)
    .bind(&spend.merchant)
    .bind(spend.destination.map(|d| d.to_string()))
    .bind(spend.amount.to_string())
    .bind(&spend.request_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The spend ledger since `since` (an indexed range: the windows' last day).
pub(crate) async fn spends_since(conn: &mut SqliteConnection, since: i64) -> Result<Vec<SpendRow>> {
    let rows = sqlx::query(
        "SELECT at, kind, chain_id, asset, merchant, destination, amount, request_id FROM spends \
         WHERE at >= ? ORDER BY at",
    )
    .bind(since)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(SpendRow {
                at: row.get("at"),
                kind: if row.get::<String, _>("kind") == "fee" { "fee" } else { "payout" },
                chain_id: ChainId(as_u64(row.get("chain_id"))),
                asset: row.get("asset"),
                merchant: row.get("merchant"),
                destination: row.get::<Option<String>, _>("destination").as_deref().map(address).transpose()?,
                amount: units(row.get("amount"))?,
                request_id: row.get("request_id"),
            })
        })
        .collect()
}

pub(crate) async fn destination_first(
    conn: &mut SqliteConnection,
    chain: ChainId,
    destination: Address,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT first_requested_at FROM destinations WHERE chain_id = ? AND address = ?")
        .bind(as_i64(chain.0))
        .bind(destination.to_string())
        .fetch_optional(conn)
        .await?)
}

pub(crate) async fn insert_destination(
    conn: &mut SqliteConnection,
    chain: ChainId,
    destination: Address,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT OR IGNORE INTO destinations (chain_id, address, first_requested_at) VALUES (?, ?, ?)")
        .bind(as_i64(chain.0))
        .bind(destination.to_string())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Accepts a request nonce once: `false` if it was seen before. Nonces
/// older than `forget_before` are forgotten (their timestamps are stale).
pub(crate) async fn accept_nonce(
    conn: &mut SqliteConnection,
    nonce: &[u8; 16],
    now: i64,
    forget_before: i64,
) -> Result<bool> {
    sqlx::query("DELETE FROM seen_nonces WHERE seen_at < ?").bind(forget_before).execute(&mut *conn).await?;
    let inserted = sqlx::query("INSERT OR IGNORE INTO seen_nonces (nonce, seen_at) VALUES (?, ?)")
        .bind(nonce.as_slice())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(inserted.rows_affected() == 1)
}
