//! Many lists as one set. An EVM address is looked up by its 20 bytes in a
//! hash map of entry indexes (no scan, whatever the lists' size); other
//! chains' addresses by their exact text.

use std::collections::HashMap;

use coffer_domain::Address;

use crate::address::{ChainAddress, classify};
use crate::hasher::KeyedBuild;
use crate::{Category, Entry, ListMeta, ParsedList};

/// One list entry an address matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit<'a> {
    /// Why it is listed.
    pub category: Category,
    /// The list's label for it.
    pub label: Option<&'a str>,
    /// The list.
    pub list: &'a str,
    /// Its line there.
    pub line: usize,
    /// The date the list gives it.
    pub date: Option<&'a str>,
    /// The list's version, if it says.
    pub version: Option<&'a str>,
}

impl Hit<'_> {
    /// `list:line`, the way an operator finds the entry.
    pub fn source(&self) -> String {
        format!("{}:{}", self.list, self.line)
    }
}

/// Entries of many lists; cheap to share behind an `Arc`.
#[derive(Clone, Debug, Default)]
pub struct ScreeningSet {
    entries: Vec<Entry>,
    /// Each entry's list, as an index into `lists`.
    list_of: Vec<u32>,
    evm: HashMap<Address, Vec<u32>, KeyedBuild>,
    other: HashMap<String, Vec<u32>>,
    lists: Vec<ListMeta>,
}

impl ScreeningSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a list's entries.
    pub fn add(&mut self, list: ParsedList) {
        let list_index = self.lists.len() as u32;
        self.lists.push(list.meta);
        self.entries.reserve(list.entries.len());
        for entry in list.entries {
            let index = self.entries.len() as u32;
            match &entry.address {
                ChainAddress::Evm(address) => self.evm.entry(*address).or_default().push(index),
                other => self.other.entry(other.text()).or_default().push(index),
            }
            self.entries.push(entry);
            self.list_of.push(list_index);
        }
    }

    fn hit(&self, index: u32) -> Hit<'_> {
        let entry = &self.entries[index as usize];
        let list = &self.lists[self.list_of[index as usize] as usize];
        Hit {
            category: entry.category,
            label: entry.label.as_deref(),
            list: &entry.list,
            line: entry.line,
            date: entry.date.as_deref(),
            version: list.version.as_deref(),
        }
    }

    fn hits_of(&self, indexes: Option<&Vec<u32>>) -> Vec<Hit<'_>> {
        indexes.map(|list| list.iter().map(|&i| self.hit(i)).collect()).unwrap_or_default()
    }

    /// Every entry naming `address`, in the order the lists were added.
    pub fn hits(&self, address: &Address) -> Vec<Hit<'_>> {
        self.hits_of(self.evm.get(address))
    }

    /// The most severe entry naming `address` whose category blocks (holds
    /// a deposit, refuses a payout), if any.
    pub fn blocking_hit(&self, address: &Address) -> Option<Hit<'_>> {
        let indexes = self.evm.get(address)?;
        indexes.iter().map(|&i| self.hit(i)).filter(|h| h.category.blocks()).min_by_key(|h| h.category.severity())
    }

    /// What `address` is labelled as, preferring what stops a trace (an
    /// exchange, a mixer, a bridge), then the most severe.
    pub fn label(&self, address: &Address) -> Option<Hit<'_>> {
        let indexes = self.evm.get(address)?;
        indexes.iter().map(|&i| self.hit(i)).min_by_key(|h| (!h.category.stops_trace(), h.category.severity()))
    }

    /// Every entry naming the address written `text`: an EVM address in any
    /// case, another chain's exactly as written. Text that is no address
    /// (a malformed EVM one) matches nothing.
    pub fn hits_text(&self, text: &str) -> Vec<Hit<'_>> {
        match classify(text.trim()) {
            Ok(ChainAddress::Evm(address)) => self.hits(&address),
            Ok(other) => self.hits_of(self.other.get(&other.text())),
            Err(_) => Vec::new(),
        }
    }

    /// The lists added, in order.
    pub fn lists(&self) -> &[ListMeta] {
        &self.lists
    }

    /// Distinct EVM addresses.
    pub fn evm_len(&self) -> usize {
        self.evm.len()
    }

    /// Entries of other chains.
    pub fn non_evm_len(&self) -> usize {
        self.other.values().map(Vec::len).sum()
    }

    /// Whether no list holds anything.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
