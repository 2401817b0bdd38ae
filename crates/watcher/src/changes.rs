//! A signal that invoices may have changed on a chain: raised after every
//! committed chain step (a new block moves confirmations even when no
//! invoice changes state) and after every expiry, so a checkout page's
//! event stream re-reads its invoice within a moment of the block instead
//! of polling.
//!
//! It carries no data: a listener re-reads what it shows from the store,
//! the one source of truth. Missed signals coalesce (a `watch` channel
//! keeps only the latest), so a slow listener never falls behind.

use tokio::sync::watch;

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
