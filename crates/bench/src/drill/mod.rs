//! `coffer drill coinspaid`: the July 2023 CoinsPaid theft, replayed
//! against a real gateway and a real signer on anvil.
//!
//! The drill sets up a treasury (the hot wallet at its cap, most funds in
//! cold, merchants with balances from paid invoices, a history of normal
//! payouts), then plays an attacker who owns the gateway host: its merchant
//! API keys, its database, its configuration and its signer-request key. It
//! does not own the signer's host, the approvers' keys or cold's key
//! (`SIGNER.md`). It prints what the attacker got, how fast the signer froze,
//! and whether every attempt is on the signer's log; then it plays the way
//! back (restricted profile, allowlist, unfreeze by quorum) and times it.

mod after;
mod attacks;
mod config;
mod report;
mod setup;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use anyhow::Context as _;

pub use config::{DrillConfig, DrillConfigError, DrillPolicy};
pub use report::{Attempts, AuditFacts, Check, DrillReport, FreezeFacts, Recovery};

/// What to run.
#[derive(Clone, Debug)]
pub struct Drill {
    /// The `coffer` binary (gateway, signer, audit verify).
    pub coffer_bin: PathBuf,
    /// The treasury, policy and attack.
    pub config: DrillConfig,
}

/// `amount` whole USDT in base units.
pub(crate) fn usdt(whole: u64) -> U256 {
    U256::from(whole) * U256::from(1_000_000u64)
}

/// Runs the drill; the report says whether the bound held.
pub async fn run(drill: &Drill) -> anyhow::Result<DrillReport> {
    drill.config.check().map_err(|e| anyhow::anyhow!(e))?;
    let started = Instant::now();
    let world = setup::World::build(drill).await.context("setting up the drill's treasury")?;
    eprintln!("drill: treasury ready in {:.1} s; the attack starts", started.elapsed().as_secs_f64());
    let before = world.balances().await?;
    world.interval_mining(drill.config.block_secs).await?;
    let attack = attacks::run(&world, &drill.config).await?;
    world.automine().await?;
    world.settle(&attack.attacker_addresses).await?;
    let after = world.balances().await?;
    let stolen = world.held_by(&attack.attacker_addresses).await?;
    let stolen_eth = world.eth_held_by(&attack.attacker_addresses).await?;
    let audit = world.audit(&attack).await?;
    let recovery = world.recover(&drill.config).await?;
    let elapsed = attack.finished.duration_since(attack.started).as_secs().max(1);
    let bound = world.bound("USDT", elapsed)?;
    let bound_eth = world.bound("ETH", elapsed)?;
    world.stop().await;
    Ok(report::DrillReport::new(report::Facts {
        config: drill.config.clone(),
        attempts: attack.attempts,
        stolen,
        bound,
        stolen_eth,
        bound_eth,
        attack_secs: elapsed,
        treasury_before: before.hot + before.cold,
        cold_before: before.cold,
        cold_after: after.cold,
        hot_before: before.hot,
        hot_after: after.hot,
        freeze: attack.freeze,
        audit,
        recovery,
        total_secs: started.elapsed().as_secs_f64(),
    }))
}

/// Polls `check` every 100 ms until it says yes, within `timeout`.
pub(crate) async fn until<F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await? {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{what} did not happen within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Unix seconds, as the signer's request signatures and proposals count them.
pub(crate) fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
        .unwrap_or_default()
}

/// A fresh address no one holds a key for (the attacker's drop addresses
/// are fresh too: what matters is where the money went, not who spends it).
pub(crate) fn fresh_address(tag: u64, n: u64) -> Address {
    Address::from_word(U256::from((tag << 40) | n).into())
}
