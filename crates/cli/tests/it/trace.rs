//! `coffer trace` and `coffer trace link` against a real anvil: a staged
//! theft (a drained wallet, a peel chain, splits, dust and zero-value
//! spam, a second incident in USDT consolidating at the same address, and
//! the funds ending at an address the shipped TagPack labels as Binance 14)
//! traced to every terminal with the right amounts.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use alloy_primitives::{Address, U256};
use coffer_devnet::{Anvil, AnvilOptions, Rpc, TestToken, deploy_test_usdt};
use serde_json::Value;

use crate::support::{coffer, run_ok};

/// Binance 14, labelled `exchange` in the shipped etherscan-wordcloud TagPack.
const EXCHANGE: &str = "0x28C6c06298d514Db089934071355E5743bf21d60";

fn addr(n: u8) -> Address {
    Address::repeat_byte(n)
}

fn milli_eth(milli: u64) -> U256 {
    U256::from(milli) * U256::from(10u64).pow(U256::from(15))
}

struct Stage {
    anvil: Anvil,
    token: TestToken,
}

impl Stage {
    fn rpc(&self) -> &Rpc {
        self.anvil.rpc()
    }

    async fn eth(&self, from: Address, to: Address, milli: u64) {
        let tx = self.rpc().send_eth(from, to, milli_eth(milli)).await.unwrap();
        self.rpc().wait_for_receipt(tx).await.unwrap();
    }

    async fn usdt(&self, from: Address, to: Address, whole: u64) {
        let tx = self.token.send_transfer(self.rpc(), from, to, U256::from(whole) * U256::from(1_000_000u64)).await;
        self.rpc().wait_for_receipt(tx.unwrap()).await.unwrap();
    }
}

/// Every actor may send (anvil impersonates it) and has a gas float that
/// is no transfer, so the trace sees exactly the staged money.
async fn stage() -> (Stage, Address, Address) {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let token = deploy_test_usdt(anvil.rpc()).await.unwrap();
    let stage = Stage { anvil, token };
    let exchange: Address = EXCHANGE.parse().unwrap();
    let (e1, e2, clean, spammer) = (addr(0xe1), addr(0xe2), addr(0x0c), addr(0x5a));
    for a in [e1, e2, clean, spammer, addr(1), addr(2), addr(3), addr(0xcc), addr(0x11)] {
        stage.rpc().impersonate(a, U256::from(10u64).pow(U256::from(18))).await.unwrap();
    }
    stage.rpc().impersonate(e1, milli_eth(101_000)).await.unwrap();
    stage.rpc().impersonate(clean, milli_eth(6_000)).await.unwrap();
    stage.token.mint(stage.rpc(), e2, U256::from(50_000_000_000u64)).await.unwrap();

    // Clean money at the consolidation address first.
    stage.eth(clean, addr(0xcc), 5_000).await;
    // Incident one, in ether: drained to P1, peeled along P1 → P2 → P3.
    stage.eth(e1, addr(1), 100_000).await;
    stage.usdt(spammer, addr(1), 0).await; // zero-value spam
    stage.eth(addr(1), addr(2), 90_000).await;
    stage.eth(addr(1), addr(0x51), 10_000).await;
    stage.eth(addr(2), addr(3), 80_000).await;
    stage.eth(addr(2), addr(0x52), 9_999).await;
    stage.eth(addr(2), addr(0xd0), 1).await; // dust
    // Incident two, in USDT, splits at Q1 and joins at C.
    stage.usdt(e2, addr(0x11), 50_000).await;
    stage.usdt(addr(0x11), addr(0xcc), 30_000).await;
    stage.usdt(addr(0x11), addr(0x12), 20_000).await;
    stage.eth(addr(3), addr(0xcc), 80_000).await;
    // C pays the exchange: 80 ETH (FIFO: the 5 clean first, so 75 of incident one) and the USDT.
    stage.eth(addr(0xcc), exchange, 80_000).await;
    stage.usdt(addr(0xcc), exchange, 30_000).await;
    (stage, e1, e2)
}

fn terminals(trace: &Value) -> BTreeMap<String, (String, String)> {
    trace["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let address = t["address"].as_str().unwrap().to_lowercase();
            (address, (t["amount"].as_str().unwrap().to_owned(), t["why"].as_str().unwrap().to_owned()))
        })
        .collect()
}

fn lower(a: Address) -> String {
    format!("{a:#x}")
}

