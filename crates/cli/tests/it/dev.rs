#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::receiver::DocumentedReceiver;
use crate::support::{Running, coffer};

pub(crate) fn wait_for_dev_json(dir: &Path, previous: Option<&Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(bytes) = std::fs::read(dir.join("dev.json"))
            && let Ok(info) = serde_json::from_slice::<Value>(&bytes)
            && Some(&info) != previous
        {
            return info;
        }
        assert!(Instant::now() < deadline, "dev.json not written within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: u64) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// A test that fails unwinds and drops its `coffer dev` without stopping it
/// first: the anvil that `coffer dev` started must not outlive it.
#[tokio::test]
async fn a_dev_dropped_by_a_failing_test_leaves_no_anvil_behind() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".coffer-dev");
    let dev = Running::spawn(coffer().args(["dev", "--listen", "127.0.0.1:0", "--dir"]).arg(&state));
    let anvil_pid = wait_for_dev_json(&state, None)["anvil_pid"].as_u64().unwrap();
    assert!(alive(anvil_pid));
    drop(dev); // what unwinding from a panic does
    assert!(!alive(anvil_pid), "anvil {anvil_pid} outlived the coffer dev that started it");
}

#[tokio::test]
async fn dev_runs_on_embedded_defaults_and_reuses_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".coffer-dev");
    let start = || Running::spawn(coffer().args(["dev", "--listen", "127.0.0.1:0", "--dir"]).arg(&state));

    let mut first = start();
    let info = wait_for_dev_json(&state, None);
    for field in ["gateway_url", "api_key", "merchant_id", "xpub"] {
        assert!(info[field].as_str().is_some_and(|v| !v.is_empty()), "dev.json lacks {field}: {info}");
    }
    let client = reqwest::Client::new();
    let base = info["gateway_url"].as_str().unwrap();
    let key = info["api_key"].as_str().unwrap();
    let created: Value = client
        .post(format!("{base}/v1/invoices"))
        .bearer_auth(key)
        .json(&json!({"amount": "12.50", "asset": "USDT", "chain_id": 31337}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["status"], "new", "{created}");
    for field in ["rpc_url", "usdt_address", "ws_url"] {
        assert!(info[field].as_str().is_some_and(|v| !v.is_empty()), "dev.json lacks {field}: {info}");
    }

    // The shop's own receiver, the README's, started by hand: it refuses a
    // forged delivery with its own HMAC check.
    let mut receiver = DocumentedReceiver::start(&client, base, key, &["invoice.settled"]).await;
    if let Some(receiver) = &mut receiver {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let forged = client
            .post(&receiver.url)
            .header("Coffer-Signature", format!("t={now},v1={}", "0".repeat(64)))
            .body(r#"{"id":"evt_forged"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 401);
        receiver.expect_line("REFUSED: bad signature", Duration::from_secs(10)).await;
    }

    // A newcomer pays it from a dev account and watches it settle.
    let id = created["id"].as_str().unwrap();
    let paid = crate::support::run_ok(coffer().args(["dev", "pay", id, "--dir"]).arg(&state));
    assert!(paid.contains("paid 12.5 USDT"), "{paid}");
    let mut invoice = Value::Null;
    for _ in 0..200 {
        invoice =
            client.get(format!("{base}/v1/invoices/{id}")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
        if invoice["status"] == "settled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(invoice["status"], "settled", "{invoice:#}");
    let balances: Value =
        client.get(format!("{base}/v1/balances")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    assert_eq!(balances["data"][0]["available"], "12.5", "{balances}");
    if let Some(receiver) = &mut receiver {
        let line = receiver
            .expect_line(&format!("verified invoice.settled {id} status=settled"), Duration::from_secs(30))
            .await;
        assert!(line.contains("paid=12.5 USDT"), "{line}");
        // The receiver's 200 is the acknowledgement the delivery log shows.
        let log_path = format!("{base}/v1/webhooks/{}/deliveries", receiver.webhook_id);
        let mut log = Value::Null;
        for _ in 0..600 {
            log = client.get(&log_path).bearer_auth(key).send().await.unwrap().json().await.unwrap();
            if log["data"][0]["status"] == "delivered" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(log["data"][0]["status"], "delivered", "{log:#}");
        assert_eq!(log["data"][0]["last_status"], 200, "{log:#}");
    }
    let again = crate::support::run_err(coffer().args(["dev", "pay", id, "--dir"]).arg(&state));
    assert!(String::from_utf8_lossy(&again.stderr).contains("paid in full already"));

    // Paid from a sanctioned address (the Ronin exploiter, on OFAC's list):
    // held, never credited, and the operator sees and decides it.
    let held: Value = client
        .post(format!("{base}/v1/invoices"))
        .bearer_auth(key)
        .json(&json!({"amount": "3", "asset": "USDT"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let held_id = held["id"].as_str().unwrap();
    let sanctioned = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96";
    let paid =
        crate::support::run_ok(coffer().args(["dev", "pay", held_id, "--from", sanctioned, "--dir"]).arg(&state));
    assert!(paid.contains(sanctioned), "{paid}");
    for _ in 0..200 {
        let response = client.get(format!("{base}/v1/invoices/{held_id}")).bearer_auth(key).send().await.unwrap();
        invoice = response.json().await.unwrap();
        if invoice["exceptions"].as_array().is_some_and(|e| e.contains(&json!("held"))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(invoice["payments"][0]["hold"]["category"], "sanction", "{invoice:#}");
    assert_ne!(invoice["status"], "settled", "{invoice:#}");
    let balances: Value =
        client.get(format!("{base}/v1/balances")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    assert_eq!(balances["data"][0]["available"], "12.5", "not credited: {balances}");
    let operator = info["operator_url"].as_str().unwrap();
    let token_file = info["operator_token_file"].as_str().unwrap();
    let listed = crate::support::run_ok(coffer().args([
        "screening",
        "held",
        "--gateway",
        operator,
        "--operator-token-file",
        token_file,
    ]));
    let pay_id = invoice["payments"][0]["id"].as_str().unwrap();
    assert!(listed.contains(pay_id) && listed.contains("1 payment(s) held"), "{listed}");
    let rejected = crate::support::run_ok(coffer().args([
        "screening",
        "reject",
        pay_id,
        "--reason",
        "dev test",
        "--gateway",
        operator,
        "--operator-token-file",
        token_file,
    ]));
    assert!(rejected.contains("rejected"), "{rejected}");

    // The seed stays in the signer's directory, encrypted, readable by its
    // owner only, and neither it nor its dev-only passphrase appears
    // anywhere the gateway reads.
    assert!(!state.join("signer/seed.mnemonic").exists());
    let seed: Value = serde_json::from_slice(&std::fs::read(state.join("signer/seed.enc")).unwrap()).unwrap();
    assert_eq!(seed["format"], "coffer-seed/1");
    #[cfg(unix)]
    for file in ["signer/seed.enc", "signer-passphrase.dev-only"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{file} mode {mode:o}");
    }
    let ciphertext = &seed["ciphertext"].as_str().unwrap()[..32];
    let passphrase = std::fs::read_to_string(state.join("signer-passphrase.dev-only")).unwrap();
    for file in ["coffer.toml", "dev.json"] {
        let text = std::fs::read_to_string(state.join(file)).unwrap();
        assert!(
            !text.contains(ciphertext) && !text.contains(passphrase.trim()),
            "{file} holds the seed or its passphrase"
        );
    }
    let anvil_pid = info["anvil_pid"].as_u64().unwrap();
    assert!(first.terminate().success());
    assert!(!alive(anvil_pid), "Ctrl-C or SIGTERM stops the chain too");

    // Again: same seed, merchant, key and chain; the invoice is still there, settled.
    let mut second = start();
    let again = wait_for_dev_json(&state, Some(&info));
    for field in ["api_key", "merchant_id", "xpub"] {
        assert_eq!(again[field], info[field], "{field} changed between runs");
    }
    let base = again["gateway_url"].as_str().unwrap();
    let fetched = client
        .get(format!("{base}/v1/invoices/{}", created["id"].as_str().unwrap()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.json::<Value>().await.unwrap()["status"], "settled");
    let ledger = crate::support::run_ok(coffer().args(["ledger", "check", "--config"]).arg(state.join("coffer.toml")));
    assert!(ledger.contains("ledger ok"), "{ledger}");
    assert!(second.terminate().success());
}
