//! What the chain watcher keeps, and the one atomic write that applies a
//! step of a chain: payments seen or orphaned, payments booked, invoices
//! changed, ledger transactions, events and their webhook deliveries, and
//! the watcher's cursor, all in one database transaction.
//!
//! **Contract:** a step applies only on top of the cursor it names
//! ([`ChainStep::parent`]); otherwise it fails with
//! [`StoreError::CursorMoved`](crate::StoreError::CursorMoved) and changes
//! nothing. Every invoice change applies only if the invoice still has the
//! status the change was computed from; otherwise the whole write fails
//! with [`StoreError::StaleInvoice`](crate::StoreError::StaleInvoice). So a
//! step computed from stale data, or applied twice (a retry after a crash,
//! two gateways racing), never books or credits anything twice; the
//! database's unique indexes (one receipt per payment, one settlement per
//! invoice) back this up.
//!
//! A reorganisation never un-books: a booked payment whose block it reverts
//! becomes *displaced* (it still counts) until the same transfer is stored
//! again with [`Payment::moved_from`] naming it, which moves the booking
//! there without a new posting (see `coffer_domain::PaymentState`).

use std::collections::HashMap;

use async_trait::async_trait;
use coffer_domain::{
    Address, BlockRef, ChainId, EventId, EventType, Exceptions, HaltCode, Invoice, InvoiceId, InvoiceStatus,
    LedgerTxId, MerchantId, Payment, PaymentId, Timestamp, Transaction,
};

use crate::Result;
use crate::webhooks::DueDelivery;

/// A block the watcher remembers, to notice when the chain changes under it.
pub type ChainBlock = coffer_domain::BlockHeader;

/// A ledger transaction with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerPosting {
    /// Its id.
    pub id: LedgerTxId,
    /// Its entries, balanced.
    pub transaction: Transaction,
}

/// A payment that reached its confirmations: its receipt is booked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// The receipt (see [`Transaction::receipt`]).
    pub receipt: LedgerPosting,
}

/// A written-off payment whose transfer was mined after all: the posting that
/// undoes its write-off (see [`Transaction::recovery`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The written-off payment (its booking moves to the payment found).
    pub payment_id: PaymentId,
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// The recovery posting.
    pub posting: LedgerPosting,
}

/// An invoice settling: what moves to the merchant, and which booked payments it moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// The settlement transaction (see [`Transaction::settlement`]).
    pub posting: LedgerPosting,
    /// The payments it settles; each must be booked already or in the same step.
    pub payments: Vec<PaymentId>,
}

/// An event to record and deliver to the merchant's subscribed endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Its id.
    pub id: EventId,
    /// What happened.
    pub kind: EventType,
    /// The JSON body webhooks deliver, exactly as sent.
    pub payload: String,
}

/// A change to one invoice, applied only if its status and exceptions are
/// still `from` and `from_exceptions` (what it was computed from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceChange {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// Its merchant (events and credits go to it).
    pub merchant_id: MerchantId,
    /// The status the change was computed from.
    pub from: InvoiceStatus,
    /// The exceptions the change was computed from.
    pub from_exceptions: Exceptions,
    /// The new status (may equal `from` when only the exceptions change).
    pub status: InvoiceStatus,
    /// The new exceptions.
    pub exceptions: Exceptions,
    /// Set when the invoice settles.
    pub settlement: Option<Settlement>,
    /// Events the change raises.
    pub events: Vec<NewEvent>,
}