#[tokio::test]
async fn a_staged_theft_on_anvil_is_traced_to_every_terminal_and_linked() {
    let (stage, e1, e2) = stage().await;
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("trace.json"), dir.path().join("trace.svg"));
    let url = stage.anvil.http_url();
    let table = run_ok(
        coffer()
            .args(["trace", &lower(e1), "--rpc-url", &url, "--depth", "6", "--dust", "0.01", "--json"])
            .arg(&json)
            .arg("--svg")
            .arg(&svg),
    );
    let trace: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let wei = |milli: u64| milli_eth(milli).to_string();
    let expected: BTreeMap<String, (String, String)> = [
        (lower(addr(0x51)), (wei(10_000), "holds".to_owned())),
        (lower(addr(0x52)), (wei(9_999), "holds".to_owned())),
        (lower(addr(0xcc)), (wei(5_000), "holds".to_owned())),
        (EXCHANGE.to_lowercase(), (wei(75_000), "reached".to_owned())),
    ]
    .into();
    assert_eq!(terminals(&trace), expected, "{table}");
    assert!(table.contains("reached: exchange"), "{table}");
    assert!(
        trace["source"].as_str().unwrap().contains("trace_filter"),
        "says how ether was found: {}",
        trace["source"]
    );
    assert_eq!(trace["ignored"]["dust"], 1, "{:#}", trace["ignored"]);
    assert!(trace["ignored"]["zero_value"].as_u64().unwrap() >= 1, "{:#}", trace["ignored"]);
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && !picture.contains("<script"));

    // The USDT incident alone: 30,000 to the exchange via C, 20,000 held at Q2.
    let second = run_ok(coffer().args(["trace", &lower(e2), "--rpc-url", &url, "--json"]).arg(&json));
    let trace: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let usdt = |whole: u64| (U256::from(whole) * U256::from(1_000_000u64)).to_string();
    let expected: BTreeMap<String, (String, String)> = [
        (lower(addr(0x12)), (usdt(20_000), "holds".to_owned())),
        (EXCHANGE.to_lowercase(), (usdt(30_000), "reached".to_owned())),
    ]
    .into();
    assert_eq!(terminals(&trace), expected, "{second}");

    // Linked: the two incidents met at C and at the exchange.
    let report_file = dir.path().join("link.json");
    let text = run_ok(
        coffer()
            .args(["trace", "link", "--rpc-url", &url])
            .args(["--incident", &format!("ether-theft={}", lower(e1))])
            .args(["--incident", &format!("usdt-theft={}", lower(e2))])
            .arg("--json")
            .arg(&report_file),
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    let shared: Vec<String> =
        report["addresses"].as_array().unwrap().iter().map(|a| a["address"].as_str().unwrap().to_lowercase()).collect();
    assert!(shared.contains(&lower(addr(0xcc))) && shared.contains(&EXCHANGE.to_lowercase()), "{text}");
    assert_eq!(shared.len(), 2, "nothing else is shared: {text}");
    let c = report["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"].as_str().unwrap().to_lowercase() == lower(addr(0xcc)));
    let paths: Vec<usize> =
        c.unwrap()["reached_by"].as_array().unwrap().iter().map(|r| r["path"].as_array().unwrap().len()).collect();
    assert_eq!(paths.iter().copied().max(), Some(4), "E1 → P1 → P2 → P3 → C: {text}");
    assert!(text.contains("reached by ether-theft and usdt-theft"), "{text}");
}

/// Both ways of reading ether from the node (the range once, indexed here;
/// or `trace_filter` per address) must find the same money.
#[tokio::test]
async fn reading_ether_once_per_range_or_per_address_finds_the_same_trace() {
    use coffer_trace::{NoLabels, Params, RpcSource, Start};

    let (stage, e1, _) = stage().await;
    let url = stage.anvil.http_url();
    let head = RpcSource::head(&url).await.unwrap();
    let params = Params { max_depth: 6, ..Params::default() };
    let start = Start::Addresses(vec![e1]);
    let mut traces = Vec::new();
    let mut filter_requests = Vec::new();
    for index_up_to in [coffer_trace::INDEX_NATIVE_UP_TO_BLOCKS, 0] {
        let mut source = RpcSource::new(&url, 0, head, Vec::new()).unwrap().index_native_up_to(index_up_to);
        let trace = coffer_trace::trace(&mut source, &NoLabels, &start, &params).await.unwrap();
        filter_requests.push(source.queries().iter().filter(|(method, _)| method == "trace_filter").count());
        let json = serde_json::to_value(&trace).unwrap();
        traces.push((json["edges"].clone(), json["terminals"].clone(), json["ignored"].clone()));
    }
    assert_eq!(traces[0], traces[1], "the same edges, terminals and ignored transfers");
    assert!(traces[0].0.as_array().unwrap().len() >= 7, "the peel chain was followed: {:#}", traces[0].0);
    assert_eq!(filter_requests[0], head.div_ceil(32).max(1) as usize, "one unfiltered read per 32 blocks");
    assert!(filter_requests[1] >= 2 * 6, "two per address read: {filter_requests:?}");
}
