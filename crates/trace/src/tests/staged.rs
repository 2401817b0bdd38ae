//! A staged theft in memory: a peel chain, splits, dust and spam, two
//! incidents consolidating at one address, the rest reaching an exchange.
//! (The same shape runs on a real anvil in the CLI's tests.)

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};
use coffer_domain::Timestamp;

use crate::{
    Asset, Direction, Label, Labels, MemorySource, Params, Rule, Start, Trace, Transfer, TransferId, Units, Why, link,
    trace,
};

fn a(n: u8) -> Address {
    Address::repeat_byte(n)
}
const E1: u8 = 0xe1;
const E2: u8 = 0xe2;
const P1: u8 = 0x01;
const P2: u8 = 0x02;
const P3: u8 = 0x03;
const S1: u8 = 0x51;
const S2: u8 = 0x52;
const DUST: u8 = 0xd0;
const C: u8 = 0xcc;
const Q1: u8 = 0x11;
const Q2: u8 = 0x12;
const X: u8 = 0xee;

/// `milli` thousandths of an ether.
fn eth(milli: u64) -> U256 {
    U256::from(milli) * U256::from(10u64).pow(U256::from(15))
}

fn transfers() -> Vec<Transfer> {
    let rows: [(u64, u8, u8, u64); 15] = [
        (1, 0x0c, C, 5_000), // clean money at C first
        (1, 0x99, E1, 100_000),
        (2, E1, P1, 100_000),
        (2, 0x5a, P1, 0), // zero-value spam
        (3, P1, P2, 90_000),
        (3, P1, S1, 10_000), // a peel
        (4, P2, P3, 80_000),
        (4, P2, S2, 9_999),
        (4, P2, DUST, 1), // dust
        (5, P3, C, 80_000),
        (2, 0x98, E2, 50_000),
        (3, E2, Q1, 50_000),
        (4, Q1, C, 30_000), // the second incident joins at C
        (5, Q1, Q2, 20_000),
        (6, C, X, 110_000), // to the exchange
    ];
    rows.iter()
        .enumerate()
        .map(|(i, &(block, from, to, milli))| Transfer {
            id: TransferId { tx: B256::with_last_byte(i as u8 + 1), index: 0 },
            block,
            seq: i as u64,
            time: Timestamp::from_unix_secs(1_700_000_000 + block * 12),
            from: a(from),
            to: a(to),
            asset: Asset::Native,
            amount: eth(milli),
        })
        .collect()
}

struct Exchange;
impl Labels for Exchange {
    fn label(&self, address: &Address) -> Option<Label> {
        (*address == a(X)).then(|| Label {
            category: "exchange".into(),
            name: "Binance 14".into(),
            source: "test:1".into(),
            stops: true,
        })
    }
}

async fn run(start: u8, rule: Rule) -> Trace {
    let mut source = MemorySource::new(transfers(), "memory");
    let params = Params { dust: eth(1) + U256::from(1u8), rule, max_depth: 8, ..Params::default() };
    trace(&mut source, &Exchange, &Start::Addresses(vec![a(start)]), &params).await.unwrap()
}

fn terminals(trace: &Trace) -> BTreeMap<Address, (U256, Why)> {
    trace.terminals.iter().map(|t| (t.address, (t.amount, t.why))).collect()
}

#[tokio::test]
async fn the_first_incident_is_traced_to_every_terminal_with_fifo_amounts() {
    let trace = run(E1, Rule::Fifo).await;
    let expected: BTreeMap<Address, (U256, Why)> = [
        (a(S1), (eth(10_000), Why::Holds)),
        (a(S2), (eth(9_999), Why::Holds)),
        // C held 5 clean ether, then 30 of the second incident, then 80 of
        // this one; 110 left: FIFO takes the 5 and the 30 first, so 75 of this.
        (a(X), (eth(75_000), Why::Reached)),
        (a(C), (eth(5_000), Why::Holds)),
    ]
    .into();
    assert_eq!(terminals(&trace), expected, "{}", trace.summary_table(&Units::new()));
    assert_eq!((trace.ignored.dust, trace.ignored.zero_value), (1, 1), "the dust and the spam are left out");
    // Every wei is somewhere: at a terminal or in the dust left out.
    assert_eq!(trace.total_at_terminals(Asset::Native) + trace.ignored.dust_amounts[&Asset::Native], eth(100_000));
    let table = trace.summary_table(&Units::new());
    assert!(table.contains("reached: exchange Binance 14") && table.contains("75 ETH"), "{table}");
    assert!(!trace.nodes.iter().any(|n| n.address == a(DUST)), "dust is not a node");
}

