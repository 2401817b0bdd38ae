//! Coffer's configuration.
//!
//! Sources, later ones winning: built-in defaults, the TOML file
//! (`coffer.toml`), then `COFFER_*` environment variables for the scalar
//! settings (`COFFER_LISTEN_ADDR`, `COFFER_DATABASE_URL`, `COFFER_DATA_DIR`,
//! `COFFER_XPUB`, `COFFER_LOG_FORMAT`, …). Chains and assets are lists and
//! come from the file.
//!
//! Every setting is checked once, at start, and a bad one stops the process
//! with a sentence naming the field. Values that can carry credentials (the
//! database URL, RPC URLs) or reveal the business (the xpub, which links
//! every deposit address) are [`Redacted`]: `Debug` never prints them.

mod checkout;
mod redacted;
mod signer;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use coffer_domain::{AssetBook, ChainId};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use checkout::CheckoutConfig;
pub use redacted::Redacted;
pub use signer::{SignerConfig, SweepMinimum, SweepsConfig};

/// Environment variables that override settings, without the `COFFER_` prefix.
pub const ENV_OVERRIDES: [&str; 10] = [
    "data_dir",
    "listen_addr",
    "database_url",
    "xpub",
    "log_format",
    "log_filter",
    "default_invoice_expiry_secs",
    "max_invoice_expiry_secs",
    "late_payment_window_secs",
    "operator_listen_addr",
];

/// The whole configuration of a Coffer gateway.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where Coffer keeps its files (the SQLite database by default).
    pub data_dir: PathBuf,
    /// Address the HTTP API listens on.
    pub listen_addr: SocketAddr,
    /// Where `/metrics` and `/healthz` are served, apart from the merchants'
    /// API; `None` serves them on `listen_addr` too.
    #[serde(default)]
    pub operator_listen_addr: Option<SocketAddr>,
    /// How the HTTP listeners treat connections.
    #[serde(default)]
    pub http: HttpConfig,
    /// `sqlite://PATH` or `postgres://…`; empty means SQLite at `<data_dir>/coffer.db`.
    #[serde(default)]
    pub database_url: Redacted<String>,
    /// The account-level xpub (`m/44'/60'/0'`) deposit addresses are derived from.
    #[serde(default)]
    pub xpub: Redacted<String>,
    /// `human` (default) or `json` log lines.
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `coffer=debug,info`.
    pub log_filter: String,
    /// Invoice lifetime when a request does not say, in seconds.
    pub default_invoice_expiry_secs: u64,
    /// The longest lifetime a request may ask for, in seconds.
    pub max_invoice_expiry_secs: u64,
    /// How long after its expiry an unpaid invoice is still watched, so a
    /// late payment is seen (and reported `paid_late`), in seconds.
    pub late_payment_window_secs: u64,
    /// A fleet's leases (a chain's watcher runs on the one gateway holding
    /// its lease): their length, in seconds. A takeover after a holder
    /// vanishes waits this long; the holder renews every third of it.
    pub lease_secs: u64,
    /// Webhook delivery.
    #[serde(default)]
    pub webhooks: WebhookConfig,
    /// The chains Coffer watches.
    #[serde(default)]
    pub chains: Vec<ChainConfig>,
    /// The assets invoices may be priced in.
    #[serde(default)]
    pub assets: Vec<AssetConfig>,
    /// The signer payouts and sweeps are asked of; none: no payouts.
    #[serde(default)]
    pub signer: Option<SignerConfig>,
    /// Sweeps of settled deposits into the treasury.
    #[serde(default)]
    pub sweeps: SweepsConfig,
    /// SHA-256 (hex) of the operator's bearer token for `GET /v1/treasury`;
    /// none: the treasury view is not served. A digest, so that the file
    /// (its backups, its configuration management) cannot act as the operator.
    #[serde(default)]
    pub operator_token_sha256: Option<String>,
    /// The hosted checkout page.
    #[serde(default)]
    pub checkout: CheckoutConfig,
    /// Screening of deposits' senders and payouts' destinations (ADR 0015).
    #[serde(default)]
    pub screening: ScreeningConfig,
}

/// Which screening lists the gateway uses besides those imported into its
/// database (`coffer screening import`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScreeningConfig {
    /// Screen with the lists compiled into Coffer (OFAC's sanctioned
    /// addresses, the curated incident list, labelled thefts and phishing;
    /// see `crates/screening/lists/README.md`). On by default.
    pub builtin: bool,
}

impl Default for ScreeningConfig {
    fn default() -> Self {
        Self { builtin: true }
    }
}

