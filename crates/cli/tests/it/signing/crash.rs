#![allow(clippy::unwrap_used)]

//! A signer SIGKILLed at any moment between signing and confirmation, and
//! started again, never pays twice: the decision, the nonce and the signed
//! bytes are stored in one transaction before anything is broadcast, and
//! after a restart the same bytes are sent again.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy_primitives::{Address, U256};

use super::harness::{Limits, Treasury, payout_id};

/// A small deterministic generator; the seed is printed, so a failure replays.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[tokio::test]
async fn a_signer_killed_again_and_again_during_payouts_pays_each_once() {
    let rounds: u64 = std::env::var("COFFER_CRASH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(8);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("crash seed {seed}, {rounds} rounds");
    let mut random = Lcg(seed);
    let mut treasury = Treasury::new(Limits { usdt_count_1h: 1000, ..Limits::default() }).await;
    treasury.fund_hot(10, 50_000_000_000).await;
    treasury.start().await;

    // Each payout to its own address, of its own amount: what arrived tells who was paid how often.
    let mut payouts: BTreeMap<String, (Address, U256)> = BTreeMap::new();
    for round in 0..rounds {
        let mut asks = Vec::new();
        for k in 0..3u64 {
            let n = round * 3 + k + 1;
            let id = payout_id();
            let to = Address::from_word(U256::from(0xd0_0000u64 + n).into());
            payouts.insert(id.clone(), (to, U256::from(1_000_000 + n)));
            asks.push(id);
        }
        // Old ones asked again too, as a gateway reconciling after its own restart would.
        let old: Vec<String> = payouts.keys().take(2).cloned().collect();
        let requests = asks.iter().chain(old.iter()).map(|id| {
            let (to, amount) = payouts[id];
            let treasury = &treasury;
            let id = id.clone();
            async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), treasury.pay(&id, "USDT", amount, to)).await;
            }
        });
        let kill_after = Duration::from_millis(random.next(400));
        let _ = tokio::time::timeout(kill_after, futures_util::future::join_all(requests)).await;
        treasury.kill();
        treasury.start().await;
    }
    // Every payout asked until it is final; each must confirm.
    for (id, (to, amount)) in &payouts {
        let answer = treasury.pay(id, "USDT", *amount, *to).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        treasury.wait_for(id, "confirmed").await;
    }
    for (id, (to, amount)) in &payouts {
        assert_eq!(treasury.usdt(*to).await, *amount, "{id} paid once (seed {seed})");
    }
    let mined = treasury.anvil.rpc().call("eth_getTransactionCount", serde_json::json!([treasury.hot, "latest"])).await;
    let mined = u64::from_str_radix(mined.unwrap().as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(mined, payouts.len() as u64, "one transaction per payout from the hot wallet (seed {seed})");
}
