#![allow(clippy::unwrap_used)]

use coffer_domain::ApiKeyId;
use coffer_gateway::{KEY_CACHE_TTL, admin};
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};

on_both_backends!(
    requests_without_a_valid_key_are_refused,
    a_revoked_key_stops_working,
    scopes_are_enforced_per_route,
    a_merchant_cannot_see_another_merchants_invoices,
);

async fn requests_without_a_valid_key_are_refused(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let missing = app.client.get(app.url("/v1/invoices")).send().await.unwrap();
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_error(missing, 401, "unauthorized").await;
    let id_part = app.key.split('_').nth(2).unwrap();
    for bad in [
        "Bearer nonsense".to_owned(),
        format!("Basic {}", app.key),
        format!("Bearer coffer_sk_{id_part}_{}", "1".repeat(44)), // right id, wrong secret
        format!("Bearer {}x", app.key),
        format!("Bearer coffer_sk_{}_{}", "0".repeat(32), app.key.rsplit('_').next().unwrap()),
    ] {
        let response = app.client.get(app.url("/v1/invoices")).header("authorization", bad).send().await.unwrap();
        assert_error(response, 401, "unauthorized").await;
    }
    // The scheme is case-insensitive.
    let lower = app.client.get(app.url("/v1/invoices")).header("authorization", format!("bearer {}", app.key)).send();
    assert_eq!(lower.await.unwrap().status(), 200);
    let post = app.client.post(app.url("/v1/invoices")).json(&json!({"amount": "1", "asset": "USDT"})).send().await;
    assert_error(post.unwrap(), 401, "unauthorized").await;
    assert!(app.all_invoices().await.is_empty());
}

async fn a_revoked_key_stops_working(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    assert_eq!(app.get_as(&app.key, "/v1/invoices").await.status(), 200);
    let id: ApiKeyId = app.key[..app.key.rfind('_').unwrap()].replace("coffer_sk_", "key_").parse().unwrap();
    admin::revoke_api_key(&*app.store, id).await.unwrap();
    // Verified keys are cached for KEY_CACHE_TTL; after that every gateway refuses it.
    tokio::time::sleep(KEY_CACHE_TTL + std::time::Duration::from_millis(100)).await;
    assert_error(app.get_as(&app.key, "/v1/invoices").await, 401, "unauthorized").await;
    assert!(admin::revoke_api_key(&*app.store, id).await.is_err(), "revoking twice says so");
}

async fn scopes_are_enforced_per_route(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let read_only = app.key_for(app.merchant, "invoices:read").await;
    let write_only = app.key_for(app.merchant, "invoices:write").await;
    let post = |key: String| {
        app.client.post(app.url("/v1/invoices")).bearer_auth(key).json(&json!({"amount": "1", "asset": "USDT"})).send()
    };
    let message = assert_error(post(read_only.clone()).await.unwrap(), 403, "insufficient_scope").await;
    assert!(message.contains("invoices:write"), "{message}");
    assert!(app.all_invoices().await.is_empty(), "a refused create stores nothing");

    let created: serde_json::Value = post(write_only.clone()).await.unwrap().json().await.unwrap();
    let path = format!("/v1/invoices/{}", created["id"].as_str().unwrap());
    assert_error(app.get_as(&write_only, &path).await, 403, "insufficient_scope").await;
    assert_error(app.get_as(&write_only, "/v1/invoices").await, 403, "insufficient_scope").await;
    assert_eq!(app.get_as(&read_only, &path).await.status(), 200);
}

async fn a_merchant_cannot_see_another_merchants_invoices(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let invoice = app.create_ok(json!({"amount": "1", "asset": "USDT"})).await;
    let (_, other_key) = app.other_merchant().await;
    let path = format!("/v1/invoices/{}", invoice["id"].as_str().unwrap());
    let foreign = assert_error(app.get_as(&other_key, &path).await, 404, "not_found").await;
    // Indistinguishable from an id that does not exist at all.
    let unknown = assert_error(
        app.get_as(&other_key, "/v1/invoices/inv_0195f3a0c1b27c3e9a4d5e6f70812345").await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(foreign, unknown);
    let page: serde_json::Value = app.get_as(&other_key, "/v1/invoices").await.json().await.unwrap();
    assert_eq!(page["data"], json!([]));
}
