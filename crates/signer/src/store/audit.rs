//! The signer's audit log and its record of the gateway log's heads.

use coffer_audit::{Entry, Hash, Head, Record};
use sqlx::{Row as _, SqliteConnection};

use super::{Result, corrupt};

pub(crate) async fn audit_head(conn: &mut SqliteConnection) -> Result<Head> {
    let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(conn).await?;
    match row {
        None => Ok(Head::EMPTY),
        Some(row) => Ok(Head {
            seq: u64::try_from(row.get::<i64, _>("seq")).map_err(|e| corrupt("audit seq", e))?,
            hash: row.get::<String, _>("hash").parse().map_err(|e| corrupt("audit hash", e))?,
        }),
    }
}

/// Appends `record` after `head` (the caller holds the engine's lock, so
/// the head it read is the log's head) and returns the new head.
pub(crate) async fn append_audit(conn: &mut SqliteConnection, head: Head, record: Record) -> Result<Head> {
    let entry = Entry::next(head, record);
    sqlx::query("INSERT INTO audit_log (seq, at_ms, actor, action, subject, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(i64::try_from(entry.seq).map_err(|e| corrupt("audit seq", e))?)
        .bind(entry.record.at_ms)
        .bind(&entry.record.actor)
        .bind(&entry.record.action)
        .bind(&entry.record.subject)
        .bind(entry.record.detail.to_string())
        .bind(entry.prev.to_string())
        .bind(entry.hash.to_string())
        .execute(conn)
        .await?;
    Ok(Head { seq: entry.seq, hash: entry.hash })
}

/// The whole log, in order, for export and verification.
pub(crate) async fn audit_entries(conn: &mut SqliteConnection) -> Result<Vec<Entry>> {
    let rows = sqlx::query("SELECT seq, at_ms, actor, action, subject, detail, prev, hash FROM audit_log ORDER BY seq")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Entry {
                seq: u64::try_from(row.get::<i64, _>("seq")).map_err(|e| corrupt("audit seq", e))?,
                record: Record {
                    at_ms: row.get("at_ms"),
                    actor: row.get("actor"),
                    action: row.get("action"),
                    subject: row.get("subject"),
                    detail: serde_json::from_str(row.get("detail")).map_err(|e| corrupt("audit detail", e))?,
                },
                prev: row.get::<String, _>("prev").parse().map_err(|e| corrupt("audit prev", e))?,
                hash: row.get::<String, _>("hash").parse().map_err(|e| corrupt("audit hash", e))?,
            })
        })
        .collect()
}

/// Records a gateway log head a request carried, unless it is the last one recorded.
pub(crate) async fn record_gateway_head(conn: &mut SqliteConnection, at_ms: i64, head: Hash) -> Result<()> {
    let last: Option<String> = sqlx::query_scalar("SELECT head FROM gateway_heads ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    if last.as_deref() == Some(head.to_string().as_str()) {
        return Ok(());
    }
    sqlx::query("INSERT INTO gateway_heads (at_ms, head) VALUES (?, ?)")
        .bind(at_ms)
        .bind(head.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Every gateway head recorded, oldest first.
pub(crate) async fn gateway_heads(conn: &mut SqliteConnection) -> Result<Vec<(i64, Hash)>> {
    let rows = sqlx::query("SELECT at_ms, head FROM gateway_heads ORDER BY id").fetch_all(conn).await?;
    rows.iter()
        .map(|row| {
            Ok((row.get("at_ms"), row.get::<String, _>("head").parse().map_err(|e| corrupt("gateway head", e))?))
        })
        .collect()
}
