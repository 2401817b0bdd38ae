//! `coffer bench settlement`: the time from the block that confirms a
//! payment to the signed `invoice.settled` webhook arriving at the shop.
//!
//! A real gateway process watches a real anvil over WebSocket; mining is
//! manual so the bench knows when each block exists. Each round creates a
//! burst of invoices, pays them all in one block, waits until the gateway
//! has processed that block (as on a real chain, where blocks are seconds
//! apart), then mines the confirming block and notes when that call
//! returned. The receiver notes when each invoice's webhook arrived.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use anyhow::{Context as _, bail};
use coffer_devnet::{Anvil, AnvilOptions, deploy_test_usdt};

use crate::api::{Api, percentiles};
use crate::receiver::Receiver;
use crate::setup::{BenchDatabase, Environment, anvil_chain};

/// What to measure.
#[derive(Clone, Debug)]
pub struct SettlementBench {
    /// The `coffer` binary.
    pub coffer_bin: PathBuf,
    /// Where the gateway keeps its data.
    pub database: BenchDatabase,
    /// Invoices paid in each block.
    pub burst: usize,
    /// Bursts.
    pub rounds: usize,
    /// Confirmations the chain requires.
    pub confirmations: u32,
}

/// The figures.
#[derive(Clone, Debug)]
pub struct SettlementReport {
    /// Invoices measured.
    pub samples: usize,
    /// Confirming block mined → webhook arrived: p50, p90, p99, max.
    pub latency: [Duration; 4],
    /// How long anvil took to mine the confirming block (not counted above).
    pub mine_call: Duration,
    /// Webhooks whose signature did not verify.
    pub bad_signatures: u64,
}

impl std::fmt::Display for SettlementReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "confirming block -> signed webhook received, {} invoices: p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  \
             max {:.1} ms  (anvil's mining call, not counted: {:.1} ms on average; bad signatures: {})",
            self.samples,
            ms(self.latency[0]),
            ms(self.latency[1]),
            ms(self.latency[2]),
            ms(self.latency[3]),
            ms(self.mine_call),
            self.bad_signatures,
        )
    }
}

/// Runs the benchmark.
pub async fn run(bench: &SettlementBench) -> anyhow::Result<SettlementReport> {
    if bench.confirmations < 2 {
        bail!("--confirmations must be at least 2: the confirming block must come after the payment's");
    }
    let anvil = Anvil::spawn(AnvilOptions::default()).await?;
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await?;
    let payer = rpc.accounts().await?[1];
    token.mint(rpc, payer, U256::from(u64::MAX / 2)).await?;

    let env = Environment::prepare(&bench.database).await?;
    let receiver = Receiver::start().await?;
    let chains = anvil_chain(&anvil, token.address, bench.confirmations, "[webhooks]\nallow_private_urls = true", "");
    let gateway = env.start_gateway(&bench.coffer_bin, &chains).await?;
    let api = Api::new(gateway.addr, &env.api_key)?;
    *receiver.secret.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = api.webhook(&receiver.url).await?;
    api.until_cursor(rpc.block_number().await?, Duration::from_secs(30)).await?;
    rpc.set_automine(false).await?;

    let mut samples = Vec::new();
    let mut mining = Duration::ZERO;
    for _ in 0..bench.rounds {
        let mut ids = Vec::with_capacity(bench.burst);
        for _ in 0..bench.burst {
            let (id, address) = api.invoice("USDT", "1").await?;
            let to: Address = address.parse()?;
            token.send_transfer(rpc, payer, to, U256::from(1_000_000u64)).await?;
            ids.push(id);
        }
        rpc.mine(1).await?;
        let mut head = rpc.block_number().await?;
        api.until_cursor(head, Duration::from_secs(30)).await?;
        for _ in 2..bench.confirmations {
            rpc.mine(1).await?;
            head += 1;
            api.until_cursor(head, Duration::from_secs(30)).await?;
        }
        let asked = Instant::now();
        rpc.mine(1).await?;
        let mined = Instant::now();
        mining += mined - asked;
        let deadline = mined + Duration::from_secs(30);
        loop {
            let done = {
                let arrivals = receiver.arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                ids.iter()
                    .map(|id| arrivals.get(&("invoice.settled".to_owned(), id.clone())).copied())
                    .collect::<Option<Vec<Instant>>>()
            };
            if let Some(arrived) = done {
                samples.extend(arrived.into_iter().map(|at| at.saturating_duration_since(mined)));
                break;
            }
            if Instant::now() > deadline {
                bail!("not every invoice's settled webhook arrived within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    gateway.stop().await;
    env.cleanup().await;
    let rounds = u32::try_from(bench.rounds.max(1)).context("too many rounds")?;
    let bad_signatures = *receiver.bad_signatures.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(SettlementReport {
        samples: samples.len(),
        latency: percentiles(&mut samples),
        mine_call: mining / rounds,
        bad_signatures,
    })
}
