//! A trace's result: the graph, and where the money is now.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};
use coffer_domain::Timestamp;
use serde::Serialize;

use crate::allocate::Rule;
use crate::labels::Label;
use crate::output::{decimal, rfc3339};
use crate::tracer::Direction;
use crate::{Asset, Transfer};

/// Why the money is said to be at a terminal address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// It reached a labelled service (an exchange, a mixer, a bridge).
    Reached,
    /// It is still there: not sent on within the range.
    Holds,
    /// (Backward) it came from here: received before the range, or minted.
    Origin,
    /// The trace's depth ended here.
    DepthLimit,
    /// The trace's address cap ended here.
    Truncated,
    /// It came back to where the trace started (already counted when it left).
    ReturnedToStart,
}

impl Why {
    /// The words the table uses.
    pub fn describe(self, label: Option<&Label>) -> String {
        match (self, label) {
            (Self::Reached, Some(label)) => format!("reached: {}", label.describe()),
            (Self::Reached, None) => "reached a service".to_owned(),
            (Self::Holds, _) => "holds it".to_owned(),
            (Self::Origin, _) => "came from here".to_owned(),
            (Self::DepthLimit, _) => "depth limit".to_owned(),
            (Self::Truncated, _) => "not followed (address cap)".to_owned(),
            (Self::ReturnedToStart, _) => "back at the start".to_owned(),
        }
    }
}

/// An address the funds reached.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// The address.
    pub address: Address,
    /// Fewest hops from the start.
    pub hop: u32,
    /// Whether the trace started here.
    pub start: bool,
    /// Its label, if a list names it.
    pub label: Option<Label>,
}

/// A transfer followed, and how much of it was the funds traced.
#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    /// Transaction hash.
    pub tx: B256,
    /// Its place in the transaction.
    pub index: u64,
    /// Block number.
    pub block: u64,
    /// Block time.
    #[serde(serialize_with = "rfc3339")]
    pub time: Timestamp,
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// What moved.
    pub asset: Asset,
    /// The whole transfer, base units.
    #[serde(serialize_with = "decimal")]
    pub amount: U256,
    /// The part of it that was the funds traced.
    #[serde(serialize_with = "decimal")]
    pub traced: U256,
    /// Hops from the start.
    pub hop: u32,
}

impl Edge {
    pub(crate) fn new(t: &Transfer, traced: U256, hop: u32) -> Self {
        Self {
            tx: t.id.tx,
            index: t.id.index,
            block: t.block,
            time: t.time,
            from: t.from,
            to: t.to,
            asset: t.asset,
            amount: t.amount,
            traced,
            hop,
        }
    }
}

/// Where (some of) the money is now.
#[derive(Clone, Debug, Serialize)]
pub struct Terminal {
    /// The address.
    pub address: Address,
    /// What.
    pub asset: Asset,
    /// How much of the funds traced, base units.
    #[serde(serialize_with = "decimal")]
    pub amount: U256,
    /// Its label.
    pub label: Option<Label>,
    /// Hops from the start.
    pub hops: u32,
    /// Why the trace ends here.
    pub why: Why,
    /// When the funds first arrived.
    #[serde(serialize_with = "rfc3339")]
    pub first: Timestamp,
    /// When they last did.
    #[serde(serialize_with = "rfc3339")]
    pub last: Timestamp,
}

impl Terminal {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        address: Address,
        asset: Asset,
        amount: U256,
        label: Option<Label>,
        hops: u32,
        why: Why,
        first: i64,
        last: i64,
    ) -> Self {
        let (first, last) = (Timestamp::from_millis(first), Timestamp::from_millis(last));
        Self { address, asset, amount, label, hops, why, first, last }
    }
}

/// What the trace left out, and why.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ignored {
    /// Zero-value transfers (spam, address poisoning).
    pub zero_value: usize,
    /// Transfers carrying less of the funds than the dust threshold.
    pub dust: usize,
    /// What those carried, per asset.
    #[serde(serialize_with = "crate::output::decimal_map")]
    pub dust_amounts: BTreeMap<Asset, U256>,
}

/// A whole trace.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    /// Which way it followed.
    pub direction: Direction,
    /// How payments were matched to receipts.
    pub rule: Rule,
    /// Where it started (addresses, or a transaction).
    pub start: Vec<String>,
    /// Hops at most.
    pub max_depth: u32,
    /// The dust threshold for ether, wei.
    #[serde(serialize_with = "decimal")]
    pub dust: U256,
    /// The dust threshold for tokens, base units.
    #[serde(serialize_with = "decimal")]
    pub token_dust: U256,
    /// Where the transfers came from, and how native ones were found.
    pub source: String,
    /// Every address reached.
    pub nodes: Vec<Node>,
    /// Every transfer followed.
    pub edges: Vec<Edge>,
    /// Where the money is now, largest first.
    pub terminals: Vec<Terminal>,
    /// What was left out.
    pub ignored: Ignored,
    /// Addresses whose history was read.
    pub addresses_read: usize,
    /// Whether the address cap stopped it.
    pub truncated: bool,
}

impl Trace {
    /// What the terminals hold of `asset`, in all.
    pub fn total_at_terminals(&self, asset: Asset) -> U256 {
        self.terminals.iter().filter(|t| t.asset == asset).fold(U256::ZERO, |sum, t| sum + t.amount)
    }
}
