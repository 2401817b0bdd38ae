//! Settings for money going out: the signer the gateway asks (`[signer]`),
//! the sweeps of settled deposits (`[sweeps]`), and the operator's
//! credential for the treasury view.

use std::path::PathBuf;

use coffer_domain::{Address, Amount, AssetBook, AssetId, AssetSymbol, ChainId};
use serde::{Deserialize, Serialize};

use crate::{Config, ConfigError, Redacted};

/// `[signer]`: where the signer listens and how its answers are told apart
/// from anyone else's. Without it the gateway takes no payouts (503) and
/// sweeps nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerConfig {
    /// `http(s)://host:port` of the signer's API (a private network: the
    /// signer host accepts connections from the gateway only).
    pub url: Redacted<String>,
    /// The gateway's ed25519 request key, a file `coffer-signer-api` wrote
    /// (`coffer-request-key/1 …`, mode 0600). Its public half is in the
    /// signer's configuration.
    pub request_key_file: PathBuf,
    /// The signer's identity key, `ed25519:` and 64 hex digits, as
    /// `coffer signer` prints it: every answer must be signed by it.
    pub identity_key: String,
    /// The hot wallet's address (`m/44'/60'/1'/0/0`, as the signer prints
    /// it), for the treasury view; without it the view shows the books alone.
    #[serde(default)]
    pub hot_wallet: Option<String>,
    /// Deadline of one request to the signer, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// The first retry after a failed request waits this long; each next one twice as long.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// The longest wait between two attempts, in seconds.
    #[serde(default = "default_retry_max_secs")]
    pub retry_max_secs: u64,
    /// How often a request the signer has not finished is asked about, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// How often the signer's controls (`GET /v1/control`: the freeze, the
    /// policy version and profile) are read, in milliseconds: a freeze shows
    /// in the API, the metrics, the audit log and the `operator.freeze`
    /// webhook within this long.
    #[serde(default = "default_control_poll_ms")]
    pub control_poll_ms: u64,
}

fn default_control_poll_ms() -> u64 {
    2000
}

fn default_timeout_secs() -> u64 {
    10
}

fn default_retry_base_ms() -> u64 {
    1000
}

fn default_retry_max_secs() -> u64 {
    300
}

fn default_poll_interval_ms() -> u64 {
    5000
}

/// `[sweeps]`: settled deposits swept into the treasury, per asset above a
/// minimum so that gas does not eat small deposits. An asset without a
/// minimum is not swept.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepsConfig {
    /// How often to look for deposits to sweep, in seconds.
    pub interval_secs: u64,
    /// The assets to sweep, each with its minimum.
    pub minimums: Vec<SweepMinimum>,
}

impl Default for SweepsConfig {
    fn default() -> Self {
        Self { interval_secs: 300, minimums: Vec::new() }
    }
}

/// One asset's sweep minimum.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepMinimum {
    /// The asset's symbol.
    pub asset: String,
    /// Its chain.
    pub chain_id: u64,
    /// The least a deposit must hold to be swept, in the asset's unit (`"10"`).
    pub amount: String,
}

/// Bounds of the signer settings.
const MAX_TIMEOUT_SECS: u64 = 120;
const MAX_RETRY_SECS: u64 = 86_400;

impl Config {
    /// The sweep minimums as amounts of configured assets (`validate` has
    /// checked each, so none is dropped).
    pub fn sweep_minimums(&self) -> Vec<Amount> {
        let book = self.asset_book();
        self.sweeps.minimums.iter().enumerate().filter_map(|(i, m)| minimum(i, m, &book).ok()).collect()
    }

    /// The hot wallet's address, if configured.
    pub fn hot_wallet(&self) -> Option<Address> {
        self.signer.as_ref()?.hot_wallet.as_deref().and_then(|a| a.parse().ok())
    }

    /// The chain's cold address, if configured.
    pub fn cold_address(&self, chain_id: ChainId) -> Option<Address> {
        self.chain(chain_id)?.cold_address.as_deref().and_then(|a| a.parse().ok())
    }

