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

use coffer_chain::{ChainError, ChainHealth, ChainSpec, ChainUpdate, Follower, UpdateKind};
use coffer_domain::{Address, AssetBook, ChainId, HaltCode, InvoiceId, Timestamp};
use coffer_store::{ChainHalt, ChainStep, Store, StoreError};
use coffer_webhooks::Dispatcher;
use tokio::sync::watch;

use crate::intake::{Addresses, Intake, Unwatched, Watched};
use crate::plan::{PlanError, Rules, Touched, plan_update};
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
    /// How often to look for open invoices the watch list lacks.
    pub unwatched_check: Duration,
    /// The treasury's hot wallet, if configured: what it sends deposit
    /// addresses (a sweep's gas) is never a payment ([`Rules::may_be_payment`]).
    pub hot_wallet: Option<Address>,
    /// Screens each new payment's sender: a hit holds the payment.
    pub screener: Arc<dyn crate::Screener>,
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
    /// Told after every step and expiry that changed something.
    pub(crate) changes: Arc<crate::Changes>,
    /// The gateway's public origin, for `checkout_url`.
    pub(crate) public_url: Arc<str>,
    /// The chain's lease as held by this gateway: every step carries it.
    pub(crate) fence: Option<coffer_store::Fence>,
}

impl Shared {
    pub(crate) fn chain_id(&self) -> ChainId {
        self.settings.spec.chain_id
    }

    pub(crate) fn rules(&self) -> Rules<'_> {
        Rules {
            chain_id: self.chain_id(),
            confirmations: self.settings.confirmations,
            assets: &self.assets,
            hot_wallet: self.settings.hot_wallet,
            screener: &*self.settings.screener,
            public_url: &self.public_url,
        }
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
}

/// The invoices with these ids and every payment of theirs, as a chain
/// step is planned from them: those that count by invoice, the others
/// (orphaned, moved) by id.
pub async fn load_touched(store: &dyn Store, ids: &[InvoiceId]) -> Result<Touched, StoreError> {
    if ids.is_empty() {
        return Ok(Touched::default());
    }
    let invoices = store.invoices_by_ids(ids).await?;
    let mut touched = Touched { invoices: invoices.into_iter().map(|i| (i.id, i)).collect(), ..Touched::default() };
    for payment in store.every_payment_of(ids).await? {
        if payment.state.counts() {
            touched.payments.entry(payment.invoice_id).or_default().push(payment);
        } else {
            touched.others.insert(payment.id, payment);
        }
    }
    Ok(touched)
}

/// Why applying an update did not work.
#[derive(Debug)]
enum Failure {
    /// Passing (the database or the node is down): retry after a pause.
    Retry(String),
    /// The store moved under us (another writer, a stale read): reload and recompute.
    Reload(String),
    /// Retrying cannot help; a person must look (`coffer chain status`).
    Halt(HaltCode, String),
}

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How often a halted watcher looks whether an operator resolved its halt.
const HALT_POLL: Duration = Duration::from_secs(2);

pub(crate) struct ChainWatcher {
    shared: Shared,
    /// Whether the watch list holds every watched invoice of the store
    /// (set after one complete read; the API adds new ones meanwhile).
    bootstrapped: bool,
    /// Invoices to look at every step: payments waiting for confirmations,
    /// displaced payments waiting for their transfer.
    awaiting: HashSet<InvoiceId>,
    /// Invoices created elsewhere, and the safety net.
    intake: Intake,
    /// Whether the store may hold an open halt for the chain (cleared once
    /// the watcher moves on again).
    halt_open: bool,
}

/// How waiting on a halt ended.
enum AfterHalt {
    /// An operator resolved it: reload and go on.
    Resolved,
    /// The gateway is stopping.
    Stopped,
}

