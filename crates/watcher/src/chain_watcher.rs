//! One chain's watcher: follow the chain, plan each update against the
//! invoices it touches, apply it in one store transaction, then hand the
//! webhook deliveries it created to the dispatcher.
//!
//! Nothing is lost on a crash: the cursor moves in the same transaction as
//! the payments, so after a restart the follower resumes from the last
//! applied block and recomputes whatever was in flight. Nothing is counted
//! twice: a step applies only on top of the cursor it was computed on, and
//! every invoice change only on the status it was computed from.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use coffer_chain::{ChainHealth, ChainSpec, ChainUpdate, Follower, UpdateKind};
use coffer_domain::{Address, AssetBook, ChainId, InvoiceId, Timestamp};
use coffer_store::{ChainStep, Store, StoreError};
use coffer_webhooks::Dispatcher;
use tokio::sync::watch;

use crate::plan::{Rules, Touched, plan_update};
use crate::stats::WatcherStats;
use crate::watchlist::Watchlist;

/// How one chain is watched.
#[derive(Clone, Debug)]
pub struct WatcherSettings {
    /// Following the chain.
    pub spec: ChainSpec,
    /// Confirmations before a payment counts.
    pub confirmations: u32,
    /// How long expired invoices stay watched for late payments.
    pub late_window: Duration,
}

/// Everything a chain's tasks share.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub(crate) settings: WatcherSettings,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) assets: Arc<AssetBook>,
    pub(crate) watchlist: Arc<Watchlist>,
    pub(crate) health: Arc<ChainHealth>,
    pub(crate) stats: Arc<WatcherStats>,
    pub(crate) dispatcher: Option<Arc<Dispatcher>>,
}

impl Shared {
    pub(crate) fn chain_id(&self) -> ChainId {
        self.settings.spec.chain_id
    }

    pub(crate) fn rules(&self) -> Rules<'_> {
        Rules { chain_id: self.chain_id(), confirmations: self.settings.confirmations, assets: &self.assets }
    }

    /// When deliveries created now should be sent by someone else if we die.
    pub(crate) fn lease_until(&self, now: Timestamp) -> Timestamp {
        now.plus(self.dispatcher.as_ref().map_or(Duration::ZERO, |d| d.lease()))
    }

    pub(crate) fn dispatch(&self, deliveries: Vec<coffer_store::DueDelivery>) {
        if let Some(dispatcher) = &self.dispatcher
            && !deliveries.is_empty()
        {
            dispatcher.dispatch(deliveries);
        }
    }

    /// Loads invoices and their canonical payments.
    pub(crate) async fn touched(&self, ids: &[InvoiceId]) -> Result<Touched, StoreError> {
        if ids.is_empty() {
            return Ok(Touched::default());
        }
        let invoices = self.store.invoices_by_ids(ids).await?;
        let payments = self.store.payments_by_invoice(ids).await?;
        Ok(Touched { invoices: invoices.into_iter().map(|i| (i.id, i)).collect(), payments })
    }
}

/// Why applying an update did not work.
#[derive(Debug)]
enum Failure {
    /// Passing (the database or the node is down): retry after a pause.
    Retry(String),
    /// The store moved under us (another writer, a stale read): reload and recompute.
    Reload(String),
    /// Retrying cannot help; a person must look.
    Halt(String),
}

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

pub(crate) struct ChainWatcher {
    shared: Shared,
    /// Whether the watch list holds every watched invoice of the store
    /// (set after one complete read; the API adds new ones meanwhile).
    bootstrapped: bool,
    /// Invoices with payments waiting for confirmations.
    awaiting: HashSet<InvoiceId>,
    /// When invoices created by other gateways were last looked for.
    refreshed_at: Timestamp,
}

impl ChainWatcher {
    pub(crate) fn new(shared: Shared) -> Self {
        Self { shared, bootstrapped: false, awaiting: HashSet::new(), refreshed_at: Timestamp::now() }
    }

