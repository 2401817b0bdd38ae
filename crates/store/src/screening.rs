//! Screening (ADR 0015): the lists an operator imported, and the payments
//! screening held with the operator's decisions on them.
//!
//! **Contract:** a list and its audit entry (`screening.list_imported`,
//! with its name, entry count and content hash) are written in one
//! transaction; so are a hold's decision, its ledger posting, the invoice
//! change it causes and its audit entry. A decision applies only to a
//! payment still held and still booked or unbooked as the decision was
//! computed (the watcher may book it meanwhile): otherwise nothing is
//! written and the caller gets [`crate::StoreError::Stale`] to compute it
//! again. The watcher's booking is the mirror image: it books a held
//! receipt only while the payment is still held.

use async_trait::async_trait;
use coffer_audit::{Entry, Record};
use coffer_domain::{HoldState, InvoiceId, Payment, PaymentId, Timestamp};

use crate::{Applied, InvoiceChange, LedgerPosting, Result};

/// An imported screening list, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredList {
    /// Its name (the file name it was imported from); a new import of the same name replaces it.
    pub name: String,
    /// Its format, as the screening crate names it.
    pub format: String,
    /// SHA-256 of `content`, hex.
    pub sha256: String,
    /// Entries it parsed into.
    pub entries: u64,
    /// The file's bytes, exactly as imported.
    pub content: Vec<u8>,
    /// When.
    pub imported_at: Timestamp,
}

/// What one list is, without its content: enough to tell whether the
/// lists changed since they were loaded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListDigest {
    /// Its name.
    pub name: String,
    /// SHA-256 of its content, hex.
    pub sha256: String,
}

/// An operator's decision on a held payment, with everything it changes.
#[derive(Clone, Debug)]
pub struct HoldDecision {
    /// The payment, which must still be held.
    pub payment_id: PaymentId,
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// `Released` or `Rejected`.
    pub to: HoldState,
    /// Whether the payment was booked when the decision was computed: a
    /// released booked payment moves from held to suspense (`release`).
    pub booked: bool,
    /// Held to suspense, for a booked payment released.
    pub release: Option<LedgerPosting>,
    /// The invoice change the decision causes (a released payment may settle it).
    pub change: Option<InvoiceChange>,
    /// The operator's reason.
    pub note: String,
    /// When.
    pub at: Timestamp,
    /// Deliveries the change creates are leased to the caller until then.
    pub lease_until: Timestamp,
}

/// The screening part of the store.
#[async_trait]
pub trait ScreeningStore: Send + Sync {
    /// Every imported list, with its content, by name.
    async fn screening_lists(&self) -> Result<Vec<StoredList>>;
    /// Every imported list's name and hash, by name: cheap to poll.
    async fn screening_list_digests(&self) -> Result<Vec<ListDigest>>;
    /// Stores `list` (replacing one of the same name) with its audit entry.
    async fn import_screening_list_audited(&self, list: &StoredList, record: &Record) -> Result<Entry>;
    /// The payment whose id starts with `short` (what its text names, see
    /// [`PaymentId::short`]), whatever its state.
    async fn payment_by_short_id(&self, short: [u8; 16]) -> Result<Option<Payment>>;
    /// Payments whose hold is in `state`, oldest first, at most `limit`.
    async fn payments_on_hold(&self, state: HoldState, limit: u32) -> Result<Vec<Payment>>;
    /// Applies an operator's decision on a held payment with its audit entry.
    async fn decide_hold_audited(&self, decision: HoldDecision, record: &Record) -> Result<(Applied, Entry)>;
}
