//! Sends deliveries from the outbox until each is acknowledged (2xx).
//!
//! Two ways in: the watcher hands over the deliveries it just committed
//! ([`Dispatcher::dispatch`], leased to this process, sent at once: that is
//! the latency path), and a loop claims whatever is due from the store
//! (retries, redeliveries, deliveries whose sender died). Both share the
//! slots ([`crate::slots`]): so many attempts in flight to one endpoint, for
//! one merchant and in all, so one merchant's slow endpoints cannot delay
//! every merchant's webhooks; the loop claims fairly (round-robin over
//! merchants and their endpoints) and only what can start at once. A
//! delivery that had to wait, or whose lease would not outlast an attempt,
//! is checked again once it has its slot: still pending under its lease
//! (renewed by compare-and-set if short) and to an endpoint not deleted,
//! else it is not sent (another dispatcher took it over, or there is no
//! one to send it to). Each attempt's
//! outcome is recorded (together with those that ended while the last
//! record was being written: one statement for many, where one each made
//! the database the bottleneck of a busy dispatcher); failures are retried
//! with exponential backoff and
//! jitter until `max_attempts`, then the delivery is marked failed (a
//! merchant can redeliver it).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use coffer_domain::{MerchantId, Timestamp};
use coffer_store::{Attempt, AttemptOutcome, DueDelivery, Store};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::UrlPolicy;
use crate::rate::RateLimit;
use crate::signature::{DELIVERY_HEADER, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, sign};
use crate::slots::{Slot, SlotLimits, Slots};

/// How the dispatcher behaves.
#[derive(Clone, Copy, Debug)]
pub struct DispatchConfig {
    /// Where it may send.
    pub policy: UrlPolicy,
    /// Deadline of one attempt.
    pub timeout: Duration,
    /// Wait before the first retry; doubles each time.
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// How often to look for due deliveries when nothing wakes it.
    pub poll_interval: Duration,
    /// Most attempts in flight at once, in all.
    pub max_in_flight: usize,
    /// Most attempts in flight at once for one merchant.
    pub max_in_flight_per_merchant: usize,
    /// Most attempts in flight at once to one endpoint.
    pub max_in_flight_per_endpoint: usize,
    /// Redeliveries a merchant may ask for in a minute (as many at once).
    pub redeliveries_per_minute: u32,
}

impl DispatchConfig {
    /// How long a claimed delivery stays ours: longer than an attempt can take.
    pub fn lease(&self) -> Duration {
        self.timeout * 3
    }

    /// When to try again after `attempts` failed attempts, or `None` to give up.
    pub fn retry_after(&self, attempts: u32, jitter_permille: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exponent = attempts.saturating_sub(1).min(30);
        let base = self.retry_base.saturating_mul(1 << exponent).min(self.retry_max);
        // ±20 % so that endpoints coming back are not hit by every retry at once.
        let permille = 800 + jitter_permille % 401;
        Some(base * permille / 1000)
    }
}

/// Counters for the metrics.
#[derive(Debug, Default)]
pub struct DispatchStats {
    /// Attempts acknowledged with 2xx.
    pub delivered: AtomicU64,
    /// Attempts that failed (retried or given up).
    pub failed: AtomicU64,
    /// Deliveries given up.
    pub given_up: AtomicU64,
    /// Deliveries not sent when their turn came: taken over by another
    /// dispatcher, no longer pending, or to an endpoint deleted meanwhile.
    pub skipped: AtomicU64,
}

/// The webhook dispatcher; cheap to share.
#[derive(Debug)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    config: DispatchConfig,
    client: reqwest::Client,
    wake: Notify,
    slots: Slots,
    redeliveries: RateLimit,
    /// Deliveries handed over and waiting behind an earlier one to the same
    /// endpoint about the same invoice; a key is present while its sender runs.
    queues: Mutex<HashMap<QueueKey, VecDeque<DueDelivery>>>,
    stats: Arc<DispatchStats>,
    /// Attempts to record, to the task that records them (started with the first).
    records: OnceLock<mpsc::UnboundedSender<Recording>>,
}

/// An attempt to record, and who waits until it is written.
type Recording = (Attempt, oneshot::Sender<()>);

