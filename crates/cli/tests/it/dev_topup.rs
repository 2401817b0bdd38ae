//! `coffer dev` end to end through a token sweep: the signer tops the USDT
//! deposit up with ETH from the hot wallet, then sweeps the token. That
//! top-up is the treasury moving its own gas, never a customer's payment,
//! and the books follow every wei of it: `coffer ledger check` passes with
//! the treasury's wallets agreeing with the books.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Running, coffer, run_ok};

fn dev_json(dir: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(bytes) = std::fs::read(dir.join("dev.json"))
            && let Ok(info) = serde_json::from_slice::<Value>(&bytes)
        {
            return info;
        }
        assert!(Instant::now() < deadline, "dev.json not written within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The books' hot-wallet figure of `asset` in `coffer treasury show`'s
/// line for it (the first `hot` on the line; the chain's comes after).
fn booked_hot(shown: &str, asset: &str) -> Option<String> {
    let line = shown.lines().find(|l| l.starts_with(asset))?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "hot")?;
    words.next().map(str::to_owned)
}

struct Dev {
    _running: Running,
    state: std::path::PathBuf,
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Dev {
    fn config(&self) -> std::path::PathBuf {
        self.state.join("coffer.toml")
    }

    fn treasury(&self) -> String {
        run_ok(coffer().args(["treasury", "show", "--config"]).arg(self.config()))
    }

    async fn invoice(&self, amount: &str, asset: &str) -> String {
        let created: Value = self
            .client
            .post(format!("{}/v1/invoices", self.base))
            .bearer_auth(&self.key)
            .json(&json!({"amount": amount, "asset": asset, "chain_id": 31337}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    async fn get(&self, id: &str) -> Value {
        let url = format!("{}/v1/invoices/{id}", self.base);
        self.client.get(url).bearer_auth(&self.key).send().await.unwrap().json().await.unwrap()
    }

    /// Pays the invoice with `coffer dev pay` and waits until it settles.
    async fn pay_and_settle(&self, id: &str) {
        run_ok(coffer().args(["dev", "pay", id, "--dir"]).arg(&self.state));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let invoice = self.get(id).await;
            if invoice["status"] == "settled" {
                return;
            }
            assert!(Instant::now() < deadline, "never settled: {invoice:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the books' hot wallet holds `done` of `asset`.
    async fn until_hot(&self, asset: &str, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let shown = self.treasury();
            if booked_hot(&shown, asset).is_some_and(|hot| done(&hot)) {
                return;
            }
            assert!(Instant::now() < deadline, "the books' hot wallet never held {what} of {asset}:\n{shown}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[tokio::test]
async fn a_token_sweep_tops_up_its_gas_and_the_treasury_still_agrees_with_the_books() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".coffer-dev");
    let running =
        Running::spawn(coffer().args(["dev", "--listen", "127.0.0.1:0", "--block-time", "1", "--dir"]).arg(&state));
    let info = dev_json(&state);
    let dev = Dev {
        _running: running,
        base: info["gateway_url"].as_str().unwrap().to_owned(),
        key: info["api_key"].as_str().unwrap().to_owned(),
        state,
        client: reqwest::Client::new(),
    };

    // ETH first: its sweep brings the hot wallet the gas a token sweep needs.
    let eth = dev.invoice("0.05", "ETH").await;
    dev.pay_and_settle(&eth).await;
    dev.until_hot("ETH@31337", "the swept ETH", |hot| hot != "0").await;

    // USDT: the signer sends the deposit gas from the hot wallet, then sweeps.
    let usdt = dev.invoice("250", "USDT").await;
    dev.pay_and_settle(&usdt).await;
    dev.until_hot("USDT@31337", "250 USDT", |hot| hot == "250000000").await;

    // Every wallet agrees with the books once the sweep is booked (the
    // watcher may still be a block behind the signer: asked until then).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (checked, shown) = loop {
        let checked = coffer().args(["ledger", "check", "--config"]).arg(dev.config()).output().unwrap();
        let shown = dev.treasury();
        if checked.status.success() || Instant::now() >= deadline {
            break (checked, shown);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "coffer ledger check failed:\n{stdout}\n{}\n{shown}",
        String::from_utf8_lossy(&checked.stderr)
    );
    for asset in ["ETH@31337", "USDT@31337"] {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(asset)).unwrap_or_default();
        assert!(line.ends_with("| agrees"), "{asset}: {line}\n{stdout}");
    }

    // The top-up reached the USDT invoice's deposit address, and it is no payment.
    let invoice = dev.get(&usdt).await;
    assert_eq!(invoice["exceptions"], json!([]), "{invoice:#}");
    assert_eq!(invoice["payments"].as_array().unwrap().len(), 1, "{invoice:#}");
    assert_eq!(invoice["payments"][0]["asset"], "USDT", "{invoice:#}");
}
