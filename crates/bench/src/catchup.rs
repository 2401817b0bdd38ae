//! `coffer bench catchup`: a gateway started behind a backlog of blocks
//! carrying payments to open invoices, timed until its cursor reaches the
//! head with every payment settled; beside it, the time the node itself
//! takes to serve the same `eth_getLogs` ranges, measured in the same run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use anyhow::{Context as _, bail};
use coffer_devnet::{Anvil, AnvilOptions, TestToken, deploy_test_usdt};
use coffer_domain::{EventType, InvoiceStatus, Timestamp, WebhookId};
use coffer_store::WebhookEndpoint;
use serde_json::json;

use crate::api::Api;
use crate::fill::{FillSpec, fill};
use crate::receiver::Receiver;
use crate::setup::{BenchDatabase, Environment, anvil_chain};

/// What to measure.
#[derive(Clone, Debug)]
pub struct CatchupBench {
    /// The `coffer` binary.
    pub coffer_bin: PathBuf,
    /// Where the gateway keeps its data.
    pub database: BenchDatabase,
    /// Blocks in the backlog.
    pub blocks: u64,
    /// Payments in them (one per block at most).
    pub payments: usize,
    /// Open invoices the gateway watches.
    pub invoices: usize,
    /// Confirmations the chain requires.
    pub confirmations: u32,
    /// Blocks per `eth_getLogs` range.
    pub log_range: u64,
}

/// The figures.
#[derive(Clone, Debug)]
pub struct CatchupReport {
    /// Blocks, payments, invoices.
    pub shape: (u64, usize, usize),
    /// Gateway process started → cursor at the head, every payment settled.
    pub total: Duration,
    /// Of which: start, migrations and loading the watch list, until the first cursor.
    pub startup: Duration,
    /// The node serving the same `eth_getLogs` ranges, one after the other
    /// (the median of [`ROUNDS`]).
    pub node_logs: Duration,
    /// The watcher's follower alone, in this process, over the same backlog
    /// with the same watch list: reading and matching, no database (the
    /// median of [`ROUNDS`]).
    pub follow_only: Duration,
    /// Transfers it matched.
    pub matched: usize,
    /// The ranges (and the blocks followed one by one near the head).
    pub ranges: usize,
    /// Blocks followed one by one near the head.
    pub window: u64,
    /// Invoices settled at the end (should equal the payments).
    pub settled: usize,
    /// Time to build the backlog (not measured against anything).
    pub setup: Duration,
    /// SQLite's own floor for the rows the steps write (`scripts/sqlite-floor.py`,
    /// run in this bench after the gateway), or why it was not measured.
    pub floor: Result<Duration, String>,
    /// Requests to the provider from start to caught up.
    pub catchup_calls: u64,
    /// Requests to the provider for [`HEAD_BLOCKS`] blocks at the head.
    pub head_calls: u64,
}

