#![allow(clippy::unwrap_used)]

use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};

on_both_backends!(malformed_creations_get_4xx_json_and_store_nothing, unknown_routes_and_methods_answer_json);

async fn malformed_creations_get_4xx_json_and_store_nothing(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let json_cases = [
        (json!({"amount": "1", "asset": "USDT", "colour": "red"}), 422, "invalid_request"),
        (json!({"asset": "USDT"}), 422, "invalid_request"),
        (json!({"amount": "1"}), 422, "invalid_request"),
        (json!({"amount": 12.5, "asset": "USDT"}), 422, "invalid_amount"),
        (json!({"amount": "0", "asset": "USDT"}), 422, "invalid_amount"),
        (json!({"amount": "0.000000", "asset": "USDT"}), 422, "invalid_amount"),
        (json!({"amount": "-1", "asset": "USDT"}), 422, "invalid_amount"),
        (json!({"amount": "1.0000001", "asset": "USDT"}), 422, "invalid_amount"),
        (json!({"amount": "1e3", "asset": "USDT"}), 422, "invalid_amount"),
        (json!({"amount": "", "asset": "USDT"}), 422, "invalid_amount"),
        (json!({"amount": " 1", "asset": "USDT"}), 422, "invalid_amount"),
        (
            json!({"amount": "99999999999999999999999999999999999999999999999999999999999999999999999999999999", "asset": "ETH"}),
            422,
            "invalid_amount",
        ),
        (json!({"amount": "1", "asset": "DOGE"}), 422, "unknown_asset"),
        (json!({"amount": "1", "asset": "US DT"}), 422, "unknown_asset"),
        (json!({"amount": "1", "asset": "USDT", "chain_id": 1}), 422, "unknown_asset"),
        (json!({"amount": "1", "asset": "USDT", "chain_id": 999}), 422, "unknown_chain"),
        (json!({"amount": "1", "asset": "USDC"}), 422, "invalid_request"), // on two chains: which?
        (json!({"amount": "1", "asset": "USDT", "chain_id": "31337"}), 422, "invalid_request"),
        (json!({"amount": "1", "asset": "USDT", "expires_in_secs": 5}), 422, "invalid_request"),
        (json!({"amount": "1", "asset": "USDT", "expires_in_secs": 99_999_999}), 422, "invalid_request"),
        (json!({"amount": "1", "asset": "USDT", "metadata": [1, 2]}), 422, "invalid_request"),
        (json!({"amount": "1", "asset": "USDT", "order_id": ""}), 422, "invalid_request"),
        (json!({"amount": "1", "asset": "USDT", "order_id": "x".repeat(201)}), 422, "invalid_request"),
        (json!([1, 2, 3]), 422, "invalid_request"),
    ];
    for (body, status, code) in json_cases {
        let response = app.create(body.clone()).await;
        let got = response.status();
        let message = assert_error(response, status, code).await;
        assert!(got.is_client_error(), "{body} → {got}: {message}");
    }

    let raw = |body: String, content_type: Option<&'static str>| {
        let mut request = app.client.post(app.url("/v1/invoices")).bearer_auth(&app.key).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send()
    };
    assert_error(raw("{".into(), Some("application/json")).await.unwrap(), 400, "invalid_json").await;
    assert_error(raw("not json".into(), Some("application/json")).await.unwrap(), 400, "invalid_json").await;
    assert_error(raw(r#"{"amount":"1","asset":"USDT"}"#.into(), None).await.unwrap(), 415, "unsupported_media_type")
        .await;
    assert_error(
        raw(r#"{"amount":"1","asset":"USDT"}"#.into(), Some("text/plain")).await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let huge = format!(r#"{{"amount":"1","asset":"USDT","metadata":{{"pad":"{}"}}}}"#, "x".repeat(70 * 1024));
    assert_error(raw(huge, Some("application/json")).await.unwrap(), 413, "body_too_large").await;

    let bad_key = app
        .client
        .post(app.url("/v1/invoices"))
        .bearer_auth(&app.key)
        .header("Idempotency-Key", "has space")
        .json(&json!({"amount": "1", "asset": "USDT"}))
        .send()
        .await
        .unwrap();
    assert_error(bad_key, 422, "invalid_request").await;

    assert!(app.all_invoices().await.is_empty(), "no malformed request stored anything");
    // The refusals left the gateway healthy.
    let good = app.create_ok(json!({"amount": "1", "asset": "USDT"})).await;
    assert_eq!(good["status"], "new");
}

async fn unknown_routes_and_methods_answer_json(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    assert_error(app.get_as(&app.key, "/v1/invoices/not-an-id").await, 404, "not_found").await;
    // Not UTF-8 once percent-decoded: no id either, and the same JSON answer.
    assert_error(app.get_as(&app.key, "/v1/invoices/%FF").await, 404, "not_found").await;
    assert_error(app.get_as(&app.key, "/v1/webhooks/%FF/deliveries").await, 404, "not_found").await;
    assert_error(app.get_as(&app.key, "/v1/nothing-here").await, 404, "not_found").await;
    let delete = app.client.delete(app.url("/v1/invoices")).bearer_auth(&app.key).send().await.unwrap();
    assert_error(delete, 405, "method_not_allowed").await;
}
