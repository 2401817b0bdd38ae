//! The signer's audit log and its record of the gateway log's heads.

use coffer_audit::{Entry, Hash, Head, Record};
use rusqlite::{Connection, OptionalExtension as _, params};

use super::{Result, corrupt};

pub(crate) fn audit_head(conn: &Connection) -> Result<Head> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match row {
        None => Ok(Head::EMPTY),
        Some((seq, hash)) => Ok(Head {
            seq: u64::try_from(seq).map_err(|e| corrupt("audit seq", e))?,
            hash: hash.parse().map_err(|e| corrupt("audit hash", e))?,
        }),
    }
}

/// Appends `record` after `head` (the caller holds the engine's lock, so
/// the head it read is the log's head) and returns the new head.
pub(crate) fn append_audit(conn: &Connection, head: Head, record: Record) -> Result<Head> {
    let entry = Entry::next(head, record);
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, at_ms, actor, action, subject, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        i64::try_from(entry.seq).map_err(|e| corrupt("audit seq", e))?,
        entry.record.at_ms,
        entry.record.actor,
        entry.record.action,
        entry.record.subject,
        entry.record.detail.to_string(),
        entry.prev.to_string(),
        entry.hash.to_string()
    ])?;
    Ok(Head { seq: entry.seq, hash: entry.hash })
}

/// The whole log, in order, for export and verification.
pub(crate) fn audit_entries(conn: &Connection) -> Result<Vec<Entry>> {
    let mut stmt =
        conn.prepare("SELECT seq, at_ms, actor, action, subject, detail, prev, hash FROM audit_log ORDER BY seq")?;
    type RawEntry = (i64, i64, String, String, String, String, String, String);
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?))
        })?
        .collect::<rusqlite::Result<Vec<RawEntry>>>()?;
    rows.into_iter()
        .map(|(seq, at_ms, actor, action, subject, detail, prev, hash)| {
            Ok(Entry {
                seq: u64::try_from(seq).map_err(|e| corrupt("audit seq", e))?,
                record: Record {
                    at_ms,
                    actor,
                    action,
                    subject,
                    detail: serde_json::from_str(&detail).map_err(|e| corrupt("audit detail", e))?,
                },
                prev: prev.parse().map_err(|e| corrupt("audit prev", e))?,
                hash: hash.parse().map_err(|e| corrupt("audit hash", e))?,
            })
        })
        .collect()
}

/// Records a gateway log head a request carried, unless it is the last one recorded.
pub(crate) fn record_gateway_head(conn: &Connection, at_ms: i64, head: Hash) -> Result<()> {
    let last: Option<String> = conn
        .prepare_cached("SELECT head FROM gateway_heads ORDER BY id DESC LIMIT 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    let head = head.to_string();
    if last.as_deref() == Some(head.as_str()) {
        return Ok(());
    }
    conn.prepare_cached("INSERT INTO gateway_heads (at_ms, head) VALUES (?, ?)")?.execute(params![at_ms, head])?;
    Ok(())
}

/// Every gateway head recorded, oldest first.
pub(crate) fn gateway_heads(conn: &Connection) -> Result<Vec<(i64, Hash)>> {
    let mut stmt = conn.prepare("SELECT at_ms, head FROM gateway_heads ORDER BY id")?;
    let rows = stmt
        .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|(at_ms, head)| Ok((at_ms, head.parse().map_err(|e| corrupt("gateway head", e))?))).collect()
}
