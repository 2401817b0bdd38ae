//! Isolated databases for tests, so that tests run in parallel without
//! seeing each other's rows: a fresh SQLite file in a temp directory, or a
//! fresh PostgreSQL schema (dropped again when the test ends).
//!
//! PostgreSQL comes from `COFFER_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). If `COFFER_TEST_POSTGRES=skip`
//! is set, PostgreSQL tests return early; the test command sets it only
//! outside CI, after printing a banner saying so. Otherwise an unreachable
//! PostgreSQL fails the test: skipping silently would hide a broken half.

use std::path::PathBuf;
use std::str::FromStr as _;

use coffer_domain::{
    Address, Amount, AssetId, AssetSymbol, ChainId, DepositAddress, DerivationIndex, EventId, EventType, Exceptions,
    Invoice, InvoiceId, InvoiceStatus, MerchantId, Timestamp, U256, WebhookId,
};
use sqlx::Connection as _;

use crate::{Backend, InvoiceChange, InvoiceChanges, Merchant, NewEvent, NewInvoice, WebhookEndpoint};

mod funds;

pub use funds::{paid_invoice, test_usdt};

/// Writes one `#[tokio::test]` per backend for each named scenario, in
/// modules `sqlite` and `postgres`. Each scenario is an
/// `async fn(coffer_store::testing::Kind)` in scope.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario($crate::testing::Kind::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario($crate::testing::Kind::Postgres).await })*
        }
    };
}

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which backend a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A temp SQLite file.
    Sqlite,
    /// A fresh schema in the test PostgreSQL.
    Postgres,
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    backend: Backend,
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

/// Whether PostgreSQL tests were told to skip (`COFFER_TEST_POSTGRES=skip`).
pub fn postgres_skipped() -> bool {
    std::env::var("COFFER_TEST_POSTGRES").is_ok_and(|v| v == "skip")
}

/// The PostgreSQL server tests use.
pub fn postgres_url() -> String {
    std::env::var("COFFER_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

impl TestDatabase {
    /// A fresh database of this kind, or `None` if PostgreSQL tests are skipped.
    ///
    /// # Panics
    /// If the database cannot be created: a test cannot go on without it.
    pub async fn new(kind: Kind) -> Option<Self> {
        match kind {
            Kind::Sqlite => Some(Self::sqlite()),
            Kind::Postgres if postgres_skipped() => None,
            Kind::Postgres => Some(Self::postgres().await),
        }
    }

    fn sqlite() -> Self {
        #[allow(clippy::expect_used)]
        let dir = tempfile::tempdir().expect("create a temp dir for SQLite");
        let path: PathBuf = dir.path().join("coffer.db");
        Self {
            url: format!("sqlite://{}", path.display()),
            backend: Backend::Sqlite(path),
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    #[allow(clippy::expect_used, clippy::panic)]
    async fn postgres() -> Self {
        let admin_url = postgres_url();
        let schema = format!("coffer_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL for tests is unreachable at {admin_url}: {e}. Start it, point COFFER_TEST_POSTGRES_URL \
                 elsewhere, or (outside CI only) set COFFER_TEST_POSTGRES=skip"
            )
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create a test schema");
        let _ = conn.close().await;
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
        Self { backend: Backend::Postgres(url.clone()), url, cleanup: Cleanup::Postgres { admin_url, schema } }
    }

    /// Where the store is, as [`crate::open`] takes it.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The database as a URL, as `coffer.toml`'s `database_url` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs SQL on the database behind the store's back: for faults a test
    /// injects (a trigger that refuses one row, say), where no real part
    /// could be made to fail that way on demand.
    ///
    /// # Panics
    /// If the SQL fails: the test would not test what it says.
    #[allow(clippy::expect_used)]
    pub async fn execute_raw(&self, sql: &str) {
        let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()));
        match &self.backend {
            Backend::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect to the test SQLite");
                sql.execute(&mut conn).await.expect("raw SQL on the test SQLite");
                let _ = conn.close().await;
            }
            Backend::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("connect to the test PostgreSQL");
                sql.execute(&mut conn).await.expect("raw SQL on the test PostgreSQL");
                let _ = conn.close().await;
            }
        }
    }
}

