//! Every shipped list parses with the counts `../shared/data/SOURCES.md`
//! gives; every malformed line names itself.

#![allow(clippy::unwrap_used)]

use std::str::FromStr;

use coffer_domain::Address;

use crate::builtin::SHIPPED;
use crate::{Category, ChainAddress, Format, ParsedList, ScreeningSet, builtin, parse_list};

fn shipped(name: &str) -> ParsedList {
    let (_, format, bytes) = SHIPPED.iter().find(|(n, _, _)| *n == name).unwrap();
    parse_list(name, bytes, Some(*format)).unwrap()
}

fn chains(list: &ParsedList) -> (usize, usize, usize) {
    let count = |chain: &str| list.entries.iter().filter(|e| e.address.chain() == chain).count();
    (count("evm"), count("bitcoin"), count("tron"))
}

#[test]
fn every_shipped_list_parses_with_its_published_counts() {
    let ofac = shipped("ultrasoundmoney_ofac_ethereum_addresses.csv");
    assert_eq!((ofac.meta.entries, ofac.meta.evm), (97, 97));
    let lazarus = ofac.entries.iter().filter(|e| e.label.as_deref() == Some("LAZARUS GROUP")).count();
    assert_eq!(lazarus, 8);
    let entities: std::collections::HashSet<_> = ofac.entries.iter().map(|e| e.label.clone()).collect();
    assert_eq!(entities.len(), 39);
    assert_eq!(chains(&shipped("0xB10C_sanctioned_addresses_ETH.txt")), (152, 0, 0));
    // 435 lines; one is a TRON address (upstream's list mixes it in): kept as TRON, not mis-read as Bitcoin.
    assert_eq!(chains(&shipped("0xB10C_sanctioned_addresses_XBT.txt")), (0, 434, 1));
    assert_eq!(chains(&shipped("0xB10C_sanctioned_addresses_TRX.txt")), (0, 0, 6));
    assert_eq!(chains(&shipped("0xB10C_sanctioned_addresses_USDT.txt")), (8, 7, 11), "26 lines of three chains");
    assert_eq!(shipped("0xB10C_sanctioned_addresses_USDC.txt").meta.entries, 2);
    let labels = shipped("etherscan_malicious_labels.csv");
    assert_eq!(labels.meta.entries, 7_780);
    // Two of upstream's addresses carry a wrong checksum: kept (their bytes are certain), and reported.
    let flagged: Vec<&str> = labels.meta.warnings.iter().map(|w| w.split(':').next().unwrap()).collect();
    assert_eq!(flagged, ["line 1825", "line 6902"]);
    let of = |c: Category| labels.entries.iter().filter(|e| e.category == c).count();
    assert_eq!((of(Category::Phishing), of(Category::Exploit), of(Category::Heist)), (7_570, 139, 71));
    let contracts = shipped("malicious_smart_contracts.csv");
    assert_eq!(contracts.entries.iter().filter(|e| e.label.is_some() || e.line > 0).count(), 753 * 2);
    assert_eq!(shipped("lazarus.yaml").meta.entries, 21);
    assert_eq!(chains(&shipped("lazarus.yaml")), (1, 20, 0), "20 BTC and the Ronin ETH address");
    assert_eq!(shipped("lazarus2.yaml").meta.entries, 6);
    let exchanges = shipped("etherscan-wordcloud-exchange.yaml");
    assert_eq!(exchanges.meta.entries, 646);
    assert!(exchanges.entries.iter().all(|e| e.category == Category::Exchange));
    assert_eq!(exchanges.meta.version.as_deref(), Some("2023-08-16 12:18:52.619444"));
    let mixers = shipped("etherscan-wordcloud-mixing_service.yaml");
    assert_eq!(mixers.meta.entries, 61);
    assert!(mixers.entries.iter().all(|e| e.category == Category::Mixer));
    let curated = shipped("curated_lazarus_incident_addresses.csv");
    assert_eq!(curated.meta.entries, 75);
    assert_eq!(chains(&curated), (30 + 5 + 2 + 2, 30, 6), "ETH, BSC, POLYGON and the 2 cross-chain are EVM");
    assert_eq!(builtin().len(), SHIPPED.len());
}

