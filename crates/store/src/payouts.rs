//! Payouts and refunds, and the durable outbox of requests to the signer.
//!
//! **Contract:** [`PayoutStore::create_payout`] is one transaction: the
//! idempotency-key lookup, the balance check, the reserve, the payout, its
//! outbox row and its `payout.pending` event with its deliveries. The
//! balance check is a compare-and-set on the source account's running
//! totals: with PostgreSQL the totals' row is locked first (until commit),
//! with SQLite the single writer runs one write at a time; so two payouts
//! can never both spend the same balance.
//!
//! The outbox is at least once: a row is claimed under a lease, sent, and
//! sent again after a crash or a lost answer. The signer decides once per
//! request id (asking again answers what it did), so a submission is never
//! lost and never decided twice. What it answers is applied with
//! [`PayoutStore::record_answer`]: a compare-and-set on the payout (or
//! sweep) as it was read, so a stale or repeated answer books nothing.

use async_trait::async_trait;
use coffer_domain::{
    Amount, AssetSymbol, ChainId, MerchantId, Payout, PayoutChange, PayoutId, PayoutStatus, SweepChange, SweepId,
    Timestamp,
};

use crate::webhooks::DueDelivery;
use crate::{Idempotency, NewEvent, Result};

/// A payout to create, with everything its transaction writes.
#[derive(Clone, Debug)]
pub struct NewPayout {
    /// The payout, `pending`.
    pub payout: Payout,
    /// The request's `Idempotency-Key` and fingerprint.
    pub idempotency: Option<Idempotency>,
    /// For a refund: the most the invoice may refund in all (its refunds
    /// not refused or failed count against it, this one included).
    pub refund_limit: Option<Amount>,
    /// The body of the request to the signer, exactly as every attempt sends it.
    pub intent: String,
    /// Its `payout.pending` event.
    pub event: NewEvent,
    /// Its `payout.requested` audit entry, appended in the same transaction.
    pub audit: coffer_audit::Record,
    /// When it happened.
    pub at: Timestamp,
    /// The event's deliveries are leased to the caller until then.
    pub lease_until: Timestamp,
}

/// What creating a payout did. Only `Created` wrote anything.
#[derive(Clone, Debug, PartialEq)]
pub enum CreatedPayout {
    /// Stored and reserved, with the deliveries of its event.
    Created(Payout, Vec<DueDelivery>),
    /// The idempotency key was used before with the same request: that payout.
    Replayed(Payout),
    /// The idempotency key was used before with another request.
    IdempotencyMismatch,
    /// The source account holds less than the amount: this much is available.
    InsufficientBalance {
        /// What the merchant (or suspense) holds of the asset.
        available: Amount,
    },
    /// A refund above what the invoice has left to refund: this much is left.
    RefundExceeded {
        /// What may still be refunded.
        refundable: Amount,
    },
}

/// A page request over one merchant's payouts, newest first.
#[derive(Clone, Copy, Debug)]
pub struct PayoutQuery {
    /// Whose payouts.
    pub merchant_id: MerchantId,
    /// Only those in this state.
    pub status: Option<PayoutStatus>,
    /// Only those of this asset symbol.
    pub asset: Option<AssetSymbol>,
    /// Only those on this chain.
    pub chain_id: Option<ChainId>,
    /// Only those older than this one (the cursor).
    pub before: Option<PayoutId>,
    /// At most this many.
    pub limit: u32,
}

/// A request to the signer, by its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignerRequest {
    /// Pay a payout (`POST /v1/payouts`).
    Payout(PayoutId),
    /// Sweep a deposit (`POST /v1/sweeps`).
    Sweep(SweepId),
}

impl SignerRequest {
    pub(crate) fn uuid(self) -> uuid::Uuid {
        match self {
            Self::Payout(id) => id.as_uuid(),
            Self::Sweep(id) => id.as_uuid(),
        }
    }

    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Payout(_) => "payout",
            Self::Sweep(_) => "sweep",
        }
    }
}

/// Where an outbox row stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxState {
    /// To be sent: the signer has not acknowledged it.
    Submit,
    /// The signer has it; its answer is not final: ask again.
    Poll,
    /// The signer's answer is final and applied.
    Done,
    /// The signer refuses to take it (another payload under its id): for a person.
    Held,
}

impl OutboxState {
    /// As the database spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Poll => "poll",
            Self::Done => "done",
            Self::Held => "held",
        }
    }

    /// Parses [`OutboxState::as_str`]'s text.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Submit, Self::Poll, Self::Done, Self::Held].into_iter().find(|s| s.as_str() == text)
    }
}

