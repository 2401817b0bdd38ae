//! The PostgreSQL store, for production and for several gateway processes
//! sharing one database. Every write is one statement or one transaction;
//! uniqueness (addresses, idempotency keys, index reservations) is enforced
//! by the database itself, so concurrent gateways cannot hand out the same
//! deposit address or create an invoice twice.

use std::ops::Range;
use std::str::FromStr as _;

use async_trait::async_trait;
use coffer_domain::{ApiKeyId, Invoice, InvoiceId, MerchantId, Timestamp};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::reads::shared_reads;
use crate::rows::{InvoiceParams, InvoiceRow, bind_invoice, reserved_range};
use crate::{ApiKeyRecord, InsertOutcome, InvoiceQuery, Merchant, NewInvoice, Result, Store, StoreError, sql};

/// Connections per gateway process. PostgreSQL group-commits concurrent
/// transactions itself, so a few more connections than cores pay off.
const CONNECTIONS: u32 = 16;

/// The PostgreSQL store.
#[derive(Debug)]
pub struct PgStore {
    reads: PgPool,
    /// Leases only, with statement and lock timeouts: a wedged database
    /// cannot hold a renewal (or a gateway's stop) for long.
    leases: PgPool,
}

impl PgStore {
    /// Connects and migrates. The schema is the URL's `search_path`
    /// (`?options=-c search_path=NAME`), `public` otherwise. Migrations take
    /// an advisory lock, so gateways starting together do not race.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let lease_options = options.clone().options([("statement_timeout", "3000"), ("lock_timeout", "2000")]);
        let pool = PgPoolOptions::new().max_connections(CONNECTIONS).connect_with(options).await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let leases = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect_lazy_with(lease_options);
        Ok(Self { reads: pool, leases })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.reads.close().await;
        self.leases.close().await;
    }
}

shared_reads!(PgStore);
crate::shared::chain_store!(PgStore, sqlx::PgConnection, sqlx::Postgres, crate::leases::PG);
crate::shared::ledger_store!(PgStore, Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"));
crate::shared::webhook_store!(PgStore, sqlx::Postgres);
crate::shared::audit_store!(PgStore, sqlx::PgConnection, " FOR UPDATE");
crate::shared::payout_store!(PgStore, sqlx::PgConnection, sqlx::Postgres);
crate::shared::sweep_store!(PgStore, Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"));
crate::shared::screening_store!(PgStore, sqlx::PgConnection);
crate::shared::console_store!(PgStore, sqlx::Postgres);
crate::shared::branding_store!(PgStore);
crate::leases::lease_store!(PgStore, sqlx::PgConnection, crate::leases::PG);

impl PgStore {
    /// Runs `op` in one transaction, committed if it returns `Ok`.
    async fn transaction<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::PgConnection) -> futures_util::future::BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        let mut tx = self.reads.begin().await?;
        match op(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(error = %rollback, "PostgreSQL rollback failed");
                }
                Err(err)
            }
        }
    }

    /// Runs `op`, a write of one statement, on a pooled connection: the
    /// statement is its own transaction, no BEGIN and COMMIT round trips.
    async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::PgConnection) -> futures_util::future::BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        let mut conn = self.reads.acquire().await?;
        op(&mut conn).await
    }

    /// One lease statement, on the leases' own pool.
    async fn lease_write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::PgConnection) -> futures_util::future::BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        let mut conn = self.leases.acquire().await?;
        op(&mut conn).await
    }

    /// Listing reads the main pool: `/healthz` and `coffer fleet` must not
    /// take the connections renewals need.
    fn lease_reads(&self) -> &PgPool {
        &self.reads
    }

    /// As [`PgStore::transaction`]: the invoices it changes need nothing
    /// more, PostgreSQL keeps no cache (several gateways share it).
    async fn transaction_changing<T, F>(&self, _changed: Vec<crate::shared::ChangedInvoice>, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::PgConnection) -> futures_util::future::BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        self.transaction(op).await
    }
}

const INSERT_INVOICE: &str = "INSERT INTO invoices (id, merchant_id, status, chain_id, asset, amount, derivation_index, \
                              address, order_id, metadata, created_at, expires_at, idempotency_key, \
                              request_fingerprint, checkout_token, description, success_url, cancel_url) \
                              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CAST($10 AS JSONB), $11, $12, $13, $14, \
                              $15, $16, $17, $18) \
                              ON CONFLICT (merchant_id, idempotency_key) DO NOTHING";

#[async_trait]
impl Store for PgStore {
    async fn bind_xpub(&self, fingerprint: &str) -> Result<()> {
        // Insert-if-absent then compare: two gateways binding at once both
        // end up comparing against the single row that won.
        sqlx::query("INSERT INTO settings (key, value) VALUES ('xpub_fingerprint', $1) ON CONFLICT (key) DO NOTHING")
            .bind(fingerprint)
            .execute(&self.reads)
            .await?;
        let recorded: String = sqlx::query_scalar(sql::XPUB_FINGERPRINT).fetch_one(&self.reads).await?;
        if recorded == fingerprint {
            Ok(())
        } else {
            Err(StoreError::XpubMismatch { recorded, configured: fingerprint.to_owned() })
        }
    }

