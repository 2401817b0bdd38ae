#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::support::{Running, coffer, write_config};

#[tokio::test]
async fn the_gateway_logs_json_with_request_ids_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", "log_format = \"json\"\nlog_filter = \"coffer_gateway=debug,info\"");
    let mut gateway = Running::spawn(coffer().args(["gateway", "--config"]).arg(&config));
    let base = gateway.wait_for_listen();
    let client = reqwest::Client::new();
    let health = client.get(format!("{base}/healthz")).header("x-request-id", "req-abc-123").send().await.unwrap();
    assert_eq!(health.status(), 200);

    let status = gateway.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let logs = gateway.stderr();
    let lines: Vec<Value> =
        logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    let answered = lines
        .iter()
        .find(|l| l["message"] == "answered" || l["fields"]["message"] == "answered")
        .unwrap_or_else(|| panic!("no access log line in {logs}"));
    assert_eq!(answered["span"]["request_id"], "req-abc-123", "{answered}");
    assert!(logs.contains("SIGTERM received"), "{logs}");
}
