//! Screening lists: addresses tied to sanctions, thefts, phishing, mixers
//! and exchanges, parsed from the formats they are published in, and a set
//! that answers "is this address listed, and where" in constant time.
//!
//! - [`parse_list`] reads one list in a [`Format`] (plain lists, OFAC's
//!   CSV, labelled CSVs, GraphSense TagPack YAML, the curated incident
//!   CSV) into [`Entry`]s with their category, label, list, line and date.
//!   A line it cannot read is an error naming the line: a list that loses
//!   entries silently screens nothing. Addresses of other chains (Bitcoin,
//!   TRON) are kept as [`ChainAddress`]es and counted, never dropped.
//! - [`ScreeningSet`] holds many lists; [`ScreeningSet::blocking_hit`] is
//!   what holds a deposit or refuses a payout, [`ScreeningSet::label`]
//!   what stops a trace at an exchange or a mixer.
//! - [`builtin`] are the lists shipped in `lists/` (their licences allow
//!   it; `lists/README.md` says where each comes from).
//!
//! **Architecture invariant:** no I/O. Callers read files and databases;
//! this crate sees bytes.

#![deny(clippy::float_arithmetic)]

mod address;
mod builtin;
mod category;
mod csv;
mod formats;
mod hasher;
mod set;
mod tagpack;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use address::{AddressError, ChainAddress, classify};
pub use builtin::builtin;
pub use category::{Category, Format, UnknownName};
pub use formats::parse_list;
pub use set::{Hit, ScreeningSet};

/// One listed address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The address, on its chain.
    pub address: ChainAddress,
    /// Why it is listed.
    pub category: Category,
    /// The list's label for it (`LAZARUS GROUP`, `Fake_Phishing1772`, an incident).
    pub label: Option<String>,
    /// The list it is on.
    pub list: Arc<str>,
    /// Its line there, from 1.
    pub line: usize,
    /// The date the list gives it (an incident's dates), if any.
    pub date: Option<String>,
}

/// What one list is and held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListMeta {
    /// Its name (a file name).
    pub name: String,
    /// Its format.
    pub format: Format,
    /// Its version, where it says (a TagPack's `lastmod`).
    pub version: Option<String>,
    /// SHA-256 of its bytes, hex: what the audit log records.
    pub sha256: String,
    /// Entries, of every chain.
    pub entries: usize,
    /// Entries with an EVM address.
    pub evm: usize,
    /// Entries of other chains.
    pub non_evm: usize,
    /// Those by chain (`bitcoin`, `tron`, `unknown`).
    pub non_evm_by_chain: BTreeMap<String, usize>,
    /// Lines kept despite a flaw (an EVM address with a wrong EIP-55
    /// checksum: its bytes are still certain), each naming its line.
    pub warnings: Vec<String>,
}

/// A list parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedList {
    /// What it is.
    pub meta: ListMeta,
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
}

/// A list that does not parse, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{list} line {line}: {message}")]
pub struct ParseError {
    /// The list.
    pub list: String,
    /// The line, from 1 (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}
