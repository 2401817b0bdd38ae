//! How invoices reach a chain's watch list besides the API's own `watch`
//! (which happens before the invoice is stored: see `coffer-gateway`'s
//! invoice route):
//!
//! - **Refresh** (several gateways on one PostgreSQL): invoices another
//!   gateway created are looked for after each read of the chain and before
//!   its transfers are matched, so one created before the read ended is
//!   matched against it, and no read is thrown away for it.
//! - **Safety net** (both stores): every `unwatched_check`, open invoices
//!   created in the last [`LOOKBACK`] that the watch list lacks (a gateway
//!   paused between stamping an invoice and committing it, past the
//!   refresh's overlap; a bug) are watched, and the chain is read back from
//!   before their creation for their payments. After a start, every open
//!   invoice of the last [`LOOKBACK`] is read back once (a read-back the
//!   last process had pending lived in its memory). A read-back that fails
//!   (the chain moved under it) is tried again after the next update.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use coffer_chain::AddressFilter;
use coffer_domain::{Address, ChainId, InvoiceId, Timestamp};
use coffer_store::{Store, StoreError};

use crate::watchlist::Watchlist;

/// How far back the refresh looks past its last look: invoices are stamped
/// a little before they commit, and clocks differ a little between hosts.
const REFRESH_OVERLAP: Duration = Duration::from_secs(10);
/// How far back the safety net looks for invoices the watch list lacks.
pub(crate) const LOOKBACK: Duration = Duration::from_secs(600);

/// An open invoice the watch list lacked: its address, id and creation.
pub(crate) type Unwatched = (Address, InvoiceId, Timestamp);

#[derive(Debug)]
pub(crate) struct Intake {
    /// When the refresh last looked (the wall clock before its query).
    refreshed_at: Mutex<Timestamp>,
    /// When the safety net last looked, and how often it looks.
    checked_at: Mutex<Option<Instant>>,
    every: Duration,
    /// Invoices the safety net found whose chain has not been read back yet.
    pending: Mutex<Vec<Unwatched>>,
}

impl Intake {
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            refreshed_at: Mutex::new(Timestamp::now()),
            checked_at: Mutex::new(None),
            every,
            pending: Mutex::default(),
        }
    }

    /// Watches invoices on `chain` that other gateways created since the last look.
    pub(crate) async fn refresh(&self, store: &dyn Store, chain: ChainId, list: &Watchlist) -> Result<(), StoreError> {
        let since = lock(&self.refreshed_at).minus(REFRESH_OVERLAP);
        let started = Timestamp::now();
        for (address, id) in store.invoices_created_since(chain, since).await? {
            if !list.contains(&address) {
                list.insert(address, id);
            }
        }
        *lock(&self.refreshed_at) = started;
        Ok(())
    }

    /// The open invoices to read the chain back for: those found earlier and
    /// not read back yet, and, when the net is due, those created lately
    /// that the watch list lacks (now watched). The first look after start
    /// takes every open invoice of the last [`LOOKBACK`], watched or not:
    /// what an earlier process had still to read back died with it.
    /// Empty when nothing is due.
    pub(crate) async fn unwatched(
        &self,
        store: &dyn Store,
        chain: ChainId,
        list: &Watchlist,
    ) -> Result<Vec<Unwatched>, StoreError> {
        let last = *lock(&self.checked_at);
        if last.is_none_or(|at| at.elapsed() >= self.every) {
            // Other gateways' invoices are the refresh's to take in, not misses.
            if store.is_shared() {
                self.refresh(store, chain, list).await?;
            }
            let since = Timestamp::now().minus(LOOKBACK);
            let (mut missed, mut unwatched) = (Vec::new(), 0);
            for (address, id, created_at) in store.open_invoices_created_since(chain, since).await? {
                let watched = list.contains(&address);
                if !watched {
                    list.insert(address, id);
                    unwatched += 1;
                }
                if !watched || last.is_none() {
                    missed.push((address, id, created_at));
                }
            }
            if unwatched > 0 {
                tracing::warn!(
                    %chain, invoices = unwatched,
                    "open invoices the watcher did not know of: watching them and reading the chain back"
                );
            }
            lock(&self.pending).extend(missed);
            *lock(&self.checked_at) = Some(Instant::now());
        }
        Ok(lock(&self.pending).clone())
    }

    /// Those were read back.
    pub(crate) fn read_back(&self, done: &[Unwatched]) {
        lock(&self.pending).retain(|p| !done.contains(p));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The watch list as the follower sees it, refreshed before each match when
/// other gateways share the store.
pub(crate) struct Watched<'a> {
    pub(crate) list: &'a Watchlist,
    pub(crate) intake: &'a Intake,
    pub(crate) store: &'a dyn Store,
    pub(crate) chain: ChainId,
}

#[async_trait::async_trait]
impl AddressFilter for Watched<'_> {
    fn watches(&self, address: &Address) -> bool {
        self.list.contains(address)
    }

    async fn refresh(&self) -> Result<(), String> {
        if !self.store.is_shared() {
            return Ok(()); // this process's API is the only one creating invoices
        }
        self.intake.refresh(self.store, self.chain, self.list).await.map_err(|e| e.to_string())
    }
}

/// A few addresses, for reading the chain back for them alone.
pub(crate) struct Addresses(pub(crate) std::collections::HashSet<Address>);

impl AddressFilter for Addresses {
    fn watches(&self, address: &Address) -> bool {
        self.0.contains(address)
    }
}
