//! Writes, run by the writer task. The writer is the only one, so a
//! read-then-write here cannot race another write. Each op's only changing
//! statement is its last, so a failing op changes nothing (the writer's
//! contract); keep it so, or submit the op with `write_atomic`.

use coffer_domain::{ApiKeyId, Invoice, Timestamp};
use sqlx::SqliteConnection;

use crate::rows::{InvoiceParams, InvoiceRow, bind_invoice, reserved_range};
use crate::{ApiKeyRecord, InsertOutcome, Merchant, NewInvoice, Result, StoreError, sql};

pub(super) async fn bind_xpub(conn: &mut SqliteConnection, fingerprint: String) -> Result<()> {
    let recorded: Option<String> = sqlx::query_scalar(sql::XPUB_FINGERPRINT).fetch_optional(&mut *conn).await?;
    match recorded {
        None => {
            sqlx::query(sql::RECORD_XPUB_FINGERPRINT).bind(&fingerprint).execute(&mut *conn).await?;
            Ok(())
        }
        Some(recorded) if recorded == fingerprint => Ok(()),
        Some(recorded) => Err(StoreError::XpubMismatch { recorded, configured: fingerprint }),
    }
}

pub(super) async fn create_merchant(conn: &mut SqliteConnection, merchant: Merchant) -> Result<()> {
    sqlx::query(sql::INSERT_MERCHANT)
        .bind(merchant.id.as_uuid())
        .bind(&merchant.name)
        .bind(merchant.created_at.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn create_api_key(conn: &mut SqliteConnection, key: ApiKeyRecord) -> Result<()> {
    let exists = sqlx::query(sql::MERCHANT).bind(key.merchant_id.as_uuid()).fetch_optional(&mut *conn).await?;
    if exists.is_none() {
        return Err(StoreError::UnknownMerchant(key.merchant_id));
    }
    sqlx::query(sql::INSERT_API_KEY)
        .bind(key.id.as_uuid())
        .bind(key.merchant_id.as_uuid())
        .bind(key.secret_digest.0.as_slice())
        .bind(key.scopes.to_string())
        .bind(&key.label)
        .bind(key.created_at.as_millis())
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn revoke_api_key(conn: &mut SqliteConnection, id: ApiKeyId, at: Timestamp) -> Result<bool> {
    let done = sqlx::query(sql::REVOKE_API_KEY).bind(id.as_uuid()).bind(at.as_millis()).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn reserve_deposit_indices(conn: &mut SqliteConnection, count: u32) -> Result<std::ops::Range<u32>> {
    // Check first, then write: a refused reservation must change nothing.
    let next: i64 = sqlx::query_scalar(sql::NEXT_DEPOSIT_INDEX).fetch_one(&mut *conn).await?;
    reserved_range(next + i64::from(count), count)?;
    let end: i64 = sqlx::query_scalar(sql::RESERVE_DEPOSIT_INDICES).bind(i64::from(count)).fetch_one(conn).await?;
    reserved_range(end, count)
}

const INSERT_INVOICE: &str = "INSERT INTO invoices (id, merchant_id, status, chain_id, asset, amount, derivation_index, \
                              address, order_id, metadata, created_at, expires_at, idempotency_key, \
                              request_fingerprint, checkout_token, description, success_url, cancel_url) \
                              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

pub(super) async fn insert_invoice(conn: &mut SqliteConnection, new: NewInvoice) -> Result<InsertOutcome> {
    let merchant = new.invoice.merchant_id.as_uuid();
    if let Some(idem) = &new.idempotency {
        let earlier: Option<Vec<u8>> = sqlx::query_scalar(sql::FINGERPRINT_BY_IDEMPOTENCY_KEY)
            .bind(merchant)
            .bind(&idem.key)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(fingerprint) = earlier {
            if fingerprint != idem.fingerprint {
                return Ok(InsertOutcome::IdempotencyMismatch);
            }
            let row: InvoiceRow = sqlx::query_as(sql::INVOICE_BY_IDEMPOTENCY_KEY)
                .bind(merchant)
                .bind(&idem.key)
                .fetch_one(&mut *conn)
                .await?;
            return Ok(InsertOutcome::Replayed(Invoice::try_from(row)?));
        }
    }
    let params = InvoiceParams::new(&new.invoice)?;
    let result = bind_invoice!(sqlx::query(INSERT_INVOICE), params, new.idempotency.as_ref()).execute(conn).await;
    match result {
        Ok(_) => Ok(InsertOutcome::Created(new.invoice)),
        Err(err) => Err(match StoreError::from_sqlx(err) {
            StoreError::Conflict(msg) if msg.contains("FOREIGN KEY") => {
                StoreError::UnknownMerchant(new.invoice.merchant_id)
            }
            other => other,
        }),
    }
}

pub(super) async fn expire_invoice(
    conn: &mut SqliteConnection,
    merchant_id: coffer_domain::MerchantId,
    id: coffer_domain::InvoiceId,
    at: Timestamp,
) -> Result<Option<Invoice>> {
    let row: Option<InvoiceRow> = sqlx::query_as(sql::EXPIRE_INVOICE)
        .bind(merchant_id.as_uuid())
        .bind(id.as_uuid())
        .bind(at.as_millis())
        .fetch_optional(conn)
        .await?;
    row.map(Invoice::try_from).transpose()
}
