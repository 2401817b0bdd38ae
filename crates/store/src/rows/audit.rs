//! Audit log rows.

use coffer_audit::{Entry, Hash, Head, Record};

use crate::StoreError;

/// The columns [`AuditRow`] reads.
pub(crate) const AUDIT_COLUMNS: &str = "seq, at_ms, actor, action, subject, detail, prev, hash";

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    at_ms: i64,
    actor: String,
    action: String,
    subject: String,
    detail: String,
    prev: Vec<u8>,
    hash: Vec<u8>,
}

impl TryFrom<AuditRow> for Entry {
    type Error = StoreError;

    /// As stored, hash unchecked (the verifier checks it). Only what cannot
    /// be an entry at all is refused, naming the entry.
    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        let seq = super::to_u64("audit_log", row.seq)?;
        let bad = |what: String| StoreError::corrupt("audit_log", format!("entry {seq}: {what}; it was edited"));
        let detail = serde_json::from_str(&row.detail).map_err(|e| bad(format!("its detail is not JSON ({e})")))?;
        Ok(Entry {
            seq,
            record: Record { at_ms: row.at_ms, actor: row.actor, action: row.action, subject: row.subject, detail },
            prev: hash(&row.prev).map_err(&bad)?,
            hash: hash(&row.hash).map_err(&bad)?,
        })
    }
}

/// The head table's row.
pub(crate) fn head(seq: i64, hash_bytes: &[u8]) -> Result<Head, StoreError> {
    let seq = super::to_u64("audit_head", seq)?;
    let hash = hash(hash_bytes).map_err(|e| StoreError::corrupt("audit_head", e))?;
    Ok(Head { seq, hash })
}

fn hash(bytes: &[u8]) -> Result<Hash, String> {
    Hash::try_from(bytes).map_err(|e| e.to_string())
}
