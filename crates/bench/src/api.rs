//! The gateway's API, as the chain benches use it (set-up and polling, not
//! the measured path).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

pub(crate) struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    pub(crate) fn new(addr: SocketAddr, key: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Self { base: format!("http://{addr}"), key: key.to_owned(), http })
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.key).json(&body).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    /// A new invoice: its id and deposit address.
    pub(crate) async fn invoice(&self, asset: &str, amount: &str) -> anyhow::Result<(String, String)> {
        let invoice = self.post("/v1/invoices", json!({"amount": amount, "asset": asset})).await?;
        let field = |name: &str| invoice[name].as_str().map(str::to_owned).context("an invoice without id or address");
        Ok((field("id")?, field("address")?))
    }

    /// Registers `url` for every event; returns the signing secret.
    pub(crate) async fn webhook(&self, url: &str) -> anyhow::Result<String> {
        let events: Vec<&str> = coffer_domain::EventType::ALL.iter().map(|e| e.as_str()).collect();
        let created = self.post("/v1/webhooks", json!({"url": url, "events": events})).await?;
        created["secret"].as_str().map(str::to_owned).context("no secret in the answer")
    }

    /// The first chain's entry in `/healthz`.
    pub(crate) async fn chain_health(&self) -> anyhow::Result<Value> {
        let health: Value = self.http.get(format!("{}/healthz", self.base)).send().await?.json().await?;
        Ok(health["chains"][0].clone())
    }

    /// Polls `/healthz` (every 2 ms) until the watcher's cursor reaches `block`;
    /// returns when it saw it.
    pub(crate) async fn until_cursor(&self, block: u64, timeout: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let chain = self.chain_health().await?;
            if chain["cursor"].as_u64().is_some_and(|c| c >= block) {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                bail!("the watcher did not reach block {block} within {timeout:?}: {chain}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Percentiles of `samples` (sorted here): p50, p90, p99, max.
pub(crate) fn percentiles(samples: &mut [Duration]) -> [Duration; 4] {
    samples.sort();
    let at = |q: usize| samples.get((samples.len() * q / 100).min(samples.len().saturating_sub(1))).copied();
    [at(50), at(90), at(99), samples.last().copied()].map(Option::unwrap_or_default)
}
