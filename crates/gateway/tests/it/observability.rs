//! What a client can put into the gateway's metrics and logs: nothing it
//! chooses may grow a label set or be taken verbatim into a log line; and
//! who can read them: with an operator address, nobody on the API's.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use coffer_store::testing::Kind;

use crate::helpers::{assert_error, spawn_app, spawn_app_configured};

/// The label sets of `coffer_http_requests_total`, as exposed.
fn request_label_sets(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("coffer_http_requests_total{"))
        .map(|rest| rest.split('}').next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_chosen_methods_and_paths_do_not_become_metric_labels() {
    let Some(app) = spawn_app(Kind::Sqlite).await else { return };
    for i in 0..40 {
        // Unauthenticated, as an attacker would send them: half on a real route, half nowhere.
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let path = if i % 2 == 0 { "/v1/invoices".to_owned() } else { format!("/made/up/{i}") };
        let answer = app.client.request(method, app.url(&path)).send().await.unwrap();
        assert!(answer.status().is_client_error(), "{path}: {}", answer.status());
    }
    let _ = app.client.get(app.url("/also/made/up")).send().await.unwrap();
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let labels = request_label_sets(&metrics);
    assert!(
        labels.iter().all(|l| !l.contains("MADEUP") && !l.contains("/made/up")),
        "a client-chosen method or path became a label: {labels:#?}"
    );
    for line in [
        r#"coffer_http_requests_total{method="other",route="/v1/invoices",status="405"} 20"#,
        r#"coffer_http_requests_total{method="other",route="unmatched",status="404"} 20"#,
        r#"coffer_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line} in {labels:#?}");
    }
    assert_eq!(labels.len(), 3, "41 odd requests, three label sets: {labels:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_taken_from_clients_only_when_short_and_plain() {
    let Some(app) = spawn_app(Kind::Sqlite).await else { return };
    let answered_id = |given: &'static str| {
        let request = app.client.get(app.url("/healthz")).header("x-request-id", given);
        async move { request.send().await.unwrap().headers()["x-request-id"].to_str().unwrap().to_owned() }
    };
    for plain in [
        "trace-me-42",
        "0195f3a0-c1b2-7c3e-9a4d-5e6f70812345",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ] {
        assert_eq!(answered_id(plain).await, plain, "a plain id is echoed, so a shop can find its request");
    }
    let mut made = BTreeSet::new();
    for spoofed in [
        r#"x" status=200 merchant=mer_victim"#,
        "two words",
        "id=1",
        "tab\there",
        "semi;colon",
        "{\"json\":1}",
        "longer-than-64-0123456789-0123456789-0123456789-0123456789-0123456789",
    ] {
        let id = answered_id(spoofed).await;
        assert_ne!(id, spoofed, "{spoofed:?} was taken verbatim");
        assert!(id.len() == 36 && uuid_like(&id), "a gateway-made id, not {id:?}");
        made.insert(id);
    }
    assert_eq!(made.len(), 7, "each refused id is replaced by a fresh one");
}

fn uuid_like(id: &str) -> bool {
    id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') && id.matches('-').count() == 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_endpoints_can_be_served_apart_from_the_merchants_api() {
    let top = "operator_listen_addr = \"127.0.0.1:0\"";
    let Some(app) = spawn_app_configured(Kind::Sqlite, top, "").await else { return };
    for path in ["/healthz", "/metrics"] {
        let answer = app.client.get(app.url(path)).send().await.unwrap();
        assert_error(answer, 404, "not_found").await;
    }
    let operator = app.operator.clone().expect("the operator listener's address");
    let health = app.client.get(format!("{operator}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["database"], "ok", "{health}");
    let metrics = app.client.get(format!("{operator}/metrics")).send().await.unwrap().text().await.unwrap();
    for series in [
        r#"coffer_http_requests_total{method="GET",route="/healthz",status="404"} 1"#,
        r#"coffer_http_connections_open{listener="api"}"#,
        r#"coffer_http_connections_open{listener="operator"}"#,
        r#"coffer_chain_healthy{chain_id="31337"}"#,
    ] {
        assert!(metrics.lines().any(|l| l.starts_with(series)), "missing {series} in\n{metrics}");
    }
    // The operator's address serves nothing of the merchants' API, and the API still serves.
    let invoices = app.client.get(format!("{operator}/v1/invoices")).bearer_auth(&app.key).send().await.unwrap();
    assert_error(invoices, 404, "not_found").await;
    let created = app.create_ok(serde_json::json!({"amount": "1", "asset": "USDT"})).await;
    assert_eq!(created["status"], "new");
}
