#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::{Value, json};

use crate::helpers::{USDT, assert_error, spawn_app};

on_both_backends!(
    create_answers_201_with_the_documented_fields,
    a_created_invoice_can_be_fetched_and_listed,
    same_idempotency_key_and_body_give_the_same_invoice,
    same_idempotency_key_with_another_body_is_a_conflict,
    pages_follow_the_cursor_newest_first,
    bad_pagination_is_refused,
    expiring_now_moves_the_expiry_once_and_only_for_the_merchants_open_invoice,
);

/// Milliseconds since the epoch of an RFC 3339 timestamp the API wrote.
fn time(v: &Value) -> i128 {
    let t = time::OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    t.unix_timestamp_nanos() / 1_000_000
}

async fn create_answers_201_with_the_documented_fields(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let body = json!({"amount": "12.50", "asset": "USDT", "chain_id": 31337, "order_id": "A-1",
                      "metadata": {"customer": 42}, "expires_in_secs": 900});
    let response = app.create(body).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let inv: Value = response.json().await.unwrap();
    assert!(inv["id"].as_str().unwrap().starts_with("inv_"));
    assert_eq!(location, format!("/v1/invoices/{}", inv["id"].as_str().unwrap()));
    assert_eq!(inv["status"], "new");
    assert_eq!(inv["amount"], "12.5");
    assert_eq!(inv["amount_units"], "12500000");
    assert_eq!(inv["asset"], "USDT");
    assert_eq!(inv["chain_id"], 31337);
    assert_eq!(inv["order_id"], "A-1");
    assert_eq!(inv["metadata"], json!({"customer": 42}));
    let address = inv["address"].as_str().unwrap();
    let parsed: coffer_domain::Address = address.parse().unwrap();
    assert_eq!(address, parsed.to_checksum(None), "EIP-55 checksummed");
    assert_eq!(
        inv["payment_uri"],
        format!("ethereum:{USDT}@31337/transfer?address={address}&uint256=12500000"),
        "EIP-681 token transfer"
    );
    assert_eq!(time(&inv["expires_at"]) - time(&inv["created_at"]), 900_000);

    // Only amount and asset are required; the chain follows from the asset; expiry defaults.
    let eth = app.create_ok(json!({"amount": "0.000000000000000001", "asset": "eth"})).await;
    assert_eq!(eth["asset"], "ETH");
    assert_eq!(eth["amount_units"], "1");
    assert_eq!(eth["order_id"], Value::Null);
    assert_eq!(eth["metadata"], json!({}));
    assert_eq!(eth["payment_uri"], format!("ethereum:{}@31337?value=1", eth["address"].as_str().unwrap()));
    assert_eq!(time(&eth["expires_at"]) - time(&eth["created_at"]), 900_000);
}

async fn a_created_invoice_can_be_fetched_and_listed(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let created = app.create_ok(json!({"amount": "1", "asset": "USDT"})).await;
    let id = created["id"].as_str().unwrap();
    let fetched = app.get_as(&app.key, &format!("/v1/invoices/{id}")).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.json::<Value>().await.unwrap(), created);
    assert_eq!(app.all_invoices().await, vec![created]);
}

