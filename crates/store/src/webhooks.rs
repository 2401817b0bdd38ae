//! Webhook endpoints, and the outbox of deliveries.
//!
//! A delivery row is written in the same transaction as the change it
//! reports (see [`crate::ChainStore`]), so no change is ever committed
//! without its notification, and none is sent for a change that was not.
//! Dispatchers claim due deliveries by pushing `next_attempt_at` into the
//! future (a lease): one statement, safe with several dispatchers on one
//! database. A dispatcher that dies mid-send loses only its lease; the
//! delivery is retried when the lease runs out (at-least-once).

use async_trait::async_trait;
use coffer_domain::{DeliveryId, EventId, EventType, InvoiceId, MerchantId, Timestamp, WebhookId};

use crate::Result;

/// An endpoint a merchant registered.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: WebhookId,
    /// Its merchant.
    pub merchant_id: MerchantId,
    /// Where deliveries go.
    pub url: String,
    /// The events it wants.
    pub events: Vec<EventType>,
    /// The HMAC-SHA256 signing secret.
    pub secret: String,
    /// When it was registered.
    pub created_at: Timestamp,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("merchant_id", &self.merchant_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not acknowledged yet; will be (re)tried.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up on (too many attempts, or the endpoint was deleted); can be redelivered.
    Failed,
}

impl DeliveryState {
    /// As the database and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Parses [`DeliveryState::as_str`]'s text.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// A delivery as the delivery log shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Its id, sent in every attempt.
    pub id: DeliveryId,
    /// The endpoint.
    pub endpoint_id: WebhookId,
    /// The event.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: EventType,
    /// The invoice the event is about.
    pub invoice_id: Option<InvoiceId>,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Timestamp>,
    /// When the last attempt was made.
    pub last_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last attempt, if it got one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When the endpoint acknowledged it.
    pub delivered_at: Option<Timestamp>,
}

/// A delivery claimed by a dispatcher, with all it needs to send it.
#[derive(Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery.
    pub id: DeliveryId,
    /// The endpoint.
    pub endpoint_id: WebhookId,
    /// The endpoint's merchant.
    pub merchant_id: MerchantId,
    /// Its URL.
    pub url: String,
    /// Its signing secret.
    pub secret: String,
    /// The event.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: EventType,
    /// The invoice the event is about.
    pub invoice_id: Option<InvoiceId>,
    /// The body, exactly as every attempt sends it.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The lease this claim holds: an attempt is recorded only while the
    /// delivery is still leased so (another dispatcher may have taken it over).
    pub leased_until: Timestamp,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("id", &self.id)
            .field("merchant_id", &self.merchant_id)
            .field("url", &self.url)
            .field("event_type", &self.event_type)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What one attempt achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx: done.
    Delivered {
        /// The status.
        status: u16,
    },
    /// Anything else; retried at `retry_at`, or given up if `None`.
    Failed {
        /// The status, if the endpoint answered.
        status: Option<u16>,
        /// What went wrong, for the delivery log.
        error: String,
        /// The next attempt, or `None` to give up.
        retry_at: Option<Timestamp>,
    },
}

/// One attempt to record: which delivery, under which lease, when, and how it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The delivery.
    pub id: DeliveryId,
    /// The lease it was claimed under: recorded only if still that one.
    pub leased_until: Timestamp,
    /// When the attempt ended.
    pub at: Timestamp,
    /// How.
    pub outcome: AttemptOutcome,
}

/// What a dispatcher can take on in one claim: so many deliveries in all,
/// and no more to one endpoint or for one merchant than it may have in
/// flight, counting what it has in flight (or waiting) already.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimLimits {
    /// Most deliveries in this claim.
    pub total: u32,
    /// Most in flight to one endpoint.
    pub per_endpoint: u32,
    /// Most in flight for one merchant.
    pub per_merchant: u32,
    /// Endpoints the dispatcher has deliveries in flight to, and how many.
    pub busy_endpoints: Vec<(WebhookId, u32)>,
    /// Merchants the dispatcher has deliveries in flight for, and how many.
    pub busy_merchants: Vec<(MerchantId, u32)>,
}

impl ClaimLimits {
    /// `total` deliveries, however many to one endpoint or merchant.
    pub fn total(total: u32) -> Self {
        Self { total, per_endpoint: total, per_merchant: total, ..Self::default() }
    }
}

/// What asking for a redelivery did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redelivery {
    /// Queued as this new delivery.
    Queued(Delivery),
    /// Not queued: this delivery of the same event to the same endpoint is
    /// still pending (it will be retried).
    AlreadyPending(DeliveryId),
    /// No such delivery of the merchant's through that endpoint, or the endpoint was deleted.
    NotFound,
}

