//! What the web console keeps: one-time sign-in links, the sessions they
//! open, and the reads that tell one invoice's whole story.
//!
//! **Contract:** only SHA-256 digests of link and session secrets are
//! stored (a session's form token is derived from its secret, so it is not
//! stored either); a link opens at most one session, before it expires; every
//! session opened or ended is written together with its audit record, in
//! one transaction. Every read of invoices, ledger lines and deliveries is
//! bounded to one merchant by the caller's [`MerchantId`], as the API's are.

use async_trait::async_trait;
use coffer_audit::{Entry, Record};
use coffer_domain::{Invoice, InvoiceId, InvoiceStatus, MerchantId, Timestamp};

use crate::{Delivery, Result, StoredEntry};

/// Who a console session acts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleRole {
    /// One merchant: its invoices, balances, webhooks.
    Merchant(MerchantId),
    /// The gateway's operator.
    Operator,
}

impl ConsoleRole {
    /// The merchant, for a merchant's session.
    pub fn merchant(self) -> Option<MerchantId> {
        match self {
            Self::Merchant(id) => Some(id),
            Self::Operator => None,
        }
    }
}

/// A one-time sign-in link, as `coffer console link` makes it.
#[derive(Clone, Debug)]
pub struct ConsoleLink {
    /// SHA-256 of the link's secret.
    pub digest: [u8; 32],
    /// Whom it signs in.
    pub role: ConsoleRole,
    /// When it was made.
    pub created_at: Timestamp,
    /// After this it opens nothing.
    pub expires_at: Timestamp,
}

/// An open (or ended) console session.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the cookie's secret.
    pub digest: [u8; 32],
    /// Whom it acts for.
    pub role: ConsoleRole,
    /// `link`, or `api_key:<id>`.
    pub opened_by: String,
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it ends by itself.
    pub expires_at: Timestamp,
    /// When it was signed out of.
    pub ended_at: Option<Timestamp>,
}

impl ConsoleSession {
    /// Whether it may act at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.ended_at.is_none() && now < self.expires_at
    }
}

impl std::fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSession")
            .field("role", &self.role)
            .field("opened_by", &self.opened_by)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("ended_at", &self.ended_at)
            .finish_non_exhaustive()
    }
}

/// The console's invoice list: one merchant's, newest first.
#[derive(Clone, Debug)]
pub struct InvoiceSearch {
    /// Whose.
    pub merchant_id: MerchantId,
    /// Only in this status.
    pub status: Option<InvoiceStatus>,
    /// Only those whose order id is this, or whose deposit address is this
    /// (`0x…`, any case).
    pub text: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// The console's sessions and reads.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Stores a new sign-in link, with its record.
    async fn create_console_link_audited(&self, link: &ConsoleLink, record: &Record) -> Result<Entry>;
    /// The link with this digest, used or not: `(link, used)`.
    async fn console_link(&self, digest: [u8; 32]) -> Result<Option<(ConsoleLink, bool)>>;
    /// Opens `session`, with its record. With `link`, only if that link is
    /// unused, unexpired at `session.created_at` and for the same role, and
    /// marks it used; `None` (and nothing written) otherwise.
    async fn open_console_session_audited(
        &self,
        session: &ConsoleSession,
        link: Option<[u8; 32]>,
        record: &Record,
    ) -> Result<Option<Entry>>;
    /// The session with this digest, ended or not.
    async fn console_session(&self, digest: [u8; 32]) -> Result<Option<ConsoleSession>>;
    /// Ends a session, with its record; `None` if it had ended already.
    async fn end_console_session_audited(
        &self,
        digest: [u8; 32],
        at: Timestamp,
        record: &Record,
    ) -> Result<Option<Entry>>;
    /// Ends every live session of `role` (every session, for `None`) at
    /// `at`, with `record` (written even when none was live: the operator
    /// acted); returns how many ended.
    async fn end_console_sessions_audited(
        &self,
        role: Option<ConsoleRole>,
        at: Timestamp,
        record: &Record,
    ) -> Result<(u64, Entry)>;
    /// A merchant's invoices as the console lists them.
    async fn search_invoices(&self, search: &InvoiceSearch) -> Result<Vec<Invoice>>;
    /// The ledger entries of one invoice's transactions, if it is the
    /// merchant's, in the order they were booked.
    async fn invoice_entries(&self, merchant_id: MerchantId, invoice_id: InvoiceId) -> Result<Vec<StoredEntry>>;
    /// Every webhook delivery of one invoice's events, the merchant's only, newest first.
    async fn invoice_deliveries(&self, merchant_id: MerchantId, invoice_id: InvoiceId) -> Result<Vec<Delivery>>;
}