impl std::fmt::Display for CatchupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (blocks, payments, invoices) = self.shape;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let processing = self.total.saturating_sub(self.startup);
        writeln!(
            f,
            "backlog: {blocks} blocks, {payments} payments, {invoices} open invoices (built in {:.1} s)",
            self.setup.as_secs_f64()
        )?;
        writeln!(
            f,
            "watcher: {:.0} ms from process start to caught up ({:.0} ms start and load, {:.0} ms following the \
             backlog: {} log ranges, then the last {} blocks as one parent-checked segment); {} invoices settled",
            ms(self.total),
            ms(self.startup),
            ms(processing),
            self.ranges,
            self.window,
            self.settled
        )?;
        writeln!(
            f,
            "node:    {:.0} ms to serve the same {} eth_getLogs ranges (median of {ROUNDS}); watcher / node = {:.2} \
             (following) and {:.2} (including start)",
            ms(self.node_logs),
            self.ranges,
            processing.as_secs_f64() / self.node_logs.as_secs_f64().max(1e-9),
            self.total.as_secs_f64() / self.node_logs.as_secs_f64().max(1e-9),
        )?;
        writeln!(
            f,
            "reading and matching alone (the follower in-process, same ranges, same {} addresses, no database): \
             {:.0} ms (median of {ROUNDS}), {} transfers matched; follower / node = {:.2}",
            invoices,
            ms(self.follow_only),
            self.matched,
            self.follow_only.as_secs_f64() / self.node_logs.as_secs_f64().max(1e-9),
        )?;
        writeln!(
            f,
            "RPC budget: {} requests from start to caught up ({:.1} per 1,000 blocks, startup checks included); \
             {:.1} requests per block at the head ({HEAD_BLOCKS} blocks, each followed before the next)",
            self.catchup_calls,
            self.catchup_calls as f64 * 1000.0 / blocks.max(1) as f64,
            self.head_calls as f64 / HEAD_BLOCKS as f64,
        )?;
        match &self.floor {
            Ok(floor) => write!(
                f,
                "SQLite's own floor for the same rows (scripts/sqlite-floor.py, this run): {:.0} ms; watcher \
                 following / floor = {:.2}",
                ms(*floor),
                processing.as_secs_f64() / floor.as_secs_f64().max(1e-9),
            ),
            Err(why) => write!(f, "SQLite's own floor: not measured ({why})"),
        }
    }
}

/// Runs the benchmark.
pub async fn run(bench: &CatchupBench) -> anyhow::Result<CatchupReport> {
    if bench.payments as u64 > bench.blocks || bench.payments > bench.invoices {
        bail!("--payments must not exceed --blocks or --invoices");
    }
    let built = Instant::now();
    let anvil = Anvil::spawn(AnvilOptions::default()).await?;
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await?;
    let accounts = rpc.accounts().await?;
    let payer = accounts[1];
    token.mint(rpc, payer, U256::from(u64::MAX / 2)).await?;

    let env = Environment::prepare(&bench.database).await?;
    let store = env.store().await?;
    let spec = FillSpec { merchant: env.merchant, token: "USDT", chain_id: 31337, units: 1_000_000 };
    let addresses = fill(&*store, &spec, bench.invoices).await?;
    let receiver = Receiver::start().await?;
    let secret = coffer_webhooks::signature::generate_secret()?;
    *receiver.secret.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = secret.clone();
    let endpoint = WebhookEndpoint {
        id: WebhookId::new(),
        merchant_id: env.merchant,
        url: receiver.url.clone(),
        events: EventType::ALL.to_vec(),
        secret,
        created_at: Timestamp::now(),
    };
    store.create_webhook(&endpoint).await?;

    let first = rpc.block_number().await? + 1;
    build_backlog(&anvil, &token, payer, &addresses, bench).await?;
    let head = rpc.block_number().await?;
    let setup = built.elapsed();

    // Set, not left to the default: the node's own ranges below must be the
    // ones the gateway reads.
    let window = 64.max(2 * u64::from(bench.confirmations));
    let extra = format!("start_block = {first}\nlog_range = {}\nreorg_window = {window}", bench.log_range);
    let chains =
        anvil_chain(&anvil, token.address, bench.confirmations, "[webhooks]\nallow_private_urls = true", &extra);
    let started = Instant::now();
    let gateway = env.start_gateway(&bench.coffer_bin, &chains).await?;
    let api = Api::new(gateway.addr, &env.api_key)?;
    let loaded = api.until_cursor(first - 1, Duration::from_secs(600)).await?;
    let caught_up = api.until_cursor(head, Duration::from_secs(3600)).await?;
    let total = caught_up - started;
    let startup = loaded - started;

    // The RPC budget: requests the watcher made catching up, then per block
    // at the head (blocks mined one at a time, each followed before the next).
    let catchup_calls = provider_calls(&api).await?;
    for i in 1..=HEAD_BLOCKS {
        rpc.mine(1).await?;
        api.until_cursor(head + i, Duration::from_secs(60)).await?;
    }
    let head_calls = provider_calls(&api).await? - catchup_calls;

    let settled = store.ledger_snapshot().await?.invoices.iter().filter(|i| i.3 == InvoiceStatus::Settled).count();
    gateway.stop().await;
    env.cleanup().await;

    // The node alone (the ranges the watcher asked for, with the same
    // filter) and the follower alone, taken in turns so that the machine's
    // drift touches both alike; the medians are reported.
    let range_end = head.saturating_sub(window);
    let (mut node_runs, mut follow_runs) = (Vec::new(), Vec::new());
    let (mut ranges, mut matched) = (0, 0);
    for _ in 0..ROUNDS {
        let (node, served) = node_logs(rpc, token.address, first, range_end, bench.log_range).await?;
        let (follow, found) = follow_alone(&anvil, &token, &addresses, first, head, window, bench).await?;
        node_runs.push(node);
        follow_runs.push(follow);
        (ranges, matched) = (served, found);
    }
    let floor = match bench.database {
        BenchDatabase::Sqlite => sqlite_floor(bench).await,
        BenchDatabase::Postgres(_) => Err("the gateway ran on PostgreSQL".into()),
    };
    Ok(CatchupReport {
        floor,
        shape: (head + 1 - first, bench.payments, bench.invoices),
        total,
        startup,
        node_logs: median(&mut node_runs),
        follow_only: median(&mut follow_runs),
        matched,
        ranges,
        window: head.saturating_sub(range_end),
        settled,
        setup,
        catchup_calls,
        head_calls,
    })
}

