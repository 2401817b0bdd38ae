//! A gateway process killed with SIGKILL in the middle of a burst of
//! payments, then started again: no payment lost, none counted twice.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use alloy_primitives::{Address, U256};
use coffer_devnet::{Anvil, AnvilOptions, deploy_test_usdt};
use serde_json::{Value, json};

use crate::support::{Running, coffer, run_ok, shop_key, write_usdt_config};

const INVOICES: usize = 30;

#[tokio::test]
async fn a_gateway_killed_mid_burst_loses_and_duplicates_no_payment() {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await.unwrap();
    let payer = rpc.accounts().await.unwrap()[1];
    token.mint(rpc, payer, U256::from(1_000_000_000u64)).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let chain = format!("ws_url = \"{}\"\nconfirmations = 2", anvil.ws_url());
    let config = write_usdt_config(dir.path(), "", &chain, &anvil.http_url(), token.address);
    let key = shop_key(&config);

    let mut first = Running::spawn(coffer().args(["gateway", "--config"]).arg(&config));
    let base = first.wait_for_listen();
    let client = reqwest::Client::new();
    let mut invoices = Vec::new();
    for _ in 0..INVOICES {
        let created: Value = client
            .post(format!("{base}/v1/invoices"))
            .bearer_auth(&key)
            .json(&json!({"amount": "1", "asset": "USDT"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        invoices.push(created);
    }

    // A burst of payments, one block each; the gateway is killed a third of the way through.
    for (i, invoice) in invoices.iter().enumerate() {
        let to: Address = invoice["address"].as_str().unwrap().parse().unwrap();
        let tx = token.send_transfer(rpc, payer, to, U256::from(1_000_000u64)).await.unwrap();
        rpc.wait_for_receipt(tx).await.unwrap();
        if i == INVOICES / 3 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            first.child.kill().unwrap(); // SIGKILL: no shutdown, whatever was in flight is lost with the process
            first.child.wait().unwrap();
        }
    }
    rpc.mine(2).await.unwrap();

    let mut second = Running::spawn(coffer().args(["gateway", "--config"]).arg(&config));
    let base = second.wait_for_listen();
    for invoice in &invoices {
        let id = invoice["id"].as_str().unwrap();
        let mut seen = Value::Null;
        for _ in 0..500 {
            seen = client
                .get(format!("{base}/v1/invoices/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if seen["status"] == "settled" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen["status"], "settled", "{seen:#}");
        assert_eq!(seen["payments"].as_array().unwrap().len(), 1, "{seen:#}");
    }
    let balances: Value =
        client.get(format!("{base}/v1/balances")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    assert_eq!(balances["data"][0]["available_units"], (INVOICES * 1_000_000).to_string(), "every payment once");
    let ledger = run_ok(coffer().args(["ledger", "check", "--config"]).arg(&config));
    assert!(ledger.contains("ledger ok"), "{ledger}");
    assert!(second.terminate().success());
}