impl TestDatabase {
    /// Takes the database's write lock from a connection of its own, as
    /// another process would, until [`WriteLock::release`]: SQLite's
    /// `BEGIN IMMEDIATE` (the store's writer then waits on its 5 s busy
    /// timeout, so release well within that), PostgreSQL's lock on the
    /// `invoices` table (changes to invoices wait; reads do not).
    ///
    /// # Panics
    /// If the lock cannot be taken: the test would not test what it says.
    #[allow(clippy::expect_used)]
    pub async fn hold_write_lock(&self) -> WriteLock {
        let sql = sqlx::raw_sql(match self.backend {
            Backend::Sqlite(_) => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN; LOCK TABLE invoices IN SHARE ROW EXCLUSIVE MODE",
        });
        match &self.backend {
            Backend::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect to the test SQLite");
                sql.execute(&mut conn).await.expect("take SQLite's write lock");
                WriteLock::Sqlite(conn)
            }
            Backend::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("connect to the test PostgreSQL");
                sql.execute(&mut conn).await.expect("lock the invoices table");
                WriteLock::Postgres(conn)
            }
        }
    }
}

/// A write lock held by [`TestDatabase::hold_write_lock`].
#[derive(Debug)]
pub enum WriteLock {
    /// An SQLite connection inside `BEGIN IMMEDIATE`.
    Sqlite(sqlx::SqliteConnection),
    /// A PostgreSQL connection holding a table lock.
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    /// Ends the lock's empty transaction, letting waiting writes through.
    ///
    /// # Panics
    /// If the database refuses: the lock would still be held.
    #[allow(clippy::expect_used)]
    pub async fn release(self) {
        match self {
            Self::Sqlite(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.expect("release SQLite's write lock");
                let _ = conn.close().await;
            }
            Self::Postgres(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.expect("release the table lock");
                let _ = conn.close().await;
            }
        }
    }
}

/// A merchant with an endpoint at `url` (signing with `secret`), and one
/// `invoice.expired` event queued for it, due now: the smallest outbox a
/// dispatcher test needs. Returns the endpoint and the event.
///
/// # Panics
/// If the store refuses any of it.
#[allow(clippy::unwrap_used)]
pub async fn queue_event(store: &dyn crate::Store, url: &str, secret: &str) -> (WebhookEndpoint, EventId) {
    let endpoint = merchant_with_endpoint(store, url, secret).await;
    let deliveries = queue_events(store, endpoint.merchant_id, 1, Timestamp::now()).await;
    (endpoint, deliveries[0].event_id)
}

/// A new merchant with one endpoint at `url`, subscribed to `invoice.expired`.
///
/// # Panics
/// If the store refuses it.
#[allow(clippy::unwrap_used)]
pub async fn merchant_with_endpoint(store: &dyn crate::Store, url: &str, secret: &str) -> WebhookEndpoint {
    let merchant = Merchant { id: MerchantId::new(), name: "Shop".into(), created_at: Timestamp::now() };
    store.create_merchant(&merchant).await.unwrap();
    add_endpoint(store, merchant.id, url, secret).await
}

/// Another endpoint of `merchant` at `url`, subscribed to `invoice.expired`.
///
/// # Panics
/// If the store refuses it.
#[allow(clippy::unwrap_used)]
pub async fn add_endpoint(store: &dyn crate::Store, merchant: MerchantId, url: &str, secret: &str) -> WebhookEndpoint {
    let endpoint = WebhookEndpoint {
        id: WebhookId::new(),
        merchant_id: merchant,
        url: url.into(),
        events: vec![EventType::InvoiceExpired],
        secret: secret.into(),
        created_at: Timestamp::now(),
    };
    store.create_webhook(&endpoint).await.unwrap();
    endpoint
}

/// `count` `invoice.expired` events about one new invoice of `merchant`, in
/// one change, their deliveries (to each of the merchant's endpoints)
/// leased until `lease_until` (due then). Returns the deliveries in the
/// events' order, as a chain step hands them to the dispatcher.
///
/// # Panics
/// If the store refuses any of it.
#[allow(clippy::unwrap_used)]
pub async fn queue_events(
    store: &dyn crate::Store,
    merchant: MerchantId,
    count: usize,
    lease_until: Timestamp,
) -> Vec<crate::DueDelivery> {
    let asset = AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("USDT").unwrap() };
    let index = store.reserve_deposit_indices(1).await.unwrap().start;
    let invoice = Invoice {
        id: InvoiceId::new(),
        merchant_id: merchant,
        status: InvoiceStatus::New,
        exceptions: Exceptions::default(),
        amount: Amount::from_units(asset, U256::from(1u8)),
        deposit: DepositAddress {
            index: DerivationIndex::try_from(u64::from(index)).unwrap(),
            address: Address::left_padding_from(&index.to_be_bytes()),
        },
        order_id: None,
        metadata: serde_json::Map::new(),
        created_at: Timestamp::now(),
        expires_at: Timestamp::now(),
        checkout: coffer_domain::Checkout::random().unwrap(),
    };
    store.insert_invoice(NewInvoice { invoice: invoice.clone(), idempotency: None }).await.unwrap();
    let events = (0..count)
        .map(|n| NewEvent {
            id: EventId::new(),
            kind: EventType::InvoiceExpired,
            payload: format!(r#"{{"type":"invoice.expired","n":{n}}}"#),
        })
        .collect();
    let change = InvoiceChange {
        invoice_id: invoice.id,
        merchant_id: merchant,
        from: InvoiceStatus::New,
        from_exceptions: Exceptions::default(),
        status: InvoiceStatus::Expired,
        exceptions: Exceptions::default(),
        settlement: None,
        events,
    };
    let at = Timestamp::now();
    store
        .apply_invoice_changes(InvoiceChanges { fence: None, changes: vec![change], at, lease_until })
        .await
        .unwrap()
        .deliveries
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, schema } = &self.cleanup else { return };
        let (admin_url, schema) = (admin_url.clone(), schema.clone());
        // Drop may run inside or outside a runtime; a thread of its own works in both.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: could not drop test schema {}", self.url);
        }
    }
}