#[tokio::test]
async fn proportional_splits_the_consolidation_by_share_and_conserves_every_wei() {
    let trace = run(E1, Rule::Proportional).await;
    let at = terminals(&trace);
    // At C: 5 + 30 + 80 = 115 held; 110 leave, 80/115 of them this incident's.
    // Shares round down; the units left over go to the largest lot (this incident's).
    let share = |lot: u64| eth(110_000) * U256::from(lot) / U256::from(115u8);
    let rest = eth(110_000) - share(5) - share(30) - share(80);
    let to_exchange = share(80) + rest;
    assert_eq!(at[&a(X)].0, to_exchange);
    assert_eq!(at[&a(C)].0, eth(80_000) - to_exchange);
    assert_eq!(trace.total_at_terminals(Asset::Native) + trace.ignored.dust_amounts[&Asset::Native], eth(100_000));
}

#[tokio::test]
async fn backward_from_the_exchange_finds_both_incidents_and_the_clean_money() {
    let mut source = MemorySource::new(transfers(), "memory");
    let params = Params { direction: Direction::Backward, max_depth: 8, ..Params::default() };
    let trace = trace(&mut source, &crate::NoLabels, &Start::Transaction(B256::with_last_byte(15)), &params).await;
    let at = terminals(&trace.unwrap());
    assert_eq!(at[&a(0x0c)], (eth(5_000), Why::Origin), "the clean deposit");
    assert_eq!(at[&a(0x98)], (eth(30_000), Why::Origin), "the second incident's source");
    assert_eq!(at[&a(0x99)], (eth(75_000), Why::Origin), "the first incident's source");
}

#[tokio::test]
async fn link_finds_where_the_two_incidents_met() {
    let incidents =
        vec![("first".to_owned(), run(E1, Rule::Fifo).await), ("second".to_owned(), run(E2, Rule::Fifo).await)];
    let report = link(&incidents);
    let shared: Vec<Address> = report.addresses.iter().map(|s| s.address).collect();
    assert_eq!(shared, vec![a(C), a(X)], "C (most money), then the exchange");
    let c = &report.addresses[0];
    let second = c.reached_by.iter().find(|r| r.incident == "second").unwrap();
    assert_eq!(second.amount, eth(30_000));
    let path: Vec<Address> = second.path.iter().map(|s| s.to).collect();
    assert_eq!(path, vec![a(Q1), a(C)]);
    let first = c.reached_by.iter().find(|r| r.incident == "first").unwrap();
    assert_eq!(first.path.iter().map(|s| s.to).collect::<Vec<_>>(), vec![a(P1), a(P2), a(P3), a(C)]);
    assert_eq!(report.transactions.len(), 1, "the transfer to the exchange carried both");
    let text = report.to_text(&Units::new());
    assert!(text.contains("reached by first and second"), "{text}");
}

#[tokio::test]
async fn the_picture_and_the_evidence_escape_hostile_labels() {
    struct Hostile;
    impl Labels for Hostile {
        fn label(&self, address: &Address) -> Option<Label> {
            (*address == a(X)).then(|| Label {
                category: "exchange".into(),
                name: "<script>alert(1)</script>, \"x\"".into(),
                source: "evil.csv:1".into(),
                stops: true,
            })
        }
    }
    let mut source = MemorySource::new(transfers(), "memory");
    let trace = trace(&mut source, &Hostile, &Start::Addresses(vec![a(E1)]), &Params::default()).await.unwrap();
    let svg = trace.to_svg(&Units::new());
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(!svg.contains("<script") && svg.contains("&lt;script&gt;"));
    assert!(
        !svg.contains("http://")
            || svg.matches("http://").all(|_| svg.contains("xmlns=\"http://www.w3.org/2000/svg\""))
    );
    for node in &trace.nodes {
        assert!(svg.contains(&node.address.to_checksum(None)), "every address is drawn");
    }
    let csv = trace.to_csv();
    assert_eq!(csv.lines().count(), trace.edges.len() + 1);
    assert!(csv.contains("\"exchange <script>alert(1)</script>, \"\"x\"\"\""), "{csv}");
    let json = trace.to_json();
    assert_eq!(json["terminals"][0]["why"], "reached");
    assert!(json["terminals"][0]["amount"].is_string(), "amounts as decimal strings");
}
