//! Coffer's chain watcher: for each configured chain, follow it
//! ([`coffer_chain`]), match transfers to open invoices by deposit address
//! (one hash lookup each, [`Watchlist`]), and turn them into payments,
//! invoice states, ledger transactions and webhook events, applied in one
//! store transaction per step ([`plan`] decides, the store applies).
//!
//! **Architecture invariant:** money moves in the ledger only in a step
//! that also moves the chain cursor (or, for expiry, changes the invoice's
//! status by compare-and-set), so a crash, a retry or a second gateway can
//! never book a payment or credit a merchant twice.

pub mod audit;
mod chain_watcher;
mod changes;
mod expiry;
mod intake;
mod lease;
pub mod plan;
mod screen;
mod stats;
pub mod view;
mod watchlist;

use std::collections::HashMap;
use std::sync::Arc;

use coffer_chain::{ChainError, ChainHealth};
use coffer_domain::{Address, AssetBook, ChainId, Invoice, InvoiceStatus, Timestamp};
use coffer_store::Store;
use coffer_webhooks::Dispatcher;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use chain_watcher::{WatcherSettings, load_touched};
pub use changes::Changes;
pub use lease::FleetSettings;
pub use screen::{NoScreening, Screener};
pub use stats::WatcherStats;
pub use watchlist::Watchlist;

use crate::chain_watcher::{ChainWatcher, Shared};

/// What the rest of the gateway sees of one chain's watcher.
#[derive(Clone, Debug)]
pub struct ChainHandle {
    /// The addresses it matches; the API adds new invoices' addresses.
    pub watchlist: Arc<Watchlist>,
    /// How it is going, for `/healthz`.
    pub health: Arc<ChainHealth>,
    /// Its counters, for `/metrics`.
    pub stats: Arc<WatcherStats>,
    /// Confirmations the chain requires.
    pub confirmations: u32,
    /// Raised whenever its invoices may have changed (checkout pages listen).
    pub changes: Arc<Changes>,
    settings: WatcherSettings,
}

impl ChainHandle {
    /// Whether and how the chain's contract-made ETH transfers are read.
    pub fn internal_transfers(&self) -> coffer_chain::InternalTransfers {
        self.settings.spec.internal_transfers
    }
}

/// The watchers of every configured chain.
#[derive(Clone, Debug, Default)]
pub struct Watchers {
    chains: HashMap<ChainId, ChainHandle>,
    public_url: Arc<str>,
    fleet: FleetSettings,
}

impl Watchers {
    /// Handles for these chains; nothing runs until [`Watchers::start`].
    pub fn new(settings: Vec<WatcherSettings>) -> Self {
        let chains = settings
            .into_iter()
            .map(|s| {
                let handle = ChainHandle {
                    watchlist: Arc::default(),
                    health: Arc::default(),
                    stats: Arc::default(),
                    confirmations: s.confirmations,
                    changes: Arc::default(),
                    settings: s,
                };
                (handle.settings.spec.chain_id, handle)
            })
            .collect();
        Self { chains, public_url: Arc::from(""), fleet: FleetSettings::default() }
    }

    /// The origin `checkout_url` is made from in webhook payloads; set once
    /// the gateway knows the address it serves at, before [`Watchers::start`].
    pub fn set_public_url(&mut self, origin: &str) {
        self.public_url = Arc::from(origin);
    }

    /// Who this gateway is in a fleet and how long its leases last; set
    /// before [`Watchers::start`].
    pub fn set_fleet(&mut self, fleet: FleetSettings) {
        self.fleet = fleet;
    }

    /// This gateway's name as a lease holder.
    pub fn holder(&self) -> &str {
        &self.fleet.holder
    }

