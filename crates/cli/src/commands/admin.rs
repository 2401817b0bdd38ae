//! `coffer merchant …` and `coffer apikey …`: operator actions on the store.

use std::sync::Arc;

use anyhow::Context as _;
use coffer_domain::{ApiKeyId, MerchantId, Scopes};
use coffer_gateway::admin;
use coffer_store::{Backend, Store};

use crate::ConfigArg;

#[derive(clap::Subcommand)]
pub(crate) enum MerchantCommand {
    /// Create a merchant and print its id.
    Create {
        #[command(flatten)]
        config: ConfigArg,
        /// A name for people.
        #[arg(long)]
        name: String,
    },
    /// List merchants.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Set a merchant's look on its checkout page: an accent colour and a
    /// logo (PNG or JPEG, at most 128 KiB). Parts not named stay as they are.
    Brand {
        #[command(flatten)]
        config: ConfigArg,
        /// The merchant (`mer_…`).
        #[arg(long)]
        merchant: MerchantId,
        /// The accent colour, `#rrggbb`.
        #[arg(long, conflicts_with = "no_color")]
        color: Option<String>,
        /// Remove the colour (the page's own green).
        #[arg(long)]
        no_color: bool,
        /// A PNG or JPEG file.
        #[arg(long, value_name = "FILE", conflicts_with = "no_logo")]
        logo: Option<std::path::PathBuf>,
        /// Remove the logo.
        #[arg(long)]
        no_logo: bool,
    },
}

#[derive(clap::Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Create an API key and print it. This is the only time it is shown.
    Create {
        #[command(flatten)]
        config: ConfigArg,
        /// The merchant it acts for (`mer_…`).
        #[arg(long)]
        merchant: MerchantId,
        /// Comma-separated: invoices:read, invoices:write.
        #[arg(long)]
        scopes: Scopes,
        /// A note for people, such as where the key is used.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a merchant's keys (ids and scopes; never secrets).
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// The merchant (`mer_…`).
        #[arg(long)]
        merchant: MerchantId,
    },
    /// Revoke a key (`key_…`); every gateway refuses it within seconds.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        /// The key id, `key_…` (the token's `coffer_sk_<id>_` part also works).
        id: String,
    },
}

pub(crate) async fn open_store(config: &ConfigArg) -> anyhow::Result<Arc<dyn Store>> {
    let config = config.load()?;
    let backend = match config.database() {
        coffer_config::DatabaseTarget::Sqlite(path) => Backend::Sqlite(path),
        coffer_config::DatabaseTarget::Postgres(url) => Backend::Postgres(url.expose().clone()),
    };
    coffer_store::open(&backend).await.context("cannot open the database")
}

pub(crate) async fn merchant(command: MerchantCommand) -> anyhow::Result<()> {
    match command {
        MerchantCommand::Create { config, name } => {
            let merchant = admin::create_merchant(&*open_store(&config).await?, &name).await?;
            println!("{}", merchant.id);
        }
        MerchantCommand::List { config } => {
            for m in open_store(&config).await?.merchants().await? {
                println!("{}\t{}\t{}", m.id, m.created_at.to_rfc3339(), printable(&m.name));
            }
        }
        MerchantCommand::Brand { config, merchant, color, no_color, logo, no_logo } => {
            let mut change = admin::BrandingChange::default();
            if let Some(color) = color {
                change.color = Some(Some(color.parse()?));
            } else if no_color {
                change.color = Some(None);
            }
            if let Some(path) = logo {
                let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                change.logo = Some(Some(coffer_domain::Logo::new(bytes).with_context(|| path.display().to_string())?));
            } else if no_logo {
                change.logo = Some(None);
            }
            let branding = admin::set_branding(&*open_store(&config).await?, merchant, change).await?;
            let color = branding.color.map_or_else(|| "none".to_owned(), |c| c.to_string());
            let logo = branding.logo.map_or_else(|| "none".to_owned(), |l| format!("{l:?}"));
            eprintln!("{merchant}: colour {color}, logo {logo}");
        }
    }
    Ok(())
}

/// Names and labels are refused with control characters now, but rows
/// written before may hold some: shown escaped, they cannot drive the
/// operator's terminal or forge a column.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

/// Accepts `key_…`, or a token's prefix `coffer_sk_<hex>` (people paste what they have).
fn parse_key_id(text: &str) -> anyhow::Result<ApiKeyId> {
    let text = text.trim();
    let normalised = match text.strip_prefix("coffer_sk_") {
        Some(rest) => format!("key_{}", rest.split('_').next().unwrap_or_default()),
        None => text.to_owned(),
    };
    normalised.parse().map_err(|_| anyhow::anyhow!("{text:?} is not an API key id (key_…)"))
}

pub(crate) async fn api_key(command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create { config, merchant, scopes, label } => {
            let store = open_store(&config).await?;
            let (token, record) = admin::create_api_key(&*store, merchant, scopes, &label).await?;
            eprintln!(
                "API key {} for {merchant} with scopes {}; store it now, it is not shown again:",
                record.id, record.scopes
            );
            println!("{}", token.reveal());
        }
        ApiKeyCommand::List { config, merchant } => {
            for key in open_store(&config).await?.api_keys(merchant).await? {
                let state =
                    key.revoked_at.map_or_else(|| "active".to_owned(), |t| format!("revoked {}", t.to_rfc3339()));
                println!("{}\t{}\t{}\t{}", key.id, key.scopes, state, printable(&key.label));
            }
        }
        ApiKeyCommand::Revoke { config, id } => {
            let id = parse_key_id(&id)?;
            admin::revoke_api_key(&*open_store(&config).await?, id).await?;
            eprintln!("revoked {id}");
        }
    }
    Ok(())
}