async fn same_idempotency_key_and_body_give_the_same_invoice(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let send = |body: &'static str| {
        app.client
            .post(app.url("/v1/invoices"))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "order-77")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let first = send(r#"{"amount":"5","asset":"USDT","metadata":{"a":1,"b":2}}"#).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    // The same request, spelled differently.
    let again = send(r#"{ "metadata": {"b":2, "a":1}, "asset": "usdt", "amount": "5.000" }"#).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.all_invoices().await.len(), 1, "a replay stores nothing");
    // The address the replay reserved is not wasted: the next invoice gets it.
    let next = app.create_ok(json!({"amount": "1", "asset": "USDT"})).await;
    assert_ne!(next["address"], first["address"]);
}

async fn same_idempotency_key_with_another_body_is_a_conflict(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let send = |amount: &str| {
        app.client
            .post(app.url("/v1/invoices"))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "k")
            .json(&json!({"amount": amount, "asset": "USDT"}))
            .send()
    };
    assert_eq!(send("5").await.unwrap().status(), 201);
    assert_error(send("6").await.unwrap(), 409, "idempotency_conflict").await;
    assert_eq!(app.all_invoices().await.len(), 1);
    // Keys belong to a merchant: another merchant may use the same one.
    let (_, other_key) = app.other_merchant().await;
    let response = app
        .client
        .post(app.url("/v1/invoices"))
        .bearer_auth(&other_key)
        .header("Idempotency-Key", "k")
        .json(&json!({"amount": "6", "asset": "USDT"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("idempotent-replayed").is_none());
}

async fn pages_follow_the_cursor_newest_first(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(app.create_ok(json!({"amount": format!("{}", i + 1), "asset": "USDT"})).await["id"].clone());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = "/v1/invoices?limit=3&status=&cursor=".to_owned();
    loop {
        let page: Value = app.get_as(&app.key, &path).await.json().await.unwrap();
        seen.extend(page["data"].as_array().unwrap().iter().map(|inv| inv["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/invoices?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let new: Value = app.get_as(&app.key, "/v1/invoices?status=new").await.json().await.unwrap();
    assert_eq!(new["data"].as_array().unwrap().len(), 7);
    let settled: Value = app.get_as(&app.key, "/v1/invoices?status=settled").await.json().await.unwrap();
    assert_eq!(settled, json!({"data": [], "next_cursor": null}));
}

async fn bad_pagination_is_refused(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("limit=-1", "invalid_limit"),
        ("cursor=inv_nope", "invalid_cursor"),
        ("cursor=mer_0195f3a0c1b27c3e9a4d5e6f70812345", "invalid_cursor"),
        ("status=paid", "invalid_request"),
        ("page=2", "invalid_request"),
    ] {
        let response = app.get_as(&app.key, &format!("/v1/invoices?{query}")).await;
        assert_error(response, 422, code).await;
    }
}

/// Distinct ids and addresses, however the requests interleave.
pub(crate) fn assert_distinct(invoices: &[Value]) {
    let ids: HashSet<_> = invoices.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let addresses: HashSet<_> = invoices.iter().map(|i| i["address"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), invoices.len(), "ids are unique");
    assert_eq!(addresses.len(), invoices.len(), "deposit addresses are unique");
}

async fn expiring_now_moves_the_expiry_once_and_only_for_the_merchants_open_invoice(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let inv = app.create_ok(json!({"amount": "3", "asset": "USDT", "expires_in_secs": 3600})).await;
    let id = inv["id"].as_str().unwrap();
    let path = format!("/v1/invoices/{id}/expire");
    let (_, other_key) = app.other_merchant().await;
    let theirs = app.client.post(app.url(&path)).bearer_auth(&other_key).send().await.unwrap();
    assert_error(theirs, 404, "not_found").await;

    let before = time(&inv["expires_at"]);
    let expired = app.post_ok(&path, json!({})).await;
    let now = time(&expired["expires_at"]);
    assert!(now < before - 3_500_000, "moved to now: {} -> {}", inv["expires_at"], expired["expires_at"]);
    let again = app.post_ok(&path, json!({})).await;
    assert_eq!(again["expires_at"], expired["expires_at"], "a retry moves nothing and answers the same");

    let gone = app.create_ok(json!({"amount": "3", "asset": "USDT"})).await;
    let gone_id = gone["id"].as_str().unwrap();
    app.post_ok(&format!("/v1/invoices/{gone_id}/invalidate"), json!({})).await;
    let refused = app.post(&format!("/v1/invoices/{gone_id}/expire"), json!({})).await;
    assert_error(refused, 409, "invalid_state").await;
}
