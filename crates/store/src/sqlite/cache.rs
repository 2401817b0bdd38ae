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
//! **Bounded by bytes**, not by count: an invoice's metadata may cost from
//! nothing to a megabyte once parsed, so each entry is charged its
//! estimated heap size ([`size::entry_bytes`]) against a budget of
//! [`GENERATION_BYTES`] a generation. Two generations approximate LRU at
//! O(1): entries go into `current`; when the next would take it over its
//! budget it becomes `previous` (the old `previous` is dropped), and a hit
//! in `previous` moves back to `current`.

mod size;

use std::collections::HashMap;
use std::sync::Mutex;

use coffer_domain::{Invoice, InvoiceId, MerchantId};

use crate::shared::ChangedInvoice;

/// Estimated heap bytes a generation holds at most, so the cache holds at
/// most 32 MiB: about 75,000 invoices without metadata (~450 bytes each),
/// 15,000 with a small object of it (~2 KiB), or 36 with 6,300 keys each.
const GENERATION_BYTES: usize = 16 << 20;

/// Invoices estimated above this fraction of a generation are not cached:
/// one would push out a generation's worth of ordinary ones. Their reads
/// go to the database.
const MAX_ENTRY_SHARE: usize = 16;

pub(super) struct InvoiceCache {
    generations: Mutex<Generations>,
    /// Bumped by every committed change: an invoice read from the database
    /// before a change and cached after it would be stale, so a read is
    /// cached only if no change happened in between.
    changes: std::sync::atomic::AtomicU64,
}

impl Default for InvoiceCache {
    fn default() -> Self {
        Self::with_generation_budget(GENERATION_BYTES)
    }
}

/// Counts, not contents: invoices carry merchants' data, and may be large.
impl std::fmt::Debug for InvoiceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("InvoiceCache");
        if let Ok(g) = self.generations.lock() {
            out.field("entries", &(g.current.entries.len() + g.previous.entries.len()))
                .field("bytes", &(g.current.bytes + g.previous.bytes))
                .field("generation_budget", &g.budget);
        }
        out.finish_non_exhaustive()
    }
}

struct Entry {
    invoice: Invoice,
    /// Its estimated heap size, charged to its generation.
    bytes: usize,
}

impl Entry {
    fn new(invoice: Invoice) -> Self {
        let bytes = size::entry_bytes(&invoice);
        Self { invoice, bytes }
    }
}

#[derive(Default)]
struct Generation {
    entries: HashMap<InvoiceId, Entry>,
    /// The sum of its entries' `bytes`.
    bytes: usize,
}

impl Generation {
    fn insert(&mut self, entry: Entry) {
        self.bytes += entry.bytes;
        if let Some(replaced) = self.entries.insert(entry.invoice.id, entry) {
            self.bytes -= replaced.bytes;
        }
    }

    fn remove(&mut self, id: &InvoiceId) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        self.bytes -= entry.bytes;
        Some(entry)
    }
}

struct Generations {
    current: Generation,
    previous: Generation,
    /// Bytes a generation may hold.
    budget: usize,
}

impl Generations {
    fn insert(&mut self, entry: Entry) {
        let id = entry.invoice.id;
        // One copy at most, so nothing is counted twice or shadowed stale.
        self.previous.remove(&id);
        self.current.remove(&id);
        if entry.bytes > self.budget / MAX_ENTRY_SHARE {
            return;
        }
        if self.current.bytes + entry.bytes > self.budget {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(entry);
    }
}

impl InvoiceCache {
    fn with_generation_budget(budget: usize) -> Self {
        let generations = Generations { current: Generation::default(), previous: Generation::default(), budget };
        Self { generations: Mutex::new(generations), changes: std::sync::atomic::AtomicU64::new(0) }
    }

