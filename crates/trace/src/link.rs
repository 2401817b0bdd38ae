//! Incident linking: trace each incident forward, then report what two or
//! more of them share (addresses, transactions, labelled services), with
//! the path from each incident to it. This is how CoinsPaid, Alphapo and
//! Atomic Wallet were tied together: their funds met.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use alloy_primitives::{Address, B256, U256};
use serde::Serialize;

use crate::labels::Label;
use crate::output::{Units, decimal};
use crate::{Asset, Trace};

/// One hop of a path: a transfer's transaction and where it went.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Transaction hash.
    pub tx: B256,
    /// The sender.
    pub from: Address,
    /// The recipient.
    pub to: Address,
}

/// How one incident reaches a shared point.
#[derive(Clone, Debug, Serialize)]
pub struct Reach {
    /// The incident.
    pub incident: String,
    /// Its funds that arrived there.
    #[serde(serialize_with = "decimal")]
    pub amount: U256,
    /// What moved.
    pub asset: Asset,
    /// From the incident's address to it, by the largest transfers.
    pub path: Vec<Step>,
}

/// An address two or more incidents' funds reached.
#[derive(Clone, Debug, Serialize)]
pub struct SharedAddress {
    /// The address.
    pub address: Address,
    /// Its label, if a list names it (an exchange: a "labelled service").
    pub label: Option<Label>,
    /// Each incident that reached it.
    pub reached_by: Vec<Reach>,
}

/// A transaction two or more incidents' funds went through.
#[derive(Clone, Debug, Serialize)]
pub struct SharedTransaction {
    /// Transaction hash.
    pub tx: B256,
    /// The incidents.
    pub incidents: Vec<String>,
}

/// What the incidents share.
#[derive(Clone, Debug, Serialize)]
pub struct LinkReport {
    /// The incidents, by name.
    pub incidents: Vec<String>,
    /// Shared addresses, most incidents then most money first.
    pub addresses: Vec<SharedAddress>,
    /// Shared transactions.
    pub transactions: Vec<SharedTransaction>,
}

/// Links `incidents`, each traced forward already.
pub fn link(incidents: &[(String, Trace)]) -> LinkReport {
    let mut reached: BTreeMap<Address, Vec<(usize, Asset, U256)>> = BTreeMap::new();
    let mut txs: BTreeMap<B256, BTreeSet<usize>> = BTreeMap::new();
    for (i, (_, trace)) in incidents.iter().enumerate() {
        let mut into: HashMap<(Address, Asset), U256> = HashMap::new();
        for e in &trace.edges {
            *into.entry((e.to, e.asset)).or_default() += e.traced;
            txs.entry(e.tx).or_default().insert(i);
        }
        for ((address, asset), amount) in into {
            reached.entry(address).or_default().push((i, asset, amount));
        }
    }
    let mut addresses: Vec<SharedAddress> = reached
        .into_iter()
        .filter(|(_, by)| by.iter().map(|(i, _, _)| i).collect::<BTreeSet<_>>().len() >= 2)
        .map(|(address, by)| {
            let label = incidents
                .iter()
                .flat_map(|(_, t)| &t.nodes)
                .find(|n| n.address == address)
                .and_then(|n| n.label.clone());
            let reached_by = by
                .into_iter()
                .map(|(i, asset, amount)| Reach {
                    incident: incidents[i].0.clone(),
                    amount,
                    asset,
                    path: path_to(&incidents[i].1, address),
                })
                .collect();
            SharedAddress { address, label, reached_by }
        })
        .collect();
    let total = |s: &SharedAddress| s.reached_by.iter().fold(U256::ZERO, |sum, r| sum.saturating_add(r.amount));
    addresses.sort_by(|a, b| {
        let count = |s: &SharedAddress| s.reached_by.iter().map(|r| &r.incident).collect::<BTreeSet<_>>().len();
        count(b).cmp(&count(a)).then(total(b).cmp(&total(a))).then(a.address.cmp(&b.address))
    });
    let transactions = txs
        .into_iter()
        .filter(|(_, by)| by.len() >= 2)
        .map(|(tx, by)| SharedTransaction { tx, incidents: by.into_iter().map(|i| incidents[i].0.clone()).collect() })
        .collect();
    LinkReport { incidents: incidents.iter().map(|(n, _)| n.clone()).collect(), addresses, transactions }
}

/// The path from the trace's start to `target`: back from it, each time by
/// the transfer in that carried the most, until a start address.
fn path_to(trace: &Trace, target: Address) -> Vec<Step> {
    let starts: BTreeSet<Address> = trace.nodes.iter().filter(|n| n.start).map(|n| n.address).collect();
    let mut steps = Vec::new();
    let mut at = target;
    let mut seen = BTreeSet::new();
    while !starts.contains(&at) && seen.insert(at) {
        let Some(best) = trace.edges.iter().filter(|e| e.to == at).max_by_key(|e| (e.traced, std::cmp::Reverse(e.hop)))
        else {
            break;
        };
        steps.push(Step { tx: best.tx, from: best.from, to: best.to });
        at = best.from;
    }
    steps.reverse();
    steps
}

impl LinkReport {
    /// The report as text for a terminal.
    pub fn to_text(&self, units: &Units) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "incidents: {}", self.incidents.join(", "));
        if self.addresses.is_empty() {
            let _ = writeln!(out, "no address is reached by two or more incidents' funds");
        }
        for shared in &self.addresses {
            let label = shared.label.as_ref().map(|l| format!(" ({}, {})", l.describe(), l.source)).unwrap_or_default();
            let names: BTreeSet<&str> = shared.reached_by.iter().map(|r| r.incident.as_str()).collect();
            let _ = writeln!(
                out,
                "\nshared address {}{label}: reached by {}",
                shared.address.to_checksum(None),
                names.into_iter().collect::<Vec<_>>().join(" and ")
            );
            for reach in &shared.reached_by {
                let _ = writeln!(out, "  {}: {}", reach.incident, units.show(reach.asset, reach.amount));
                for step in &reach.path {
                    let _ = writeln!(out, "    {:#x} -> {:#x}  tx {}", step.from, step.to, step.tx);
                }
            }
        }
        for tx in &self.transactions {
            let _ = writeln!(out, "\nshared transaction {}: {}", tx.tx, tx.incidents.join(", "));
        }
        out
    }
}
