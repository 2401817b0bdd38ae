//! A signal that invoices may have changed on a chain: raised after every
//! committed chain step (a new block moves confirmations even when no
//! invoice changes state) and after every expiry, so a checkout page's
//! event stream re-reads its invoice within a moment of the block instead
//! of polling.
//!
//! In a fleet the other gateways raise it too, when the database tells
//! them the holder of the chain's lease committed ([`hear_the_fleet`]).
//!
//! It carries no data: a listener re-reads what it shows from the store,
//! the one source of truth. Missed signals coalesce (a `watch` channel
//! keeps only the latest), so a slow listener never falls behind.

use std::collections::HashMap;
use std::sync::Arc;

use coffer_domain::ChainId;
use coffer_store::Store;
use tokio::sync::watch;

use crate::WatcherStats;

/// One chain's change signal.
#[derive(Debug)]
pub struct Changes {
    sender: watch::Sender<u64>,
}

impl Default for Changes {
    fn default() -> Self {
        Self { sender: watch::Sender::new(0) }
    }
}

impl Changes {
    /// Tells every listener to look again.
    pub fn raise(&self) {
        self.sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A listener: `changed().await` returns after the next raise.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }
}

/// Raises a chain's [`Changes`] when another gateway of the fleet announces
/// it changed that chain's invoices, so a checkout page open here updates
/// as soon as the holder of the chain's lease wrote the block. This
/// gateway's own announcements are skipped: its watcher raised the signal
/// already. Reconnects with a pause after a failure; pages re-read on a
/// timer meanwhile.
pub(crate) async fn hear_the_fleet(
    store: Arc<dyn Store>,
    chains: HashMap<ChainId, (Arc<Changes>, Arc<WatcherStats>)>,
    me: Arc<str>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let feed = tokio::select! {
            _ = stop.changed() => return,
            feed = store.change_feed() => feed,
        };
        let mut feed = match feed {
            Ok(Some(feed)) => feed,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for the fleet's changes; trying again");
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => continue,
                }
            }
        };
        loop {
            let heard = tokio::select! {
                _ = stop.changed() => return,
                heard = feed.next() => heard,
            };
            match heard {
                Ok(announced) if announced.by.as_deref() == Some(&*me) => {}
                Ok(announced) => {
                    for (id, (changes, stats)) in &chains {
                        if announced.chain.is_none_or(|c| c == *id) {
                            stats.heard.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            changes.raise();
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the fleet's change feed failed; listening again");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_wake_on_a_raise_and_missed_ones_coalesce() {
        let changes = Changes::default();
        let mut listener = changes.subscribe();
        changes.raise();
        changes.raise();
        listener.changed().await.unwrap();
        assert_eq!(*listener.borrow_and_update(), 2);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), listener.changed()).await;
        assert!(waited.is_err(), "nothing new since");
    }
}
