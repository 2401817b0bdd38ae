//! Sweeps: the signer derives the deposit, reads its balance from its own
//! node and chooses the treasury wallet; the gateway names only the index.

#![allow(clippy::unwrap_used)]

use alloy_primitives::{Address, U256};
use coffer_xpub::DepositDeriver;

use super::harness::{Limits, Treasury, sweep_id, usdt};

fn deposit(treasury: &Treasury, index: u32) -> Address {
    let deriver = DepositDeriver::from_xpub(&treasury.xpub).unwrap();
    deriver.derive(coffer_domain::DerivationIndex::try_from(u64::from(index)).unwrap()).unwrap().address
}

#[tokio::test]
async fn eth_and_usdt_deposits_are_swept_into_the_hot_wallet_with_a_gas_top_up_for_usdt() {
    let mut treasury = Treasury::new(Limits::default()).await;
    treasury.fund_hot(5, 0).await;
    treasury.start().await;
    let rpc = treasury.anvil.rpc();
    let payer = rpc.accounts().await.unwrap()[1];

    // ETH: the deposit pays its own gas; the rest reaches the hot wallet.
    let eth_deposit = deposit(&treasury, 3);
    let one_eth = U256::from(10u64).pow(U256::from(18u64));
    rpc.wait_for_receipt(rpc.send_eth(payer, eth_deposit, one_eth).await.unwrap()).await.unwrap();
    let hot_before = treasury.eth(treasury.hot).await;
    let id = sweep_id();
    let answer = treasury.sweep(&id, "ETH", 3).await;
    assert_eq!(answer.body["state"], "broadcast", "{}", answer.body);
    assert_eq!(answer.body["transfer"]["wallet"], "hot");
    let done = treasury.wait_for(&id, "confirmed").await;
    let swept: U256 = done["transfer"]["amount"].as_str().unwrap().parse().unwrap();
    assert!(swept > one_eth * U256::from(99u64) / U256::from(100u64), "{done}");
    assert_eq!(treasury.eth(treasury.hot).await, hot_before + swept);
    let units = |v: &serde_json::Value| v.as_str().unwrap().parse::<U256>().unwrap();
    assert!(done.get("top_up").is_none(), "an ETH deposit pays its own gas: {done}");
    let gas = units(&done["network_fee"]);
    assert_eq!(treasury.eth(eth_deposit).await, one_eth - swept - gas, "its own transaction's gas: {done}");

    // USDT: the deposit has no ETH; the hot wallet tops it up, then it sends.
    let usdt_deposit = deposit(&treasury, 4);
    treasury.token.mint(rpc, usdt_deposit, usdt(75)).await.unwrap();
    let hot_before = treasury.eth(treasury.hot).await;
    let id = sweep_id();
    let answer = treasury.sweep(&id, "USDT", 4).await;
    assert_eq!(answer.body["state"], "pending", "waiting for its gas: {}", answer.body);
    let done = treasury.wait_for(&id, "confirmed").await;
    assert_eq!(done["transfer"]["wallet"], "hot");
    assert_eq!(treasury.usdt(treasury.hot).await, usdt(75));
    assert_eq!(treasury.usdt(usdt_deposit).await, U256::ZERO);
    // The outcome says where the ETH went: the hot wallet lost the top-up
    // and its gas, the deposit keeps the top-up less its own transfer's gas.
    let top_up = &done["top_up"];
    assert!(top_up["tx_hash"].is_string(), "{done}");
    let (sent, top_up_gas, gas) =
        (units(&top_up["amount"]), units(&top_up["network_fee"]), units(&done["network_fee"]));
    assert!(sent > U256::ZERO && top_up_gas > U256::ZERO && gas > U256::ZERO, "{done}");
    assert_eq!(treasury.eth(treasury.hot).await, hot_before - sent - top_up_gas, "{done}");
    assert_eq!(treasury.eth(usdt_deposit).await, sent - gas, "{done}");

    // Nothing left: a second sweep of the same deposit is refused, not topped up again.
    let again = treasury.sweep(&sweep_id(), "USDT", 4).await;
    assert_eq!(again.body["rule"], "sweep.below_minimum", "{}", again.body);
}

#[tokio::test]
async fn above_the_hot_cap_a_sweep_goes_to_cold_and_the_excess_of_hot_moves_there_too() {
    let limits = Limits { usdt_hot_cap: "100", ..Limits::default() };
    let mut treasury = Treasury::new(limits).await;
    treasury.fund_hot(5, 90_000_000).await; // 90 USDT: under the cap of 100
    treasury.start().await;
    let rpc = treasury.anvil.rpc();
    let dep = deposit(&treasury, 7);
    treasury.token.mint(rpc, dep, usdt(30)).await.unwrap();
    let id = sweep_id();
    treasury.sweep(&id, "USDT", 7).await;
    let done = treasury.wait_for(&id, "confirmed").await;
    assert_eq!(done["transfer"]["wallet"], "cold", "90 + 30 would pass the cap: {done}");
    assert_eq!(treasury.usdt(treasury.cold).await, usdt(30));

    // The hot wallet itself above its cap (funds arriving from outside): the excess goes to cold.
    treasury.token.mint(rpc, treasury.hot, usdt(50)).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while treasury.usdt(treasury.hot).await != usdt(100) {
        assert!(std::time::Instant::now() < deadline, "hot holds {}", treasury.usdt(treasury.hot).await);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(treasury.usdt(treasury.cold).await, usdt(70));
}
