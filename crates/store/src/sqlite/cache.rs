//! Recently written or read invoices, kept in memory by the SQLite store.
//!
//! **Coherence:** with SQLite, this process's writer task is the only writer
//! of invoices (one gateway per SQLite file, ADR 0002; operator commands in
//! other processes never change invoices), and every write that touches an
//! invoice refreshes its entry after the commit, in the writer's task (a
//! caller's future may be dropped before it would). A cached invoice is
//! therefore never older than the database. PostgreSQL, shared by several
//! gateways, has no such cache.
//!
//! Two generations approximate LRU at O(1): entries go into `current`; when
//! it is full it becomes `previous` (the old `previous` is dropped), and a
//! hit in `previous` moves back to `current`.

use std::collections::HashMap;
use std::sync::Mutex;

use coffer_domain::{Invoice, InvoiceId, MerchantId};

use crate::shared::ChangedInvoice;

/// Entries per generation: at most twice this many invoices are held
/// (about 1 KiB each with metadata, so tens of MiB at most).
const GENERATION: usize = 32 * 1024;

#[derive(Debug, Default)]
pub(super) struct InvoiceCache {
    generations: Mutex<Generations>,
    /// Bumped by every committed change: an invoice read from the database
    /// before a change and cached after it would be stale, so a read is
    /// cached only if no change happened in between.
    changes: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<InvoiceId, Invoice>,
    previous: HashMap<InvoiceId, Invoice>,
}

impl Generations {
    fn insert(&mut self, invoice: Invoice) {
        if self.current.len() >= GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(invoice.id, invoice);
    }
}

impl InvoiceCache {
    /// The invoice, if cached and the merchant's.
    pub(super) fn get(&self, merchant_id: MerchantId, id: InvoiceId) -> Option<Invoice> {
        let mut generations = self.generations.lock().ok()?;
        let invoice = match generations.current.get(&id) {
            Some(invoice) => invoice.clone(),
            None => {
                let invoice = generations.previous.remove(&id)?;
                generations.insert(invoice.clone());
                invoice
            }
        };
        (invoice.merchant_id == merchant_id).then_some(invoice)
    }

    /// A mark to pass to [`InvoiceCache::put_if_unchanged`]: take it before reading.
    pub(super) fn mark(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Caches an invoice read after `mark`, unless a change committed since.
    pub(super) fn put_if_unchanged(&self, invoice: Invoice, mark: u64) {
        if let Ok(mut generations) = self.generations.lock()
            && self.changes.load(std::sync::atomic::Ordering::SeqCst) == mark
        {
            generations.insert(invoice);
        }
    }

    /// Records committed changes of status and exceptions, for the invoices cached.
    pub(super) fn update(&self, changed: &[ChangedInvoice]) {
        if let Ok(mut generations) = self.generations.lock() {
            // Under the lock, so that no put_if_unchanged slips between the bump and the update.
            self.changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Generations { current, previous } = &mut *generations;
            for (id, status, exceptions) in changed {
                if let Some(invoice) = current.get_mut(id).or_else(|| previous.get_mut(id)) {
                    invoice.status = *status;
                    invoice.exceptions = *exceptions;
                }
            }
        }
    }

    /// Records an invoice as a write just committed it. Only the writer
    /// calls this, in commit order, so no later change can precede it.
    pub(super) fn put(&self, invoice: Invoice) {
        if let Ok(mut generations) = self.generations.lock() {
            generations.insert(invoice);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use coffer_domain::{
        Address, Amount, AssetId, AssetSymbol, ChainId, DepositAddress, DerivationIndex, Exceptions, InvoiceStatus,
        Timestamp, U256,
    };

    use super::*;

    fn invoice(merchant_id: MerchantId) -> Invoice {
        Invoice {
            id: InvoiceId::new(),
            merchant_id,
            status: InvoiceStatus::New,
            exceptions: Default::default(),
            amount: Amount::from_units(
                AssetId { chain_id: ChainId(1), symbol: AssetSymbol::from_str("ETH").unwrap() },
                U256::from(1u8),
            ),
            deposit: DepositAddress { index: DerivationIndex::try_from(0u64).unwrap(), address: Address::ZERO },
            order_id: None,
            metadata: serde_json::Map::new(),
            created_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(1),
        }
    }

    #[test]
    fn only_the_owner_gets_a_cached_invoice() {
        let cache = InvoiceCache::default();
        let (owner, other) = (MerchantId::new(), MerchantId::new());
        let inv = invoice(owner);
        cache.put(inv.clone());
        assert_eq!(cache.get(owner, inv.id), Some(inv.clone()));
        assert_eq!(cache.get(other, inv.id), None);
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_cached() {
        let cache = InvoiceCache::default();
        let merchant = MerchantId::new();
        let stale = invoice(merchant);
        let mark = cache.mark();
        // A chain step commits a change after the read, before the put.
        cache.update(&[(stale.id, InvoiceStatus::Settled, Exceptions::default())]);
        cache.put_if_unchanged(stale.clone(), mark);
        assert_eq!(
            cache.get(merchant, stale.id),
            None,
            "the stale read is dropped; the next read goes to the database"
        );
    }

    #[test]
    fn memory_is_bounded_and_recent_entries_survive() {
        let cache = InvoiceCache::default();
        let merchant = MerchantId::new();
        let first = invoice(merchant);
        cache.put(first.clone());
        for _ in 0..GENERATION {
            cache.put(invoice(merchant));
        }
        // `first` moved to the previous generation; a hit brings it back.
        assert_eq!(cache.get(merchant, first.id), Some(first.clone()));
        for _ in 0..3 * GENERATION {
            cache.put(invoice(merchant));
        }
        let held = cache.generations.lock().map(|g| g.current.len() + g.previous.len()).unwrap();
        assert!(held <= 2 * GENERATION, "{held}");
        assert_eq!(cache.get(merchant, first.id), None, "long unused entries are dropped");
    }
}