    /// Runs until `stop` turns true.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let chain = self.shared.chain_id();
        let mut backoff = BACKOFF_START;
        let mut follower = loop {
            match self.load().await {
                Ok(follower) => break follower,
                Err(err) => {
                    self.shared.health.failed(&err.to_string());
                    tracing::warn!(%chain, error = %err, retry_in = ?backoff, "cannot load the watcher's state");
                    if pause(&mut stop, &mut backoff).await {
                        return;
                    }
                }
            }
        };
        tracing::info!(%chain, watched = self.shared.watchlist.len(), tip = ?follower.tip().map(|t| t.number), "watching");
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.changed() => return,
                next = follower.next(&*self.shared.watchlist) => next,
            };
            let outcome = match next {
                Ok(update) => self.apply(&mut follower, update).await,
                Err(err) if err.is_passing() => Err(Failure::Retry(err.to_string())),
                Err(err) => Err(Failure::Halt(err.to_string())),
            };
            match outcome {
                Ok(()) => backoff = BACKOFF_START,
                Err(Failure::Retry(reason)) => {
                    self.shared.health.failed(&reason);
                    tracing::warn!(%chain, error = reason, retry_in = ?backoff, "chain watcher step failed; retrying");
                    if pause(&mut stop, &mut backoff).await {
                        return;
                    }
                }
                Err(Failure::Reload(reason)) => {
                    tracing::info!(%chain, reason, "the store moved; reloading the watcher's state");
                    match self.load().await {
                        Ok(reloaded) => follower = reloaded,
                        Err(err) => {
                            self.shared.health.failed(&err.to_string());
                            if pause(&mut stop, &mut backoff).await {
                                return;
                            }
                        }
                    }
                }
                Err(Failure::Halt(reason)) => {
                    self.shared.health.halted(&reason);
                    tracing::error!(%chain, reason, "chain watcher halted: a person must look; restart after fixing");
                    let _ = stop.changed().await;
                    return;
                }
            }
        }
    }

    /// Reads the persisted state: remembered blocks, invoices awaiting
    /// confirmations, and (on the first load) every watched invoice.
    async fn load(&mut self) -> Result<Follower, StoreError> {
        let shared = &self.shared;
        let chain = shared.chain_id();
        let blocks = shared.store.chain_blocks(chain).await?;
        if !self.bootstrapped {
            // Expired invoices are watched for the late window, measured in the
            // chain's time: after downtime, blocks from before their window
            // closed may still be to read.
            let seen_until = blocks.last().map_or(Timestamp::now(), |tip| tip.time().min(Timestamp::now()));
            let since = seen_until.minus(shared.settings.late_window);
            // Inserting is idempotent: a half-done read, retried, merges.
            let watchlist = shared.watchlist.clone();
            shared.store.watched_invoices(chain, since, &mut |a, id| watchlist.insert(a, id)).await?;
            shared.health.set_watched(shared.watchlist.len() as u64);
            self.bootstrapped = true;
        }
        self.awaiting = shared.store.invoices_awaiting_confirmations(chain).await?.into_iter().collect();
        if let Some(tip) = blocks.last() {
            shared.health.progressed(tip.number, tip.timestamp, false);
        }
        Ok(Follower::new(shared.settings.spec.clone(), blocks, shared.health.clone()))
    }

    /// Plans `update` and applies it in one store transaction.
    async fn apply(&mut self, follower: &mut Follower, update: ChainUpdate) -> Result<(), Failure> {
        if update.blocks.is_empty() {
            return Err(Failure::Retry("the follower returned an update without blocks".into()));
        }
        let started = std::time::Instant::now();
        if self.shared.store.is_shared() && self.refresh().await? {
            // Another gateway created invoices this update may pay: read it again with them watched.
            return Ok(());
        }
        let shared = &self.shared;
        let store = &shared.store;
        let now = Timestamp::now();
        // One watch-list lookup per transfer, shared by the load and the plan.
        let owners: HashMap<Address, InvoiceId> =
            update.transfers.iter().filter_map(|t| Some((t.to, shared.watchlist.get(&t.to)?))).collect();
        let mut ids: HashSet<InvoiceId> = owners.values().copied().collect();
        ids.extend(self.awaiting.iter().copied());
        if let Some(fork) = update.reverted_above {
            ids.extend(store.invoices_paid_above(shared.chain_id(), fork).await.map_err(store_failure)?);
        }
        let ids: Vec<InvoiceId> = ids.into_iter().collect();
        let touched = shared.touched(&ids).await.map_err(store_failure)?;
        let loaded_us = started.elapsed().as_micros() as u64;
        let plan = plan_update(shared.rules(), &update, |a| owners.get(a).copied(), touched, now)
            .map_err(|e| Failure::Halt(format!("planning block {}: {e}", update.tip().number)))?;
        let tip = update.tip();
        let step = ChainStep {
            chain_id: shared.chain_id(),
            parent: update.parent,
            tip: tip.block_ref(),
            revert_above: update.reverted_above,
            remember: update.blocks.clone(),
            forget_below: tip.number.saturating_sub(shared.settings.spec.reorg_window),
            payments: plan.payments,
            bookings: plan.bookings,
            changes: plan.changes,
            at: now,
            lease_until: shared.lease_until(now),
        };
        let (payments, bookings, changes) = (step.payments.len(), step.bookings.len(), step.changes.len());
        let settled = step.changes.iter().filter(|c| c.settlement.is_some()).count();
        let planned = started.elapsed();
        let applied = store.apply_chain_step(step).await.map_err(store_failure)?;
        let written = started.elapsed();
        follower.commit(&update);
        for id in &ids {
            self.awaiting.remove(id);
        }
        self.awaiting.extend(plan.awaiting);
        // Final invoices stay watched until their late window closes (expiry
        // prunes them): a payment after settlement or invalidation is recorded.
        shared.dispatch(applied.deliveries);
        let kind = update.kind();
        shared.health.progressed(tip.number, tip.timestamp, kind != UpdateKind::Committed);
        shared.health.set_watched(shared.watchlist.len() as u64);
        shared.stats.record(payments, bookings, settled, kind != UpdateKind::Committed);
        if payments + bookings + changes > 0 || kind != UpdateKind::Committed {
            tracing::info!(
                chain = %shared.chain_id(), block = tip.number, ?kind, payments, bookings, changes, settled,
                loaded_us, planned_us = planned.as_micros() as u64, written_us = written.as_micros() as u64,
                "chain step applied"
            );
        }
        Ok(())
    }

    /// Watches invoices other gateways created since the last look. `true`
    /// if there were any.
    async fn refresh(&mut self) -> Result<bool, Failure> {
        // Ten seconds of overlap: their transactions may commit a little after
        // their creation time, and clocks differ a little between hosts.
        let since = self.refreshed_at.minus(Duration::from_secs(10));
        let started = Timestamp::now();
        let recent =
            self.shared.store.invoices_created_since(self.shared.chain_id(), since).await.map_err(store_failure)?;
        self.refreshed_at = started;
        let mut added = false;
        for (address, id) in recent {
            if !self.shared.watchlist.contains(&address) {
                self.shared.watchlist.insert(address, id);
                added = true;
            }
        }
        Ok(added)
    }
}

fn store_failure(err: StoreError) -> Failure {
    match err {
        StoreError::CursorMoved { .. } | StoreError::Stale(_) => Failure::Reload(err.to_string()),
        StoreError::DeepReorg { .. } | StoreError::Corrupt { .. } | StoreError::Conflict(_) => {
            Failure::Halt(err.to_string())
        }
        other => Failure::Retry(other.to_string()),
    }
}

/// Waits `backoff` (doubling it for next time) unless stopped; `true` if stopped.
pub(crate) async fn pause(stop: &mut watch::Receiver<bool>, backoff: &mut Duration) -> bool {
    let wait = *backoff;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    tokio::select! {
        _ = stop.changed() => true,
        () = tokio::time::sleep(wait) => *stop.borrow(),
    }
}
