//! `GET /v1/treasury`: the books beside a real chain (anvil, the test
//! USDT), for the operator's token only, on the operator listener when one
//! is configured.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use alloy_primitives::U256;
use coffer_devnet::{Anvil, AnvilOptions, deploy_test_usdt};
use coffer_store::on_both_backends;
use coffer_store::testing::{Kind, TestDatabase};
use serde_json::Value;

use crate::helpers::{SignerKeys, assert_error, spawn_app_with, until_json};
use crate::shop::{ChainOptions, shop_config_with};
use crate::signer_double::identity;

on_both_backends!(payout_treasury_shows_the_books_beside_the_chain);

async fn payout_treasury_shows_the_books_beside_the_chain(kind: Kind) {
    let Some(db) = TestDatabase::new(kind).await else { return };
    let db = Arc::new(db);
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await.unwrap();
    let accounts = rpc.accounts().await.unwrap();
    let (hot, cold) = (accounts[3], accounts[4]);
    token.mint(rpc, hot, U256::from(7_000_000u64)).await.unwrap();
    let options = ChainOptions { extra: format!("cold_address = \"{cold:#x}\""), ..ChainOptions::default() };
    let mut config = shop_config_with(&db, &anvil.http_url(), token.address, 1, &options);
    let keys = SignerKeys::new();
    config.signer = Some(coffer_config::SignerConfig {
        url: "http://127.0.0.1:9".into(),
        request_key_file: keys.key_file.clone(),
        identity_key: identity().public().to_string(),
        hot_wallet: Some(format!("{hot:#x}")),
        timeout_secs: 5,
        retry_base_ms: 20,
        retry_max_secs: 1,
        poll_interval_ms: 20,
    });
    let (token_text, digest) = coffer_gateway::admin::operator_token().unwrap();
    config.operator_token_sha256 = Some(digest);
    config.operator_listen_addr = Some("127.0.0.1:0".parse().unwrap());
    let app = spawn_app_with(db, &config).await;
    // A real payment settles an invoice: 12.5 USDT on its deposit address, by the books.
    let payer = accounts[1];
    token.mint(rpc, payer, U256::from(12_500_000u64)).await.unwrap();
    let invoice = app.create_ok(serde_json::json!({"amount": "12.5", "asset": "USDT"})).await;
    let id = invoice["id"].as_str().unwrap();
    let to = invoice["address"].as_str().unwrap().parse().unwrap();
    let tx = token.send_transfer(rpc, payer, to, U256::from(12_500_000u64)).await.unwrap();
    rpc.wait_for_receipt(tx).await.unwrap();
    rpc.mine(1).await.unwrap();
    until_json(&app, &app.key, &format!("/v1/invoices/{id}"), |i| i["status"] == "settled").await;

    let operator = app.operator.clone().unwrap();
    let get = |base: &str, token: &str| app.client.get(format!("{base}/v1/treasury")).bearer_auth(token).send();
    assert_error(get(&app.base, &token_text).await.unwrap(), 404, "not_found").await;
    assert_error(get(&operator, &app.key).await.unwrap(), 401, "unauthorized").await;
    assert_error(app.client.get(format!("{operator}/v1/treasury")).send().await.unwrap(), 401, "unauthorized").await;
    let response = get(&operator, &token_text).await.unwrap();
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    let line = |symbol: &str| {
        view["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["asset"] == symbol && l["chain_id"] == 31337)
            .unwrap()
            .clone()
    };
    let usdt = line("USDT");
    assert_eq!(usdt["deposits"]["amount"], "12.5", "the books: the settled deposit");
    assert_eq!(usdt["hot"]["units"], "0");
    assert_eq!(usdt["chain_hot"]["holds"]["units"], "7000000", "the chain: what was sent to hot outside the books");
    assert_eq!(usdt["chain_cold"]["holds"]["units"], "0");
    assert_eq!(usdt["agrees"], false, "7 USDT the books never saw arrive");
    let eth = line("ETH");
    let held: U256 = rpc.balance(hot).await.unwrap();
    assert_eq!(eth["chain_hot"]["holds"]["units"], held.to_string());
    assert_eq!(eth["agrees"], false);
}
