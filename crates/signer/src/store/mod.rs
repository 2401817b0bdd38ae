//! The signer's own SQLite file (never the gateway's database).
//!
//! One connection, owned by the engine behind its lock: the signer is one
//! process, and its decisions are serialised anyway (one decision reads the
//! windows the previous one wrote). `synchronous=FULL` in WAL mode, so a
//! commit is on disk before a signed transaction leaves the process.

mod audit;
mod rows;

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection};

pub(crate) use rows::{RequestRow, SpendRow, TxRow, TxState};

/// A failure of the signer's store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("the signer's database: {0}")]
    Sql(#[from] sqlx::Error),
    /// Migrating failed.
    #[error("migrating the signer's database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row holds something this version cannot read.
    #[error("the signer's database holds a malformed {what}: {detail}")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
}

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what, detail: detail.to_string() }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens (creating and migrating) the signer's database.
pub(crate) async fn open(path: &Path) -> Result<SqliteConnection> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(5));
    let mut conn = options.connect().await?;
    MIGRATOR.run(&mut conn).await?;
    Ok(conn)
}

pub(crate) use audit::{append_audit, audit_entries, audit_head, gateway_heads, record_gateway_head};
pub(crate) use rows::{
    accept_nonce, destination_first, has_nonce, insert_destination, insert_request, insert_spend, insert_tx, open_txs,
    request, set_tx_state, spends_since, take_nonce, txs_of, unincluded_txs, update_request, waking_requests,
};

#[cfg(test)]
mod tests;