/// Blocks followed at the head to count the requests each takes.
const HEAD_BLOCKS: u64 = 5;

/// Requests the watcher made to the chain's provider since it started, as
/// `/healthz` counts them (a batch counts each call, as providers bill).
async fn provider_calls(api: &Api) -> anyhow::Result<u64> {
    let chain = api.chain_health().await?;
    chain["providers"][0]["calls"].as_u64().ok_or_else(|| anyhow::anyhow!("no provider calls in /healthz: {chain}"))
}

/// SQLite's floor for the rows a catch-up of `bench` writes, as
/// `scripts/sqlite-floor.py` measures it (its first line's total).
async fn sqlite_floor(bench: &CatchupBench) -> Result<Duration, String> {
    let script = coffer_devnet::repo_root().join("scripts/sqlite-floor.py");
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .args(["--payments", &bench.payments.to_string(), "--invoices", &bench.invoices.to_string()])
        .args(["--step", &bench.log_range.to_string()])
        .output()
        .await
        .map_err(|e| format!("python3 {}: {e}", script.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("{}: {}", script.display(), String::from_utf8_lossy(&output.stderr).trim()));
    }
    // "SQLite 3.40.1: 3000 payments booked in 3 steps against 30000 invoices: 179 ms (step median 60 ms)"
    let total =
        text.lines().next().and_then(|line| line.rsplit_once(": ")).and_then(|(_, rest)| rest.split(' ').next());
    let millis: f64 = total.and_then(|t| t.parse().ok()).ok_or_else(|| format!("unexpected output {text:?}"))?;
    Ok(Duration::from_secs_f64(millis / 1000.0))
}

/// Times the node and the follower are each measured; the medians count.
const ROUNDS: usize = 5;

fn median(runs: &mut [Duration]) -> Duration {
    crate::api::percentiles(runs)[0]
}

/// The node serving the `eth_getLogs` ranges of `log_range` blocks from
/// `first` to `last`, one after the other; and how many ranges that was.
async fn node_logs(
    rpc: &coffer_devnet::Rpc,
    token: Address,
    first: u64,
    last: u64,
    log_range: u64,
) -> anyhow::Result<(Duration, usize)> {
    let mut ranges = 0;
    let started = Instant::now();
    let mut from = first;
    while from <= last {
        let to = (from + log_range - 1).min(last);
        let filter = json!([{
            "fromBlock": format!("0x{from:x}"),
            "toBlock": format!("0x{to:x}"),
            "address": [token],
            "topics": [format!("{}", alloy_primitives::keccak256("Transfer(address,address,uint256)"))],
        }]);
        rpc.call("eth_getLogs", filter).await.context("eth_getLogs")?;
        ranges += 1;
        from = to + 1;
    }
    Ok((started.elapsed(), ranges))
}

