//! The deposit addresses a chain's watcher matches transfers against: one
//! hash lookup per transfer, whatever the number of open invoices.
//!
//! Memory is what bounds the number of invoices one gateway can watch: an
//! entry is the 20-byte address and the 16-byte invoice id, in a table
//! sized once at start (about 40 to 75 bytes an invoice, so a million open
//! invoices fit in well under 100 MB).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::RwLock;

use coffer_chain::AddressFilter;
use coffer_domain::{Address, InvoiceId};

/// Hashes an address by its first eight bytes. Deposit addresses are
/// Keccak outputs, so those bytes are already uniform; the table's keys are
/// ours (derived from our xpub), so a sender cannot choose addresses that
/// collide with them, and a lookup of any address costs one probe sequence.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Table = HashMap<Address, InvoiceId, BuildHasherDefault<AddressHasher>>;

/// Open invoices' deposit addresses on one chain.
#[derive(Debug, Default)]
pub struct Watchlist {
    table: RwLock<Table>,
    /// Addresses watched for an invoice not known to be stored yet (the API
    /// watches before it stores): those whose insert never finished (the
    /// client went away, the database refused) are swept out.
    pending: std::sync::Mutex<HashMap<Address, (InvoiceId, std::time::Instant)>>,
}

impl Watchlist {
    /// An empty list with room for `capacity` addresses.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            table: RwLock::new(Table::with_capacity_and_hasher(capacity, BuildHasherDefault::default())),
            pending: std::sync::Mutex::default(),
        }
    }

    /// Watches `address` for `invoice`.
    pub fn insert(&self, address: Address, invoice: InvoiceId) {
        if let Ok(mut table) = self.table.write() {
            table.insert(address, invoice);
        }
    }

    /// Watches `address` for `invoice`, which is about to be stored.
    pub fn insert_pending(&self, address: Address, invoice: InvoiceId) {
        self.insert(address, invoice);
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(address, (invoice, std::time::Instant::now()));
        }
    }

    /// The store answered for the invoice pending at `address` (stored,
    /// replayed or refused): it is no longer pending.
    pub fn settle(&self, address: &Address) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(address);
        }
    }

    /// Takes the addresses pending for longer than `age`, with their invoices.
    pub fn take_pending_older_than(&self, age: std::time::Duration) -> Vec<(Address, InvoiceId)> {
        let Ok(mut pending) = self.pending.lock() else { return Vec::new() };
        let old: Vec<(Address, InvoiceId)> =
            pending.iter().filter(|(_, (_, at))| at.elapsed() >= age).map(|(a, (id, _))| (*a, *id)).collect();
        for (address, _) in &old {
            pending.remove(address);
        }
        old
    }

    /// Stops watching `address`.
    pub fn remove(&self, address: &Address) {
        if let Ok(mut table) = self.table.write() {
            table.remove(address);
        }
    }

    /// The invoice `address` belongs to, if watched.
    pub fn get(&self, address: &Address) -> Option<InvoiceId> {
        self.table.read().ok()?.get(address).copied()
    }

    /// Whether `address` is watched.
    pub fn contains(&self, address: &Address) -> bool {
        self.table.read().is_ok_and(|t| t.contains_key(address))
    }

    /// How many addresses are watched.
    pub fn len(&self) -> usize {
        self.table.read().map_or(0, |t| t.len())
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AddressFilter for Watchlist {
    fn watches(&self, address: &Address) -> bool {
        self.contains(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_holds_and_nothing_else() {
        let list = Watchlist::with_capacity(4);
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        // Same first eight bytes, different address: still told apart.
        let mut c = a;
        c.0[19] = 9;
        let invoice = InvoiceId::new();
        list.insert(a, invoice);
        assert_eq!(list.get(&a), Some(invoice));
        assert_eq!(list.get(&b), None);
        assert_eq!(list.get(&c), None);
        assert!(list.watches(&a) && !list.watches(&c));
        list.remove(&a);
        assert!(list.is_empty());
    }

    #[test]
    fn pending_addresses_are_handed_back_once_old() {
        let list = Watchlist::default();
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let (first, second) = (InvoiceId::new(), InvoiceId::new());
        list.insert_pending(a, first);
        list.insert_pending(b, second);
        list.settle(&b);
        assert!(list.contains(&a) && list.contains(&b), "watched while pending, and after");
        assert!(list.take_pending_older_than(std::time::Duration::from_secs(60)).is_empty(), "not old yet");
        assert_eq!(list.take_pending_older_than(std::time::Duration::ZERO), vec![(a, first)], "only the unsettled one");
        assert!(list.take_pending_older_than(std::time::Duration::ZERO).is_empty(), "taken once");
    }
}