    pub(crate) fn validate_treasury(&self) -> Result<(), ConfigError> {
        if let Some(signer) = &self.signer {
            self::signer(signer)?;
        }
        if !(10..=86_400).contains(&self.sweeps.interval_secs) {
            return Err(ConfigError::invalid("sweeps.interval_secs", "must be between 10 and 86400"));
        }
        let book = self.asset_book();
        let mut seen = std::collections::HashSet::new();
        for (i, entry) in self.sweeps.minimums.iter().enumerate() {
            let amount = minimum(i, entry, &book)?;
            if !seen.insert(amount.asset()) {
                return Err(ConfigError::invalid(
                    format!("sweeps.minimums[{i}].asset"),
                    format!("{} on chain {} has a minimum already", entry.asset, entry.chain_id),
                ));
            }
        }
        for (i, chain) in self.chains.iter().enumerate() {
            if let Some(cold) = &chain.cold_address {
                address(cold).map_err(|reason| ConfigError::invalid(format!("chains[{i}].cold_address"), reason))?;
            }
        }
        if let Some(digest) = &self.operator_token_sha256
            && (digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ConfigError::invalid(
                "operator_token_sha256",
                "must be the SHA-256 of the operator token, 64 hex digits (`coffer operator-token` prints one)",
            ));
        }
        Ok(())
    }
}

fn signer(signer: &SignerConfig) -> Result<(), ConfigError> {
    let url = url::Url::parse(signer.url.expose())
        .map_err(|e| ConfigError::invalid("signer.url", format!("is not a URL ({e})")))?;
    if !["http", "https"].contains(&url.scheme()) {
        return Err(ConfigError::invalid("signer.url", format!("scheme {} is not http or https", url.scheme())));
    }
    if signer.request_key_file.as_os_str().is_empty() {
        return Err(ConfigError::invalid("signer.request_key_file", "must name the gateway's request key file"));
    }
    signer
        .identity_key
        .parse::<coffer_signer_api::PublicKey>()
        .map_err(|e| ConfigError::invalid("signer.identity_key", e.to_string()))?;
    if let Some(hot) = &signer.hot_wallet {
        address(hot).map_err(|reason| ConfigError::invalid("signer.hot_wallet", reason))?;
    }
    if !(1..=MAX_TIMEOUT_SECS).contains(&signer.timeout_secs) {
        return Err(ConfigError::invalid("signer.timeout_secs", format!("must be between 1 and {MAX_TIMEOUT_SECS}")));
    }
    if signer.retry_base_ms == 0 || signer.retry_base_ms > MAX_RETRY_SECS * 1000 {
        return Err(ConfigError::invalid("signer.retry_base_ms", "must be between 1 and 86400000"));
    }
    if !(1..=MAX_RETRY_SECS).contains(&signer.retry_max_secs) {
        return Err(ConfigError::invalid("signer.retry_max_secs", format!("must be between 1 and {MAX_RETRY_SECS}")));
    }
    if !(10..=MAX_RETRY_SECS * 1000).contains(&signer.poll_interval_ms) {
        return Err(ConfigError::invalid("signer.poll_interval_ms", "must be between 10 and 86400000"));
    }
    if !(10..=600_000).contains(&signer.control_poll_ms) {
        return Err(ConfigError::invalid("signer.control_poll_ms", "must be between 10 and 600000"));
    }
    Ok(())
}

fn minimum(i: usize, entry: &SweepMinimum, book: &AssetBook) -> Result<Amount, ConfigError> {
    let field = |name: &str| format!("sweeps.minimums[{i}].{name}");
    let symbol: AssetSymbol = entry
        .asset
        .parse()
        .map_err(|e: coffer_domain::InvalidSymbol| ConfigError::invalid(field("asset"), e.to_string()))?;
    let id = AssetId { chain_id: ChainId(entry.chain_id), symbol };
    let asset = book.get(id).ok_or_else(|| {
        ConfigError::invalid(field("asset"), format!("{symbol} on chain {} is not a configured asset", entry.chain_id))
    })?;
    asset.parse_amount(&entry.amount).map_err(|e| ConfigError::invalid(field("amount"), e.to_string()))
}

/// A wallet address; mixed case must carry a valid EIP-55 checksum.
fn address(text: &str) -> Result<Address, String> {
    let address: Address = text.parse().map_err(|_| format!("{text:?} is not a 0x-prefixed 20-byte address"))?;
    let hex = text.trim_start_matches("0x");
    let mixed_case = hex.chars().any(|c| c.is_ascii_lowercase()) && hex.chars().any(|c| c.is_ascii_uppercase());
    if mixed_case && address.to_checksum(None) != text {
        return Err(format!("{text} fails its EIP-55 checksum (a mistyped address?)"));
    }
    if address == Address::ZERO {
        return Err("the zero address is nobody's wallet".into());
    }
    Ok(address)
}
