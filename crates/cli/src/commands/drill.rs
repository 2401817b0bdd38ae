//! `coffer drill coinspaid`: the CoinsPaid theft replayed against a real
//! gateway and signer on anvil; exits 0 only if the bound held.

use std::path::PathBuf;

use anyhow::Context as _;
use coffer_bench::drill::{Drill, DrillConfig};

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// An attacker who owns the gateway host (its merchant keys, operator
    /// credential, database, configuration and signer-request key) tries to
    /// drain the treasury; prints what it got, how fast the signer froze,
    /// and the way back (restricted, allowlist, unfreeze by quorum), timed.
    Coinspaid {
        /// The treasury, policy and attack (drill.toml); defaults without it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Also write the figures as JSON here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    let Command::Coinspaid { config, json } = command;
    let config = match config {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            DrillConfig::load(&text)?
        }
        None => DrillConfig::default(),
    };
    let coffer_bin = std::env::current_exe().context("locating the coffer binary")?;
    let report = coffer_bench::drill::run(&Drill { coffer_bin, config }).await?;
    println!("{report}");
    let figures = serde_json::to_string_pretty(&report)?;
    match json {
        Some(path) => std::fs::write(&path, figures).with_context(|| format!("writing {}", path.display()))?,
        None => println!("\n{figures}"),
    }
    anyhow::ensure!(report.passed(), "the drill failed: a check above did not hold");
    Ok(())
}
