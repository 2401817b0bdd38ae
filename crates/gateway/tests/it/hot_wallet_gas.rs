//! The signer tops a token deposit up with gas from the treasury's hot
//! wallet before it sweeps it: ETH arriving at a USDT invoice's address.
//! From the hot wallet that is the treasury moving its own money (the
//! sweep's outcome books it), never a customer's payment; from anyone else
//! it is a payment in the wrong asset, as ever.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use alloy_primitives::{Address, U256};
use coffer_devnet::{Anvil, AnvilOptions, deploy_test_usdt};
use coffer_store::on_both_backends;
use coffer_store::testing::{Kind, TestDatabase};
use serde_json::json;

use crate::helpers::{SignerKeys, spawn_app_with};
use crate::shop::{Hooks, Shop, shop_config};
use crate::signer_double::identity;

on_both_backends!(eth_from_the_hot_wallet_to_a_deposit_is_no_payment_and_from_anyone_else_it_is);

/// What the signer sends a USDT deposit for its sweep's gas, about.
const TOP_UP_WEI: u64 = 77_900_000_000_000;

async fn eth_from_the_hot_wallet_to_a_deposit_is_no_payment_and_from_anyone_else_it_is(kind: Kind) {
    let Some(db) = TestDatabase::new(kind).await else { return };
    let db = Arc::new(db);
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await.unwrap();
    let payer = rpc.accounts().await.unwrap()[1];
    // The signer's hot wallet is no anvil dev account: anvil sends for it.
    let hot = Address::repeat_byte(0x5a);
    rpc.call("anvil_impersonateAccount", json!([hot])).await.unwrap();
    rpc.call("anvil_setBalance", json!([hot, "0xde0b6b3a7640000"])).await.unwrap();

    let mut config = shop_config(&db, &anvil.http_url(), token.address, 2);
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
        control_poll_ms: 20,
    });
    let app = spawn_app_with(db, &config).await;
    let hooks = Hooks::start().await;
    let shop = Shop { app, anvil, token, payer, hooks, webhook_id: String::new() };
    shop.until_following().await;

    let topped_up = shop.invoice("USDT", "12.50").await;
    let paid_in_eth = shop.invoice("USDT", "12.50").await;
    let address = |invoice: &serde_json::Value| invoice["address"].as_str().unwrap().parse::<Address>().unwrap();
    let rpc = shop.anvil.rpc();
    let gas = rpc.send_eth(hot, address(&topped_up), U256::from(TOP_UP_WEI)).await.unwrap();
    rpc.wait_for_receipt(gas).await.unwrap();
    let paid = rpc.send_eth(payer, address(&paid_in_eth), U256::from(TOP_UP_WEI)).await.unwrap();
    rpc.wait_for_receipt(paid).await.unwrap();
    shop.mine(2).await;

    // From anyone else: a payment in the wrong asset, booked into suspense.
    let id = paid_in_eth["id"].as_str().unwrap();
    shop.until(id, "wrong_asset and confirmed", |i| {
        i["exceptions"] == json!(["wrong_asset"]) && i["payments"][0]["confirmed"] == true
    })
    .await;
    // Its block came after the top-up's: the watcher has read both.
    let id = topped_up["id"].as_str().unwrap();
    let invoice = shop.get(id).await;
    assert_eq!(invoice["status"], "new", "{invoice:#}");
    assert_eq!(invoice["exceptions"], json!([]), "{invoice:#}");
    assert_eq!(invoice["payments"], json!([]), "{invoice:#}");
    shop.assert_books().await;
    let report = coffer_watcher::audit::check_ledger(&*shop.app.store).await.unwrap();
    let suspense = report.balances.iter().find(|(a, _)| matches!(a, coffer_domain::Account::Suspense(_)));
    assert_eq!(suspense.map(|(_, b)| b.units()), Some(U256::from(TOP_UP_WEI)), "only the customer's payment");
}
