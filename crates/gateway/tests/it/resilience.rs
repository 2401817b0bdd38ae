//! When the chain or the node misbehaves: reorganisations, an unreachable
//! node, a gateway restarted mid-stream.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::{Value, json};

use crate::helpers::spawn_app_with;
use crate::shop::{shop, shop_config, shop_with};
use coffer_devnet::TcpProxy;

on_both_backends!(
    a_reorganisation_un_sees_a_payment_and_the_re_mined_one_counts_once,
    the_node_going_away_and_coming_back_loses_nothing,
    a_restart_mid_stream_loses_and_duplicates_nothing,
);

async fn a_reorganisation_un_sees_a_payment_and_the_re_mined_one_counts_once(kind: Kind) {
    let Some(shop) = shop(kind, 3).await else { return };
    let rpc = shop.anvil.rpc();
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();

    let before = rpc.snapshot().await.unwrap();
    let tx = shop.pay(&invoice, "USDT", 12_500_000).await;
    let raw = rpc.raw_transaction(tx).await.unwrap();
    let seen = shop.until_status(id, "processing").await;
    let first_block = seen["payments"][0]["block_number"].as_u64().unwrap();

    // The payment's block is replaced by two empty ones before it has its
    // three confirmations: it is un-seen, never credited.
    rpc.revert(&before).await.unwrap();
    shop.mine(2).await;
    let unseen = shop.until(id, "un-seen", |i| i["status"] == "new" && i["payments"] == json!([])).await;
    assert_eq!(unseen["paid_units"], "0");
    assert_eq!(shop.balance("USDT").await, "0");
    assert!(shop.chain_health().await["reorgs"].as_u64().unwrap() >= 1);

    // The same signed transaction is mined again, in another block: one payment.
    assert_eq!(rpc.send_raw(&raw).await.unwrap(), tx);
    rpc.wait_for_receipt(tx).await.unwrap();
    let again = shop.until_status(id, "processing").await;
    assert_eq!(again["payments"].as_array().unwrap().len(), 1);
    assert_eq!(again["payments"][0]["tx_hash"], tx.to_string());
    assert!(again["payments"][0]["block_number"].as_u64().unwrap() > first_block);
    shop.mine(2).await;
    let settled = shop.until_status(id, "settled").await;
    assert_eq!(settled["payments"].as_array().unwrap().len(), 1);
    assert_eq!(shop.balance("USDT").await, "12500000", "credited once");
    assert_eq!(
        shop.until_events(id, 4).await,
        ["invoice.processing", "invoice.processing_withdrawn", "invoice.processing", "invoice.settled"]
            .map(String::from)
            .to_vec(),
        "seen, un-seen, seen again, settled"
    );
    shop.assert_books().await;
}

async fn the_node_going_away_and_coming_back_loses_nothing(kind: Kind) {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let proxy = TcpProxy::start(anvil.port()).await.unwrap();
    let url = format!("ws://127.0.0.1:{}", proxy.port);
    let Some(shop) = shop_with(kind, 2, anvil, url).await else { return };
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();

    proxy.cut();
    shop.pay(&invoice, "USDT", 12_500_000).await;
    shop.mine(2).await;
    let mut health = Value::Null;
    for _ in 0..500 {
        health = shop.chain_health().await;
        if health["state"] == "unreachable" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(health["state"], "unreachable", "{health}");
    assert!(health["last_error"].is_string());
    let status: Value = shop.app.client.get(shop.app.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!((&status["status"], &status["database"]), (&json!("degraded"), &json!("ok")));
    assert_eq!(shop.get(id).await["status"], "new", "nothing seen while the node is away");
    let metrics = shop.app.client.get(shop.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"coffer_chain_healthy{chain_id="31337"} 0"#), "{metrics}");

    proxy.up();
    shop.until_status(id, "settled").await;
    assert_eq!(shop.balance("USDT").await, "12500000");
    for _ in 0..500 {
        if shop.chain_health().await["state"] == "following" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(shop.chain_health().await["state"], "following");
    shop.assert_books().await;
}

async fn a_restart_mid_stream_loses_and_duplicates_nothing(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let mut invoices = Vec::new();
    for _ in 0..12 {
        invoices.push(shop.invoice("USDT", "1").await);
    }
    // Half are paid while the first gateway runs.
    for invoice in &invoices[..6] {
        shop.pay(invoice, "USDT", 1_000_000).await;
    }
    let db = shop.app.db.clone();
    let crate::shop::Shop { app, anvil, token, payer, hooks, webhook_id } = shop;
    let merchant = app.merchant;
    let key = app.key.clone();
    app.stop().await;
    // The other half, and the confirmations, while no gateway runs.
    let rpc = anvil.rpc();
    for invoice in &invoices[6..] {
        let to = invoice["address"].as_str().unwrap().parse().unwrap();
        let tx = token.send_transfer(rpc, payer, to, alloy_primitives::U256::from(1_000_000u64)).await.unwrap();
        rpc.wait_for_receipt(tx).await.unwrap();
    }
    rpc.mine(2).await.unwrap();

    let config = shop_config(&db, &anvil.http_url(), token.address, 2);
    let mut app = spawn_app_with(Arc::clone(&db), &config).await;
    app.merchant = merchant;
    app.key = key;
    let shop = crate::shop::Shop { app, anvil, token, payer, hooks, webhook_id };
    for invoice in &invoices {
        let settled = shop.until_status(invoice["id"].as_str().unwrap(), "settled").await;
        assert_eq!(settled["payments"].as_array().unwrap().len(), 1, "{settled:#}");
    }
    assert_eq!(shop.balance("USDT").await, "12000000", "every payment, once");
    for invoice in &invoices {
        let id = invoice["id"].as_str().unwrap();
        let mut events = shop.hooks.events_for(id);
        for _ in 0..500 {
            if events.iter().any(|e| e == "invoice.settled") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            events = shop.hooks.events_for(id);
        }
        assert_eq!(events.iter().filter(|e| *e == "invoice.settled").count(), 1, "{id}: {events:?}");
    }
    shop.assert_books().await;
}
