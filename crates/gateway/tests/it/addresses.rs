#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use coins_bip32::prelude::{MainnetEncoder, XKeyEncoder, XPub};
use coins_bip32::xkeys::Parent;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{XPUB, config, spawn_app, spawn_app_on};
use crate::invoices::assert_distinct;

on_both_backends!(
    addresses_follow_bip44_from_the_xpub,
    concurrent_creations_get_distinct_addresses,
    gateways_share_postgres_without_sharing_addresses_and_sqlite_admits_one,
);

/// `m/44'/60'/0'/0/i` below the account xpub, derived by coins-bip32, an
/// implementation independent of ours.
fn independent_address(index: u32) -> String {
    let account: XPub = MainnetEncoder::xpub_from_base58(XPUB).unwrap();
    let child = account.derive_path(format!("m/0/{index}").as_str()).unwrap();
    let key: &coins_bip32::ecdsa::VerifyingKey = child.as_ref();
    let point = key.to_encoded_point(false);
    let hash = coffer_domain_keccak(&point.as_bytes()[1..]);
    coffer_domain::Address::from_slice(&hash[12..]).to_checksum(None)
}

fn coffer_domain_keccak(bytes: &[u8]) -> [u8; 32] {
    alloy_primitives::keccak256(bytes).0
}

async fn addresses_follow_bip44_from_the_xpub(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    for index in 0..5 {
        let invoice = app.create_ok(json!({"amount": "1", "asset": "ETH"})).await;
        assert_eq!(invoice["address"], independent_address(index), "invoice {index}");
    }
}

async fn concurrent_creations_get_distinct_addresses(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let requests = (0..200).map(|i| app.create_ok(json!({"amount": format!("{}.5", i), "asset": "USDT"})));
    let invoices: Vec<Value> = join_all(requests).await;
    assert_distinct(&invoices);
    assert_eq!(app.all_invoices().await.len(), 100, "a page holds 100; more exist");
}

async fn gateways_share_postgres_without_sharing_addresses_and_sqlite_admits_one(kind: Kind) {
    let Some(first) = spawn_app(kind).await else { return };
    if kind == Kind::Sqlite {
        // One writer per SQLite file (ADR 0002): a second gateway is refused, clearly.
        let err = coffer_gateway::GatewayParts::from_config(&config(&first.db)).await.unwrap_err();
        assert!(err.to_string().contains("another gateway is already running"), "{err}");
        return;
    }
    let second = spawn_app_on(Arc::clone(&first.db)).await;
    let body = || json!({"amount": "1", "asset": "USDT"});
    let a = join_all((0..100).map(|_| first.create_ok(body())));
    let b = join_all((0..100).map(|_| second.create_ok(body())));
    let (a, b) = tokio::join!(a, b);
    assert_distinct(&[a, b].concat());
}
