//! Attempts in flight, capped per endpoint, per merchant and in all, so
//! that one merchant's slow endpoints cannot take every slot.
//!
//! An attempt takes its endpoint's slot, then its merchant's, then one of
//! the global ones, waiting for each in turn (first come, first served).
//! Hence a merchant has at most `per_merchant` attempts holding or waiting
//! for a global slot, however many it floods: another merchant's attempt
//! never queues behind more than that many of any one merchant's.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use coffer_domain::{MerchantId, WebhookId};
use coffer_store::ClaimLimits;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most endpoints and merchants with attempts here that a claim lists.
const MAX_BUSY: usize = 8_000;

/// How many attempts may be in flight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotLimits {
    /// In all.
    pub(crate) total: usize,
    /// For one merchant.
    pub(crate) per_merchant: usize,
    /// To one endpoint.
    pub(crate) per_endpoint: usize,
}

/// The slots of one dispatcher.
#[derive(Debug)]
pub(crate) struct Slots {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limits: SlotLimits,
    global: Arc<Semaphore>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    endpoints: HashMap<WebhookId, Assigned>,
    merchants: HashMap<MerchantId, Assigned>,
    /// Attempts holding or waiting for a global slot, or claimed to take one at once.
    at_global: usize,
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One endpoint's or merchant's slots, and the attempts that hold or wait for them.
#[derive(Debug)]
struct Assigned {
    semaphore: Arc<Semaphore>,
    attempts: u32,
}

fn assign<K: Hash + Eq>(map: &mut HashMap<K, Assigned>, key: K, slots: usize) -> Arc<Semaphore> {
    let entry = map.entry(key).or_insert_with(|| Assigned { semaphore: Arc::new(Semaphore::new(slots)), attempts: 0 });
    entry.attempts += 1;
    entry.semaphore.clone()
}

fn unassign<K: Hash + Eq>(map: &mut HashMap<K, Assigned>, key: &K) {
    if let Some(entry) = map.get_mut(key) {
        entry.attempts = entry.attempts.saturating_sub(1);
        if entry.attempts == 0 {
            map.remove(key);
        }
    }
}

/// Takes a permit, saying whether it had to wait for it. `None` if the
/// semaphore was closed (never: none is).
async fn take(semaphore: Arc<Semaphore>, waited: &mut bool) -> Option<OwnedSemaphorePermit> {
    match semaphore.clone().try_acquire_owned() {
        Ok(permit) => Some(permit),
        Err(_) => {
            *waited = true;
            semaphore.acquire_owned().await.ok()
        }
    }
}

/// An attempt's place: counted against its endpoint and merchant from the
/// moment it is registered, holding its slots once [`Slot::wait`] returns;
/// all given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    inner: Arc<Inner>,
    endpoint: WebhookId,
    merchant: MerchantId,
    for_endpoint: Arc<Semaphore>,
    for_merchant: Arc<Semaphore>,
    permits: Vec<OwnedSemaphorePermit>,
    at_global: bool,
    /// Whether the attempt had to wait for a slot.
    pub(crate) waited: bool,
}

impl Slot {
    /// Waits for the endpoint's slot, the merchant's, then a global one.
    /// `None` only if the slots are gone.
    pub(crate) async fn wait(&mut self) -> Option<()> {
        for semaphore in [self.for_endpoint.clone(), self.for_merchant.clone()] {
            let permit = take(semaphore, &mut self.waited).await?;
            self.permits.push(permit);
        }
        if !self.at_global {
            self.inner.state().at_global += 1;
            self.at_global = true;
        }
        let permit = take(self.inner.global.clone(), &mut self.waited).await?;
        self.permits.push(permit);
        Some(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.permits.clear();
        let mut state = self.inner.state();
        unassign(&mut state.endpoints, &self.endpoint);
        unassign(&mut state.merchants, &self.merchant);
        if self.at_global {
            state.at_global = state.at_global.saturating_sub(1);
        }
    }
}

impl Slots {
    pub(crate) fn new(limits: SlotLimits) -> Self {
        let limits = SlotLimits {
            total: limits.total.max(1),
            per_merchant: limits.per_merchant.max(1),
            per_endpoint: limits.per_endpoint.max(1),
        };
        let global = Arc::new(Semaphore::new(limits.total));
        Self { inner: Arc::new(Inner { limits, global, state: Mutex::default() }) }
    }

