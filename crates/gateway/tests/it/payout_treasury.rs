//! The treasury: `GET /v1/treasury` (the books beside a real chain, anvil
//! with the test USDT, for the operator's token only, on the operator
//! listener when one is configured) and sweeps onto the books.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use alloy_primitives::U256;
use coffer_devnet::{Anvil, AnvilOptions, deploy_test_usdt};
use coffer_store::on_both_backends;
use coffer_store::testing::{Kind, TestDatabase};
use serde_json::Value;

use crate::helpers::{SignerKeys, assert_error, spawn_app_with, until_json, usdt};
use crate::shop::{ChainOptions, shop_config_with};
use crate::signer_double::{TOP_UP, TOP_UP_FEE, identity};

on_both_backends!(
    payout_treasury_shows_the_books_beside_the_chain,
    payout_sweeps_take_settled_deposits_above_their_minimum_onto_the_books
);

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
        control_poll_ms: 20,
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

/// The sweep scheduler hands a settled deposit holding at least its asset's
/// minimum to the signer (the stand-in, until the signer lands), and the
/// books follow the money from the deposit into the hot wallet; a deposit
/// below the minimum stays.
async fn payout_sweeps_take_settled_deposits_above_their_minimum_onto_the_books(kind: Kind) {
    let Some(db) = TestDatabase::new(kind).await else { return };
    let db = Arc::new(db);
    // Settled before the gateway starts, so its first round finds them.
    let (big, small) = {
        let store = coffer_store::open(db.backend()).await.unwrap();
        let merchant = coffer_gateway::admin::create_merchant(&*store, "Shop").await.unwrap().id;
        let paid =
            |units: u64| coffer_store::testing::paid_invoice(&*store, merchant, usdt(units), U256::from(units), true);
        (paid(12_500_000).await.0, paid(2_000_000).await.0)
    };
    let keys = SignerKeys::new();
    let signer = crate::signer_double::SignerDouble::start(keys.gateway).await;
    signer.deposit_holds(big.deposit.index.get(), U256::from(12_500_000u64));
    let tables = format!(
        "{}\n[sweeps]\ninterval_secs = 10\n[[sweeps.minimums]]\nasset = \"USDT\"\nchain_id = 31337\namount = \"10\"\n",
        keys.table(&signer.url, &identity().public())
    );
    let text = format!("{}\n{tables}", crate::helpers::config_text(&db));
    let app = spawn_app_with(db, &coffer_config::Config::from_toml(&text).unwrap()).await;
    let mut swept = Vec::new();
    for _ in 0..2000 {
        swept = app.store.sweeps_of(big.id).await.unwrap();
        if swept.first().is_some_and(|s| s.status == coffer_domain::PayoutStatus::Confirmed) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(swept.len(), 1, "{swept:?}");
    assert_eq!((swept[0].status, swept[0].moved), (coffer_domain::PayoutStatus::Confirmed, Some(usdt(12_500_000))));
    let asked = signer.sweeps();
    assert!(asked.iter().all(|s| s.index == big.deposit.index && s.asset.as_str() == "USDT" && s.chain_id.0 == 31337));
    // What the books say the deposit holds, for the signer to hold against its own node.
    assert!(asked.iter().all(|s| s.claimed == Some(U256::from(12_500_000u64))), "{asked:?}");
    assert!(app.store.sweeps_of(small.id).await.unwrap().is_empty(), "2 USDT is below the minimum");
    let balances = app.store.stored_balances().await.unwrap();
    let of = |account: coffer_domain::Account| {
        balances.iter().find(|b| b.account == account).map(|b| account.balance_of(b.debits, b.credits).unwrap())
    };
    let usdt_id = coffer_store::testing::test_usdt();
    assert_eq!(of(coffer_domain::Account::Hot(usdt_id)), Some(U256::from(12_500_000u64)));
    assert_eq!(of(coffer_domain::Account::Deposits(usdt_id)), Some(U256::from(2_000_000u64)), "the small one stays");
    // The top-up and both fees: the deposit keeps what its sweep did not burn.
    let eth = coffer_domain::AssetId { chain_id: coffer_domain::ChainId(31337), symbol: "ETH".parse().unwrap() };
    let (top_up, top_up_fee, sweep_fee) = (TOP_UP, TOP_UP_FEE, 21_000);
    assert_eq!(of(coffer_domain::Account::Deposits(eth)), Some(U256::from(top_up - sweep_fee)));
    assert_eq!(of(coffer_domain::Account::NetworkFees(eth)), Some(U256::from(top_up_fee + sweep_fee)));
    let hot = balances.iter().find(|b| b.account == coffer_domain::Account::Hot(eth)).unwrap();
    assert_eq!((hot.debits, hot.credits), (U256::ZERO, U256::from(top_up + top_up_fee)), "sent, and its gas");
}
