//! Persistence for Coffer: one [`Store`] contract, two backends.
//!
//! - [`SqliteStore`]: the default, a file with WAL and `synchronous=FULL`.
//!   SQLite allows one writer, so every write goes through one writer task
//!   that owns the only write connection and commits queued invoice inserts
//!   together (group commit): one fsync for many invoices, and no writer
//!   ever sleeps on `SQLITE_BUSY`.
//! - [`PgStore`]: PostgreSQL, for production and for several gateway
//!   processes sharing one database.
//!
//! Both run the same conformance suite (`tests/it/conformance.rs`).
//!
//! **Architecture invariant:** the store keeps no private key and no API-key
//! secret: only SHA-256 digests of secrets and public deposit addresses.
//!
//! **Contract:** a method that returns `Ok` has made its write durable; one
//! that returns `Err` has changed nothing (each write is one transaction).

mod audit;
mod branding;
mod chain;
mod console;
mod control;
mod error;
mod leases;
mod ledger;
mod payouts;
mod postgres;
mod reads;
mod rows;
mod screening;
mod shared;
mod sql;
mod sqlite;
mod sweeps;
#[cfg(feature = "testing")]
pub mod testing;
mod webhooks;

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use coffer_domain::{ApiKeyId, Invoice, InvoiceId, InvoiceStatus, MerchantId, Scopes, SecretDigest, Timestamp};

pub use audit::{AuditStore, AuditedActs};
pub use branding::BrandingStore;
pub use chain::{
    Applied, Booking, ChainBlock, ChainHalt, ChainStep, ChainStore, DisplacedResolution, InvoiceChange, InvoiceChanges,
    LedgerPosting, NewEvent, Recovery, Settlement,
};
pub use console::{ConsoleLink, ConsoleRole, ConsoleSession, ConsoleStore, InvoiceSearch};
pub use control::{BroadcastEvent, ControlChange, ControlStore, StoredControl};
pub use error::StoreError;
pub use leases::{Announced, ChangeFeed, Fence, LeaseRow, LeaseStore};
pub use ledger::{LedgerSnapshot, LedgerStore, PostingKind, StoredBalance, StoredEntry};
pub use payouts::{
    AnswerChange, CreatedPayout, NewPayout, OutboxEntry, OutboxNext, OutboxState, PayoutQuery, PayoutStore,
    RecordedAnswer, SignerAnswer, SignerRequest,
};
pub use postgres::PgStore;
pub use screening::{HoldDecision, ListDigest, ScreeningStore, StoredList};
pub use sqlite::SqliteStore;
pub use sweeps::{DueSweep, NewSweep, SweepStore, TreasuryBooks};
pub use webhooks::{
    Attempt, AttemptOutcome, ClaimLimits, Delivery, DeliveryState, DueDelivery, MAX_WEBHOOK_ENDPOINTS, Redelivery,
    WebhookEndpoint, WebhookRegistration, WebhookStore,
};

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A merchant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    /// Its id.
    pub id: MerchantId,
    /// A name for people.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An API key as stored: never the secret, only its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key's public id.
    pub id: ApiKeyId,
    /// The merchant it acts for.
    pub merchant_id: MerchantId,
    /// SHA-256 of the secret.
    pub secret_digest: SecretDigest,
    /// What it may do.
    pub scopes: Scopes,
    /// A note for people ("shop backend").
    pub label: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// An invoice to insert, with the idempotency key it was requested under.
#[derive(Clone, Debug)]
pub struct NewInvoice {
    /// The invoice, complete with its deposit address.
    pub invoice: Invoice,
    /// The request's `Idempotency-Key` and a fingerprint of its body.
    pub idempotency: Option<Idempotency>,
}

/// A client's promise that two requests with the same key are one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    /// The `Idempotency-Key` header, unique per merchant.
    pub key: String,
    /// SHA-256 of the normalised request, to tell a retry from a different request.
    pub fingerprint: [u8; 32],
}

/// What inserting an invoice did.
#[derive(Clone, Debug, PartialEq)]
pub enum InsertOutcome {
    /// The invoice is new and stored.
    Created(Invoice),
    /// The idempotency key was used before with the same request: here is
    /// that earlier invoice; nothing new was stored.
    Replayed(Invoice),
    /// The idempotency key was used before with a different request; nothing was stored.
    IdempotencyMismatch,
}