/// One step of a chain's watcher, applied atomically.
#[derive(Clone, Debug)]
pub struct ChainStep {
    /// The chain.
    pub chain_id: ChainId,
    /// The lease its writer holds (the chain's, in a fleet): the step is
    /// written only if that lease is still held at that epoch
    /// ([`crate::StoreError::Fenced`] otherwise). `None` for tools and tests
    /// that hold none.
    pub fence: Option<crate::Fence>,
    /// The cursor this step was computed on; `None` for a chain's first step.
    pub parent: Option<BlockRef>,
    /// The cursor after the step.
    pub tip: BlockRef,
    /// A reorganisation: blocks above this height are no longer canonical;
    /// their unbooked payments become orphaned, their booked ones displaced,
    /// and their remembered blocks are forgotten.
    pub revert_above: Option<u64>,
    /// Payments displaced by this step must be found again by this height.
    pub displace_until: u64,
    /// Blocks to remember (ascending).
    pub remember: Vec<ChainBlock>,
    /// Remembered blocks below this height are forgotten.
    pub forget_below: u64,
    /// Payments newly seen. One already stored (same id) is left as it is,
    /// unless orphaned or displaced: its block is back, it is canonical
    /// again. One with [`Payment::moved_from`] carries, booked (and settled)
    /// as it is given, the booking of that displaced or written-off payment,
    /// which becomes moved.
    pub payments: Vec<Payment>,
    /// Payments booked now.
    pub bookings: Vec<Booking>,
    /// Written-off payments found again.
    pub recoveries: Vec<Recovery>,
    /// Invoice changes.
    pub changes: Vec<InvoiceChange>,
    /// When the step happened.
    pub at: Timestamp,
    /// Deliveries the step creates are leased to the caller until then: it
    /// sends them at once; if it dies, any dispatcher retries them after.
    pub lease_until: Timestamp,
}

/// What a write created that the caller should act on.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Webhook deliveries created and leased to the caller.
    pub deliveries: Vec<DueDelivery>,
}

/// Invoice changes outside a chain step (expiry, a merchant invalidating an
/// invoice), with the same compare-and-set on each invoice's status.
#[derive(Clone, Debug)]
pub struct InvoiceChanges {
    /// The changes.
    pub changes: Vec<InvoiceChange>,
    /// When.
    pub at: Timestamp,
    /// Leases on the deliveries created, as in [`ChainStep::lease_until`].
    pub lease_until: Timestamp,
    /// As [`ChainStep::fence`].
    pub fence: Option<crate::Fence>,
}

/// A chain's watcher stopped for a person (see [`HaltCode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHalt {
    /// The chain.
    pub chain_id: ChainId,
    /// Why, for tools.
    pub code: HaltCode,
    /// Why, for people.
    pub reason: String,
    /// The block the watcher stopped at, if it had one.
    pub block: Option<u64>,
    /// When.
    pub halted_at: Timestamp,
    /// When it was resolved and how, if it was.
    pub resolved: Option<(Timestamp, String)>,
}

/// What an operator decides about displaced payments whose transfer the new
/// chain did not bring back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisplacedResolution {
    /// Look for the transfer until this height (it will be mined again: the
    /// operator rebroadcast it, say).
    WaitUntil(u64),
    /// The transfer is gone: write each off (the loss is booked, the
    /// merchant keeps its credit).
    WriteOff,
}

/// The chain watcher's part of the store.
#[async_trait]
pub trait ChainStore: Send + Sync {
    /// The chain's cursor: the last block its watcher processed.
    async fn chain_cursor(&self, chain_id: ChainId) -> Result<Option<BlockRef>>;
    /// The blocks the watcher remembers, ascending.
    async fn chain_blocks(&self, chain_id: ChainId) -> Result<Vec<ChainBlock>>;
    /// Applies a step atomically (see the module docs).
    async fn apply_chain_step(&self, step: ChainStep) -> Result<Applied>;
    /// Applies invoice changes atomically (see the module docs).
    async fn apply_invoice_changes(&self, changes: InvoiceChanges) -> Result<Applied>;

