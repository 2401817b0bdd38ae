//! The signer's own SQLite file (never the gateway's database).
//!
//! One connection, owned by the engine behind its lock: the signer is one
//! process, and its decisions are serialised anyway (one decision reads the
//! windows the previous one wrote). WAL mode; the engine's connection
//! commits with `synchronous=NORMAL` and makes its commits durable before
//! anything leaves the process by a shared fsync ([`durable`], group
//! commit), the offline tools' with `synchronous=FULL`.
//!
//! The statements run synchronously on the calling thread (rusqlite), on
//! the engine's own thread for decisions: a decision is some fifteen
//! statements, and handing each to a worker thread and back (as an async
//! driver does) cost more than the statements themselves once the machine
//! was busy (ADR 0012).

mod audit;
mod controls;
mod durable;
mod rows;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::time::Duration;

pub(crate) use durable::Durability;
#[cfg(test)]
pub(crate) use rows::Unincluded;
pub(crate) use rows::{RequestRow, SpendRow, TxRow, TxState};
pub(crate) use rusqlite::Connection;

/// A failure of the signer's store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("the signer's database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A row holds something this version cannot read.
    #[error("the signer's database holds a malformed {what}: {detail}")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The WAL beside the database could not be opened for syncing.
    #[error("the signer's database log {path}: {source}")]
    Wal {
        /// The WAL's path.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what, detail: detail.to_string() }
}

/// The schema, in order; `PRAGMA user_version` says how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_signer.sql"),
    include_str!("../../migrations/0002_txs_mined.sql"),
    include_str!("../../migrations/0003_txs_max_cost.sql"),
    include_str!("../../migrations/0004_controls.sql"),
];

/// Opens the signer's database for the engine: commits return once in the
/// WAL, and [`Durability::wait`] makes them durable before anything leaves.
pub(crate) fn open_grouped(path: &Path) -> Result<(Connection, Durability)> {
    let conn = open(path)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let durability = Durability::watch(&conn)
        .map_err(|source| StoreError::Wal { path: format!("{}-wal", path.display()), source })?;
    Ok((conn, durability))
}

/// Puts what a running signer committed on disk before another process
/// reads it through `conn` (an export must not show entries a power cut
/// could take back).
pub(crate) fn sync_wal(conn: &Connection) -> Result<()> {
    let error = |source| StoreError::Wal { path: conn.path().unwrap_or_default().to_owned() + "-wal", source };
    match durable::wal_path(conn).and_then(std::fs::File::open) {
        Ok(file) => file.sync_data().map_err(error),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(error(source)),
    }
}

/// Opens (creating and migrating) the signer's database; every commit is
/// on disk when it returns (`synchronous=FULL`).
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // No checkpoint inside a decision's commit: the tracker runs them
    // between decisions ([`checkpoint`]).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.set_prepared_statement_cache_capacity(64);
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let mut applied: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if applied == 0 {
        // A store an earlier build made kept its migrations in sqlx's table.
        let sqlx: bool = conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            [],
            |row| row.get(0),
        )?;
        if sqlx {
            applied =
                conn.query_row("SELECT count(*) FROM _sqlx_migrations WHERE success = 1", [], |row| row.get(0))?;
        }
    }
    for (number, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(applied).unwrap_or(usize::MAX)) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i64::try_from(number + 1).unwrap_or(i64::MAX))?;
        tx.commit()?;
    }
    Ok(())
}

/// Copies what the WAL holds back into the database, as far as no reader
/// stops it (a passive checkpoint: it never waits). Run between decisions;
/// the connection does not run them itself (`wal_autocheckpoint=0`).
pub(crate) fn checkpoint(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

/// A transaction on the engine's connection: committed by [`Tx::commit`],
/// rolled back when dropped otherwise (an error, a cancelled decision).
/// Unlike rusqlite's own it holds the connection by `&mut`, so a decision
/// can hold it across its awaits and still be sent between threads.
pub(crate) struct Tx<'c> {
    conn: &'c mut Connection,
    open: bool,
}

/// Begins a transaction that takes SQLite's write lock at once.
pub(crate) fn begin(conn: &mut Connection) -> Result<Tx<'_>> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    Ok(Tx { conn, open: true })
}

impl Tx<'_> {
    pub(crate) fn commit(mut self) -> Result<()> {
        self.open = false;
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
    }
}

pub(crate) use audit::{append_audit, audit_entries, audit_head, gateway_heads, record_gateway_head};
pub(crate) use controls::{
    change_approvals, controls, insert_change_approval, insert_payout_approval, mark_paid, payout_approvals,
    save_controls, schedule, scheduled_state, waiting_changes,
};
pub(crate) use rows::{
    Destination, accept_nonce, destination, has_nonce, insert_destination, insert_request, insert_spend, insert_tx,
    open_txs, request, set_tx_state, spends_since, take_nonce, txs_of, unincluded, update_request, waking_requests,
};

#[cfg(test)]
pub(crate) use controls::destination_paid;
#[cfg(test)]
mod tests;
