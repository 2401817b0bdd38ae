//! Following funds hop by hop.
//!
//! Each address's whole history is read once and its receipts matched to
//! its payments by the [`Rule`] ([`allocate`]). What reached an address
//! ("traced", per transfer) flows through those links onward: a payment
//! carries `link × traced / receipt` of every receipt that funded it. An
//! address reached again later (a cycle, a second path) is expanded again
//! with its new totals, and only what grew is passed on: amounts only grow
//! and are bounded by the transfers, so this ends (and a cap on expansions
//! ends it regardless, saying the trace was truncated).
//!
//! Backward is the same walk on the reversed links: what funded a payment
//! of interest, then what funded that.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::allocate::{Link, Rule, allocate, share};
use crate::labels::Labels;
use crate::source::{SourceError, TransferSource};
use crate::trace::{Edge, Ignored, Node, Terminal, Trace, Why};
use crate::{Asset, Transfer, TransferId};

/// Which way to follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Where did it go.
    #[default]
    Forward,
    /// Where did it come from.
    Backward,
}

impl Direction {
    /// As the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forward => "forward",
            Self::Backward => "backward",
        }
    }
}

/// Where a trace starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// Everything these addresses sent (forward) or received (backward).
    Addresses(Vec<Address>),
    /// What one transaction moved.
    Transaction(B256),
}

/// How far and how finely to follow.
#[derive(Clone, Debug)]
pub struct Params {
    /// Which way.
    pub direction: Direction,
    /// Hops from the start, at most.
    pub max_depth: u32,
    /// Ether transfers carrying less than this (wei) are not followed:
    /// dust, and the tiny spam that address poisoners send (zero-value
    /// transfers never are).
    pub dust: U256,
    /// The same for tokens, in each token's base units.
    pub token_dust: U256,
    /// How payments are matched to receipts.
    pub rule: Rule,
    /// Addresses read, at most (a trace into a busy service would read forever).
    pub max_addresses: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            direction: Direction::Forward,
            max_depth: 5,
            dust: U256::ZERO,
            token_dust: U256::ZERO,
            rule: Rule::Fifo,
            max_addresses: 2_000,
        }
    }
}

struct History {
    transfers: Vec<Transfer>,
    links: Vec<Link>,
}

struct Walk<'a, S, L> {
    source: &'a mut S,
    labels: &'a L,
    params: &'a Params,
    histories: HashMap<Address, History>,
    /// What each followed transfer carries of the funds traced.
    traced: HashMap<TransferId, (Transfer, U256)>,
    dust: HashMap<TransferId, (Transfer, U256)>,
    zero_value: HashSet<TransferId>,
    hop: HashMap<Address, u32>,
    starts: HashSet<Address>,
    expanded: HashSet<Address>,
    queue: VecDeque<Address>,
    truncated: bool,
}

/// Follows the funds from `start`.
pub async fn trace<S: TransferSource, L: Labels>(
    source: &mut S,
    labels: &L,
    start: &Start,
    params: &Params,
) -> Result<Trace, SourceError> {
    let mut walk = Walk {
        source,
        labels,
        params,
        histories: HashMap::new(),
        traced: HashMap::new(),
        dust: HashMap::new(),
        zero_value: HashSet::new(),
        hop: HashMap::new(),
        starts: HashSet::new(),
        expanded: HashSet::new(),
        queue: VecDeque::new(),
        truncated: false,
    };
    walk.seed(start).await?;
    let mut budget = params.max_addresses.saturating_mul(8).max(16);
    while let Some(address) = walk.queue.pop_front() {
        if budget == 0 || (walk.histories.len() >= params.max_addresses && !walk.histories.contains_key(&address)) {
            walk.truncated = true;
            break;
        }
        budget -= 1;
        walk.expand(address).await?;
    }
    Ok(walk.finish(start))
}