#[test]
fn checksummed_and_lower_case_forms_hit_the_same_entry() {
    let mut set = ScreeningSet::new();
    for list in builtin() {
        set.add(list);
    }
    // The Ronin bridge exploiter: OFAC (both lists), the curated incidents and GraphSense.
    let checksummed = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96";
    let address = Address::from_str(checksummed).unwrap();
    let hits = set.hits(&address);
    assert_eq!(set.hits_text(checksummed), hits);
    assert_eq!(set.hits_text(&checksummed.to_ascii_lowercase()), hits);
    let lists: std::collections::HashSet<_> = hits.iter().map(|h| h.list).collect();
    assert!(lists.len() >= 3, "{lists:?}");
    let blocking = set.blocking_hit(&address).unwrap();
    assert_eq!(blocking.category, Category::Sanction, "the most severe wins");
    assert!(blocking.source().contains(':'));
    assert!(set.blocking_hit(&Address::repeat_byte(0x11)).is_none());
}

#[test]
fn other_chains_are_kept_and_screened_by_their_text() {
    let mut set = ScreeningSet::new();
    for list in builtin() {
        set.add(list);
    }
    assert!(set.non_evm_len() > 400);
    let btc = set.hits_text("3LU8wRu4ZnXP4UM8Yo6kkTiGHM9BubgyiG");
    assert!(btc.iter().any(|h| h.list == "curated_lazarus_incident_addresses.csv"), "{btc:?}");
    let tron = shipped("0xB10C_sanctioned_addresses_TRX.txt");
    let ChainAddress::Tron(text) = &tron.entries[0].address else { panic!("{:?}", tron.entries[0]) };
    assert_eq!(set.hits_text(text).len(), 1);
}

#[test]
fn an_exchange_is_a_label_that_never_blocks() {
    let mut set = ScreeningSet::new();
    set.add(shipped("etherscan-wordcloud-exchange.yaml"));
    let address = Address::from_str("0xc96c1609a1a45ccc667b2b7fa6508e29617f7b69").unwrap();
    assert!(set.blocking_hit(&address).is_none());
    let label = set.label(&address).unwrap();
    assert_eq!((label.category, label.label), (Category::Exchange, Some("2GT_token (2GT)")));
}

fn error_line(name: &str, text: &str) -> (usize, String) {
    let err = parse_list(name, text.as_bytes(), None).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{name} line {}", err.line)), "{err}");
    (err.line, err.message)
}

#[test]
fn a_bad_line_names_itself() {
    let good = "0x098b716b8aaf21512996dc57eb0615e2383e2f96";
    let (line, message) = error_line("a.txt", &format!("# comment\n{good}\n0x1234\n"));
    assert_eq!(line, 3);
    assert!(message.contains("not an EVM address"), "{message}");
    // A wrong checksum still names one address: kept, and its line reported.
    let mixed = "0x098B716B8Aaf21512996dC57EB0615E2383E2f96";
    let list = parse_list("a.txt", format!("{good}\n{mixed}\n").as_bytes(), None).unwrap();
    assert_eq!(list.entries.len(), 2);
    assert_eq!(list.entries[0].address, list.entries[1].address);
    assert_eq!(list.meta.warnings.len(), 1);
    assert!(list.meta.warnings[0].starts_with("line 2:") && list.meta.warnings[0].contains("checksum"));
    assert!(error_line("a.txt", &good[2..]).1.contains("without its 0x"));
    assert!(error_line("a.txt", &format!("Ox{}", &good[2..])).1.contains("not an EVM address"));
    let (line, message) = error_line("o.csv", &format!("address,name\n{good},X\n\"{good},open\n"));
    assert_eq!(line, 3);
    assert!(message.contains("does not close"), "{message}");
    let (line, message) = error_line("o.csv", "address,name\n0xabc,X\n");
    assert_eq!(line, 2, "{message}");
    let (line, message) = error_line("f.csv", "banned_address,wallet_tag,data_source\n0x1\n");
    assert_eq!(line, 2);
    assert!(message.contains("fields"), "{message}");
    let (line, message) = error_line(
        "c.csv",
        "incident,incident_date,chain,address,role\nX,2023,ETH,1PfwHNxUnkpfkK9MKjMqzR3Xq3KCtq9u17,thief\n",
    );
    assert_eq!(line, 2);
    assert!(message.contains("not an EVM address"), "{message}");
    let (line, message) = error_line("t.yaml", "title: x\ntags:\n- address: '0x12'\n  currency: ETH\n");
    assert_eq!(line, 3, "{message}");
    let (line, message) =
        error_line("t.yaml", "title: x\ntags:\n- address: 1PfwHNxUnkpfkK9MKjMqzR3Xq3KCtq9u17\n      deep: nested\n");
    assert_eq!(line, 4, "{message}");
    let err = parse_list("mystery.bin", b"whatever", None).unwrap_err();
    assert!(err.message.contains("format"), "{err}");
    assert_eq!(Format::detect("x.csv", "address,name\n"), Some(Format::OfacCsv));
}
