//! The SQLite store: a pool of read-only connections plus one writer task.

mod cache;
mod ops;
mod writer;

use std::ops::Range;
use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use coffer_domain::{ApiKeyId, Invoice, InvoiceId, MerchantId, Timestamp};
use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use self::cache::InvoiceCache;
use self::writer::Writer;
use crate::reads::shared_reads;
use crate::{ApiKeyRecord, InsertOutcome, InvoiceQuery, Merchant, NewInvoice, Result, Store, StoreError};

/// Read connections. Reads never wait on the writer (WAL), so a few
/// connections keep both cores busy.
const READ_CONNECTIONS: u32 = 8;

/// Coffer's default store: one SQLite file in WAL mode with `synchronous=FULL`
/// (a commit survives power loss), written by one group-committing task.
#[derive(Debug)]
pub struct SqliteStore {
    reads: SqlitePool,
    writer: Writer,
    /// Shared with the writer task, which refreshes it after each commit.
    invoices: std::sync::Arc<InvoiceCache>,
    /// The checkpoint task runs while this lives.
    _alive: std::sync::Arc<()>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Checkpoints run beside the writer (see `checkpoints`), not inside its commits.
            .pragma("wal_autocheckpoint", "0")
            // When the log starts over, give back its disk space beyond 64 MiB.
            .pragma("journal_size_limit", "67108864")
            .log_statements(tracing::log::LevelFilter::Trace);
        let mut write_conn = options.connect().await?;
        sqlx::migrate!("migrations/sqlite").run(&mut write_conn).await?;
        let alive = std::sync::Arc::new(());
        tokio::spawn(checkpoints(options.connect().await?, std::sync::Arc::downgrade(&alive)));
        let reads = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .min_connections(1)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { reads, writer: Writer::spawn(write_conn), invoices: std::sync::Arc::default(), _alive: alive })
    }

    /// Opens the store at a `sqlite://` URL or plain path.
    pub async fn open_url(url: &str) -> Result<Self> {
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?;
        Self::open(options.get_filename()).await
    }

    /// Closes the read pool; the writer stops when the store is dropped.
    pub async fn close(&self) {
        self.reads.close().await;
    }
}

shared_reads!(SqliteStore);
crate::shared::chain_store!(SqliteStore, sqlx::SqliteConnection, sqlx::Sqlite, crate::leases::SQLITE);
crate::shared::ledger_store!(SqliteStore, None::<&str>);
crate::shared::webhook_store!(SqliteStore, sqlx::Sqlite);
crate::shared::audit_store!(SqliteStore, sqlx::SqliteConnection, "");
crate::shared::payout_store!(SqliteStore, sqlx::SqliteConnection, sqlx::Sqlite);
crate::shared::sweep_store!(SqliteStore, None::<&str>);
crate::shared::screening_store!(SqliteStore, sqlx::SqliteConnection);
crate::shared::console_store!(SqliteStore, sqlx::Sqlite);
crate::shared::branding_store!(SqliteStore);
crate::leases::lease_store!(SqliteStore, sqlx::SqliteConnection, crate::leases::SQLITE);

impl SqliteStore {
    /// Runs `op` as one atomic write (a savepoint in the writer's next batch).
    async fn transaction<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::SqliteConnection) -> futures_util::future::BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        self.writer.write_atomic(op).await
    }

    /// Runs `op`, a write of one changing statement, in the writer's next
    /// batch without a savepoint of its own (see the writer's contract).
    async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::SqliteConnection) -> futures_util::future::BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        self.writer.write(op).await
    }

    /// One lease statement, through the writer (the only writer there is).
    async fn lease_write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::SqliteConnection) -> futures_util::future::BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        self.write(op).await
    }

    fn lease_reads(&self) -> &sqlx::SqlitePool {
        &self.reads
    }

    /// As [`SqliteStore::transaction`], for a write that changes these
    /// invoices: the writer refreshes their cache entries after the commit,
    /// before the caller hears back, whether or not the caller still waits.
    async fn transaction_changing<T, F>(&self, changed: Vec<crate::shared::ChangedInvoice>, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::SqliteConnection) -> futures_util::future::BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        let cache = std::sync::Arc::clone(&self.invoices);
        self.writer.write_atomic_then(op, move |_: &T| cache.update(&changed)).await
    }
}