/// One request in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Which request.
    pub request: SignerRequest,
    /// Its body (the intent's JSON), the same on every attempt.
    pub payload: String,
    /// Where it stands.
    pub state: OutboxState,
    /// Attempts claimed since the last answer applied (this one included, for a claimed row).
    pub attempts: u32,
    /// When it is due (for a claimed row: its lease); `None` once done or held.
    pub next_attempt_at: Option<Timestamp>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: Timestamp,
}

/// What to do with an outbox row after an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxNext {
    /// Ask for the request's status at this time.
    PollAt(Timestamp),
    /// Nothing more: the answer was final.
    Done,
}

/// A change computed from a signer's answer, with the record it was
/// computed from: applied only if that record is still as it was read.
#[derive(Clone, Debug)]
pub enum AnswerChange {
    /// A payout's change; `from` is the payout as read.
    Payout {
        /// As read.
        from: Box<Payout>,
        /// The change (`coffer_domain::Payout::advance`).
        change: Box<PayoutChange>,
        /// The event it raises, with its payload.
        event: Option<NewEvent>,
        /// Its audit entry, appended in the same transaction if the change applies.
        audit: Box<coffer_audit::Record>,
    },
    /// A sweep's change; `from` is the sweep as read.
    Sweep {
        /// As read.
        from: Box<coffer_domain::Sweep>,
        /// The change (`coffer_domain::Sweep::advance`).
        change: Box<SweepChange>,
        /// The signer's answer as it gave it, kept with the sweep.
        outcome: String,
    },
}

/// What the signer answered about one request, to record.
#[derive(Clone, Debug)]
pub struct SignerAnswer {
    /// The request.
    pub request: SignerRequest,
    /// What it changes, if anything (nothing: a repeated or stale answer).
    pub change: Option<AnswerChange>,
    /// What the outbox does next.
    pub next: OutboxNext,
    /// When.
    pub at: Timestamp,
    /// Deliveries are leased to the caller until then.
    pub lease_until: Timestamp,
    /// For an answer to an approval the gateway relayed: its audit entry
    /// (`payout.approval_relayed`), appended unless a change was computed
    /// and did not apply (the caller reads again and retries).
    pub relayed: Option<Box<coffer_audit::Record>>,
}

/// What recording an answer did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordedAnswer {
    /// Whether the change applied (`false`: the record had changed meanwhile, or there was none).
    pub applied: bool,
    /// Deliveries of the event, leased to the caller.
    pub deliveries: Vec<DueDelivery>,
}

/// Payouts, refunds and the signer outbox.
#[async_trait]
pub trait PayoutStore: Send + Sync {
    /// Creates a payout in one transaction (see the module docs).
    async fn create_payout(&self, new: NewPayout) -> Result<CreatedPayout>;
    /// The merchant's payout with this id (another merchant's answers `None`).
    async fn payout(&self, merchant_id: MerchantId, id: PayoutId) -> Result<Option<Payout>>;
    /// The payout with this id, whoever its merchant (for the outbox, never for the API).
    async fn payout_by_id(&self, id: PayoutId) -> Result<Option<Payout>>;
    /// A page of a merchant's payouts, newest first.
    async fn payouts(&self, query: PayoutQuery) -> Result<Vec<Payout>>;
    /// What the merchant has reserved for payouts in flight, per asset (nothing is left out).
    async fn merchant_reserved(&self, merchant_id: MerchantId) -> Result<Vec<Amount>>;

    /// Claims up to `limit` outbox rows due at `now` (to submit or to ask
    /// about), leasing them until `lease_until` and counting the attempt.
    async fn claim_outbox(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<OutboxEntry>>;
    /// After a failed attempt: records `error` and makes the row due at
    /// `retry_at` in `state` (`Submit`, `Poll` or `Held`), if it is still
    /// leased until `leased_until`. `false` if not (another took it over).
    async fn outbox_failed(
        &self,
        request: SignerRequest,
        leased_until: Timestamp,
        state: OutboxState,
        error: &str,
        retry_at: Timestamp,
    ) -> Result<bool>;
    /// Applies a signer's answer: its change with a compare-and-set on the
    /// record it was computed from (postings and event included), and the
    /// outbox row's next step, in one transaction.
    async fn record_answer(&self, answer: SignerAnswer) -> Result<RecordedAnswer>;
    /// The outbox row of a request.
    async fn outbox_entry(&self, request: SignerRequest) -> Result<Option<OutboxEntry>>;
}