/// One EVM chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// A name for people and logs.
    pub name: String,
    /// JSON-RPC endpoint (`http(s)://` or `ws(s)://`); may embed an API key, so redacted.
    pub rpc_url: Redacted<String>,
    /// A `ws(s)://` endpoint of the same node for a new-heads subscription,
    /// when `rpc_url` is HTTP. Without one, an HTTP node is polled.
    #[serde(default)]
    pub ws_url: Option<Redacted<String>>,
    /// Blocks on top of a payment's block before it counts.
    pub confirmations: u32,
    /// Blocks near the head followed one by one with parent-hash checks;
    /// a reorganisation deeper than this halts the watcher for a person.
    /// Default: twice the confirmations, at least 64.
    #[serde(default)]
    pub reorg_window: Option<u64>,
    /// The first block to scan when the database has no cursor for this
    /// chain yet. Default: the chain's head at the first start.
    #[serde(default)]
    pub start_block: Option<u64>,
    /// How often to ask an `http(s)://` node for new blocks, in milliseconds
    /// (a `ws(s)://` node pushes them; this is then a safety net).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Most blocks per `eth_getLogs` request (a provider that refuses less
    /// gets less: Coffer follows its suggested range, or halves).
    #[serde(default = "default_log_range")]
    pub log_range: u64,
    /// Native transfers that contracts make (an internal call, a
    /// self-destruct) are read through the node's trace API: `off`
    /// (default: not seen), `trace_block` (Reth, Erigon, Nethermind, anvil)
    /// or `debug_trace` (Geth's `callTracer`).
    #[serde(default = "default_internal_transfers")]
    pub internal_transfers: String,
    /// How often the watcher looks for open invoices it does not watch
    /// (created by another gateway and committed late, say) and reads the
    /// chain back for them, in seconds.
    #[serde(default = "default_unwatched_check_secs")]
    pub unwatched_check_secs: u64,
    /// The treasury's cold address on this chain (the signer does not hold
    /// its key), for the treasury view.
    #[serde(default)]
    pub cold_address: Option<String>,
    /// Requests per second `rpc_url`'s provider allows (a batch counts
    /// each call); the watcher spaces its requests to keep within it.
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// Requests per UTC day `rpc_url`'s provider allows; once spent, the
    /// next provider is read until 00:00 UTC.
    #[serde(default)]
    pub requests_per_day: Option<u64>,
    /// More RPC providers of this chain, after `rpc_url` (the first
    /// primary). With any, a payment is reported only once a second
    /// provider agrees (ADR 0020).
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// A provider whose head is this many blocks behind another's is passed
    /// over for 30 seconds.
    #[serde(default = "default_provider_lag_blocks")]
    pub provider_lag_blocks: u64,
}

/// One more RPC provider of a chain (`[[chains.providers]]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// A name for logs, metrics and `/healthz` (`main` is `rpc_url`'s).
    pub name: String,
    /// JSON-RPC endpoint; may embed an API key, so redacted.
    pub rpc_url: Redacted<String>,
    /// A `ws(s)://` endpoint of the same provider for new heads.
    #[serde(default)]
    pub ws_url: Option<Redacted<String>>,
    /// `primary` (read in order after `rpc_url`) or `fallback` (read only
    /// when no primary will do; the default).
    #[serde(default = "default_provider_role")]
    pub role: String,
    /// As the chain's `requests_per_second`, for this provider.
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// As the chain's `requests_per_day`, for this provider.
    #[serde(default)]
    pub requests_per_day: Option<u64>,
}

fn default_provider_role() -> String {
    "fallback".into()
}

fn default_provider_lag_blocks() -> u64 {
    8
}

fn default_internal_transfers() -> String {
    "off".into()
}

fn default_unwatched_check_secs() -> u64 {
    10
}

fn default_poll_interval_ms() -> u64 {
    1000
}

fn default_log_range() -> u64 {
    1000
}

impl ChainConfig {
    /// The reorganisation window in effect.
    pub fn reorg_window(&self) -> u64 {
        self.reorg_window.unwrap_or_else(|| (2 * u64::from(self.confirmations)).max(64))
    }
}

/// Webhook delivery settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Allow endpoints on loopback, private and link-local addresses. Off
    /// in production: a merchant could otherwise make the gateway call
    /// internal services (SSRF). `coffer dev` turns it on.
    pub allow_private_urls: bool,
    /// Deadline of one delivery attempt, in seconds.
    pub timeout_secs: u64,
    /// The first retry waits this long; each next one twice as long.
    pub retry_base_ms: u64,
    /// The longest wait between two attempts, in seconds.
    pub retry_max_secs: u64,
    /// Attempts before a delivery is given up (it can still be redelivered).
    pub max_attempts: u32,
    /// Most delivery attempts in flight at once, per gateway process.
    pub max_in_flight: u32,
    /// Most of them for one merchant: one merchant's slow endpoints leave
    /// the rest to the others.
    pub max_in_flight_per_merchant: u32,
    /// Most of them to one endpoint.
    pub max_in_flight_per_endpoint: u32,
    /// Redeliveries a merchant may ask for per minute, per gateway process
    /// (as many at once; more are answered 429).
    pub redeliveries_per_minute: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        // 1 s doubling to an hour: 25 attempts span about 3 days.
        Self {
            allow_private_urls: false,
            timeout_secs: 10,
            retry_base_ms: 1000,
            retry_max_secs: 3600,
            max_attempts: 25,
            max_in_flight: 64,
            max_in_flight_per_merchant: 16,
            max_in_flight_per_endpoint: 4,
            redeliveries_per_minute: 60,
        }
    }
}

