//! `coffer`: the one binary. Each subcommand is one job; `coffer --help` lists them.

mod commands;
mod shutdown;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::approvals::{approve, control, keygen};
use crate::commands::{
    admin, audit, bench, chain, config, console, dev, drill, fleet, gateway, ledger, screening, signer, trace, treasury,
};

/// Coffer: a self-hosted crypto payment gateway whose gateway host holds no keys.
#[derive(Parser)]
#[command(name = "coffer", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (merchants' invoices) until SIGTERM or Ctrl-C.
    Gateway(gateway::Args),
    /// Try Coffer with zero set-up: a local chain (anvil) with a test USDT, a dev seed, SQLite in
    /// ./.coffer-dev, a demo merchant and API key. `coffer dev pay INVOICE` pays an invoice.
    Dev(dev::Args),
    /// Check the double-entry ledger's invariants (and the treasury's wallets against the books).
    #[command(subcommand)]
    Ledger(ledger::Command),
    /// The treasury's wallets beside the books; the operator token for `GET /v1/treasury`.
    #[command(subcommand)]
    Treasury(treasury::Command),
    /// See each chain's watcher as the store records it (cursor, halts,
    /// displaced payments) and resolve a halt.
    #[command(subcommand)]
    Chain(chain::Command),
    /// Which gateway of a fleet runs each chain's watcher (the leases, their
    /// holders, epochs and ages, as the database holds them).
    Fleet(fleet::Args),
    /// Create and list merchants.
    #[command(subcommand)]
    Merchant(admin::MerchantCommand),
    /// Create, list and revoke merchants' API keys.
    #[command(subcommand)]
    Apikey(admin::ApiKeyCommand),
    /// Export the gateway's audit log and verify a log offline.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Sign merchants and the operator in to the web console.
    #[command(subcommand)]
    Console(console::Command),
    /// The signer's own commands; run them on the signer host, never on the gateway's.
    #[command(subcommand)]
    Signer(signer::Command),
    /// Check a configuration file and print what it resolves to (secrets redacted).
    #[command(subcommand)]
    Config(config::Command),
    /// Measure the gateway over real HTTP.
    #[command(subcommand)]
    Bench(bench::Command),
    /// Attack a real gateway and signer as the CoinsPaid thieves did, and check the bound.
    #[command(subcommand)]
    Drill(drill::Command),
    /// An approver's own key: `coffer approver keygen --out FILE`.
    #[command(subcommand)]
    Approver(keygen::Command),
    /// Approve (or reject) a payout waiting for approvers, after checking what the gateway shows
    /// against the digest it asks you to sign.
    Approve(approve::Args),
    /// Freeze the signer's outgoing payments at once, with one approver's key.
    Freeze(control::FreezeArgs),
    /// The signer's controls: show them, propose a change, approve or veto one.
    #[command(subcommand)]
    Policy(control::PolicyCommand),
    /// Screening lists and held payments: import lists, list them, release or reject a held payment.
    #[command(subcommand)]
    Screening(screening::Command),
    /// Every screening-list hit of an address (EVM, Bitcoin or TRON), with its source.
    Screen(screening::ScreenArgs),
    /// Follow funds hop by hop from an address or a transaction, over a node or a CSV export;
    /// `coffer trace link` finds where incidents' funds met.
    Trace(Box<trace::Args>),
}

/// Where most subcommands read their configuration.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct ConfigArg {
    /// The configuration file; `COFFER_*` environment variables override it.
    #[arg(long, short, env = "COFFER_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    pub(crate) fn load(&self) -> anyhow::Result<coffer_config::Config> {
        coffer_config::Config::load(self.config.as_deref()).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
    }
}

fn main() -> ExitCode {
    end_quietly_on_broken_pipe();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Gateway(args) => gateway::run(args).await,
            Command::Dev(args) => dev::run(args).await,
            Command::Ledger(cmd) => ledger::run(cmd).await,
            Command::Treasury(cmd) => treasury::run(cmd).await,
            Command::Chain(cmd) => chain::run(cmd).await,
            Command::Fleet(args) => fleet::run(args).await,
            Command::Merchant(cmd) => admin::merchant(cmd).await,
            Command::Apikey(cmd) => admin::api_key(cmd).await,
            Command::Audit(cmd) => audit::run(cmd).await,
            Command::Console(cmd) => console::run(cmd).await,
            Command::Signer(cmd) => signer::run(cmd).await,
            Command::Config(cmd) => config::run(cmd),
            Command::Bench(cmd) => bench::run(cmd).await,
            Command::Drill(cmd) => drill::run(cmd).await,
            Command::Approver(cmd) => keygen::run(cmd),
            Command::Approve(args) => approve::run(args).await,
            Command::Freeze(args) => control::freeze(args).await,
            Command::Policy(cmd) => control::policy(cmd).await,
            Command::Screening(cmd) => screening::run(cmd).await,
            Command::Screen(args) => screening::screen(args).await,
            Command::Trace(args) => trace::run(*args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `coffer ledger check | head` must end like any Unix tool whose reader
/// went away, not with a panic: Rust ignores SIGPIPE, so the write fails and
/// `println!` panics. Exit status 141 is what a shell reports for a tool
/// killed by SIGPIPE, so `set -o pipefail` scripts see the same as with grep.
fn end_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
