//! `coffer bench payouts`: payout requests through a real gateway process
//! and a real signer process, against anvil, with a large history already
//! in the signer's spend ledger. Prints requests per second at the API and
//! the signer's own decision time (authenticate, every rule, sign, commit),
//! and that decision until its commit is on disk, read from the signer's
//! histograms. Nothing is asserted on time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use anyhow::bail;
use coffer_devnet::{Anvil, AnvilOptions, deploy_test_usdt};
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::api::Api;
use crate::setup::{BenchDatabase, Environment, anvil_chain};
use crate::signer_process::Signer;

/// What to measure.
#[derive(Clone, Debug)]
pub struct PayoutBench {
    /// The `coffer` binary (gateway and signer).
    pub coffer_bin: PathBuf,
    /// The gateway's database.
    pub database: BenchDatabase,
    /// Earlier payouts put in the signer's spend ledger before it starts.
    pub history: u64,
    /// Payouts requested in the measured run.
    pub payouts: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// The figures.
#[derive(Clone, Debug)]
pub struct PayoutReport {
    /// Payouts accepted by the gateway (201).
    pub accepted: usize,
    /// Accepted payouts per second at the API.
    pub api_per_second: f64,
    /// Decisions the signer made during the run, and per second.
    pub decisions: u64,
    /// Decisions per second, first request to last decision.
    pub decisions_per_second: f64,
    /// The signer's decision time: p50 and p99, in microseconds (read from
    /// a histogram with 15% buckets, interpolated within the bucket).
    pub decision_micros: [f64; 2],
    /// The decision until its commit is on disk (the decision and the wait
    /// for the shared fsync that covers it): p50 and p99 in microseconds.
    pub durable_micros: [f64; 2],
    /// A payout request's whole time at the signer, arrival to answer (the
    /// decision, the node's gas estimate, the wait for the decision lock,
    /// the waits for the disk, the broadcast): p50 and p99 in microseconds.
    pub request_micros: [f64; 2],
    /// The store's fsyncs during the run, and their p50 and p99 in
    /// microseconds (one covers every commit made while it waited).
    pub syncs: u64,
    /// See [`PayoutReport::syncs`].
    pub sync_micros: [f64; 2],
    /// History rows in the spend ledger.
    pub history: u64,
    /// Decisions that signed (the rest were refused: a bench whose payouts
    /// are refused measures refusals, not signing).
    pub signed: u64,
}

impl std::fmt::Display for PayoutReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "payouts: {} accepted at {:.0}/s; the signer decided {} at {:.0}/s ({} signed); decision p50 {:.2} ms, \
             p99 {:.2} ms; durable decision p50 {:.2} ms, p99 {:.2} ms; whole request at the signer p50 {:.2} ms, p99 {:.2} ms; {} fsyncs of its store, p50 {:.2} ms, \
             p99 {:.2} ms (with {} earlier payouts in its spend ledger)",
            self.accepted,
            self.api_per_second,
            self.decisions,
            self.decisions_per_second,
            self.signed,
            self.decision_micros[0] / 1000.0,
            self.decision_micros[1] / 1000.0,
            self.durable_micros[0] / 1000.0,
            self.durable_micros[1] / 1000.0,
            self.request_micros[0] / 1000.0,
            self.request_micros[1] / 1000.0,
            self.syncs,
            self.sync_micros[0] / 1000.0,
            self.sync_micros[1] / 1000.0,
            self.history
        )
    }
}

/// The `q` quantile of a cumulative histogram, in microseconds.
fn quantile(buckets: &[(f64, u64)], q: f64) -> f64 {
    let total = buckets.last().map_or(0, |b| b.1);
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for &(bound, count) in buckets {
        if count as f64 >= rank {
            if !bound.is_finite() {
                return lower.0 * 1e6;
            }
            let within = (rank - lower.1 as f64) / ((count - lower.1).max(1) as f64);
            return (lower.0 + (bound - lower.0) * within) * 1e6;
        }
        lower = (bound, count);
    }
    lower.0 * 1e6
}

