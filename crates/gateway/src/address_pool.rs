//! Deposit addresses, ready before requests ask for them.
//!
//! Uniqueness comes from the store: indices are reserved in blocks with one
//! atomic counter update, so no two invoices (in any number of gateway
//! processes sharing a database) get the same index. Deriving an address
//! costs elliptic-curve work, so a background task derives each reserved
//! block off the request path and keeps a buffer full. Indices reserved but
//! never used (a process stopping with a full buffer) leave gaps; gaps are
//! harmless because Coffer watches the addresses it recorded, not a scan of
//! the tree (docs/adr/0001-deposit-addresses-from-an-xpub.md).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_domain::{DepositAddress, DerivationIndex};
use coffer_store::Store;
use coffer_xpub::DepositDeriver;
use tokio::sync::mpsc;

/// Indices reserved per database round trip.
const BLOCK: u32 = 256;
/// Addresses kept derived and waiting.
const BUFFER: usize = 1024;
/// How long a request waits for an address before answering 503.
const WAIT: Duration = Duration::from_secs(5);

/// A source of fresh, unique deposit addresses.
#[derive(Debug)]
pub(crate) struct AddressPool {
    ready: tokio::sync::Mutex<mpsc::Receiver<DepositAddress>>,
    /// Addresses handed out but not used (an idempotent replay), given back
    /// so that they are not wasted.
    returned: Mutex<Vec<DepositAddress>>,
}

/// No address could be had in time: the database is likely down.
#[derive(Debug, thiserror::Error)]
#[error("no deposit address became available within {WAIT:?}")]
pub(crate) struct PoolExhausted;

impl AddressPool {
    /// Starts the background refill task. It stops when the pool is dropped.
    pub(crate) fn start(store: Arc<dyn Store>, deriver: DepositDeriver) -> Self {
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(refill(store, deriver, tx));
        Self { ready: tokio::sync::Mutex::new(rx), returned: Mutex::new(Vec::new()) }
    }

    /// A fresh address, never handed to any invoice before.
    pub(crate) async fn take(&self) -> Result<DepositAddress, PoolExhausted> {
        if let Some(address) = self.returned.lock().ok().and_then(|mut r| r.pop()) {
            return Ok(address);
        }
        let next = async { self.ready.lock().await.recv().await };
        tokio::time::timeout(WAIT, next).await.ok().flatten().ok_or(PoolExhausted)
    }

    /// Gives back an address that was taken but is certainly not stored.
    pub(crate) fn give_back(&self, address: DepositAddress) {
        if let Ok(mut returned) = self.returned.lock() {
            returned.push(address);
        }
    }
}

async fn refill(store: Arc<dyn Store>, deriver: DepositDeriver, tx: mpsc::Sender<DepositAddress>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        // Wait for room before reserving, so a stopped pool reserves nothing more.
        let Ok(permit) = tx.reserve_many(1).await else { return };
        drop(permit);
        let range = match store.reserve_deposit_indices(BLOCK).await {
            Ok(range) => range,
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?backoff, "could not reserve deposit indices");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let deriver = deriver.clone();
        let derived = tokio::task::spawn_blocking(move || {
            range
                .map(|i| DerivationIndex::try_from(u64::from(i)).map_err(|e| e.to_string()))
                .map(|index| index.and_then(|index| deriver.derive(index).map_err(|e| e.to_string())))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
        let addresses = match derived {
            Ok(Ok(addresses)) => addresses,
            // Only index 2^31 and beyond (refused by the store first) or a
            // point at infinity (probability ~2^-127) end up here.
            Ok(Err(err)) => {
                tracing::error!(error = %err, "deriving deposit addresses failed; skipping the block");
                continue;
            }
            Err(join) => {
                tracing::error!(error = %join, "address derivation task failed");
                continue;
            }
        };
        for address in addresses {
            if tx.send(address).await.is_err() {
                return;
            }
        }
    }
}
