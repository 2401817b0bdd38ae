//! `coffer fleet`: the leases of a fleet of gateways sharing one database,
//! as the database holds them (who runs each chain's watcher, at which
//! epoch, since when). Works with or without a gateway running.

use crate::ConfigArg;
use crate::commands::admin::open_store;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let store = open_store(&args.config).await?;
    let leases = store.leases().await?;
    let shared = if store.is_shared() { "shared by a fleet" } else { "one gateway's own (SQLite)" };
    println!("database: {shared}; {} lease(s)", leases.len());
    for lease in &leases {
        let age = (lease.now_ms - lease.acquired_at_ms) / 1000;
        let left = lease.expires_at_ms - lease.now_ms;
        let state = if lease.held() { format!("held, {} ms left", left) } else { format!("lapsed {} ms ago", -left) };
        println!("{}  holder {}  epoch {}  for {age} s  ({state})", lease.name, lease.holder, lease.epoch);
    }
    for chain in &config.chains {
        let name = format!("chain:{}", chain.chain_id);
        if !leases.iter().any(|l| l.name == name && l.held()) {
            println!("{name} ({}): nobody holds it; its watcher runs nowhere", chain.name);
        }
    }
    Ok(())
}