/// How often the write-ahead log is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the WAL into the database file from a connection of its own.
///
/// Left to SQLite, the commit that crosses 1,000 WAL pages runs the
/// checkpoint itself (page copies plus an fsync of the database file) while
/// every queued write waits: tens of milliseconds of tail latency. `PASSIVE`
/// checkpoints here run beside the writer and never block it; the writer
/// then only finishes the last few frames so the log can start over
/// (`writer.rs`).
async fn checkpoints(mut conn: sqlx::SqliteConnection, alive: std::sync::Weak<()>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.upgrade().is_none() {
            break;
        }
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await {
            tracing::warn!(error = %err, "SQLite checkpoint failed; retrying");
        }
    }
    let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await;
}

#[async_trait]
impl Store for SqliteStore {
    async fn bind_xpub(&self, fingerprint: &str) -> Result<()> {
        let fingerprint = fingerprint.to_owned();
        self.writer.write(move |c| Box::pin(ops::bind_xpub(c, fingerprint))).await
    }

    async fn create_merchant(&self, merchant: &Merchant) -> Result<()> {
        let merchant = merchant.clone();
        self.writer.write(move |c| Box::pin(ops::create_merchant(c, merchant))).await
    }

    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>> {
        self.read_merchant(id).await
    }

    async fn merchants(&self) -> Result<Vec<Merchant>> {
        self.read_merchants().await
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let key = key.clone();
        self.writer.write(move |c| Box::pin(ops::create_api_key(c, key))).await
    }

    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKeyRecord>> {
        self.read_api_key(id).await
    }

    async fn api_keys(&self, merchant_id: MerchantId) -> Result<Vec<ApiKeyRecord>> {
        self.read_api_keys(merchant_id).await
    }

    async fn revoke_api_key(&self, id: ApiKeyId, at: Timestamp) -> Result<bool> {
        self.writer.write(move |c| Box::pin(ops::revoke_api_key(c, id, at))).await
    }

    async fn reserve_deposit_indices(&self, count: u32) -> Result<Range<u32>> {
        self.writer.write(move |c| Box::pin(ops::reserve_deposit_indices(c, count))).await
    }

    async fn insert_invoice(&self, new: NewInvoice) -> Result<InsertOutcome> {
        let cache = std::sync::Arc::clone(&self.invoices);
        // Cached by the writer after the commit, since a new invoice is
        // usually read back soon (status polling). The writer runs its
        // effects in commit order, so a change committed after this write
        // refreshes the entry after it was put.
        let cache_it = move |outcome: &InsertOutcome| {
            if let InsertOutcome::Created(invoice) | InsertOutcome::Replayed(invoice) = outcome {
                cache.put(invoice.clone());
            }
        };
        self.writer.write_then(move |c| Box::pin(ops::insert_invoice(c, new)), cache_it).await
    }

    async fn invoice(&self, merchant_id: MerchantId, id: InvoiceId) -> Result<Option<Invoice>> {
        if let Some(invoice) = self.invoices.get(merchant_id, id) {
            return Ok(Some(invoice));
        }
        let mark = self.invoices.mark();
        let invoice = self.read_invoice(merchant_id, id).await?;
        if let Some(invoice) = &invoice {
            self.invoices.put_if_unchanged(invoice.clone(), mark);
        }
        Ok(invoice)
    }

    async fn invoice_by_checkout_token(&self, token: &coffer_domain::CheckoutToken) -> Result<Option<Invoice>> {
        self.read_invoice_by_checkout_token(token).await
    }

    async fn invoices(&self, query: InvoiceQuery) -> Result<Vec<Invoice>> {
        self.read_invoices(query).await
    }

    async fn expire_invoice(&self, merchant_id: MerchantId, id: InvoiceId, at: Timestamp) -> Result<Option<Invoice>> {
        let cache = std::sync::Arc::clone(&self.invoices);
        let recache = move |changed: &Option<Invoice>| {
            if let Some(invoice) = changed {
                cache.put(invoice.clone());
            }
        };
        self.writer.write_then(move |c| Box::pin(ops::expire_invoice(c, merchant_id, id, at)), recache).await
    }

    async fn ping(&self) -> Result<()> {
        self.read_ping().await
    }

    fn is_shared(&self) -> bool {
        false
    }

    async fn change_feed(&self) -> Result<Option<Box<dyn crate::ChangeFeed>>> {
        Ok(None)
    }
}