/// A merchant's invoice whose payment of 1 USDT was booked in block 5 of
/// `chain` and then displaced by a reorganisation from block 4 (the new
/// chain at block 9 does not carry it), with the `transfer_gone` halt a
/// watcher would have recorded: what `coffer chain resolve` decides on.
///
/// # Panics
/// If the store refuses any of it.
#[allow(clippy::unwrap_used)]
pub async fn displaced_payment(store: &dyn crate::Store, chain: ChainId) -> (Invoice, coffer_domain::Payment) {
    use coffer_domain::{B256, BlockRef, LedgerTxId, Payment, PaymentId, PaymentState, Transaction};

    use crate::{Booking, ChainHalt, ChainStep, LedgerPosting};
    let merchant = Merchant { id: MerchantId::new(), name: "Shop".into(), created_at: Timestamp::now() };
    store.create_merchant(&merchant).await.unwrap();
    let asset = AssetId { chain_id: chain, symbol: AssetSymbol::from_str("USDT").unwrap() };
    let invoice = Invoice {
        id: InvoiceId::new(),
        merchant_id: merchant.id,
        status: InvoiceStatus::New,
        exceptions: Exceptions::default(),
        amount: Amount::from_units(asset, U256::from(1_000_000u64)),
        deposit: DepositAddress {
            index: DerivationIndex::try_from(1_999_999_999u64).unwrap(),
            address: Address::repeat_byte(0x44),
        },
        order_id: None,
        metadata: serde_json::Map::new(),
        created_at: Timestamp::now(),
        expires_at: Timestamp::now().plus_secs(900),
        checkout: coffer_domain::Checkout::random().unwrap(),
    };
    store.insert_invoice(NewInvoice { invoice: invoice.clone(), idempotency: None }).await.unwrap();
    let block = |number: u64, tag: u8| BlockRef { number, hash: B256::repeat_byte(tag) };
    let tx_hash = B256::repeat_byte(0xe1);
    let payment = Payment {
        id: PaymentId::of(chain, block(5, 5).hash, tx_hash, Some(0)),
        invoice_id: invoice.id,
        amount: invoice.amount,
        from: Address::repeat_byte(0xaa),
        to: invoice.deposit.address,
        tx_hash,
        log_index: Some(0),
        call_path: None,
        block: block(5, 5),
        block_time: Timestamp::now(),
        state: PaymentState::Canonical,
        booked_at: None,
        settled_at: None,
        seen_at: Timestamp::now(),
        moved_from: None,
        displaced_until: None,
        hold: None,
    };
    let step = |parent, tip: BlockRef| ChainStep {
        fence: None,
        chain_id: chain,
        parent,
        tip,
        revert_above: None,
        displace_until: tip.number + 2,
        remember: Vec::new(),
        forget_below: 0,
        payments: Vec::new(),
        bookings: Vec::new(),
        recoveries: Vec::new(),
        changes: Vec::new(),
        at: Timestamp::now(),
        lease_until: Timestamp::now(),
    };
    let mut booked = step(None, block(9, 9));
    booked.payments.push(payment.clone());
    booked.bookings.push(Booking {
        payment_id: payment.id,
        invoice_id: invoice.id,
        receipt: LedgerPosting { id: LedgerTxId::new(), transaction: Transaction::receipt(payment.amount).unwrap() },
    });
    store.apply_chain_step(booked).await.unwrap();
    let mut deep = step(Some(block(9, 9)), block(9, 0x99));
    deep.revert_above = Some(4);
    store.apply_chain_step(deep).await.unwrap();
    let halt = ChainHalt {
        chain_id: chain,
        code: coffer_domain::HaltCode::TransferGone,
        reason: "1 booked payment(s) left the chain".into(),
        block: Some(9),
        halted_at: Timestamp::now(),
        resolved: None,
    };
    store.record_halt(&halt, None).await.unwrap();
    (invoice, payment)
}
