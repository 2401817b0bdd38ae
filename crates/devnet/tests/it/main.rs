//! The local chain, against a real anvil; and the npm supply chain it comes from.

#![allow(clippy::unwrap_used)]

mod supply_chain;

use std::process::Command;

use alloy_primitives::{Address, U256, address, keccak256};
use coffer_devnet::{ANVIL_CHAIN_ID, Anvil, AnvilOptions, deploy_test_usdt, repo_root};
use serde_json::json;

/// Where anvil's first account deploys at nonce 0; `coffer dev` configures USDT there.
const FIRST_CONTRACT: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");

#[tokio::test]
async fn anvil_starts_on_a_free_port_and_stops_when_dropped() {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let chain_id = anvil.rpc().call("eth_chainId", json!([])).await.unwrap();
    assert_eq!(chain_id, format!("0x{ANVIL_CHAIN_ID:x}"));
    let second = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    assert_ne!(anvil.port(), second.port());
    let pid = anvil.pid();
    drop(anvil);
    let alive = Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(!alive, "anvil (pid {pid}) outlived its handle");
}

#[tokio::test]
async fn the_test_usdt_deploys_mints_and_transfers_with_transfer_logs() {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await.unwrap();
    assert_eq!(token.address, FIRST_CONTRACT);
    let payer: Address = rpc.call("eth_accounts", json!([])).await.unwrap()[1].as_str().unwrap().parse().unwrap();
    let shop = address!("00000000000000000000000000000000000c0ffe");
    token.mint(rpc, payer, U256::from(100_000_000u64)).await.unwrap();
    let receipt = token.transfer(rpc, payer, shop, U256::from(12_500_000u64)).await.unwrap();
    assert_eq!(token.balance_of(rpc, shop).await.unwrap(), U256::from(12_500_000u64));
    assert_eq!(token.balance_of(rpc, payer).await.unwrap(), U256::from(87_500_000u64));

    // Exactly one standard Transfer(from, to, value) log, as the watcher will read it.
    let logs = receipt["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    let topics = logs[0]["topics"].as_array().unwrap();
    assert_eq!(topics[0].as_str().unwrap(), format!("{}", keccak256("Transfer(address,address,uint256)")));
    assert!(topics[2].as_str().unwrap().ends_with("c0ffe"));
    // Like mainnet USDT, transfer returns nothing.
    let abi: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("contracts/TestUSDT.json")).unwrap()).unwrap();
    let transfer = abi["abi"].as_array().unwrap().iter().find(|f| f["name"] == "transfer").unwrap();
    assert_eq!(transfer["outputs"], json!([]));
    assert_eq!(token.balance_of(rpc, Address::ZERO).await.unwrap(), U256::ZERO);
}

#[test]
fn the_committed_bytecode_is_what_the_source_compiles_to() {
    let root = repo_root();
    // The pinned solc-js comes with the same `npm ci` as anvil.
    coffer_devnet::anvil_binary().unwrap();
    let output = Command::new("node").arg(root.join("tools/compile-contracts.js")).arg("--check").output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