    /// Registers an attempt to `endpoint` of `merchant`, at once (before
    /// its task runs), so the next claim counts it. `claimed`: it was
    /// claimed within [`Slots::claim_limits`], so it takes a global slot at
    /// once and is counted against them already.
    pub(crate) fn register(&self, endpoint: WebhookId, merchant: MerchantId, claimed: bool) -> Slot {
        let mut state = self.inner.state();
        let for_endpoint = assign(&mut state.endpoints, endpoint, self.inner.limits.per_endpoint);
        let for_merchant = assign(&mut state.merchants, merchant, self.inner.limits.per_merchant);
        if claimed {
            state.at_global += 1;
        }
        Slot {
            inner: self.inner.clone(),
            endpoint,
            merchant,
            for_endpoint,
            for_merchant,
            permits: Vec::new(),
            at_global: claimed,
            waited: false,
        }
    }

    /// What a claim may take now: no more than would start at once.
    pub(crate) fn claim_limits(&self) -> ClaimLimits {
        let limits = self.inner.limits;
        let state = self.inner.state();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        // The lists go to the database as bound parameters (SQLite takes
        // 32,766 a statement). Every busy merchant has an attempt at the
        // global stage, so with free global slots they are few; more means
        // a dispatcher busy enough to skip a claim until some finish.
        let busy = state.endpoints.len() + state.merchants.len();
        let free = if busy > MAX_BUSY { 0 } else { limits.total.saturating_sub(state.at_global) };
        ClaimLimits {
            total: count(free),
            per_endpoint: count(limits.per_endpoint),
            per_merchant: count(limits.per_merchant),
            busy_endpoints: state.endpoints.iter().map(|(id, a)| (*id, a.attempts)).collect(),
            busy_merchants: state.merchants.iter().map(|(id, a)| (*id, a.attempts)).collect(),
        }
    }

    /// Waits, up to `timeout`, until no attempt holds a slot.
    pub(crate) async fn drain(&self, timeout: Duration) {
        let all = u32::try_from(self.inner.limits.total).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(timeout, self.inner.global.acquire_many(all)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots() -> Slots {
        Slots::new(SlotLimits { total: 3, per_merchant: 2, per_endpoint: 1 })
    }

    async fn acquire(slots: &Slots, endpoint: WebhookId, merchant: MerchantId) -> Slot {
        let mut slot = slots.register(endpoint, merchant, false);
        slot.wait().await.unwrap();
        slot
    }

    #[tokio::test]
    async fn each_endpoint_and_merchant_has_its_share_and_gives_it_back() {
        let slots = slots();
        let (acme, other) = (MerchantId::new(), MerchantId::new());
        let (a1, a2, o1) = (WebhookId::new(), WebhookId::new(), WebhookId::new());
        let first = acquire(&slots, a1, acme).await;
        let second = acquire(&slots, a2, acme).await;
        assert!(!first.waited && !second.waited);
        // Acme is at its share: a third of its attempts waits, another merchant's does not.
        let mut third = slots.register(a2, acme, false);
        {
            let waiting = third.wait();
            tokio::pin!(waiting);
            assert!(poll_once(waiting.as_mut()).await.is_none(), "acme's third waits");
        }
        let limits = slots.claim_limits();
        assert_eq!(limits.total, 1, "the waiting one does not count against the global slots");
        assert_eq!(limits.busy_merchants, vec![(acme, 3)]);
        assert!(limits.busy_endpoints.contains(&(a2, 2)), "{:?}", limits.busy_endpoints);
        let others = acquire(&slots, o1, other).await;
        assert!(!others.waited, "another merchant's attempt takes the free slot at once");
        assert_eq!(slots.claim_limits().total, 0);
        drop(second);
        third.wait().await.unwrap();
        assert!(third.waited);
        drop((first, third, others));
        let limits = slots.claim_limits();
        assert_eq!(
            (limits.total, limits.busy_endpoints.len(), limits.busy_merchants.len()),
            (3, 0, 0),
            "all given back"
        );
    }

    #[tokio::test]
    async fn a_claimed_attempt_counts_against_the_slots_before_it_runs() {
        let slots = slots();
        let claimed = slots.register(WebhookId::new(), MerchantId::new(), true);
        assert_eq!(slots.claim_limits().total, 2, "the next claim leaves its slot to it");
        drop(claimed);
        assert_eq!(slots.claim_limits().total, 3);
    }

    /// Polls a future once: its output if it is ready at once.
    async fn poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
        let mut future = future;
        std::future::poll_fn(|cx| match std::pin::Pin::new(&mut future).poll(cx) {
            std::task::Poll::Ready(output) => std::task::Poll::Ready(Some(output)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await
    }
}
