//! `coffer gateway`: the HTTP API.

use std::io::Write as _;

use anyhow::Context as _;
use coffer_gateway::{Gateway, GatewayParts};

use crate::{ConfigArg, shutdown, telemetry};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let config = args.config.load()?;
    telemetry::init(config.log_format, &config.log_filter);
    let parts = GatewayParts::from_config(&config).await.context("cannot start the gateway")?;
    // A node that serves another chain, or a token whose decimals differ from
    // the configuration, is refused before anything is served.
    match parts.watchers.check_nodes(std::time::Duration::from_secs(3)).await {
        Ok(unreachable) => {
            for chain in unreachable {
                tracing::warn!(%chain, "the node cannot be reached yet; its watcher checks it once it answers");
            }
        }
        Err((chain, err)) => anyhow::bail!("cannot start the gateway: chain {chain}: {err}"),
    }
    let gateway = Gateway::bind(config.listen_addr, parts).await?;
    let addr = gateway.local_addr()?;
    tracing::info!(%addr, "gateway listening");
    // Scripts read the port from here when they pass port 0: this line first.
    println!("listening on http://{addr}");
    if let Some(operator) = gateway.operator_addr() {
        tracing::info!(%operator, "operator endpoints (/metrics, /healthz) listening");
        // Not println!: a script that read the first line may have closed the pipe.
        let _ = writeln!(std::io::stdout(), "operator endpoints (/metrics, /healthz) on http://{operator}");
    }
    gateway.serve(shutdown::signal()).await.context("serving HTTP")?;
    tracing::info!("gateway stopped");
    Ok(())
}
