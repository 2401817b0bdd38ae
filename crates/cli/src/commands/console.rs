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
    /// End live console sessions now (a lost laptop, a leaked link): a
    /// merchant's, the operator's, or everyone's.
    SignOut {
        #[command(flatten)]
        config: ConfigArg,
        /// This merchant's sessions (`mer_…`).
        #[arg(long, conflicts_with_all = ["operator", "all"])]
        merchant: Option<MerchantId>,
        /// The operator's sessions.
        #[arg(long, conflicts_with = "all")]
        operator: bool,
        /// Every session.
        #[arg(long)]
        all: bool,
    },
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    let (config, merchant, operator, base_url) = match command {
        Command::Link { config, merchant, operator, base_url } => (config, merchant, operator, base_url),
        Command::SignOut { config, merchant, operator, all } => {
            let role = match (merchant, operator, all) {
                (Some(merchant), false, false) => Some(ConsoleRole::Merchant(merchant)),
                (None, true, false) => Some(ConsoleRole::Operator),
                (None, false, true) => None,
                _ => bail!("pass --merchant mer_…, --operator or --all"),
            };
            let ended = admin::end_console_sessions(&*open_store(&config).await?, role).await?;
            eprintln!("ended {ended} live console session(s)");
            return Ok(());
        }
    };
    let role = match (merchant, operator) {
        (Some(merchant), false) => ConsoleRole::Merchant(merchant),
        (None, true) => ConsoleRole::Operator,
        _ => bail!("pass --merchant mer_… or --operator"),
    };
    let loaded = config.load()?;
    // The operator's console is on the operator's listener when there is one.
    let operator_apart = loaded.operator_listen_addr.filter(|_| role == ConsoleRole::Operator);
    let default = match (&base_url, operator_apart) {
        (Some(_), _) => None,
        (None, Some(addr)) if addr.port() != 0 => Some(format!("http://{addr}")),
        (None, Some(_)) => bail!("the operator's listener picks its port (port 0): pass --base-url http://HOST:PORT"),
        (None, None) => loaded.checkout.public_origin(),
    };
    let base = match base_url.or(default) {
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
