//! The durable outbox to the signer: payouts and sweeps handed over, and
//! what the signer says of them applied to the books.
//!
//! A payout's outbox row is written in the transaction that creates it, so
//! a crash never loses a submission. This task claims due rows under a
//! lease, submits those the signer has not acknowledged, asks about those it
//! has until their answer is final (with backoff after failures), and
//! applies each answer with a compare-and-set (`PayoutStore::record_answer`).
//! A crash anywhere in between leaves the row due again once its lease runs
//! out (a graceful stop gives back the leases of requests in flight at once),
//! and the request is sent again: the signer decides once per id and
//! answers a repeated request with what it did, so nothing is decided
//! twice, and a repeated answer applies nothing.
//!
//! Answers that cannot be believed are never acted on: an unsigned or badly
//! signed one is a failed attempt, as is one about another request. A
//! confirmed payout whose transfer is not what was asked (another
//! destination or amount) is held for a person, its reserve kept.

mod answers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_domain::{AssetBook, Timestamp};
use coffer_signer_api::paths;
use coffer_store::{OutboxEntry, OutboxState, SignerRequest, Store};
use tokio::sync::Notify;

use crate::signer_client::{Reply, SignerClient};

/// Most rows claimed (and in flight) at once.
const BATCH: u32 = 32;
/// How often to look for due rows when nothing wakes the task.
const IDLE: Duration = Duration::from_millis(500);

/// How the outbox paces itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutboxSettings {
    /// Wait before the first retry after a failure; doubles each time.
    pub(crate) retry_base: Duration,
    /// Longest wait between attempts.
    pub(crate) retry_max: Duration,
    /// How soon to ask again about a request the signer has not finished.
    pub(crate) poll_interval: Duration,
    /// How long a claimed row stays this task's: longer than a request takes.
    pub(crate) lease: Duration,
}

/// The outbox task's state; shared with the routes, which wake it.
#[derive(Debug)]
pub(crate) struct Outbox {
    store: Arc<dyn Store>,
    client: Arc<SignerClient>,
    assets: Arc<AssetBook>,
    dispatcher: Arc<coffer_webhooks::Dispatcher>,
    settings: OutboxSettings,
    wake: Notify,
    /// Requests claimed and not yet settled, with their lease and state: what
    /// a graceful stop gives back.
    in_flight: Mutex<HashMap<SignerRequest, (Timestamp, OutboxState)>>,
}