    async fn create_merchant(&self, merchant: &Merchant) -> Result<()> {
        sqlx::query(sql::INSERT_MERCHANT)
            .bind(merchant.id.as_uuid())
            .bind(&merchant.name)
            .bind(merchant.created_at.as_millis())
            .execute(&self.reads)
            .await?;
        Ok(())
    }

    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>> {
        self.read_merchant(id).await
    }

    async fn merchants(&self) -> Result<Vec<Merchant>> {
        self.read_merchants().await
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let result = sqlx::query(sql::INSERT_API_KEY)
            .bind(key.id.as_uuid())
            .bind(key.merchant_id.as_uuid())
            .bind(key.secret_digest.0.as_slice())
            .bind(key.scopes.to_string())
            .bind(&key.label)
            .bind(key.created_at.as_millis())
            .execute(&self.reads)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(StoreError::UnknownMerchant(key.merchant_id))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKeyRecord>> {
        self.read_api_key(id).await
    }

    async fn api_keys(&self, merchant_id: MerchantId) -> Result<Vec<ApiKeyRecord>> {
        self.read_api_keys(merchant_id).await
    }

    async fn revoke_api_key(&self, id: ApiKeyId, at: Timestamp) -> Result<bool> {
        let done =
            sqlx::query(sql::REVOKE_API_KEY).bind(id.as_uuid()).bind(at.as_millis()).execute(&self.reads).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn reserve_deposit_indices(&self, count: u32) -> Result<Range<u32>> {
        // One UPDATE is atomic: concurrent reservations, from any number of
        // processes, serialise on the counter row and get disjoint ranges.
        let end: i64 =
            sqlx::query_scalar(sql::RESERVE_DEPOSIT_INDICES).bind(i64::from(count)).fetch_one(&self.reads).await?;
        reserved_range(end, count)
    }

    async fn insert_invoice(&self, new: NewInvoice) -> Result<InsertOutcome> {
        let merchant_id = new.invoice.merchant_id.as_uuid();
        let params = InvoiceParams::new(&new.invoice)?;
        let result =
            bind_invoice!(sqlx::query(INSERT_INVOICE), params, new.idempotency.as_ref()).execute(&self.reads).await;
        let inserted = match result {
            Ok(done) => done.rows_affected() == 1,
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                return Err(StoreError::UnknownMerchant(new.invoice.merchant_id));
            }
            Err(err) => return Err(err.into()),
        };
        if inserted {
            return Ok(InsertOutcome::Created(new.invoice));
        }
        // Only an idempotency-key conflict is ignored, so the earlier row
        // exists and is committed (ON CONFLICT waited for it).
        let Some(idem) = &new.idempotency else {
            return Err(StoreError::corrupt("invoices", "insert ignored without an idempotency key"));
        };
        let row: Option<(Vec<u8>,)> = sqlx::query_as(sql::FINGERPRINT_BY_IDEMPOTENCY_KEY)
            .bind(merchant_id)
            .bind(&idem.key)
            .fetch_optional(&self.reads)
            .await?;
        match row {
            Some((fingerprint,)) if fingerprint == idem.fingerprint => {
                let row: InvoiceRow = sqlx::query_as(sql::INVOICE_BY_IDEMPOTENCY_KEY)
                    .bind(merchant_id)
                    .bind(&idem.key)
                    .fetch_one(&self.reads)
                    .await?;
                Ok(InsertOutcome::Replayed(Invoice::try_from(row)?))
            }
            Some(_) => Ok(InsertOutcome::IdempotencyMismatch),
            None => Err(StoreError::corrupt("invoices", "idempotent insert ignored but no earlier invoice found")),
        }
    }

    async fn invoice(&self, merchant_id: MerchantId, id: InvoiceId) -> Result<Option<Invoice>> {
        self.read_invoice(merchant_id, id).await
    }

    async fn invoice_by_checkout_token(&self, token: &coffer_domain::CheckoutToken) -> Result<Option<Invoice>> {
        self.read_invoice_by_checkout_token(token).await
    }

    async fn invoices(&self, query: InvoiceQuery) -> Result<Vec<Invoice>> {
        self.read_invoices(query).await
    }

    async fn expire_invoice(&self, merchant_id: MerchantId, id: InvoiceId, at: Timestamp) -> Result<Option<Invoice>> {
        let row: Option<crate::rows::InvoiceRow> = sqlx::query_as(sql::EXPIRE_INVOICE)
            .bind(merchant_id.as_uuid())
            .bind(id.as_uuid())
            .bind(at.as_millis())
            .fetch_optional(&self.reads)
            .await?;
        row.map(Invoice::try_from).transpose()
    }

    async fn ping(&self) -> Result<()> {
        self.read_ping().await
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn change_feed(&self) -> Result<Option<Box<dyn crate::ChangeFeed>>> {
        let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(&self.reads).await?;
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.reads).await?;
        listener.listen(&format!("coffer_changes_{schema}")).await?;
        Ok(Some(Box::new(crate::leases::PgChangeFeed(listener))))
    }
}