type QueueKey = (coffer_domain::WebhookId, Option<coffer_domain::InvoiceId>);

/// Starts the task that records attempts: each write takes every attempt
/// that ended while the previous one ran (at most `max_in_flight`, as each
/// attempt holds its slot until recorded).
fn spawn_recorder(store: Arc<dyn Store>) -> mpsc::UnboundedSender<Recording> {
    let (records, mut queue) = mpsc::unbounded_channel::<Recording>();
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while let Ok(next) = queue.try_recv() {
                batch.push(next);
            }
            let (attempts, waiting): (Vec<Attempt>, Vec<_>) = batch.into_iter().unzip();
            match store.record_attempts(&attempts).await {
                Ok(recorded) => report_unrecorded(&attempts, &recorded),
                Err(err) => {
                    // One bad row fails the statement: the others must not pay for it.
                    tracing::warn!(deliveries = attempts.len(), error = %err, "cannot record webhook attempts together");
                    for attempt in &attempts {
                        record_alone(&*store, attempt).await;
                    }
                }
            }
            for done in waiting {
                let _ = done.send(());
            }
        }
    });
    records
}

/// Records one attempt by itself. Not recorded, its lease runs out and the
/// delivery is retried (at least once).
async fn record_alone(store: &dyn Store, attempt: &Attempt) {
    match store.record_attempts(std::slice::from_ref(attempt)).await {
        Ok(recorded) => report_unrecorded(std::slice::from_ref(attempt), &recorded),
        Err(err) => tracing::warn!(delivery = %attempt.id, error = %err, "cannot record a webhook attempt"),
    }
}

/// Logs the attempts a write left unrecorded (`recorded` says which, in order).
fn report_unrecorded(attempts: &[Attempt], recorded: &[bool]) {
    for (attempt, _) in attempts.iter().zip(recorded).filter(|(_, recorded)| !**recorded) {
        tracing::info!(delivery = %attempt.id, "attempt not recorded: its lease ran out and was taken over");
    }
}

/// Why the dispatcher could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook HTTP client: {0}")]
pub struct ClientError(String);