/// A page request over one merchant's invoices, newest first.
#[derive(Clone, Copy, Debug)]
pub struct InvoiceQuery {
    /// Whose invoices.
    pub merchant_id: MerchantId,
    /// Only those in this state, if given.
    pub status: Option<InvoiceStatus>,
    /// Only those older than this one (the cursor), if given.
    pub before: Option<InvoiceId>,
    /// At most this many.
    pub limit: u32,
}

/// Coffer's persistence contract. Every implementation passes
/// `tests/it/conformance.rs`. The chain watcher's, the ledger's, the
/// webhooks', the payouts', the sweeps' and the audit log's parts are traits
/// of their own ([`ChainStore`], [`LedgerStore`], [`WebhookStore`],
/// [`PayoutStore`], [`ControlStore`], [`SweepStore`], [`AuditStore`] and [`AuditedActs`], the
/// privileged acts with their audit records); import the one you use.
#[async_trait]
pub trait Store:
    ChainStore
    + BrandingStore
    + ConsoleStore
    + LedgerStore
    + WebhookStore
    + PayoutStore
    + ControlStore
    + SweepStore
    + ScreeningStore
    + AuditStore
    + AuditedActs
    + LeaseStore
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
    /// Records the fingerprint of the xpub this database derives addresses
    /// from, or checks it against the one recorded: a database must never
    /// mix addresses of two wallets.
    async fn bind_xpub(&self, fingerprint: &str) -> Result<()>;

    /// Stores a new merchant.
    async fn create_merchant(&self, merchant: &Merchant) -> Result<()>;
    /// The merchant with this id.
    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>>;
    /// Every merchant, oldest first.
    async fn merchants(&self) -> Result<Vec<Merchant>>;

    /// Stores a new API key; fails with [`StoreError::UnknownMerchant`] if its merchant does not exist.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<()>;
    /// The API key with this id, revoked or not.
    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKeyRecord>>;
    /// A merchant's keys, oldest first.
    async fn api_keys(&self, merchant_id: MerchantId) -> Result<Vec<ApiKeyRecord>>;
    /// Revokes a key; `false` if there is no such key or it was already revoked.
    async fn revoke_api_key(&self, id: ApiKeyId, at: Timestamp) -> Result<bool>;

    /// Reserves `count` consecutive, never-before-reserved deposit indices,
    /// atomically across every process sharing the database.
    async fn reserve_deposit_indices(&self, count: u32) -> Result<Range<u32>>;

    /// Inserts an invoice, honouring its idempotency key.
    async fn insert_invoice(&self, new: NewInvoice) -> Result<InsertOutcome>;
    /// The invoice with this id, if it belongs to this merchant.
    async fn invoice(&self, merchant_id: MerchantId, id: InvoiceId) -> Result<Option<Invoice>>;
    /// The invoice whose checkout page `token` opens, whichever merchant's.
    async fn invoice_by_checkout_token(&self, token: &coffer_domain::CheckoutToken) -> Result<Option<Invoice>>;
    /// A page of a merchant's invoices, newest first.
    async fn invoices(&self, query: InvoiceQuery) -> Result<Vec<Invoice>>;
    /// Brings the expiry of the merchant's invoice forward to `at`, if it is
    /// still `new` (nothing received: a part-paid invoice keeps its window,
    /// since a payment re-mined after a reorganisation must still be on
    /// time) and due later; returns it as
    /// changed, or `None` if nothing changed. The watcher then expires it
    /// by its usual rule (once the chain has been read up to `at`).
    async fn expire_invoice(&self, merchant_id: MerchantId, id: InvoiceId, at: Timestamp) -> Result<Option<Invoice>>;

    /// Whether the database answers, for `/healthz`.
    async fn ping(&self) -> Result<()>;

    /// Whether other processes may write to the same database (PostgreSQL):
    /// then a watcher must look for invoices it was not told about.
    fn is_shared(&self) -> bool;

    /// What the other gateways sharing the database announce they changed
    /// ([`ChangeFeed`]); `None` where no other can write (SQLite).
    async fn change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>>;
}

/// Where to connect.
#[derive(Clone, Debug)]
pub enum Backend {
    /// An SQLite file, created if missing.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// Opens the store and brings its schema up to date.
pub async fn open(backend: &Backend) -> Result<Arc<dyn Store>> {
    Ok(match backend {
        Backend::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        Backend::Postgres(url) => Arc::new(PgStore::connect(url).await?),
    })
}