/// Runs the benchmark.
pub async fn run(bench: &PayoutBench) -> anyhow::Result<PayoutReport> {
    let anvil = Anvil::spawn(AnvilOptions::default()).await?;
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await?;
    let env = Environment::prepare(&bench.database).await?;
    let dir = env.dir();

    // The signer: its own directory, a key for the gateway, a policy that
    // lets the run through (the bench measures decisions, not refusals).
    let passphrase = dir.join("passphrase");
    std::fs::write(&passphrase, "bench passphrase, dev only")?;
    let crate::signer_process::SignerInit { hot, identity, .. } =
        crate::signer_process::init(&bench.coffer_bin, &dir.join("signer"), &passphrase).await?;
    let key = coffer_signer_api::RequestKey::generate()?;
    let key_file = dir.join("request.key");
    key.create_file(&key_file)?;
    let signer_config = dir.join("signer.toml");
    std::fs::write(&signer_config, signer_toml(dir, &passphrase, &key, &anvil, token.address))?;

    // A first start creates and migrates its database; then the history goes in.
    let signer = Signer::start(&bench.coffer_bin, &signer_config).await?;
    signer.stop().await;
    fill_history(&dir.join("signer").join("signer.db"), bench.history).await?;
    let signer = Signer::start(&bench.coffer_bin, &signer_config).await?;

    // The treasury holds enough; the merchant's balance comes from a paid invoice.
    rpc.call("anvil_setBalance", json!([hot, "0x3635C9ADC5DEA00000"])).await?; // 1000 ETH
    token.mint(rpc, hot, U256::from(u64::MAX / 4)).await?;
    let extra = format!(
        "[signer]\nurl = \"{}\"\nrequest_key_file = \"{}\"\nidentity_key = \"{identity}\"\npoll_interval_ms = 200\nretry_base_ms = 100\n",
        signer.url,
        key_file.display()
    );
    // Payouts need the chain's native coin configured: it pays their gas.
    let chains = anvil_chain(&anvil, token.address, 1, &extra, "")
        + "[[assets]]\nsymbol = \"ETH\"\nchain_id = 31337\ndecimals = 18\n";
    let gateway = env.start_gateway(&bench.coffer_bin, &chains).await?;
    let api = Api::new(gateway.addr, &env.api_key)?;
    let payer = rpc.accounts().await?[1];
    token.mint(rpc, payer, U256::from(u64::MAX / 4)).await?;
    let (_, address) = api.invoice("USDT", "1000000").await?;
    token.send_transfer(rpc, payer, address.parse()?, U256::from(1_000_000_000_000u64)).await?;
    rpc.mine(3).await?;
    let client = reqwest::Client::new();
    let base = format!("http://{}", gateway.addr);
    wait_for_balance(&client, &base, &env.api_key).await?;

    let [before, durable_before, requests_before, syncs_before] = signer.histograms().await?;
    let started = Instant::now();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..bench.concurrency.max(1) {
        let (client, base, key, accepted, next, total) =
            (client.clone(), base.clone(), env.api_key.clone(), accepted.clone(), next.clone(), bench.payouts);
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return;
                }
                let to = Address::from_word(U256::from(0xbe_0000_0000u64 + n as u64).into());
                let body = json!({ "amount": "0.01", "asset": "USDT", "destination": to });
                let sent = client
                    .post(format!("{base}/v1/payouts"))
                    .bearer_auth(&key)
                    .header("Idempotency-Key", format!("bench-{n}"))
                    .json(&body)
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status().as_u16() == 201) {
                    accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let api_elapsed = started.elapsed();
    let accepted = accepted.load(std::sync::atomic::Ordering::Relaxed);
    // The outbox hands them to the signer; wait until it has decided them all.
    let deadline = Instant::now() + Duration::from_secs(300);
    let decisions = loop {
        let [now, _, _, _] = signer.histograms().await?;
        let decided = now.last().map_or(0, |b| b.1) - before.last().map_or(0, |b| b.1);
        if decided >= accepted as u64 || Instant::now() > deadline {
            break decided;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let all = started.elapsed();
    let [after, durable_after, requests_after, syncs_after] = signer.histograms().await?;
    let signed = signer.outcome("broadcast").await?;
    let during = |after: &[(f64, u64)], before: &[(f64, u64)]| -> Vec<(f64, u64)> {
        after.iter().zip(before).map(|(a, b)| (a.0, a.1 - b.1)).collect()
    };
    let run = during(&after, &before);
    let durable = during(&durable_after, &durable_before);
    let requests = during(&requests_after, &requests_before);
    let syncs = during(&syncs_after, &syncs_before);
    gateway.stop().await;
    signer.stop().await;
    env.cleanup().await;
    Ok(PayoutReport {
        accepted,
        api_per_second: accepted as f64 / api_elapsed.as_secs_f64(),
        decisions,
        decisions_per_second: decisions as f64 / all.as_secs_f64(),
        decision_micros: [quantile(&run, 0.5), quantile(&run, 0.99)],
        durable_micros: [quantile(&durable, 0.5), quantile(&durable, 0.99)],
        request_micros: [quantile(&requests, 0.5), quantile(&requests, 0.99)],
        syncs: syncs.last().map_or(0, |b| b.1),
        sync_micros: [quantile(&syncs, 0.5), quantile(&syncs, 0.99)],
        history: bench.history,
        signed,
    })
}

async fn wait_for_balance(client: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let balances: Value = client.get(format!("{base}/v1/balances")).bearer_auth(key).send().await?.json().await?;
        if balances["data"].as_array().is_some_and(|a| !a.is_empty()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the bench invoice never settled: {balances}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `history` earlier payouts over the last 30 days: their requests, their
/// spends and their destinations, as the signer writes them.
async fn fill_history(db: &Path, history: u64) -> anyhow::Result<()> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await?;
    let now = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs())?;
    let mut tx = conn.begin().await?;
    for n in 0..history {
        let id = format!("po_{}", uuid::Uuid::now_v7().simple());
        let at = now - i64::try_from(n)? * (30 * 86_400) / i64::try_from(history.max(1))?;
        let to = format!("{:#x}", Address::from_word(U256::from(0xaa_0000_0000u64 + n).into()));
        let outcome = r#"{"state":"refused","rule":"limit.per_payout","message":"history"}"#;
        sqlx::query(
            "INSERT INTO requests (id, kind, digest, intent, chain_id, asset, outcome, final, policy_version, created_at, \
             updated_at) VALUES (?, 'payout', ?, '{}', 31337, 'USDT', ?, 1, 1, ?, ?)",
        )
        .bind(&id)
        .bind(uuid::Uuid::now_v7().as_bytes().repeat(2))
        .bind(outcome)
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO spends (at, kind, chain_id, asset, merchant, destination, amount, request_id) \
             VALUES (?, 'payout', 31337, 'USDT', 'mer_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b', ?, '10000', ?)",
        )
        .bind(at)
        .bind(&to)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO destinations (chain_id, address, first_requested_at) VALUES (31337, ?, ?)")
            .bind(&to)
            .bind(at)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn signer_toml(
    dir: &Path,
    passphrase: &Path,
    key: &coffer_signer_api::RequestKey,
    anvil: &Anvil,
    usdt: Address,
) -> String {
    format!(
        r#"listen_addr = "127.0.0.1:0"
data_dir = "{dir}/signer"
passphrase_file = "{passphrase}"
gateway_public_key = "{public}"
poll_ms = 200
[[chains]]
chain_id = 31337
rpc_url = "{rpc}"
confirmations = 1
cold_address = "0xc0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"
[[assets]]
symbol = "ETH"
chain_id = 31337
decimals = 18
[[assets]]
symbol = "USDT"
chain_id = 31337
contract = "{usdt}"
decimals = 6
[policy]
version = 1
cooldown_secs = 0
[[policy.assets]]
chain_id = 31337
symbol = "ETH"
max_per_payout = "1"
hot_cap = "100000"
sweep_minimum = "0.001"
global = {{ amount_1h = "10", amount_24h = "10", count_1h = 10, count_24h = 10 }}
[[policy.assets]]
chain_id = 31337
symbol = "USDT"
max_per_payout = "1000"
hot_cap = "1000000000000"
sweep_minimum = "1"
global = {{ amount_1h = "1000000000", amount_24h = "1000000000", count_1h = 100000000, count_24h = 100000000 }}
[[policy.chains]]
chain_id = 31337
fees_1h = "100"
fees_24h = "100"
top_up_per_sweep = "0.01"
# The bench measures signing decisions: every payout goes to a new address
# at a rate no tripwire would let through, so they are set out of reach.
[policy.anomaly]
window_secs = 60
outflow_multiple = 1000000000
new_destinations = 1000000000
refusals = 1000000000
auth_failures = 1000000000
freeze_on_global_limit = false
"#,
        dir = dir.display(),
        passphrase = passphrase.display(),
        public = key.public(),
        rpc = anvil.http_url(),
    )
}