/// Most endpoints (not deleted) a merchant may have.
pub const MAX_WEBHOOK_ENDPOINTS: u32 = 16;

/// What registering an endpoint did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookRegistration {
    /// Registered.
    Registered,
    /// Not registered: the merchant has the most endpoints allowed already.
    LimitReached,
}

/// Webhook endpoints and the delivery outbox.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Registers an endpoint unless its merchant has `limit` endpoints (not
    /// deleted) already. The count and the insert are one write, serialised
    /// per merchant, so concurrent registrations cannot pass the limit together.
    async fn register_webhook(&self, endpoint: &WebhookEndpoint, limit: u32) -> Result<WebhookRegistration>;
    /// Registers an endpoint within [`MAX_WEBHOOK_ENDPOINTS`]; at the limit,
    /// [`crate::StoreError::Conflict`].
    async fn create_webhook(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        match self.register_webhook(endpoint, MAX_WEBHOOK_ENDPOINTS).await? {
            WebhookRegistration::Registered => Ok(()),
            WebhookRegistration::LimitReached => Err(crate::StoreError::Conflict(format!(
                "merchant {} has {MAX_WEBHOOK_ENDPOINTS} webhook endpoints already",
                endpoint.merchant_id
            ))),
        }
    }
    /// A merchant's endpoints (not deleted), oldest first.
    async fn webhooks(&self, merchant_id: MerchantId) -> Result<Vec<WebhookEndpoint>>;
    /// One endpoint of the merchant's, not deleted.
    async fn webhook(&self, merchant_id: MerchantId, id: WebhookId) -> Result<Option<WebhookEndpoint>>;
    /// Deletes an endpoint; its pending deliveries fail. `false` if there was none.
    async fn delete_webhook(&self, merchant_id: MerchantId, id: WebhookId, at: Timestamp) -> Result<bool>;
    /// An endpoint's deliveries, newest first, older than `before` if given.
    async fn deliveries(
        &self,
        merchant_id: MerchantId,
        endpoint_id: WebhookId,
        before: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// Queues the event of one of the merchant's deliveries to `endpoint_id`
    /// again, as a new delivery due at `at`, unless a delivery of that event
    /// to that endpoint is still pending. Serialised per endpoint, so
    /// concurrent requests queue one copy at most.
    async fn redeliver(
        &self,
        merchant_id: MerchantId,
        endpoint_id: WebhookId,
        id: DeliveryId,
        at: Timestamp,
    ) -> Result<Redelivery>;
    /// Claims deliveries due at `now` to endpoints not deleted, leasing them
    /// until `lease_until`, within `limits`. Fair: round-robin over each
    /// merchant's endpoints (oldest first within one), then over merchants,
    /// so a merchant with a backlog does not fill the claim.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limits: &ClaimLimits,
    ) -> Result<Vec<DueDelivery>>;
    /// Claims up to `limit` deliveries due at `now`, leasing them until `lease_until`.
    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        self.claim_deliveries(now, lease_until, &ClaimLimits::total(limit)).await
    }
    /// Whether the delivery is still pending under the lease `leased_until`,
    /// to an endpoint not deleted: still the caller's to send.
    async fn holds_lease(&self, id: DeliveryId, leased_until: Timestamp) -> Result<bool>;
    /// Moves the lease of a delivery still pending under `leased_until`, to
    /// an endpoint not deleted, to `until` (compare-and-set). `false` if it is
    /// not so any more: another dispatcher took it over, it was acknowledged
    /// or given up, or its endpoint deleted; then it must not be sent.
    async fn renew_lease(&self, id: DeliveryId, leased_until: Timestamp, until: Timestamp) -> Result<bool>;
    /// Records an attempt's outcome, if the delivery is still pending under
    /// the lease `leased_until` (a lease that ran out and was taken over by
    /// another dispatcher makes this a no-op). `false` if nothing was recorded.
    async fn record_attempt(
        &self,
        id: DeliveryId,
        leased_until: Timestamp,
        at: Timestamp,
        outcome: AttemptOutcome,
    ) -> Result<bool> {
        let recorded = self.record_attempts(&[Attempt { id, leased_until, at, outcome }]).await?;
        Ok(recorded.first() == Some(&true))
    }
    /// [`WebhookStore::record_attempt`] for many attempts in few statements
    /// (a dispatcher records what finished while its last write ran): for
    /// each, in order, whether it was recorded. Each attempt is recorded or
    /// not on its own; on `Err`, some may have been.
    async fn record_attempts(&self, attempts: &[Attempt]) -> Result<Vec<bool>>;
    /// The events recorded for an invoice, oldest first: (id, type, payload).
    async fn invoice_events(&self, invoice_id: InvoiceId) -> Result<Vec<(EventId, EventType, String)>>;
}