impl Outbox {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        client: Arc<SignerClient>,
        assets: Arc<AssetBook>,
        dispatcher: Arc<coffer_webhooks::Dispatcher>,
        settings: OutboxSettings,
    ) -> Self {
        Self { store, client, assets, dispatcher, settings, wake: Notify::new(), in_flight: Mutex::default() }
    }

    /// The signer's client (the approvals route relays through it).
    pub(crate) fn client(&self) -> &SignerClient {
        &self.client
    }

    /// Looks for due rows now (a payout was just created).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `stop` completes. A request in flight then is dropped and
    /// its lease given back: the next gateway asks again at once.
    pub(crate) async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let worked = tokio::select! {
                worked = self.round() => worked,
                () = &mut stop => return self.give_back().await,
            };
            match worked {
                // A full batch: there may be more due at once.
                Ok(claimed) if claimed >= BATCH as usize => continue,
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "cannot claim signer requests; retrying"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(IDLE) => {}
                () = &mut stop => return self.give_back().await,
            }
        }
    }

    /// Makes the requests that were in flight due now. Whether the signer
    /// got them or not, asking again is safe: it decides once per id.
    async fn give_back(&self) {
        let in_flight: Vec<_> = self.in_flight.lock().map(|mut map| map.drain().collect()).unwrap_or_default();
        let now = Timestamp::now();
        for (request, (leased_until, state)) in in_flight {
            let why = "the gateway stopped with the request in flight; asked again";
            if let Err(err) = self.store.outbox_failed(request, leased_until, state, why, now).await {
                tracing::warn!(request = ?request, error = %err, "cannot give back a signer request's lease");
            }
        }
    }

    /// Claims what is due and attempts each, concurrently. Returns how many.
    async fn round(&self) -> Result<usize, coffer_store::StoreError> {
        let now = Timestamp::now();
        let claimed = self.store.claim_outbox(now, now.plus(self.settings.lease), BATCH).await?;
        let count = claimed.len();
        futures_util::future::join_all(claimed.into_iter().map(|entry| self.attempt(entry))).await;
        Ok(count)
    }

    async fn attempt(&self, entry: OutboxEntry) {
        let Some(lease) = entry.next_attempt_at else { return };
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.insert(entry.request, (lease, entry.state));
        }
        self.try_once(&entry).await;
        // Not reached if the attempt was dropped mid-way (a stop): then it is given back.
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(&entry.request);
        }
    }

    async fn try_once(&self, entry: &OutboxEntry) {
        let id = match entry.request {
            SignerRequest::Payout(id) => id.to_string(),
            SignerRequest::Sweep(id) => id.to_string(),
        };
        // Every request carries the gateway log's head; the signer records
        // it, so a log rewritten here later no longer matches its record.
        let head = match self.store.head().await {
            Ok(head) => head.hash.to_bytes(),
            Err(e) => {
                self.failed(entry, entry.state, format!("reading the audit log's head: {e}")).await;
                return;
            }
        };
        let reply = match entry.state {
            OutboxState::Submit => {
                let path = match entry.request {
                    SignerRequest::Payout(_) => paths::PAYOUTS,
                    SignerRequest::Sweep(_) => paths::SWEEPS,
                };
                self.client.submit(path, &entry.payload, head).await
            }
            OutboxState::Poll => self.client.status(&id, head).await,
            OutboxState::Done | OutboxState::Held => return,
        };
        let failed = |state, error: String| self.failed(entry, state, error);
        match reply {
            Ok(Reply::Outcome(outcome)) => {
                if let Err(error) = self.apply(entry, *outcome).await {
                    failed(entry.state, error).await;
                }
            }
            // Asked about, unknown: the submission was lost (or the signer's
            // store was restored). Submit it again: it decides once per id.
            Ok(Reply::Unknown) if entry.state == OutboxState::Poll => {
                failed(OutboxState::Submit, "the signer does not know it; submitting it again".to_owned()).await;
            }
            Ok(Reply::Unknown) => failed(entry.state, "the signer answered 404 to a submission".to_owned()).await,
            Ok(Reply::Conflict(message)) => {
                tracing::error!(request = %id, message, "the signer holds another request under this id; held for a person");
                failed(OutboxState::Held, format!("conflict: {message}")).await;
            }
            Ok(Reply::Unauthorized(message)) => {
                tracing::error!(request = %id, message, "the signer refused the gateway's signature; check the keys and clocks");
                failed(entry.state, format!("unauthorized: {message}")).await;
            }
            Ok(Reply::Unavailable(status, message)) => {
                failed(entry.state, format!("the signer answered {status}: {message}")).await;
            }
            Err(err) => {
                tracing::warn!(request = %id, error = %err, "signer request failed; retrying");
                failed(entry.state, err.to_string()).await;
            }
        }
    }

    /// Records a failed attempt: due again after the backoff, in `state`.
    async fn failed(&self, entry: &OutboxEntry, state: OutboxState, error: String) {
        let Some(leased_until) = entry.next_attempt_at else { return };
        let exponent = entry.attempts.saturating_sub(1).min(20);
        let wait = self.settings.retry_base.saturating_mul(1 << exponent).min(self.settings.retry_max);
        let retry_at = Timestamp::now().plus(wait);
        match self.store.outbox_failed(entry.request, leased_until, state, &error, retry_at).await {
            Ok(true) => {}
            Ok(false) => tracing::info!(request = ?entry.request, "attempt not recorded: its lease was taken over"),
            // Not recorded: the lease runs out and the row is tried again.
            Err(err) => tracing::warn!(request = ?entry.request, error = %err, "cannot record a signer attempt"),
        }
    }
}
