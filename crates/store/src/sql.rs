//! SQL text both backends share. `$n` placeholders work in SQLite and
//! PostgreSQL alike; statements that differ live with their backend.

/// The columns `InvoiceRow` reads.
macro_rules! invoice_columns {
    () => {
        "id, merchant_id, status, chain_id, asset, amount, derivation_index, address, order_id, \
         CAST(metadata AS TEXT) AS metadata, created_at, expires_at, exceptions, checkout_token, description, \
         success_url, cancel_url"
    };
}

macro_rules! invoice_select {
    ($($rest:literal),*) => {
        concat!("SELECT ", invoice_columns!(), " FROM invoices ", $($rest),*)
    };
}

/// Brings an open invoice's expiry forward to `$3` (see [`crate::Store::expire_invoice`]).
pub(crate) const EXPIRE_INVOICE: &str = concat!(
    "UPDATE invoices SET expires_at = $3 WHERE merchant_id = $1 AND id = $2 AND status = 'new' \
     AND expires_at > $3 RETURNING ",
    invoice_columns!()
);

/// The columns `InvoiceRow` reads, as a `SELECT … FROM invoices` to extend.
pub(crate) const INVOICE_COLUMNS: &str = invoice_select!();
pub(crate) const INVOICES_DUE_TO_EXPIRE: &str =
    invoice_select!("WHERE chain_id = $1 AND status = 'new' AND expires_at <= $2 ORDER BY expires_at LIMIT $3");

pub(crate) const XPUB_FINGERPRINT: &str = "SELECT value FROM settings WHERE key = 'xpub_fingerprint'";
pub(crate) const RECORD_XPUB_FINGERPRINT: &str = "INSERT INTO settings (key, value) VALUES ('xpub_fingerprint', $1)";

pub(crate) const INSERT_MERCHANT: &str = "INSERT INTO merchants (id, name, created_at) VALUES ($1, $2, $3)";
pub(crate) const MERCHANT: &str = "SELECT id, name, created_at FROM merchants WHERE id = $1";
pub(crate) const MERCHANTS: &str = "SELECT id, name, created_at FROM merchants ORDER BY created_at, id";

pub(crate) const INSERT_API_KEY: &str = "INSERT INTO api_keys (id, merchant_id, secret_digest, scopes, label, created_at) \
                                         VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const API_KEY: &str = "SELECT id, merchant_id, secret_digest, scopes, label, created_at, revoked_at \
                                  FROM api_keys WHERE id = $1";
pub(crate) const API_KEYS: &str = "SELECT id, merchant_id, secret_digest, scopes, label, created_at, revoked_at \
                                   FROM api_keys WHERE merchant_id = $1 ORDER BY created_at, id";
pub(crate) const REVOKE_API_KEY: &str = "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";

pub(crate) const NEXT_DEPOSIT_INDEX: &str = "SELECT value FROM counters WHERE name = 'deposit_index'";
pub(crate) const RESERVE_DEPOSIT_INDICES: &str =
    "UPDATE counters SET value = value + $1 WHERE name = 'deposit_index' RETURNING value";

pub(crate) const INVOICE: &str = invoice_select!("WHERE merchant_id = $1 AND id = $2");
pub(crate) const INVOICE_BY_CHECKOUT_TOKEN: &str = invoice_select!("WHERE checkout_token = $1");
pub(crate) const INVOICE_BY_IDEMPOTENCY_KEY: &str = invoice_select!("WHERE merchant_id = $1 AND idempotency_key = $2");
pub(crate) const FINGERPRINT_BY_IDEMPOTENCY_KEY: &str =
    "SELECT request_fingerprint FROM invoices WHERE merchant_id = $1 AND idempotency_key = $2";

// Invoice ids are UUIDv7, so ordering by id is ordering by creation time,
// and the cursor is simply the last id of the previous page.
pub(crate) const INVOICES: &str = invoice_select!("WHERE merchant_id = $1 ORDER BY id DESC LIMIT $2");
pub(crate) const INVOICES_BEFORE: &str =
    invoice_select!("WHERE merchant_id = $1 AND id < $3 ORDER BY id DESC LIMIT $2");
pub(crate) const INVOICES_WITH_STATUS: &str =
    invoice_select!("WHERE merchant_id = $1 AND status = $3 ORDER BY id DESC LIMIT $2");
pub(crate) const INVOICES_WITH_STATUS_BEFORE: &str =
    invoice_select!("WHERE merchant_id = $1 AND status = $3 AND id < $4 ORDER BY id DESC LIMIT $2");

/// Picks the page query for a request. Parameters, in order: merchant id,
/// limit, then the status if filtered, then the cursor id if given.
pub(crate) fn invoices_query(query: &crate::InvoiceQuery) -> &'static str {
    match (query.status.is_some(), query.before.is_some()) {
        (false, false) => INVOICES,
        (false, true) => INVOICES_BEFORE,
        (true, false) => INVOICES_WITH_STATUS,
        (true, true) => INVOICES_WITH_STATUS_BEFORE,
    }
}
