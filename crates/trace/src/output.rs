//! A trace as evidence: JSON (amounts as decimal strings, so no reader
//! rounds them), CSV of every transfer followed, and a summary table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use alloy_primitives::U256;
use coffer_domain::Timestamp;
use serde::Serializer;

use crate::{Asset, Trace};

pub(crate) fn decimal<S: Serializer>(value: &U256, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string())
}

pub(crate) fn rfc3339<S: Serializer>(value: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_rfc3339())
}

pub(crate) fn decimal_map<S: Serializer>(value: &BTreeMap<Asset, U256>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(value.iter().map(|(asset, amount)| (asset.to_string(), amount.to_string())))
}

/// How to show an asset's amounts: its symbol and decimals.
#[derive(Clone, Debug, Default)]
pub struct Units(BTreeMap<Asset, (String, u8)>);

impl Units {
    /// Ether as ETH with 18 decimals; tokens in base units until [`Units::token`] names them.
    pub fn new() -> Self {
        let mut map = BTreeMap::new();
        map.insert(Asset::Native, ("ETH".to_owned(), 18));
        Self(map)
    }

    /// Names a token.
    pub fn token(mut self, contract: alloy_primitives::Address, symbol: &str, decimals: u8) -> Self {
        self.0.insert(Asset::Token(contract), (symbol.to_owned(), decimals));
        self
    }

    /// `12.5 USDT`, or `12500000 units of token:0x…` for a token not named.
    pub fn show(&self, asset: Asset, amount: U256) -> String {
        match self.0.get(&asset) {
            Some((symbol, decimals)) => format!("{} {symbol}", coffer_domain::format_units(amount, *decimals)),
            None => format!("{amount} units of {asset}"),
        }
    }
}

impl Trace {
    /// The whole trace as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Every transfer followed, one CSV row each (RFC 4180; addresses and
    /// hashes in full, amounts in base units).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("hop,time,block,tx,index,from,to,asset,amount,traced,from_label,to_label\n");
        let label = |address| {
            self.nodes.iter().find(|n| n.address == address).and_then(|n| n.label.as_ref()).map(|l| l.describe())
        };
        for e in &self.edges {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{:#x},{:#x},{},{},{},{},{}",
                e.hop,
                e.time.to_rfc3339(),
                e.block,
                e.tx,
                e.index,
                e.from,
                e.to,
                e.asset,
                e.amount,
                e.traced,
                csv_field(&label(e.from).unwrap_or_default()),
                csv_field(&label(e.to).unwrap_or_default()),
            );
        }
        out
    }

    /// Where the money is now, largest first, as a table for a terminal.
    pub fn summary_table(&self, units: &Units) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} trace from {} ({} rule, {} hops at most; {})",
            self.direction.as_str(),
            self.start.join(", "),
            self.rule.as_str(),
            self.max_depth,
            self.source
        );
        let _ = writeln!(
            out,
            "{} addresses read, {} transfers followed; ignored: {} zero-value, {} dust{}",
            self.addresses_read,
            self.edges.len(),
            self.ignored.zero_value,
            self.ignored.dust,
            if self.truncated { "; TRUNCATED at the address cap" } else { "" }
        );
        let rows: Vec<[String; 6]> = self
            .terminals
            .iter()
            .map(|t| {
                [
                    t.address.to_checksum(None),
                    units.show(t.asset, t.amount),
                    t.why.describe(t.label.as_ref()),
                    t.hops.to_string(),
                    t.first.to_rfc3339(),
                    t.last.to_rfc3339(),
                ]
            })
            .collect();
        let header = ["address", "amount", "where", "hops", "first", "last"].map(str::to_owned);
        let widths: Vec<usize> =
            (0..6).map(|i| rows.iter().chain([&header]).map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        for row in [&header].into_iter().chain(rows.iter()) {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        }
        out
    }
}

/// A CSV field, quoted when it must be.
pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}
