//! [`crate::AuditStore`] and [`crate::AuditedActs`] for both backends.
//!
//! `$lock` is what serialises appends beyond the connection: on PostgreSQL
//! ` FOR UPDATE` (the head row is locked until the transaction ends, so a
//! second gateway's append waits, then reads the head the first one moved);
//! on SQLite nothing (the single writer runs one write at a time).
//!
//! The audited acts reuse the writes `chain_store!` and `webhook_store!`
//! generate in the same module (`chain_writes`, `webhook_sql`), so an act
//! and its plain method cannot drift apart. Each appends last, so the head
//! row is held for as short a time as the act allows, and always after
//! the act's own locks: no two transactions can wait on each other.

macro_rules! audit_store {
    ($store:ty, $conn:ty, $lock:literal) => {
        mod audit_writes {
            use coffer_audit::{Entry, Record};

            use $crate::{Result, StoreError};

            /// Appends `record` after the head, on a connection inside a transaction.
            pub(super) async fn append(conn: &mut $conn, record: &Record) -> Result<Entry> {
                let (seq, hash): (i64, Vec<u8>) =
                    sqlx::query_as(concat!("SELECT seq, hash FROM audit_head WHERE id = 1", $lock))
                        .fetch_one(&mut *conn)
                        .await?;
                let head = $crate::rows::audit_head(seq, &hash)?;
                let entry = Entry::next(head, record.clone());
                sqlx::query(
                    "INSERT INTO audit_log (seq, at_ms, actor, action, subject, detail, prev, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind($crate::rows::to_i64(entry.seq, "audit seq")?)
                .bind(entry.record.at_ms)
                .bind(&entry.record.actor)
                .bind(&entry.record.action)
                .bind(&entry.record.subject)
                .bind(coffer_audit::canonical_json(&entry.record.detail))
                .bind(entry.prev.0.as_slice())
                .bind(entry.hash.0.as_slice())
                .execute(&mut *conn)
                .await?;
                // Compare-and-set on top of the lock: a head moved behind
                // our back fails the append rather than forking the log.
                let moved = sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3")
                    .bind($crate::rows::to_i64(entry.seq, "audit seq")?)
                    .bind(entry.hash.0.as_slice())
                    .bind(seq)
                    .execute(&mut *conn)
                    .await?;
                if moved.rows_affected() != 1 {
                    return Err(StoreError::Conflict("the audit log's head moved during an append".into()));
                }
                Ok(entry)
            }
        }

        #[async_trait::async_trait]
        impl $crate::AuditStore for $store {
            async fn append(&self, record: &coffer_audit::Record) -> $crate::Result<coffer_audit::Entry> {
                let record = record.clone();
                self.transaction(move |conn| Box::pin(async move { audit_writes::append(conn, &record).await })).await
            }

            async fn head(&self) -> $crate::Result<coffer_audit::Head> {
                let (seq, hash): (i64, Vec<u8>) =
                    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.reads).await?;
                $crate::rows::audit_head(seq, &hash)
            }

            async fn entries(&self, after_seq: u64, limit: u32) -> $crate::Result<Vec<coffer_audit::Entry>> {
                let sql = format!(
                    "SELECT {} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                    $crate::rows::AUDIT_COLUMNS
                );
                let rows: Vec<$crate::rows::AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind($crate::rows::to_i64(after_seq, "audit seq")?)
                    .bind(i64::from(limit))
                    .fetch_all(&self.reads)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn last_entry_of(&self, action: &str) -> $crate::Result<Option<coffer_audit::Entry>> {
                let sql = format!(
                    "SELECT {} FROM audit_log WHERE action = $1 ORDER BY seq DESC LIMIT 1",
                    $crate::rows::AUDIT_COLUMNS
                );
                let row: Option<$crate::rows::AuditRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(action).fetch_optional(&self.reads).await?;
                row.map(TryInto::try_into).transpose()
            }
        }

        $crate::shared::audited_acts!($store);
    };
}

pub(crate) use audit_store;
