//! `coffer gateway`: the HTTP API.

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
    let gateway = Gateway::bind(config.listen_addr, parts).await?;
    let addr = gateway.local_addr()?;
    tracing::info!(%addr, "gateway listening");
    // Scripts read the port from here when they pass port 0.
    println!("listening on http://{addr}");
    gateway.serve(shutdown::signal()).await.context("serving HTTP")?;
    tracing::info!("gateway stopped");
    Ok(())
}