    /// The invoice, if cached and the merchant's.
    pub(super) fn get(&self, merchant_id: MerchantId, id: InvoiceId) -> Option<Invoice> {
        let mut generations = self.generations.lock().ok()?;
        let invoice = match generations.current.entries.get(&id) {
            Some(entry) => entry.invoice.clone(),
            None => {
                let entry = generations.previous.remove(&id)?;
                let invoice = entry.invoice.clone();
                generations.insert(entry);
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
        let entry = Entry::new(invoice); // sized before taking the lock
        if let Ok(mut generations) = self.generations.lock()
            && self.changes.load(std::sync::atomic::Ordering::SeqCst) == mark
        {
            generations.insert(entry);
        }
    }

    /// Records committed changes of status and exceptions, for the invoices cached.
    pub(super) fn update(&self, changed: &[ChangedInvoice]) {
        if let Ok(mut generations) = self.generations.lock() {
            // Under the lock, so that no put_if_unchanged slips between the bump and the update.
            self.changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Generations { current, previous, .. } = &mut *generations;
            for (id, status, exceptions) in changed {
                // Neither changes an entry's size.
                if let Some(entry) = current.entries.get_mut(id).or_else(|| previous.entries.get_mut(id)) {
                    entry.invoice.status = *status;
                    entry.invoice.exceptions = *exceptions;
                }
            }
        }
    }

    /// Records an invoice as a write just committed it. Only the writer
    /// calls this, in commit order, so no later change can precede it.
    pub(super) fn put(&self, invoice: Invoice) {
        let entry = Entry::new(invoice);
        if let Ok(mut generations) = self.generations.lock() {
            generations.insert(entry);
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
            checkout: coffer_domain::Checkout::random().unwrap(),
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

    /// The bytes held as accounted, checked against the entries themselves.
    fn held_bytes(cache: &InvoiceCache) -> usize {
        let g = cache.generations.lock().unwrap();
        let recounted: usize = g.current.entries.values().chain(g.previous.entries.values()).map(|e| e.bytes).sum();
        let estimated: usize =
            g.current.entries.values().chain(g.previous.entries.values()).map(|e| size::entry_bytes(&e.invoice)).sum();
        assert_eq!((g.current.bytes + g.previous.bytes, recounted), (estimated, estimated), "accounting drifted");
        estimated
    }

    #[test]
    fn memory_is_bounded_and_recent_entries_survive() {
        let merchant = MerchantId::new();
        let first = invoice(merchant);
        let each = size::entry_bytes(&first);
        let cache = InvoiceCache::with_generation_budget(64 * each);
        cache.put(first.clone());
        for _ in 0..64 {
            cache.put(invoice(merchant));
        }
        // `first` moved to the previous generation; a hit brings it back.
        assert_eq!(cache.get(merchant, first.id), Some(first.clone()));
        for _ in 0..3 * 64 {
            cache.put(invoice(merchant));
            assert!(held_bytes(&cache) <= 2 * 64 * each);
        }
        assert_eq!(cache.get(merchant, first.id), None, "long unused entries are dropped");
    }

    /// An invoice whose metadata has 6,300 small keys: about 0.9 MB once
    /// parsed (issue 17), and under the API's 64 KiB body limit as text.
    fn large(merchant_id: MerchantId) -> Invoice {
        let mut inv = invoice(merchant_id);
        inv.metadata = (0..6300).map(|i| (format!("k{i:04}"), serde_json::Value::from(0))).collect();
        inv
    }

    #[test]
    fn large_entries_stay_within_the_byte_budget() {
        let cache = InvoiceCache::default();
        let merchant = MerchantId::new();
        let template = large(merchant);
        let each = size::entry_bytes(&template);
        assert!(each > 860_000, "{each}");
        let budget = 2 * GENERATION_BYTES;
        for _ in 0..budget / each + 8 {
            let inv = Invoice { id: InvoiceId::new(), ..template.clone() };
            cache.put(inv.clone());
            let held = held_bytes(&cache);
            assert!(held <= budget, "{held} bytes cached, over the budget of {budget}");
            assert_eq!(cache.get(merchant, inv.id), Some(inv), "the newest entry is cached");
        }
    }

    #[test]
    fn an_invoice_too_large_for_a_generation_is_not_cached_nor_left_stale() {
        let merchant = MerchantId::new();
        let mut inv = invoice(merchant);
        let cache = InvoiceCache::with_generation_budget(MAX_ENTRY_SHARE * size::entry_bytes(&large(merchant)) / 2);
        cache.put(inv.clone());
        assert_eq!(cache.get(merchant, inv.id), Some(inv.clone()));
        inv.metadata = large(merchant).metadata;
        cache.put(inv.clone());
        assert_eq!(cache.get(merchant, inv.id), None, "its reads go to the database");
        assert_eq!(held_bytes(&cache), 0);
    }
}