impl Dispatcher {
    /// A dispatcher over `store`.
    pub fn new(store: Arc<dyn Store>, config: DispatchConfig) -> Result<Arc<Self>, ClientError> {
        let client = reqwest::Client::builder()
            .dns_resolver(config.policy.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("Coffer-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Arc::new(Self {
            store,
            config,
            client,
            wake: Notify::new(),
            slots: Slots::new(SlotLimits {
                total: config.max_in_flight,
                per_merchant: config.max_in_flight_per_merchant,
                per_endpoint: config.max_in_flight_per_endpoint,
            }),
            redeliveries: RateLimit::per_minute(config.redeliveries_per_minute),
            queues: Mutex::default(),
            stats: Arc::default(),
            records: OnceLock::new(),
        }))
    }

    /// The counters.
    pub fn stats(&self) -> Arc<DispatchStats> {
        self.stats.clone()
    }

    /// The lease to put on deliveries handed over with [`Dispatcher::dispatch`].
    pub fn lease(&self) -> Duration {
        self.config.lease()
    }

    /// Admits one redelivery request of `merchant` under
    /// `redeliveries_per_minute`, or says how long until one would be.
    pub fn admit_redelivery(&self, merchant: MerchantId) -> Result<(), Duration> {
        self.redeliveries.admit(merchant, std::time::Instant::now())
    }

    /// Sends deliveries already claimed (committed and leased to us) now.
    /// Those about one invoice to one endpoint go one after the other, in
    /// the order handed over (a step's "paid_over" before its "processing",
    /// one step's "processing" before the next one's "settled"); the rest go
    /// concurrently, within the same slots as claimed ones. Retries of
    /// failed attempts are not ordered: receivers should trust the invoice
    /// state in the payload, not arrival order.
    pub fn dispatch(self: &Arc<Self>, deliveries: Vec<DueDelivery>) {
        let mut start = Vec::new();
        if let Ok(mut queues) = self.queues.lock() {
            for delivery in deliveries {
                let key = (delivery.endpoint_id, delivery.invoice_id);
                match queues.get_mut(&key) {
                    // A sender for this key is running: it will take this one after the earlier ones.
                    Some(queue) => queue.push_back(delivery),
                    None => {
                        queues.insert(key, VecDeque::new());
                        start.push((key, delivery));
                    }
                }
            }
        }
        for (key, first) in start {
            let this = self.clone();
            tokio::spawn(async move {
                let mut next = Some(first);
                let mut queued = false;
                while let Some(delivery) = next {
                    let slot = this.slots.register(delivery.endpoint_id, delivery.merchant_id, false);
                    this.clone().attempt(delivery, slot, queued).await;
                    // The next one waited behind this one.
                    queued = true;
                    next = this.queues.lock().ok().and_then(|mut queues| {
                        let queue = queues.get_mut(&key)?;
                        let next = queue.pop_front();
                        if next.is_none() {
                            queues.remove(&key);
                        }
                        next
                    });
                }
            });
        }
    }

    /// Looks for due deliveries now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Claims and sends due deliveries until `stop` completes, then waits
    /// (up to one attempt's deadline) for attempts in flight.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut backoff = Duration::from_millis(100);
        loop {
            // Claim no more than can start now, and none for an endpoint or a
            // merchant at its share: a claimed delivery waiting for a slot past
            // its lease would be claimed again (and is then not sent here).
            let limits = self.slots.claim_limits();
            let now = Timestamp::now();
            let lease_until = now.plus(self.config.lease());
            let claimed = match self.store.claim_deliveries(now, lease_until, &limits).await {
                Ok(claimed) => {
                    backoff = Duration::from_millis(100);
                    claimed
                }
                Err(err) => {
                    tracing::warn!(error = %err, retry_in = ?backoff, "cannot claim webhook deliveries");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    Vec::new()
                }
            };
            let full = limits.total > 0 && claimed.len() == limits.total as usize;
            for delivery in claimed {
                // Counted now, not when its task runs: the next claim must see it.
                let slot = self.slots.register(delivery.endpoint_id, delivery.merchant_id, true);
                let this = self.clone();
                tokio::spawn(async move { this.attempt(delivery, slot, false).await });
            }
            if full {
                continue;
            }
            tokio::select! {
                () = &mut stop => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval.max(backoff)) => {}
            }
        }
        // Let attempts in flight finish; what does not finish is retried after its lease.
        self.slots.drain(self.config.timeout).await;
    }

    /// Sends one delivery once it has its slot (`queued`: it waited behind
    /// another about the same invoice), and records how it went.
    async fn attempt(self: Arc<Self>, mut delivery: DueDelivery, mut slot: Slot, queued: bool) {
        if slot.wait().await.is_none() {
            return;
        }
        if !self.still_ours(&mut delivery, queued || slot.waited).await {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            tracing::info!(delivery = %delivery.id, "not sent: taken over, no longer pending, or its endpoint deleted");
            return;
        }
        let attempt = delivery.attempts + 1;
        let outcome = self.send(&delivery).await;
        let at = Timestamp::now();
        let outcome = match outcome {
            Ok(status) => {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(delivery = %delivery.id, event = %delivery.event_type, status, "webhook delivered");
                AttemptOutcome::Delivered { status }
            }
            Err((status, error)) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                let retry = self.config.retry_after(attempt, jitter());
                let retry_at = retry.map(|wait| at.plus(wait));
                match retry {
                    Some(wait) => {
                        tracing::info!(delivery = %delivery.id, attempt, error, retry_in = ?wait, "webhook attempt failed")
                    }
                    None => {
                        self.stats.given_up.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(delivery = %delivery.id, attempt, error, "webhook delivery given up");
                    }
                }
                AttemptOutcome::Failed { status, error, retry_at }
            }
        };
        // The slot is held until the record is written: an attempt is done
        // only then, and stopping waits for attempts in flight.
        self.record(Attempt { id: delivery.id, leased_until: delivery.leased_until, at, outcome }).await;
        drop(slot);
    }

    /// Whether `delivery` is still this dispatcher's to send, now that it has
    /// its slot. A lease that would not outlast an attempt (and the time to
    /// record it) is renewed by compare-and-set; one that `waited` is read
    /// again, since its endpoint may have been deleted or its lease taken
    /// over meanwhile. Fresh deliveries with time to spare go at once. When
    /// the store cannot say, it is not sent now: its lease runs out and it
    /// is retried.
    async fn still_ours(&self, delivery: &mut DueDelivery, waited: bool) -> bool {
        let now = Timestamp::now();
        let answer = if delivery.leased_until < now.plus(self.config.timeout + self.config.timeout / 2) {
            let until = now.plus(self.config.lease());
            let renewed = self.store.renew_lease(delivery.id, delivery.leased_until, until).await;
            if matches!(renewed, Ok(true)) {
                delivery.leased_until = until;
            }
            renewed
        } else if waited {
            self.store.holds_lease(delivery.id, delivery.leased_until).await
        } else {
            Ok(true)
        };
        answer.unwrap_or_else(|err| {
            tracing::warn!(delivery = %delivery.id, error = %err, "cannot check a webhook delivery's lease; retried later");
            false
        })
    }

    /// Records `attempt` in the next write of the recording task, and waits
    /// until that write is done.
    async fn record(&self, attempt: Attempt) {
        let records = self.records.get_or_init(|| spawn_recorder(self.store.clone()));
        let (done, written) = oneshot::channel();
        match records.send((attempt, done)) {
            Ok(()) => {
                let _ = written.await;
            }
            // The recording task is gone (it panicked, say): record this one
            // here, or deliveries would be resent for ever without a count.
            Err(mpsc::error::SendError((attempt, _))) => {
                tracing::error!("the webhook recording task is gone; recording attempts one by one");
                record_alone(&*self.store, &attempt).await;
            }
        }
    }

    /// One HTTP attempt: `Ok(status)` on 2xx, else the status (if any) and why.
    async fn send(&self, delivery: &DueDelivery) -> Result<u16, (Option<u16>, String)> {
        // The client's resolver checks names; an address written in the URL
        // is not resolved, so it is checked here.
        self.config.policy.check_literal(&delivery.url).map_err(|e| (None, e.to_string()))?;
        let now = Timestamp::now().as_millis() / 1000;
        let signature = sign(&delivery.secret, now, delivery.payload.as_bytes());
        let response = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(DELIVERY_HEADER, delivery.id.to_string())
            .header(EVENT_ID_HEADER, delivery.event_id.to_string())
            .header(EVENT_HEADER, delivery.event_type.as_str())
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| (None, describe(&e)))?;
        let status = response.status().as_u16();
        if response.status().is_success() { Ok(status) } else { Err((Some(status), format!("HTTP {status}"))) }
    }
}

