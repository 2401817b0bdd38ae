//! Real ETH transfers around the Ronin bridge exploiter (dspytdao's
//! export of Dune data, `../shared/data/tracing/`), traced by the product
//! and by an independent computation written here another way: one pass
//! over every row in time order, each address a FIFO queue of lots that
//! carry their tainted part, in u128 wei. The tracer instead walks address
//! by address and re-expands; both must agree on every terminal, to the wei.

use std::collections::{BTreeMap, HashMap, VecDeque};

use alloy_primitives::{Address, U256};

use crate::{MemorySource, NoLabels, Params, Start, parse_transfers_csv, trace};

const RONIN_EXPLOITER: &str = "0x098b716b8aaf21512996dc57eb0615e2383e2f96";

fn dataset() -> Option<String> {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/tracing/dspytdao_LazarusTabularTxs1322519.csv");
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("SKIPPED: the Lazarus transfers are not at {path} ({e})");
            None
        }
    }
}

/// `12.5`, `1e-05`: ether text to wei, by integer maths on the parts.
fn wei_of(text: &str) -> u128 {
    let (mantissa, exponent) = text.split_once('e').map_or((text, 0i32), |(m, e)| (m, e.parse().unwrap()));
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut wei = whole.parse::<u128>().unwrap() * 10u128.pow(18);
    for (i, digit) in frac.chars().enumerate() {
        wei += u128::from(digit.to_digit(10).unwrap()) * 10u128.pow(17 - i as u32);
    }
    if exponent >= 0 { wei * 10u128.pow(exponent as u32) } else { wei / 10u128.pow(exponent.unsigned_abs()) }
}

/// The independent computation: (address → tainted wei left there).
fn by_hand(text: &str, start: &str) -> BTreeMap<String, u128> {
    let mut rows: Vec<(String, usize, String, String, u128)> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let wei = wei_of(f[3]);
        let hex = |s: &str| format!("0x{}", s.trim_start_matches("\\x").to_lowercase());
        rows.push((f[0].to_owned(), i + 1, hex(f[1]), hex(f[2]), wei));
    }
    // RFC 3339 in one offset sorts as text.
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut lots: HashMap<String, VecDeque<(u128, u128)>> = HashMap::new();
    let mut returned: Option<u128> = None;
    for (_, _, from, to, wei) in rows {
        if wei == 0 || from == to {
            continue;
        }
        let tainted = if from == start {
            wei
        } else {
            let queue = lots.entry(from.clone()).or_default();
            let (mut due, mut tainted) = (wei, 0u128);
            while due > 0 {
                let Some(front) = queue.front_mut() else { break };
                let take = due.min(front.0);
                let part = U256::from(take) * U256::from(front.1) / U256::from(front.0);
                tainted += part.to::<u128>();
                *front = (front.0 - take, front.1 - part.to::<u128>());
                due -= take;
                if front.0 == 0 {
                    queue.pop_front();
                }
            }
            tainted
        };
        if to == start {
            // Back at the start: it ends there (it was counted when it left).
            *returned.get_or_insert(0) += tainted;
        } else {
            lots.entry(to).or_default().push_back((wei, tainted));
        }
    }
    let back = returned.map(|r| (start.to_owned(), VecDeque::from([(r, r)])));
    lots.into_iter()
        .chain(back)
        .map(|(address, queue)| (address, queue.iter().map(|l| l.1).sum::<u128>()))
        .filter(|(_, tainted)| *tainted > 0)
        .collect()
}

#[test]
fn the_export_parses_with_its_counts() {
    let Some(text) = dataset() else { return };
    let transfers = parse_transfers_csv("lazarus.csv", &text).unwrap();
    assert_eq!(transfers.len(), 436);
    assert_eq!(transfers.iter().filter(|t| t.amount.is_zero()).count(), 125);
    let mut broken = text.lines().take(3).collect::<Vec<_>>().join("\n");
    broken.push_str("\n2022-03-29T16:11:28+00:00,\\x03cf,\\x098b716b8aaf21512996dc57eb0615e2383e2f96,1.5\n");
    let error = parse_transfers_csv("lazarus.csv", &broken).unwrap_err();
    assert_eq!(error.line, 4, "{error}");
    let finer = parse_transfers_csv(
        "x.csv",
        "block_time,from,to,total_eth\n2022-03-29T16:11:28+00:00,0x0000000000000000000000000000000000000001,0x0000000000000000000000000000000000000002,0.0000000000000000001\n",
    );
    assert!(finer.unwrap_err().message.contains("18 decimals"));
}

#[tokio::test]
async fn the_trace_from_the_ronin_exploiter_matches_an_independent_computation() {
    let Some(text) = dataset() else { return };
    let mut source = MemorySource::new(parse_transfers_csv("lazarus.csv", &text).unwrap(), "CSV export");
    let start: Address = RONIN_EXPLOITER.parse().unwrap();
    let params = Params { max_depth: 1_000, max_addresses: 100_000, ..Params::default() };
    let traced = trace(&mut source, &NoLabels, &Start::Addresses(vec![start]), &params).await.unwrap();
    let product: BTreeMap<String, u128> =
        traced.terminals.iter().map(|t| (format!("{:#x}", t.address), t.amount.to::<u128>())).collect();
    let expected = by_hand(&text, RONIN_EXPLOITER);
    assert!(!expected.is_empty());
    assert_eq!(product, expected);
    assert!(traced.ignored.zero_value > 0, "the zero-value messages are counted and left out");
}