    /// Starts each chain's watcher and expiry, under the chain's lease
    /// (`chain:<id>`, [`lease`]): on the one gateway of a fleet holding it,
    /// until `stop` turns true.
    pub fn start(
        &self,
        store: Arc<dyn Store>,
        assets: Arc<AssetBook>,
        dispatcher: Option<Arc<Dispatcher>>,
        stop: watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        for handle in self.chains.values() {
            let shared = Shared {
                settings: handle.settings.clone(),
                store: store.clone(),
                assets: assets.clone(),
                watchlist: handle.watchlist.clone(),
                health: handle.health.clone(),
                stats: handle.stats.clone(),
                dispatcher: dispatcher.clone(),
                changes: handle.changes.clone(),
                public_url: self.public_url.clone(),
                fence: None,
            };
            let name = format!("chain:{}", shared.chain_id());
            let health = shared.health.clone();
            let job = move |fence: coffer_store::Fence, stop: watch::Receiver<bool>| {
                let shared = Shared { fence: Some(fence), ..shared.clone() };
                async move {
                    let expiry = tokio::spawn(expiry::run(shared.clone(), stop.clone()));
                    ChainWatcher::new(shared).run(stop).await;
                    let _ = expiry.await;
                }
            };
            tasks.push(tokio::spawn(lease::lead(store.clone(), name, self.fleet.clone(), health, stop.clone(), job)));
        }
        if store.is_shared() {
            let chains = self.chains.iter().map(|(id, c)| (*id, (c.changes.clone(), c.stats.clone()))).collect();
            tasks.push(tokio::spawn(changes::hear_the_fleet(store, chains, self.fleet.holder.clone(), stop)));
        }
        tasks
    }

    /// Starts matching payments to a new invoice's address. Call it before
    /// the invoice is stored: nothing cancelled between the two can then
    /// leave a stored invoice unwatched (an address watched for an invoice
    /// that was never stored matches nothing, and costs one entry).
    pub fn watch(&self, invoice: &Invoice) {
        if let Some(chain) = self.chains.get(&invoice.amount.asset().chain_id) {
            chain.watchlist.insert(invoice.deposit.address, invoice.id);
        }
    }

    /// [`Watchers::watch`] for an invoice about to be stored: if no answer
    /// of the store's comes back for it ([`Watchers::settle`]), the expiry
    /// task checks a minute later whether it was stored, and unwatches it if
    /// not (a client that went away on PostgreSQL, a refused insert).
    pub fn watch_pending(&self, invoice: &Invoice) {
        if let Some(chain) = self.chains.get(&invoice.amount.asset().chain_id) {
            chain.watchlist.insert_pending(invoice.deposit.address, invoice.id);
        }
    }

    /// The store answered for the invoice pending at `address` on `chain_id`.
    pub fn settle(&self, chain_id: ChainId, address: &Address) {
        if let Some(chain) = self.chains.get(&chain_id) {
            chain.watchlist.settle(address);
        }
    }

    /// Watches an invoice read back from the store (an idempotent replay)
    /// if payments can still reach it: open, or final within its
    /// late-payment window. Watching it again is harmless.
    pub fn rewatch(&self, invoice: &Invoice, now: Timestamp) {
        let Some(chain) = self.chains.get(&invoice.amount.asset().chain_id) else { return };
        let open = matches!(invoice.status, InvoiceStatus::New | InvoiceStatus::Processing);
        if open || invoice.expires_at.plus(chain.settings.late_window) > now {
            chain.watchlist.insert(invoice.deposit.address, invoice.id);
        }
    }

    /// Stops watching an address that no stored invoice has (one watched
    /// before an insert that stored nothing).
    pub fn unwatch(&self, chain_id: ChainId, address: &Address) {
        if let Some(chain) = self.chains.get(&chain_id) {
            chain.watchlist.remove(address);
        }
    }

    /// Checks each chain's node against the configuration, within
    /// `deadline` each: the chain it serves and each token's decimals.
    /// Returns the chains whose node could not be reached (their watcher
    /// checks again when it can), or the first chain that fails, with why.
    pub async fn check_nodes(&self, deadline: std::time::Duration) -> Result<Vec<ChainId>, (ChainId, ChainError)> {
        let mut unreachable = Vec::new();
        for (chain_id, handle) in self.chains() {
            let mut spec = handle.settings.spec.clone();
            spec.rpc_timeout = spec.rpc_timeout.min(deadline);
            match coffer_chain::check_node(&spec).await {
                Ok(true) => {}
                Ok(false) => unreachable.push(chain_id),
                Err(err) => return Err((chain_id, err)),
            }
        }
        Ok(unreachable)
    }

    /// One chain's handle.
    pub fn chain(&self, chain_id: ChainId) -> Option<&ChainHandle> {
        self.chains.get(&chain_id)
    }

    /// Every chain's handle, by chain id.
    pub fn chains(&self) -> impl Iterator<Item = (ChainId, &ChainHandle)> {
        let mut ids: Vec<&ChainId> = self.chains.keys().collect();
        ids.sort();
        ids.into_iter().map(|id| (*id, &self.chains[id]))
    }
}
