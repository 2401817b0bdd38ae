//! The screening lists this gateway screens with (ADR 0015): the lists
//! compiled into the binary (unless `[screening] builtin = false`) and
//! every list an operator imported into the database (`coffer screening
//! import`), reloaded when the imported lists change, so every gateway
//! sharing a database screens with the same entries within seconds.
//!
//! Two uses: the chain watcher holds a payment whose sender is listed
//! ([`coffer_watcher::Screener`]), and a payout to a listed destination
//! is refused at request time ([`Lists::check_destination`]). The signer
//! screens payouts again from its own copy; it takes no list from here.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use coffer_domain::{Address, HoldReason};
use coffer_screening::{Hit, ScreeningSet};
use coffer_store::{ListDigest, Store};
use tokio::sync::watch;

use crate::error::{ApiError, ErrorCode};

/// How often the imported lists are looked at for a change.
pub(crate) const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// The loaded lists, swapped whole on a reload.
#[derive(Debug)]
pub struct Lists {
    builtin: bool,
    current: RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    set: Arc<ScreeningSet>,
    digests: Vec<ListDigest>,
}

/// A stored list that no longer parses (the parser changed, or the row did).
#[derive(Debug, thiserror::Error)]
pub enum ListsError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] coffer_store::StoreError),
    /// A stored list did not parse.
    #[error("imported screening list {name}: {message}")]
    Parse {
        /// The list.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl Lists {
    /// The builtin lists (if `builtin`) and those in `store`.
    pub async fn load(store: &dyn Store, builtin: bool) -> Result<Self, ListsError> {
        let (set, digests) = read(store, builtin).await?;
        Ok(Self { builtin, current: RwLock::new(Loaded { set: Arc::new(set), digests }) })
    }

    /// The set as loaded now.
    pub fn set(&self) -> Arc<ScreeningSet> {
        Arc::clone(&self.read().set)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        // A panic while the lock was held left the previous lists in place: still valid.
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reloads if the imported lists changed; `true` if it did.
    pub async fn reload_if_changed(&self, store: &dyn Store) -> Result<bool, ListsError> {
        let digests = store.screening_list_digests().await?;
        if digests == self.read().digests {
            return Ok(false);
        }
        let (set, digests) = read(store, self.builtin).await?;
        tracing::info!(lists = set.lists().len(), evm = set.evm_len(), "screening lists reloaded");
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Loaded { set: Arc::new(set), digests };
        Ok(true)
    }

    /// Refuses a payout to `destination` if a list names it in a category
    /// that blocks: `destination_screened`, with the hit's source.
    pub(crate) fn check_destination(&self, destination: &Address) -> Result<(), ApiError> {
        let set = self.set();
        match set.blocking_hit(destination) {
            None => Ok(()),
            Some(hit) => Err(ApiError::new(
                ErrorCode::DestinationScreened,
                format!(
                    "destination {} is on screening list {} ({}{})",
                    destination.to_checksum(None),
                    hit.source(),
                    hit.category.as_str(),
                    hit.label.map(|l| format!(": {l}")).unwrap_or_default()
                ),
            )),
        }
    }

    /// Reloads every [`RELOAD_EVERY`] until `stop`.
    pub(crate) async fn run(self: Arc<Self>, store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RELOAD_EVERY) => {}
                _ = stop.changed() => return,
            }
            if let Err(err) = self.reload_if_changed(&*store).await {
                // The lists loaded before stay in force: screening never lapses on an error.
                tracing::error!(error = %err, "cannot reload the screening lists; screening with those loaded before");
            }
        }
    }
}

impl coffer_watcher::Screener for Lists {
    fn screen(&self, sender: &Address) -> Option<HoldReason> {
        let set = self.set();
        set.blocking_hit(sender).map(|hit| reason(&hit))
    }
}

/// The hit as a payment's hold keeps it.
pub(crate) fn reason(hit: &Hit<'_>) -> HoldReason {
    HoldReason {
        category: hit.category.as_str().to_owned(),
        list: hit.list.to_owned(),
        line: hit.line as u64,
        label: hit.label.map(str::to_owned),
        path: Vec::new(),
    }
}

async fn read(store: &dyn Store, builtin: bool) -> Result<(ScreeningSet, Vec<ListDigest>), ListsError> {
    let mut set = ScreeningSet::new();
    if builtin {
        for list in coffer_screening::builtin() {
            set.add(list);
        }
    }
    let stored = store.screening_lists().await?;
    let digests = stored.iter().map(|l| ListDigest { name: l.name.clone(), sha256: l.sha256.clone() }).collect();
    for list in stored {
        let format = list.format.parse().ok();
        let parsed = coffer_screening::parse_list(&list.name, &list.content, format)
            .map_err(|e| ListsError::Parse { name: list.name.clone(), message: e.to_string() })?;
        set.add(parsed);
    }
    Ok((set, digests))
}
