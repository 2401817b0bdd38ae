//! The gateway's audit log: a hash chain of [`coffer_audit::Entry`]s, one
//! per privileged act, beside the rows the acts change.
//!
//! [`AuditStore`] appends and reads the log. [`AuditedActs`] are the
//! privileged writes of the other traits, each written together with its
//! record in one transaction, so that no act is kept without its entry and
//! no entry without its act, whatever crashes between.
//!
//! **Contract:** appends are serialised, on SQLite by the single writer and
//! on PostgreSQL (several gateways) by a row lock on the one-row head table;
//! the seqs are contiguous and the chain never forks (`prev` is unique, so
//! even a wrong writer could not fork it). The head table is moved in the
//! same transaction as each entry, so a verifier can tell entries deleted
//! from the end: the head names an entry the log lacks.

use async_trait::async_trait;
use coffer_audit::{Entry, Head, Record};
use coffer_domain::{ApiKeyId, ChainId, MerchantId, PaymentId, Timestamp, WebhookId};

use crate::{ApiKeyRecord, DisplacedResolution, Merchant, Result, WebhookEndpoint};

/// Appending to and reading the audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `record` as the entry after the head, in one transaction
    /// (head read, entry inserted, head moved), serialised with every other
    /// append to this database. Returns the entry as stored.
    async fn append(&self, record: &Record) -> Result<Entry>;
    /// The head as recorded beside the log: [`Head::EMPTY`] before the
    /// first entry. What the gateway sends the signer with each request.
    async fn head(&self) -> Result<Head>;
    /// Up to `limit` entries after `after_seq`, in seq order; page through
    /// a log with the last seq read (0 to start). Hashes are not checked
    /// here: that is the verifier's job, on what the database really holds.
    async fn entries(&self, after_seq: u64, limit: u32) -> Result<Vec<Entry>>;
    /// The last entry whose action is `action`, if any.
    async fn last_entry_of(&self, action: &str) -> Result<Option<Entry>>;
}

/// The privileged acts of [`crate::Store`], [`crate::WebhookStore`] and
/// [`crate::ChainStore`], each with its audit record appended in the act's
/// own transaction. Same rules as the plain methods; the record is
/// appended only if the act took effect (`None` otherwise, and nothing
/// written). The gateway and the operator's commands use these; the plain
/// methods are for tests and for what no one but the gateway itself does.
#[async_trait]
pub trait AuditedActs: Send + Sync {
    /// [`crate::Store::create_merchant`], logged.
    async fn create_merchant_audited(&self, merchant: &Merchant, record: &Record) -> Result<Entry>;
    /// [`crate::Store::create_api_key`], logged.
    async fn create_api_key_audited(&self, key: &ApiKeyRecord, record: &Record) -> Result<Entry>;
    /// [`crate::Store::revoke_api_key`], logged; `None` if there was no
    /// such key or it was revoked already.
    async fn revoke_api_key_audited(&self, id: ApiKeyId, at: Timestamp, record: &Record) -> Result<Option<Entry>>;
    /// [`crate::WebhookStore::register_webhook`], logged; `None` if the
    /// merchant has `limit` endpoints already.
    async fn register_webhook_audited(
        &self,
        endpoint: &WebhookEndpoint,
        limit: u32,
        record: &Record,
    ) -> Result<Option<Entry>>;
    /// [`crate::WebhookStore::delete_webhook`], logged; `None` if there was none.
    async fn delete_webhook_audited(
        &self,
        merchant_id: MerchantId,
        id: WebhookId,
        at: Timestamp,
        record: &Record,
    ) -> Result<Option<Entry>>;
    /// [`crate::ChainStore::resolve_halt`], logged; `None` if no halt was open.
    async fn resolve_halt_audited(
        &self,
        chain_id: ChainId,
        at: Timestamp,
        resolution: &str,
        record: &Record,
    ) -> Result<Option<Entry>>;
    /// [`crate::ChainStore::resolve_displaced`], logged. The store adds
    /// `payments` (the ids the decision applied to, as its transaction read
    /// them) to the record's detail when that is an object.
    async fn resolve_displaced_audited(
        &self,
        chain_id: ChainId,
        resolution: DisplacedResolution,
        at: Timestamp,
        note: &str,
        record: &Record,
    ) -> Result<(Vec<PaymentId>, Entry)>;
}
