//! What can go wrong in the store, typed so that callers can tell a client's
//! mistake from an outage.

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the operation for reasons
    /// outside Coffer's control (I/O, connection, lock timeout). Retrying later may help.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A referenced merchant does not exist.
    #[error("no merchant with id {0}")]
    UnknownMerchant(coffer_domain::MerchantId),
    /// A row breaks a uniqueness rule the caller should have kept (a reused
    /// deposit address, a duplicate id). Never retried blindly.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database holds something Coffer could not have written.
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database was set up for addresses from another xpub.
    #[error(
        "this database derives deposit addresses from another xpub (fingerprint {recorded}, configured {configured}); \
         mixing two wallets' addresses in one database is refused"
    )]
    XpubMismatch {
        /// Fingerprint recorded in the database.
        recorded: String,
        /// Fingerprint of the configured xpub.
        configured: String,
    },
    /// Every non-hardened derivation index (2^31 of them) has been handed out.
    #[error("deposit derivation indices exhausted")]
    IndicesExhausted,
    /// The write ran but its transaction did not commit; nothing of it was kept.
    #[error("the database could not commit the write: {0}")]
    CommitFailed(String),
    /// The writer's lease lapsed or passed to another gateway: nothing was
    /// written, and the writer must step down.
    #[error("the lease {name} is no longer held at epoch {epoch}; nothing was written")]
    Fenced {
        /// The lease.
        name: String,
        /// The epoch the write carried.
        epoch: i64,
    },
    /// A chain step was computed on a cursor that is no longer the stored
    /// one: another watcher moved it, or the step was applied already.
    /// Nothing was written; recompute from the store.
    #[error("the chain cursor of chain {chain_id} moved since the step was computed; nothing was written")]
    CursorMoved {
        /// The chain.
        chain_id: coffer_domain::ChainId,
    },
    /// An invoice change was computed from a status the invoice no longer
    /// has, or a payment was not in the state a booking expected. Nothing
    /// was written; recompute from the store.
    #[error("stale write: {0}; nothing was written")]
    Stale(String),
    /// The store's writer task has stopped (the process is shutting down).
    #[error("the store could not carry out the write (shutting down or a database error; see the log)")]
    Closed,
}

impl StoreError {
    /// Maps a driver error, recognising constraint violations and values
    /// the database refuses.
    pub(crate) fn from_sqlx(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return Self::Conflict(db.message().to_owned()),
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return Self::Conflict(format!("reference to a missing row: {}", db.message()));
                }
                _ => {}
            }
            // PostgreSQL's data exceptions (SQLSTATE class 22: a NUL in text,
            // an invalid byte sequence, a number out of range) are about the
            // value written, never about the database's health: retrying
            // cannot help, and calling them an outage would page someone for
            // what is a gap in input validation. Refused like a broken rule.
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                && pg.code().starts_with("22")
            {
                return Self::Conflict(format!(
                    "the database refused a value (SQLSTATE {}: {}); input validation should have refused it",
                    pg.code(),
                    pg.message()
                ));
            }
        }
        Self::Unavailable(err)
    }

    pub(crate) fn corrupt(table: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Corrupt { table, reason: reason.to_string() }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::from_sqlx(err)
    }
}
