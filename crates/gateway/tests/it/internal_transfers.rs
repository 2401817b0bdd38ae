//! ETH a contract sends to a deposit address (a smart wallet, a router):
//! seen through the node's trace API where the chain's setting asks for it,
//! with either trace API anvil serves; a send undone inside a transaction
//! that succeeds is not a payment.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use alloy_primitives::U256;
use coffer_devnet::deploy_forwarder;
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::json;

use crate::shop::{ChainOptions, Shop, shop_with_options};

on_both_backends!(
    eth_forwarded_by_a_contract_is_seen_through_trace_block,
    eth_forwarded_by_a_contract_is_seen_through_debug_trace,
);

const HALF_ETH: u64 = 500_000_000_000_000_000;

async fn traced_shop(kind: Kind, how: &str) -> Option<Shop> {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let url = anvil.http_url();
    let options = ChainOptions { extra: format!("internal_transfers = \"{how}\""), ..ChainOptions::default() };
    shop_with_options(kind, 2, anvil, url, &options).await
}

async fn forwarded_eth_is_seen(shop: Shop, how: &str) {
    assert_eq!(shop.chain_health().await["internal_transfers"], how, "/healthz says how they are read");
    let rpc = shop.anvil.rpc();
    let forwarder = deploy_forwarder(rpc).await.unwrap();
    let paid = shop.invoice("ETH", "0.5").await;
    let unpaid = shop.invoice("ETH", "0.5").await;
    let to = |invoice: &serde_json::Value| invoice["address"].as_str().unwrap().parse().unwrap();
    let tx = forwarder.forward(rpc, shop.payer, to(&paid), U256::from(HALF_ETH)).await.unwrap();
    // Sent and undone inside a transaction that succeeds: nothing arrived.
    forwarder.forward_in_failing_call(rpc, shop.payer, to(&unpaid), U256::from(HALF_ETH)).await.unwrap();
    assert_eq!(rpc.balance(to(&unpaid)).await.unwrap(), U256::ZERO);
    shop.mine(1).await;

    let settled = shop.until_status(paid["id"].as_str().unwrap(), "settled").await;
    let payment = &settled["payments"][0];
    assert_eq!((&payment["tx_hash"], &payment["call_path"]), (&json!(tx.to_string()), &json!("0")));
    assert_eq!(payment["log_index"], json!(null));
    assert_eq!(shop.balance("ETH").await, HALF_ETH.to_string());
    // The blocks of both transactions have been read: the undone send is not a payment.
    let head = rpc.block_number().await.unwrap();
    for _ in 0..500 {
        if shop.chain_health().await["cursor"].as_u64().is_some_and(|c| c >= head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let untouched = shop.get(unpaid["id"].as_str().unwrap()).await;
    assert_eq!((&untouched["status"], &untouched["payments"]), (&json!("new"), &json!([])));
    shop.assert_books().await;
}

async fn eth_forwarded_by_a_contract_is_seen_through_trace_block(kind: Kind) {
    let Some(shop) = traced_shop(kind, "trace_block").await else { return };
    forwarded_eth_is_seen(shop, "trace_block").await;
}

async fn eth_forwarded_by_a_contract_is_seen_through_debug_trace(kind: Kind) {
    let Some(shop) = traced_shop(kind, "debug_trace").await else { return };
    forwarded_eth_is_seen(shop, "debug_trace").await;
}
