//! What a client can put into the gateway's metrics: nothing it chooses
//! may grow a label set.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use coffer_store::testing::Kind;

use crate::helpers::spawn_app;

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
