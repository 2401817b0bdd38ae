#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

on_both_backends!(
    healthz_reports_the_database_and_an_unreachable_node,
    metrics_count_requests_by_route_and_status,
    openapi_describes_the_routes_and_shapes_actually_served,
    every_answer_carries_a_request_id,
);

async fn healthz_reports_the_database_and_an_unreachable_node(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    // The test configuration points both chains at ports where no node listens.
    let mut health = Value::Null;
    for _ in 0..200 {
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200, "the API still serves without a node");
        health = response.json().await.unwrap();
        if health["chains"].as_array().unwrap().iter().all(|c| c["state"] == "unreachable") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!((&health["status"], &health["database"]), (&json!("degraded"), &json!("ok")), "{health}");
    let chains: Vec<u64> =
        health["chains"].as_array().unwrap().iter().map(|c| c["chain_id"].as_u64().unwrap()).collect();
    assert_eq!(chains, vec![1, 31337]);
    for chain in health["chains"].as_array().unwrap() {
        assert_eq!(chain["state"], "unreachable", "{health}");
        assert!(chain["last_error"].as_str().unwrap().contains("unreachable"), "{health}");
        assert_eq!(chain["cursor"], Value::Null);
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == r#"coffer_chain_healthy{chain_id="31337"} 0"#), "{metrics}");
    assert_eq!(metrics.matches("# EOF").count(), 1, "one exposition");
}

async fn metrics_count_requests_by_route_and_status(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    app.create_ok(json!({"amount": "1", "asset": "USDT"})).await;
    app.create_ok(json!({"amount": "2", "asset": "USDT"})).await;
    let _ = app.get_as(&app.key, "/v1/invoices/inv_0195f3a0c1b27c3e9a4d5e6f70812345").await;
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        r#"coffer_http_requests_total{method="POST",route="/v1/invoices",status="201"} 2"#,
        r#"coffer_http_requests_total{method="GET",route="/v1/invoices/{id}",status="404"} 1"#,
        r#"coffer_invoices_created_total 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
    assert!(text.contains(r#"coffer_http_request_duration_seconds_bucket{le="0.0002",method="POST",route="/v1/invoices",status="201"}"#)
        || text.contains("coffer_http_request_duration_seconds_count"), "{text}");
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

async fn openapi_describes_the_routes_and_shapes_actually_served(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = &doc["paths"];
    let documented = [
        "/healthz",
        "/v1/balances",
        "/v1/invoices",
        "/v1/invoices/{id}",
        "/v1/invoices/{id}/expire",
        "/v1/invoices/{id}/invalidate",
        "/v1/payouts",
        "/v1/payouts/{id}",
        // No `/v1/treasury`: it is described only where it is served (an
        // operator token configured, on this listener), and this gateway has none.
        "/v1/webhooks",
        "/v1/webhooks/{id}",
        "/v1/webhooks/{id}/deliveries",
        "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    ];
    assert_eq!(keys(paths), documented.map(String::from).into());
    assert_eq!(keys(&paths["/v1/invoices"]), ["get", "post"].map(String::from).into());
    assert_eq!(keys(&paths["/v1/invoices/{id}"]), ["get"].map(String::from).into());
    assert_eq!(keys(&paths["/v1/webhooks/{id}"]), ["delete", "get"].map(String::from).into());

    // The documented invoice is exactly what the API returns.
    let schemas = &doc["components"]["schemas"];
    let invoice = app.create_ok(json!({"amount": "1", "asset": "USDT"})).await;
    assert_eq!(keys(&schemas["InvoiceView"]["properties"]), keys(&invoice));
    // The documented request fields are accepted, and only those (unknown ones are refused).
    let request_fields = keys(&schemas["CreateInvoice"]["properties"]);
    assert_eq!(
        request_fields,
        [
            "amount",
            "asset",
            "cancel_url",
            "chain_id",
            "description",
            "expires_in_secs",
            "metadata",
            "order_id",
            "success_url"
        ]
        .map(String::from)
        .into()
    );
    let required: BTreeSet<String> = schemas["CreateInvoice"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(required, ["amount", "asset"].map(String::from).into());
    // Every error code the API can answer is documented.
    let codes: BTreeSet<&str> =
        schemas["ErrorCode"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for code in [
        "invalid_json",
        "invalid_request",
        "invalid_amount",
        "unknown_asset",
        "unknown_chain",
        "body_too_large",
        "unsupported_media_type",
        "unauthorized",
        "insufficient_scope",
        "not_found",
        "method_not_allowed",
        "idempotency_conflict",
        "invalid_cursor",
        "invalid_limit",
        "invalid_webhook_url",
        "invalid_state",
        "internal",
        "unavailable",
    ] {
        assert!(codes.contains(code), "{code} undocumented");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

async fn every_answer_carries_a_request_id(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let fresh = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let given = app.client.get(app.url("/nope")).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");
}
