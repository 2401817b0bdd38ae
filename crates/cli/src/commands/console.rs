//! `coffer console link`: a one-time sign-in link to the web console, for a
//! merchant or for the operator, printed once (the store keeps a digest).

use anyhow::bail;
use coffer_domain::MerchantId;
use coffer_gateway::admin;
use coffer_store::ConsoleRole;

use crate::ConfigArg;
use crate::commands::admin::open_store;

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Print a sign-in link, usable once within 15 minutes.
    Link {
        #[command(flatten)]
        config: ConfigArg,
        /// Sign in as this merchant (`mer_…`).
        #[arg(long, conflicts_with = "operator", required_unless_present = "operator")]
        merchant: Option<MerchantId>,
        /// Sign in as the operator.
        #[arg(long)]
        operator: bool,
        /// The gateway's address as a browser reaches it; default:
        /// `[checkout] public_url`, or `http://<listen_addr>`.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
    },
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    let Command::Link { config, merchant, operator, base_url } = command;
    let role = match (merchant, operator) {
        (Some(merchant), false) => ConsoleRole::Merchant(merchant),
        (None, true) => ConsoleRole::Operator,
        _ => bail!("pass --merchant mer_… or --operator"),
    };
    let loaded = config.load()?;
    let base = match base_url.or_else(|| loaded.checkout.public_origin()) {
        Some(base) => base,
        None if loaded.listen_addr.port() == 0 => {
            bail!("the gateway listens on a port it picks (listen_addr port 0): pass --base-url http://HOST:PORT")
        }
        None => format!("http://{}", loaded.listen_addr),
    };
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("--base-url must start with http:// or https://");
    }
    let store = open_store(&config).await?;
    let (url, expires) = admin::create_console_link(&*store, role, &base).await?;
    eprintln!("one-time sign-in link, usable once until {}:", expires.to_rfc3339());
    println!("{url}");
    Ok(())
}