impl ChainWatcher {
    pub(crate) fn new(shared: Shared) -> Self {
        let intake = Intake::new(shared.settings.unwatched_check);
        Self { shared, bootstrapped: false, awaiting: HashSet::new(), intake, halt_open: true }
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
            let outcome = match self.before_next(&mut follower).await {
                Ok(()) => {
                    let shared = &self.shared;
                    let watched = Watched {
                        list: &shared.watchlist,
                        intake: &self.intake,
                        store: &*shared.store,
                        chain: shared.chain_id(),
                    };
                    // Back between blocks as often as the safety net looks.
                    let idle = self.shared.settings.unwatched_check;
                    let next = tokio::select! {
                        biased;
                        _ = stop.changed() => return,
                        next = follower.next_within(&watched, idle) => next,
                    };
                    match next {
                        Ok(Some(update)) => self.apply(&mut follower, update).await.map(|()| true),
                        Ok(None) => Ok(false),
                        Err(err) => Err(chain_failure(err)),
                    }
                }
                Err(failure) => Err(failure),
            };
            match outcome {
                Ok(applied) => {
                    backoff = BACKOFF_START;
                    if applied {
                        self.moved_on().await;
                    }
                }
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
                Err(Failure::Halt(code, reason)) => {
                    let block = follower.tip().map(|t| t.number);
                    match self.halt(code, &reason, block, &mut stop).await {
                        AfterHalt::Stopped => return,
                        AfterHalt::Resolved => match self.load().await {
                            Ok(reloaded) => follower = reloaded,
                            Err(err) => self.shared.health.failed(&err.to_string()),
                        },
                    }
                }
            }
        }
    }

    /// What comes before reading on: on a fresh database, when the first
    /// cursor must precede; and the safety net.
    async fn before_next(&mut self, follower: &mut Follower) -> Result<(), Failure> {
        if follower.tip().is_none() {
            // Looked up just before the first read, so that an invoice created
            // while the node could not be reached is never before the cursor.
            let now = Timestamp::now();
            let first = self.shared.store.first_invoice_at(self.shared.chain_id()).await.map_err(store_failure)?;
            follower.start_before(first.map_or(now, |at| at.min(now)));
            return Ok(());
        }
        // Never in the follower's way: a read-back the chain moved under, or
        // the store refused, is tried again after the next update.
        if let Err(failure) = self.catch_unwatched(follower).await {
            tracing::warn!(chain = %self.shared.chain_id(), ?failure, "reading the chain back failed; trying again later");
        }
        Ok(())
    }

    /// Open invoices the watch list lacked: watched now, and the chain read
    /// back from before the first one's creation up to the tip, for the
    /// payments they may already have had.
    async fn catch_unwatched(&mut self, follower: &mut Follower) -> Result<(), Failure> {
        let shared = &self.shared;
        let unwatched: Vec<Unwatched> =
            self.intake.unwatched(&*shared.store, shared.chain_id(), &shared.watchlist).await.map_err(store_failure)?;
        let (Some(tip), Some(earliest)) = (follower.tip(), unwatched.iter().map(|u| u.2).min()) else {
            return Ok(());
        };
        let after = follower
            .last_block_before(earliest.minus(coffer_chain::CLOCK_MARGIN), tip.number)
            .await
            .map_err(chain_failure)?;
        let addresses = Addresses(unwatched.iter().map(|u| u.0).collect());
        let transfers = follower.rescan(&addresses, after).await.map_err(chain_failure)?;
        tracing::warn!(
            chain = %shared.chain_id(), invoices = unwatched.len(), from = after + 1, to = tip.number,
            transfers = transfers.len(), "read the chain back for invoices the watcher did not know of"
        );
        if !transfers.is_empty() {
            let update =
                ChainUpdate { parent: Some(tip.block_ref()), reverted_above: None, blocks: vec![tip], transfers };
            self.apply(follower, update).await?;
        }
        self.intake.read_back(&unwatched);
        Ok(())
    }

    /// Records the halt, says so, and waits until an operator resolves it
    /// (`coffer chain resolve`) or the gateway stops.
    async fn halt(
        &mut self,
        code: HaltCode,
        reason: &str,
        block: Option<u64>,
        stop: &mut watch::Receiver<bool>,
    ) -> AfterHalt {
        let chain = self.shared.chain_id();
        tracing::error!(%chain, code = %code, reason, "chain watcher halted: a person must look (coffer chain status)");
        let halt = ChainHalt {
            chain_id: chain,
            code,
            reason: reason.to_owned(),
            block,
            halted_at: Timestamp::now(),
            resolved: None,
        };
        // Recorded first, so that whoever sees the chain halted finds the halt
        // in the store; shown halted whatever the store answers.
        let mut recorded = self.record_halt(&halt).await;
        self.shared.health.halted(code, reason);
        loop {
            if !recorded {
                recorded = self.record_halt(&halt).await;
            } else {
                match self.shared.store.open_halt(chain).await {
                    Ok(None) => {
                        tracing::info!(%chain, "the halt was resolved; following again");
                        self.halt_open = false;
                        return AfterHalt::Resolved;
                    }
                    Ok(Some(_)) => {}
                    Err(err) => tracing::warn!(%chain, error = %err, "cannot read the halt"),
                }
            }
            tokio::select! {
                _ = stop.changed() => return AfterHalt::Stopped,
                () = tokio::time::sleep(HALT_POLL) => {}
            }
        }
    }

    /// One attempt to record `halt`; `true` if the store has it (or an
    /// earlier open one).
    async fn record_halt(&mut self, halt: &ChainHalt) -> bool {
        match self.shared.store.record_halt(halt, self.shared.fence.as_ref()).await {
            Ok(_) => {
                self.halt_open = true;
                true
            }
            Err(err) => {
                tracing::warn!(chain = %halt.chain_id, error = %err, "cannot record the halt; retrying");
                false
            }
        }
    }

    /// A step went through: a halt left open (a configuration fixed before
    /// a restart, say) no longer holds.
    async fn moved_on(&mut self) {
        if !self.halt_open {
            return;
        }
        let chain = self.shared.chain_id();
        match self
            .shared
            .store
            .resolve_halt(
                chain,
                Timestamp::now(),
                "cleared: the watcher followed the chain again",
                self.shared.fence.as_ref(),
            )
            .await
        {
            Ok(cleared) => {
                if cleared {
                    tracing::info!(%chain, "an open halt no longer holds: cleared");
                }
                self.halt_open = false;
            }
            Err(err) => tracing::warn!(%chain, error = %err, "cannot clear the open halt"),
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
        let touched = load_touched(&*shared.store, &ids).await.map_err(store_failure)?;
        let loaded_us = started.elapsed().as_micros() as u64;
        let plan = plan_update(shared.rules(), &update, |a| owners.get(a).copied(), touched, now).map_err(|e| {
            let code =
                if matches!(e, PlanError::TransferGone { .. }) { HaltCode::TransferGone } else { HaltCode::Corrupt };
            Failure::Halt(code, format!("at block {}: {e}", update.tip().number))
        })?;
        let tip = update.tip();
        let step = ChainStep {
            fence: shared.fence.clone(),
            chain_id: shared.chain_id(),
            parent: update.parent,
            tip: tip.block_ref(),
            revert_above: update.reverted_above,
            displace_until: plan.displace_until,
            remember: update.blocks.clone(),
            forget_below: tip.number.saturating_sub(shared.settings.spec.reorg_window),
            payments: plan.payments,
            bookings: plan.bookings,
            recoveries: plan.recoveries,
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
        shared.changes.raise();
        if payments + bookings + changes > 0 || kind != UpdateKind::Committed {
            tracing::info!(
                chain = %shared.chain_id(), block = tip.number, ?kind, payments, bookings, changes, settled,
                loaded_us, planned_us = planned.as_micros() as u64, written_us = written.as_micros() as u64,
                "chain step applied"
            );
        }
        Ok(())
    }
}

fn store_failure(err: StoreError) -> Failure {
    match err {
        StoreError::CursorMoved { .. } | StoreError::Stale(_) => Failure::Reload(err.to_string()),
        StoreError::Corrupt { .. } | StoreError::Conflict(_) => Failure::Halt(HaltCode::Corrupt, err.to_string()),
        other => Failure::Retry(other.to_string()),
    }
}

fn chain_failure(err: ChainError) -> Failure {
    match err {
        ChainError::DeepReorg { .. } => Failure::Halt(HaltCode::DeepReorg, err.to_string()),
        ChainError::Config(_) | ChainError::WrongChain { .. } => Failure::Halt(HaltCode::Config, err.to_string()),
        err if err.is_passing() => Failure::Retry(err.to_string()),
        err => Failure::Halt(HaltCode::Corrupt, err.to_string()),
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