    /// Calls `visit` with the deposit address and id of every invoice on the
    /// chain whose address is still watched: `new` or `processing`, or any
    /// other status with an expiry at or after `expired_since` (a late
    /// payment, or one after settlement or invalidation, is still recorded),
    /// or with a displaced or written-off payment (its transfer may come back).
    /// Returns how many.
    async fn watched_invoices(
        &self,
        chain_id: ChainId,
        expired_since: Timestamp,
        visit: &mut (dyn FnMut(Address, InvoiceId) + Send),
    ) -> Result<u64>;
    /// Invoices on the chain created at or after `since` (another gateway's, say).
    async fn invoices_created_since(&self, chain_id: ChainId, since: Timestamp) -> Result<Vec<(Address, InvoiceId)>>;
    /// [`ChainStore::invoices_created_since`], only those still `new` or
    /// `processing`, with their creation time.
    async fn open_invoices_created_since(
        &self,
        chain_id: ChainId,
        since: Timestamp,
    ) -> Result<Vec<(Address, InvoiceId, Timestamp)>>;
    /// The invoices with these ids, whoever their merchant (for the watcher, never for the API).
    async fn invoices_by_ids(&self, ids: &[InvoiceId]) -> Result<Vec<Invoice>>;
    /// The canonical payments of these invoices, oldest block first.
    async fn payments_of(&self, invoice_ids: &[InvoiceId]) -> Result<Vec<Payment>>;
    /// Every payment of these invoices, whatever its state (orphaned and
    /// moved ones too), oldest block first: what a chain step must know to
    /// revive a row rather than insert it.
    async fn every_payment_of(&self, invoice_ids: &[InvoiceId]) -> Result<Vec<Payment>>;
    /// [`ChainStore::payments_of`], grouped by invoice (each oldest block first).
    async fn payments_by_invoice(&self, invoice_ids: &[InvoiceId]) -> Result<HashMap<InvoiceId, Vec<Payment>>> {
        let mut grouped: HashMap<InvoiceId, Vec<Payment>> = HashMap::new();
        for payment in self.payments_of(invoice_ids).await? {
            grouped.entry(payment.invoice_id).or_default().push(payment);
        }
        Ok(grouped)
    }
    /// Invoices with canonical payments not yet booked (waiting for confirmations).
    async fn invoices_awaiting_confirmations(&self, chain_id: ChainId) -> Result<Vec<InvoiceId>>;
    /// Invoices with canonical payments in blocks above `height` (those a reorg there touches).
    async fn invoices_paid_above(&self, chain_id: ChainId, height: u64) -> Result<Vec<InvoiceId>>;
    /// Deposit addresses of invoices on the chain that payments can no longer
    /// change (neither `new` nor `processing`) whose expiry lies in
    /// `[from, to)`: those whose late-payment window has just closed (but
    /// never one with a displaced or written-off payment).
    async fn aged_out_between(&self, chain_id: ChainId, from: Timestamp, to: Timestamp) -> Result<Vec<Address>>;
    /// Up to `limit` `new` invoices on the chain whose expiry is at or before `now`.
    async fn invoices_due_to_expire(&self, chain_id: ChainId, now: Timestamp, limit: u32) -> Result<Vec<Invoice>>;
    /// The time of the first invoice ever created on the chain.
    async fn first_invoice_at(&self, chain_id: ChainId) -> Result<Option<Timestamp>>;

    /// Records that the chain's watcher halted, unless a halt is already open
    /// for the chain (the first one's reason stays). `true` if recorded.
    /// Refused ([`crate::StoreError::Fenced`]) once `fence`'s lease moved on.
    async fn record_halt(&self, halt: &ChainHalt, fence: Option<&crate::Fence>) -> Result<bool>;
    /// The chain's open halt, if any.
    async fn open_halt(&self, chain_id: ChainId) -> Result<Option<ChainHalt>>;
    /// Every chain's halts, open ones first, then the most recently resolved.
    async fn halts(&self, limit: u32) -> Result<Vec<ChainHalt>>;
    /// Closes the chain's open halt with `resolution`; `false` if none was
    /// open. Refused once `fence`'s lease moved on, as [`ChainStore::record_halt`].
    async fn resolve_halt(
        &self,
        chain_id: ChainId,
        at: Timestamp,
        resolution: &str,
        fence: Option<&crate::Fence>,
    ) -> Result<bool>;
    /// The chain's displaced payments (booked, block gone, transfer awaited).
    async fn displaced_payments(&self, chain_id: ChainId) -> Result<Vec<Payment>>;
    /// Applies an operator's decision to every displaced payment of the
    /// chain and closes its open halt, in one transaction. Returns the
    /// payments it applied to.
    async fn resolve_displaced(
        &self,
        chain_id: ChainId,
        resolution: DisplacedResolution,
        at: Timestamp,
        note: &str,
    ) -> Result<Vec<PaymentId>>;
}
