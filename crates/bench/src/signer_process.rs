//! A `coffer signer run` child process, as the benches and drills start it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// What `coffer signer init` printed for a new signer directory.
pub(crate) struct SignerInit {
    /// The hot wallet's address.
    pub(crate) hot: alloy_primitives::Address,
    /// The signer's public identity key (`ed25519:…`), for the gateway's config.
    pub(crate) identity: String,
    /// The deposit account's xpub, for the gateway's config.
    pub(crate) xpub: String,
}

/// `coffer signer init --dev-kdf` in `dir`, its passphrase in `passphrase`.
pub(crate) async fn init(coffer: &Path, dir: &Path, passphrase: &Path) -> anyhow::Result<SignerInit> {
    let output = Command::new(coffer)
        .args(["signer", "init", "--dev-kdf", "--dir"])
        .arg(dir)
        .arg("--passphrase-file")
        .arg(passphrase)
        .output()
        .await?;
    if !output.status.success() {
        anyhow::bail!("coffer signer init failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let printed = String::from_utf8(output.stdout)?;
    let field = |name: &str| -> anyhow::Result<String> {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
            .with_context(|| format!("coffer signer init printed no {name}"))
    };
    Ok(SignerInit { hot: field("hot_wallet")?.parse()?, identity: field("identity")?, xpub: field("xpub")? })
}

/// The running signer and its URL.
pub(crate) struct Signer {
    child: Child,
    pub(crate) url: String,
}

impl Signer {
    pub(crate) async fn start(coffer: &Path, config: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(coffer)
            .args(["signer", "run", "--config"])
            .arg(config)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the signer")?;
        let stdout = child.stdout.take().context("signer stdout")?;
        let line = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).lines().next_line())
            .await
            .context("the signer did not start within 30 s")??
            .context("the signer exited before listening")?;
        let url = line.strip_prefix("listening on ").context("unexpected signer output")?.to_owned();
        Ok(Self { child, url })
    }

    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }

    /// How many decisions reached `state` (`coffer_signer_outcomes_total`).
    pub(crate) async fn outcome(&self, state: &str) -> anyhow::Result<u64> {
        let text = reqwest::get(format!("{}/metrics", self.url)).await?.text().await?;
        let name = format!("coffer_signer_outcomes_total{{state=\"{state}\"}}");
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(&name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64))
    }

    /// The decision-time histogram, the durable-decision one, the
    /// payout-request one and the store's fsync one.
    pub(crate) async fn histograms(&self) -> anyhow::Result<[Vec<(f64, u64)>; 4]> {
        let text = reqwest::get(format!("{}/metrics", self.url)).await?.text().await?;
        Ok([
            buckets(&text, "coffer_signer_decision_seconds_bucket")?,
            buckets(&text, "coffer_signer_durable_decision_seconds_bucket")?,
            buckets(&text, "coffer_signer_payout_request_seconds_bucket")?,
            buckets(&text, "coffer_signer_store_sync_seconds_bucket")?,
        ])
    }
}

/// A histogram's cumulative buckets, read off the metrics text.
pub(crate) fn buckets(text: &str, name: &str) -> anyhow::Result<Vec<(f64, u64)>> {
    let mut buckets = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(name)) {
        let le = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()).context("a bucket's bound")?;
        let count = line.rsplit(' ').next().context("a bucket's count")?.parse()?;
        let bound = if le == "+Inf" { f64::INFINITY } else { le.parse()? };
        buckets.push((bound, count));
    }
    Ok(buckets)
}