/// `bench.blocks` blocks after the current head, `bench.payments` of them
/// each holding one payment in full to an invoice, spread evenly.
async fn build_backlog(
    anvil: &Anvil,
    token: &TestToken,
    payer: Address,
    addresses: &[Address],
    bench: &CatchupBench,
) -> anyhow::Result<()> {
    let rpc = anvil.rpc();
    let every = (bench.invoices / bench.payments.max(1)).max(1);
    // Nonces spelled out: anvil would hand the same one to several calls of a batch.
    let nonce = rpc.call("eth_getTransactionCount", json!([payer, "latest"])).await?;
    let nonce = u64::from_str_radix(nonce.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)?;
    // Each payment, then a block: one payment per block. One at a time:
    // anvil runs the calls of a batch request concurrently.
    rpc.set_automine(false).await?;
    for i in 0..bench.payments {
        let data = TestToken::transfer_data(addresses[i * every], U256::from(1_000_000u64));
        let nonce = format!("0x{:x}", nonce + i as u64);
        let tx = json!([{"from": payer, "to": token.address, "data": data, "nonce": nonce, "gas": "0x30000"}]);
        rpc.call("eth_sendTransaction", tx).await.context("a backlog payment was refused")?;
        rpc.call("evm_mine", json!([])).await?;
    }
    rpc.set_automine(true).await?;
    // Empty blocks to make up the count, and enough on top for the last
    // payment to reach its confirmations: every payment can settle.
    let empty = (bench.blocks - bench.payments as u64).max(u64::from(bench.confirmations));
    rpc.mine(empty).await?;
    Ok(())
}

/// The gateway's follower, run here over the backlog with a watch list of
/// the same addresses: the chain-reading half of the watcher, timed alone.
async fn follow_alone(
    anvil: &Anvil,
    token: &TestToken,
    addresses: &[Address],
    first: u64,
    head: u64,
    window: u64,
    bench: &CatchupBench,
) -> anyhow::Result<(Duration, usize)> {
    let usdt = coffer_domain::AssetId { chain_id: coffer_domain::ChainId(31337), symbol: "USDT".parse()? };
    let spec = coffer_chain::ChainSpec {
        chain_id: coffer_domain::ChainId(31337),
        rpc_url: anvil.http_url(),
        ws_url: None,
        tokens: std::collections::HashMap::from([(token.address, usdt)]),
        token_decimals: std::collections::HashMap::from([(token.address, 6)]),
        native: None,
        reorg_window: window,
        log_range: bench.log_range,
        start_block: Some(first),
        poll_interval: Duration::from_millis(50),
        rpc_timeout: Duration::from_secs(30),
        internal_transfers: coffer_chain::InternalTransfers::Off,
        budget: coffer_chain::RequestBudget::default(),
        providers: Vec::new(),
        provider_lag: 8,
    };
    let watchlist = coffer_watcher::Watchlist::with_capacity(addresses.len());
    for address in addresses {
        watchlist.insert(*address, coffer_domain::InvoiceId::new());
    }
    let mut follower = coffer_chain::Follower::new(spec, Vec::new(), std::sync::Arc::default());
    let start = follower.next(&watchlist).await?;
    follower.commit(&start);
    let mut matched = 0;
    let started = Instant::now();
    while follower.tip().is_none_or(|tip| tip.number < head) {
        let update = follower.next(&watchlist).await?;
        matched += update.transfers.len();
        follower.commit(&update);
    }
    Ok((started.elapsed(), matched))
}