/// Deadlines and limits of HTTP connections, on both listeners: what keeps
/// clients that send slowly, read slowly or only hold connections open
/// from exhausting the gateway's descriptors and memory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A request's head (request line and headers) must have arrived this
    /// long after the connection opened, or after its first byte on a
    /// kept-alive connection, in seconds.
    pub header_timeout_secs: u64,
    /// A request's body must have arrived this long after the gateway
    /// started reading it, in seconds.
    pub body_timeout_secs: u64,
    /// A kept-alive connection with no request is closed after this long, in
    /// seconds. Keep it above the idle timeout of a load balancer in front.
    pub idle_timeout_secs: u64,
    /// A connection whose answer makes no progress for this long (a client
    /// that does not read) is closed, in seconds.
    pub write_timeout_secs: u64,
    /// Most connections open at once on `listen_addr`; more wait in the
    /// kernel's queue. Keep it well below the process's open-file limit.
    pub max_connections: u32,
    /// Most connections open at once on `operator_listen_addr`.
    pub max_operator_connections: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            // nginx's default; above the 60 s idle timeout common to load balancers.
            idle_timeout_secs: 75,
            write_timeout_secs: 30,
            // Half the usual soft open-file limit (1024): the rest is for the
            // database, the nodes and webhook deliveries.
            max_connections: 512,
            max_operator_connections: 32,
        }
    }
}

/// One asset on one chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Ticker symbol, such as `USDT`.
    pub symbol: String,
    /// The chain it lives on; must be one of `chains`.
    pub chain_id: u64,
    /// The ERC-20 contract, or absent for the chain's native coin.
    #[serde(default)]
    pub contract: Option<String>,
    /// Decimals of the base unit.
    pub decimals: u8,
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable text, for a terminal.
    #[default]
    Human,
    /// One JSON object a line, for a log pipeline.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./coffer-data"),
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            operator_listen_addr: None,
            http: HttpConfig::default(),
            database_url: Redacted::default(),
            xpub: Redacted::default(),
            log_format: LogFormat::Human,
            log_filter: "info".into(),
            default_invoice_expiry_secs: 900,
            max_invoice_expiry_secs: 7 * 24 * 3600,
            late_payment_window_secs: 24 * 3600,
            lease_secs: 10,
            webhooks: WebhookConfig::default(),
            chains: Vec::new(),
            assets: Vec::new(),
            signer: None,
            sweeps: SweepsConfig::default(),
            operator_token_sha256: None,
            screening: ScreeningConfig::default(),
            checkout: CheckoutConfig::default(),
        }
    }
}

/// A configuration that could not be loaded or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named config file does not exist.
    #[error("config file {0} does not exist")]
    FileMissing(PathBuf),
    /// The file or an environment variable did not parse.
    #[error("{0}")]
    Parse(#[from] Box<figment::Error>),
    /// A setting parsed but makes no sense.
    #[error("{field}: {reason}")]
    Invalid {
        /// The setting, as it is spelled in the file (`chains[0].rpc_url`).
        field: String,
        /// What is wrong with it, as a sentence.
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), reason: reason.into() }
    }
}

/// The database a config points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by URL (may carry a password).
    Postgres(Redacted<String>),
}

impl Config {
    /// Loads defaults, then `file` (which must exist if given), then the
    /// environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::FileMissing(file.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        Self::from_figment(figment.merge(Env::prefixed("COFFER_").only(&ENV_OVERRIDES)))
    }

    /// Parses and validates a TOML document on top of the defaults (no environment).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Where the data lives.
    pub fn database(&self) -> DatabaseTarget {
        let url = self.database_url.expose();
        if url.is_empty() {
            DatabaseTarget::Sqlite(self.data_dir.join("coffer.db"))
        } else if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            DatabaseTarget::Sqlite(PathBuf::from(path))
        } else {
            DatabaseTarget::Postgres(self.database_url.clone())
        }
    }

    /// The configured assets, as the domain sees them.
    pub fn asset_book(&self) -> AssetBook {
        // `validate` has checked every asset, so nothing is dropped here.
        AssetBook::new(
            self.assets.iter().enumerate().filter_map(|(i, a)| validate::asset(i, a, &self.chains).ok()).collect(),
        )
    }

    /// The chain with this id.
    pub fn chain(&self, chain_id: ChainId) -> Option<&ChainConfig> {
        self.chains.iter().find(|chain| chain.chain_id == chain_id.0)
    }

    /// The xpub, or a sentence saying the gateway needs one.
    pub fn require_xpub(&self) -> Result<&str, ConfigError> {
        match self.xpub.expose().as_str() {
            "" => Err(ConfigError::invalid(
                "xpub",
                "missing; the gateway needs the account xpub that `coffer signer init` prints on the signer host",
            )),
            xpub => Ok(xpub),
        }
    }
}

#[cfg(test)]
mod tests;
