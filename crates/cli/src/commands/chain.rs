//! `coffer chain status` and `coffer chain resolve`: what each chain's
//! watcher is doing as the store records it (cursor, halts, displaced
//! payments), and an operator's decision on a halt, written with its
//! audit record (`chain.halt_resolved`) in one transaction.
//!
//! Both work whether or not a gateway is running: the watcher records its
//! halts in the store and looks every two seconds whether one was resolved.

use anyhow::Context as _;
use coffer_domain::{ChainId, HaltCode, Timestamp};
use coffer_gateway::audit::{HaltDecision, halt_resolved};
use coffer_store::{ChainHalt, DisplacedResolution};

use crate::ConfigArg;
use crate::commands::admin::open_store;

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Each chain's cursor, open halt and displaced payments, and the last
    /// halts resolved. Exits 1 while any chain is halted (for monitoring).
    Status {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Resolve a chain's halt. For `transfer_gone` (booked payments whose
    /// transfer a deep reorganisation took away), decide: wait longer
    /// (`--wait BLOCKS`: the transaction will be mined again, say you
    /// rebroadcast it) or write them off (`--write-off`: the loss is booked
    /// to the losses account, the merchant keeps its credit). For any other
    /// halt, `--clear` once the cause is fixed: the watcher tries again.
    Resolve {
        #[command(flatten)]
        config: ConfigArg,
        /// The chain id.
        #[arg(long)]
        chain: u64,
        /// Look for the displaced payments' transfers this many blocks more.
        #[arg(long, value_name = "BLOCKS", conflicts_with_all = ["write_off", "clear"])]
        wait: Option<u64>,
        /// Write the displaced payments off.
        #[arg(long, conflicts_with = "clear")]
        write_off: bool,
        /// Close a halt whose cause was fixed (a node or configuration).
        #[arg(long)]
        clear: bool,
        /// Why, for the record (kept with the halt).
        #[arg(long)]
        reason: String,
    },
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Status { config } => status(&config).await,
        Command::Resolve { config, chain, wait, write_off, clear, reason } => {
            resolve(&config, ChainId(chain), Decision::of(wait, write_off, clear)?, &reason).await
        }
    }
}

/// What the operator decided.
enum Decision {
    Wait(u64),
    WriteOff,
    Clear,
}

impl Decision {
    fn of(wait: Option<u64>, write_off: bool, clear: bool) -> anyhow::Result<Self> {
        match (wait, write_off, clear) {
            (Some(blocks), false, false) if blocks > 0 => Ok(Self::Wait(blocks)),
            (Some(_), _, _) => anyhow::bail!("--wait needs a number of blocks above 0"),
            (None, true, false) => Ok(Self::WriteOff),
            (None, false, true) => Ok(Self::Clear),
            _ => anyhow::bail!("say what to do: --wait BLOCKS, --write-off or --clear"),
        }
    }
}

fn describe(halt: &ChainHalt) -> String {
    let at = halt.block.map_or_else(String::new, |b| format!(" at block {b}"));
    format!("{} since {}{at}: {}", halt.code, halt.halted_at.to_rfc3339(), halt.reason)
}

async fn status(config: &ConfigArg) -> anyhow::Result<()> {
    let chains = config.load()?.chains;
    let store = open_store(config).await?;
    let mut halted = 0;
    for chain in &chains {
        let id = ChainId(chain.chain_id);
        let cursor = store.chain_cursor(id).await?;
        let cursor = cursor.map_or_else(|| "no cursor yet".to_owned(), |c| format!("cursor {} ({})", c.number, c.hash));
        println!("chain {id} ({}): {cursor}", chain.name);
        match store.open_halt(id).await? {
            Some(halt) => {
                halted += 1;
                println!("  HALTED {}", describe(&halt));
            }
            None => println!("  not halted"),
        }
        for p in store.displaced_payments(id).await? {
            let until = p.displaced_until.map_or_else(String::new, |b| format!(", awaited until block {b}"));
            println!(
                "  displaced {} of invoice {}: {} {} in tx {} (was block {}){until}",
                p.id,
                p.invoice_id,
                p.amount.units(),
                p.amount.asset(),
                p.tx_hash,
                p.block.number
            );
        }
    }
    for halt in store.halts(10).await?.iter().filter(|h| h.resolved.is_some()) {
        if let Some((at, how)) = &halt.resolved {
            println!("resolved {} on chain {}: {} — {how}", at.to_rfc3339(), halt.chain_id, describe(halt));
        }
    }
    if halted > 0 {
        anyhow::bail!("{halted} chain(s) halted: see `coffer chain resolve --help`");
    }
    Ok(())
}

async fn resolve(config: &ConfigArg, chain: ChainId, decision: Decision, reason: &str) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let halt = store.open_halt(chain).await?;
    let displaced = store.displaced_payments(chain).await?;
    let who = std::env::var("USER").unwrap_or_else(|_| "an operator".into());
    let note = format!("{reason} (by {who})");
    let now = Timestamp::now();
    match decision {
        Decision::Clear => {
            if halt.as_ref().is_some_and(|h| h.code == HaltCode::TransferGone) && !displaced.is_empty() {
                anyhow::bail!(
                    "chain {chain} halted because {} booked payment(s) are gone; decide with --wait BLOCKS or --write-off",
                    displaced.len()
                );
            }
            let record = halt_resolved(chain, HaltDecision::Clear, &note, now);
            if store.resolve_halt_audited(chain, now, &format!("cleared: {note}"), &record).await?.is_none() {
                anyhow::bail!("chain {chain} has no open halt");
            }
            eprintln!("cleared the halt of chain {chain}; its watcher tries again within seconds");
        }
        Decision::Wait(_) | Decision::WriteOff if displaced.is_empty() => {
            anyhow::bail!("chain {chain} has no displaced payments to decide on (see `coffer chain status`)");
        }
        Decision::Wait(blocks) => {
            let cursor = store.chain_cursor(chain).await?.context("the chain has no cursor")?;
            let until = cursor.number.saturating_add(blocks);
            let record = halt_resolved(chain, HaltDecision::WaitUntil(until), &note, now);
            let (ids, _) = store
                .resolve_displaced_audited(chain, DisplacedResolution::WaitUntil(until), now, &note, &record)
                .await?;
            eprintln!("waiting until block {until} for {} displaced payment(s) on chain {chain}", ids.len());
        }
        Decision::WriteOff => {
            let record = halt_resolved(chain, HaltDecision::WriteOff, &note, now);
            let (ids, _) =
                store.resolve_displaced_audited(chain, DisplacedResolution::WriteOff, now, &note, &record).await?;
            eprintln!(
                "wrote off {} displaced payment(s) on chain {chain}; `coffer ledger check` shows the losses",
                ids.len()
            );
            for id in ids {
                println!("{id}");
            }
        }
    }
    Ok(())
}
