//! `coffer bench memory`: the resident memory of a gateway watching many
//! open invoices (Linux: read from `/proc/<pid>/status`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use coffer_devnet::{Anvil, AnvilOptions, deploy_test_usdt};

use crate::api::Api;
use crate::fill::{FillSpec, fill};
use crate::setup::{BenchDatabase, Environment, anvil_chain};

/// What to measure.
#[derive(Clone, Debug)]
pub struct MemoryBench {
    /// The `coffer` binary.
    pub coffer_bin: PathBuf,
    /// Where the gateway keeps its data.
    pub database: BenchDatabase,
    /// Open invoices to watch.
    pub invoices: usize,
}

/// The figures.
#[derive(Clone, Debug)]
pub struct MemoryReport {
    /// Open invoices watched.
    pub watched: u64,
    /// Writing them to the database (set-up, not measured against anything).
    pub fill: Duration,
    /// Gateway start → all of them watched and the chain followed.
    pub load: Duration,
    /// Resident memory then, in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// The most it had resident at any time, in KiB (`VmHWM`).
    pub peak_kib: u64,
}

impl std::fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "watching {} open invoices: resident {:.1} MiB (peak {:.1} MiB); loaded in {:.2} s after start \
             (writing them took {:.1} s)",
            self.watched,
            self.rss_kib as f64 / 1024.0,
            self.peak_kib as f64 / 1024.0,
            self.load.as_secs_f64(),
            self.fill.as_secs_f64(),
        )
    }
}

/// Runs the benchmark.
pub async fn run(bench: &MemoryBench) -> anyhow::Result<MemoryReport> {
    let anvil = Anvil::spawn(AnvilOptions::default()).await?;
    let token = deploy_test_usdt(anvil.rpc()).await?;
    let env = Environment::prepare(&bench.database).await?;
    let filled = Instant::now();
    {
        let store = env.store().await?;
        let spec = FillSpec { merchant: env.merchant, token: "USDT", chain_id: 31337, units: 1_000_000 };
        fill(&*store, &spec, bench.invoices).await?;
    }
    let fill_time = filled.elapsed();
    let chains = anvil_chain(&anvil, token.address, 12, "", "");
    let started = Instant::now();
    let gateway = env.start_gateway(&bench.coffer_bin, &chains).await?;
    let api = Api::new(gateway.addr, &env.api_key)?;
    let deadline = started + Duration::from_secs(600);
    let watched = loop {
        let chain = api.chain_health().await?;
        let watched = chain["watched_invoices"].as_u64().unwrap_or(0);
        if watched >= bench.invoices as u64 && chain["state"] == "following" {
            break watched;
        }
        if Instant::now() > deadline {
            bail!("the gateway did not load {} invoices within 10 minutes: {chain}", bench.invoices);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let load = started.elapsed();
    // Some ordinary traffic on top, then settle.
    for _ in 0..100 {
        api.invoice("USDT", "1").await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = gateway.pid().context("the gateway's pid")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc (Linux only)")?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} in /proc"))?;
        Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
    };
    let report = MemoryReport { watched, fill: fill_time, load, rss_kib: field("VmRSS:")?, peak_kib: field("VmHWM:")? };
    gateway.stop().await;
    env.cleanup().await;
    Ok(report)
}