impl<S: TransferSource, L: Labels> Walk<'_, S, L> {
    fn forward(&self) -> bool {
        self.params.direction == Direction::Forward
    }

    /// The far end of a transfer followed.
    fn next(&self, t: &Transfer) -> Address {
        if self.forward() { t.to } else { t.from }
    }

    /// Whether `t` brings funds of interest to `address` (a receipt
    /// forward, a payment backward).
    fn arrives(&self, t: &Transfer, address: Address) -> bool {
        t.from != t.to && if self.forward() { t.to == address } else { t.from == address }
    }

    async fn seed(&mut self, start: &Start) -> Result<(), SourceError> {
        let seeds: Vec<Transfer> = match start {
            Start::Addresses(addresses) => {
                let mut seeds = Vec::new();
                for &address in addresses {
                    self.starts.insert(address);
                    self.hop.insert(address, 0);
                    let history = self.source.history(address).await?;
                    let leaving = |t: &Transfer| if self.forward() { t.from == address } else { t.to == address };
                    seeds.extend(history.into_iter().filter(|t| t.from != t.to && leaving(t)));
                }
                seeds
            }
            Start::Transaction(tx) => {
                let transfers = self.source.transaction(*tx).await?;
                for t in &transfers {
                    let origin = if self.forward() { t.from } else { t.to };
                    self.starts.insert(origin);
                    self.hop.insert(origin, 0);
                }
                transfers
            }
        };
        for t in seeds {
            let amount = t.amount;
            self.follow(t, amount, 0);
        }
        Ok(())
    }

    /// Records that `t` carries `amount` of the funds, from an address at `hop`.
    fn follow(&mut self, t: Transfer, amount: U256, hop: u32) {
        if t.amount.is_zero() {
            self.zero_value.insert(t.id);
            return;
        }
        let dust = if t.asset == Asset::Native { self.params.dust } else { self.params.token_dust };
        if amount.is_zero() || amount < dust {
            if !amount.is_zero() {
                self.dust.insert(t.id, (t, amount));
            }
            return;
        }
        if self.traced.get(&t.id).is_some_and(|(_, known)| *known >= amount) {
            return;
        }
        let next = self.next(&t);
        self.dust.remove(&t.id);
        self.traced.insert(t.id, (t, amount));
        let hop = hop + 1;
        if self.hop.get(&next).is_none_or(|known| hop < *known) {
            self.hop.insert(next, hop);
        }
        if !self.starts.contains(&next) && !self.queue.contains(&next) {
            self.queue.push_back(next);
        }
    }

    async fn expand(&mut self, address: Address) -> Result<(), SourceError> {
        let hop = self.hop.get(&address).copied().unwrap_or(0);
        if hop >= self.params.max_depth || self.labels.label(&address).is_some_and(|l| l.stops) {
            return Ok(());
        }
        if !self.histories.contains_key(&address) {
            let transfers = self.source.history(address).await?;
            for t in transfers.iter().filter(|t| t.amount.is_zero()) {
                self.zero_value.insert(t.id);
            }
            let links = allocate(&transfers, address, self.params.rule);
            self.histories.insert(address, History { transfers, links });
        }
        self.expanded.insert(address);
        let Some(history) = self.histories.get(&address) else { return Ok(()) };
        // Per payment onward: what the funds traced into `address` put in it.
        let mut onward: BTreeMap<usize, U256> = BTreeMap::new();
        for link in &history.links {
            let (arrival, departure) =
                if self.forward() { (link.inflow, link.outflow) } else { (link.outflow, link.inflow) };
            let arrived = &history.transfers[arrival];
            if !self.arrives(arrived, address) {
                continue;
            }
            let Some((_, traced)) = self.traced.get(&arrived.id) else { continue };
            let part = share(link.amount, *traced, arrived.amount);
            let sum = onward.entry(departure).or_default();
            *sum = sum.saturating_add(part);
        }
        let moves: Vec<(Transfer, U256)> =
            onward.into_iter().map(|(i, amount)| (history.transfers[i].clone(), amount)).collect();
        for (t, amount) in moves {
            self.follow(t, amount, hop);
        }
        Ok(())
    }

    fn finish(self, start: &Start) -> Trace {
        let mut received: HashMap<(Address, Asset), (U256, i64, i64)> = HashMap::new();
        let mut sent: HashMap<(Address, Asset), U256> = HashMap::new();
        let mut edges: Vec<Edge> = Vec::new();
        for (t, amount) in self.traced.values() {
            let (into, out_of) = if self.forward() { (t.to, t.from) } else { (t.from, t.to) };
            let at = t.time.as_millis();
            let entry = received.entry((into, t.asset)).or_insert((U256::ZERO, at, at));
            entry.0 = entry.0.saturating_add(*amount);
            entry.1 = entry.1.min(at);
            entry.2 = entry.2.max(at);
            let out = sent.entry((out_of, t.asset)).or_default();
            *out = out.saturating_add(*amount);
            edges.push(Edge::new(t, *amount, self.hop.get(&out_of).copied().unwrap_or(0) + 1));
        }
        let mut dust_total: BTreeMap<Asset, U256> = BTreeMap::new();
        for (t, amount) in self.dust.values() {
            // It left its sender, though it is not followed.
            let out_of = if self.forward() { t.from } else { t.to };
            let out = sent.entry((out_of, t.asset)).or_default();
            *out = out.saturating_add(*amount);
            let total = dust_total.entry(t.asset).or_default();
            *total = total.saturating_add(*amount);
        }
        edges.sort_by(|a, b| (a.hop, &a.time, a.tx, a.index).cmp(&(b.hop, &b.time, b.tx, b.index)));
        let mut terminals = Vec::new();
        for (&(address, asset), &(amount, first, last)) in &received {
            let label = self.labels.label(&address);
            let hops = self.hop.get(&address).copied().unwrap_or(0);
            let out = sent.get(&(address, asset)).copied().unwrap_or_default();
            let (why, left) = if self.starts.contains(&address) {
                // Back where it started: counted when it left, so it ends here.
                (Why::ReturnedToStart, amount)
            } else if label.as_ref().is_some_and(|l| l.stops) {
                (Why::Reached, amount)
            } else if !self.expanded.contains(&address) {
                (if hops >= self.params.max_depth { Why::DepthLimit } else { Why::Truncated }, amount)
            } else {
                (if self.forward() { Why::Holds } else { Why::Origin }, amount.saturating_sub(out))
            };
            if !left.is_zero() {
                terminals.push(Terminal::new(address, asset, left, label, hops, why, first, last));
            }
        }
        terminals.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.address.cmp(&b.address)));
        let mut nodes: Vec<Node> = self
            .hop
            .iter()
            .map(|(&address, &hop)| Node {
                address,
                hop,
                start: self.starts.contains(&address),
                label: self.labels.label(&address),
            })
            .collect();
        nodes.sort_by_key(|n| (n.hop, n.address));
        Trace {
            direction: self.params.direction,
            rule: self.params.rule,
            start: describe(start),
            max_depth: self.params.max_depth,
            dust: self.params.dust,
            token_dust: self.params.token_dust,
            source: self.source.note(),
            nodes,
            edges,
            terminals,
            ignored: Ignored { zero_value: self.zero_value.len(), dust: self.dust.len(), dust_amounts: dust_total },
            addresses_read: self.histories.len(),
            truncated: self.truncated,
        }
    }
}

fn describe(start: &Start) -> Vec<String> {
    match start {
        Start::Addresses(addresses) => addresses.iter().map(|a| a.to_checksum(None)).collect(),
        Start::Transaction(tx) => vec![tx.to_string()],
    }
}