/// A reqwest error as a sentence, with its cause (the guard's refusal, say).
fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() { "timed out".to_owned() } else { err.to_string() };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

fn jitter() -> u32 {
    let mut bytes = [0u8; 4];
    // Without randomness, no jitter: retries still happen.
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_a_cap() {
        let config = DispatchConfig {
            policy: UrlPolicy { allow_private: false },
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            max_attempts: 10,
            poll_interval: Duration::from_secs(1),
            max_in_flight: 64,
            max_in_flight_per_merchant: 16,
            max_in_flight_per_endpoint: 4,
            redeliveries_per_minute: 60,
        };
        let middle = 200; // permille offset 200 of 0..=400: no jitter
        assert_eq!(config.retry_after(1, middle), Some(Duration::from_secs(1)));
        assert_eq!(config.retry_after(2, middle), Some(Duration::from_secs(2)));
        assert_eq!(config.retry_after(4, middle), Some(Duration::from_secs(8)));
        assert_eq!(config.retry_after(9, middle), Some(Duration::from_secs(60)), "capped");
        assert_eq!(config.retry_after(10, middle), None, "given up after max_attempts");
        assert_eq!(config.retry_after(1, 0), Some(Duration::from_millis(800)));
        assert_eq!(config.retry_after(1, 400), Some(Duration::from_millis(1200)));
        assert!(config.lease() > config.timeout);
    }

    /// Two deliveries queued and claimed in a real SQLite store, each to
    /// its own endpoint, so the delivery log tells them apart.
    struct Claimed {
        store: Arc<dyn Store>,
        endpoints: [coffer_store::WebhookEndpoint; 2],
        deliveries: [DueDelivery; 2],
        /// Last: dropped after the store's connections.
        db: coffer_store::testing::TestDatabase,
    }

    async fn two_claimed() -> Claimed {
        use coffer_store::testing::{Kind, TestDatabase, queue_event};
        let db = TestDatabase::new(Kind::Sqlite).await.unwrap();
        let store = coffer_store::open(db.backend()).await.unwrap();
        let (first, _) = queue_event(&*store, "http://127.0.0.1:9/first", "whsec_a").await;
        let (second, _) = queue_event(&*store, "http://127.0.0.1:9/second", "whsec_b").await;
        let now = Timestamp::now();
        let claimed = store.claim_due_deliveries(now, now.plus_secs(60), 10).await.unwrap();
        let claim = |e: &coffer_store::WebhookEndpoint| claimed.iter().find(|d| d.endpoint_id == e.id).unwrap().clone();
        let deliveries = [claim(&first), claim(&second)];
        Claimed { db, store, endpoints: [first, second], deliveries }
    }

    impl Claimed {
        fn delivered(&self, which: usize) -> Attempt {
            let d = &self.deliveries[which];
            Attempt {
                id: d.id,
                leased_until: d.leased_until,
                at: Timestamp::now(),
                outcome: AttemptOutcome::Delivered { status: 204 },
            }
        }

        async fn state(&self, which: usize) -> coffer_store::DeliveryState {
            let e = &self.endpoints[which];
            self.store.deliveries(e.merchant_id, e.id, None, 1).await.unwrap()[0].state
        }
    }

    /// One attempt whose row the database refuses must not cost the others
    /// their record: unrecorded, a delivered webhook would be sent again
    /// when its lease ran out. The refusal is a trigger injected into a real
    /// SQLite store (no real fault makes one row fail on demand). The
    /// single-threaded runtime runs the recorder only once the test awaits,
    /// so both attempts are queued first and meet in one batch; if they did
    /// not, this test would pass without the fall-back (with the fall-back
    /// removed it fails: checked).
    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_the_database_refuses_is_recorded_one_by_one() {
        let claimed = two_claimed().await;
        claimed
            .db
            .execute_raw(&format!(
                "CREATE TRIGGER refuse_one BEFORE UPDATE ON webhook_deliveries WHEN OLD.id = X'{}' \
                 BEGIN SELECT RAISE(ABORT, 'injected: this row is refused'); END",
                claimed.deliveries[1].id.as_uuid().simple()
            ))
            .await;
        let records = spawn_recorder(claimed.store.clone());
        let mut written = Vec::new();
        for which in [0, 1] {
            let (done, wait) = oneshot::channel();
            records.send((claimed.delivered(which), done)).unwrap();
            written.push(wait);
        }
        for wait in written {
            wait.await.unwrap();
        }
        use coffer_store::DeliveryState::{Delivered, Pending};
        assert_eq!(claimed.state(0).await, Delivered, "recorded alone after the batch failed");
        assert_eq!(claimed.state(1).await, Pending, "refused: sent again when its lease runs out");
    }

    /// A recording task that is gone (it panicked, say) must not silence
    /// recording: the attempt is written by the sender itself.
    #[tokio::test(flavor = "current_thread")]
    async fn without_its_recording_task_the_dispatcher_records_each_attempt_itself() {
        let claimed = two_claimed().await;
        let dispatcher = Dispatcher::new(
            claimed.store.clone(),
            DispatchConfig {
                policy: UrlPolicy { allow_private: true },
                timeout: Duration::from_secs(1),
                retry_base: Duration::from_secs(1),
                retry_max: Duration::from_secs(1),
                max_attempts: 1,
                poll_interval: Duration::from_secs(1),
                max_in_flight: 64,
                max_in_flight_per_merchant: 16,
                max_in_flight_per_endpoint: 4,
                redeliveries_per_minute: 60,
            },
        )
        .unwrap();
        let (gone, receiver) = mpsc::unbounded_channel();
        drop(receiver);
        dispatcher.records.set(gone).unwrap();
        dispatcher.record(claimed.delivered(0)).await;
        assert_eq!(claimed.state(0).await, coffer_store::DeliveryState::Delivered);
    }
}
