//! `signer.toml`: everything the signer decides with, on the signer's host.
//!
//! Nothing here comes from the gateway: its public request key, the chains
//! the signer reads itself, the token table it builds transactions from, the
//! cold addresses and the policy. Every setting is checked at start and a bad
//! one stops the signer with a sentence naming the field.

mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use coffer_domain::{Address, Asset, ChainId};
use coffer_policy::PolicyFile;
use coffer_signer_api::PublicKey;
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;

pub use validate::ConfigError;

/// The signer's whole configuration, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerConfigFile {
    /// Where the signer's API listens (the gateway's host reaches it here).
    pub listen_addr: SocketAddr,
    /// The signer's own directory: its encrypted seed and `signer.db`.
    pub data_dir: PathBuf,
    /// A file holding the seed's passphrase; without it,
    /// `COFFER_SIGNER_PASSPHRASE` must be set.
    #[serde(default)]
    pub passphrase_file: Option<PathBuf>,
    /// The gateway's public request key (`ed25519:…`).
    pub gateway_public_key: String,
    /// How far a request's timestamp may be from the signer's clock, in seconds.
    #[serde(default = "defaults::request_window_secs")]
    pub request_window_secs: u64,
    /// How often the signer looks at its transactions, in milliseconds.
    #[serde(default = "defaults::poll_ms")]
    pub poll_ms: u64,
    /// A transaction not mined after this many seconds is replaced (same
    /// nonce, higher fee).
    #[serde(default = "defaults::bump_after_secs")]
    pub bump_after_secs: u64,
    /// How often the hot wallet is checked against its cap, in seconds.
    #[serde(default = "defaults::hot_cap_check_secs")]
    pub hot_cap_check_secs: u64,
    /// Screening lists a payout's destination is refused on, in any format
    /// `coffer screening import` reads (a plain list, the OFAC CSV, a
    /// TagPack, …). The signer's own copy: it takes no list from the gateway.
    /// (`denylist_files`, its earlier name, still reads.)
    #[serde(default, alias = "denylist_files")]
    pub screening_lists: Vec<PathBuf>,
    /// Also screen with the lists Coffer ships (OFAC and stolen-funds lists).
    #[serde(default = "defaults::yes")]
    pub screening_builtin: bool,
    /// The chains the signer sends on, each read through its own node.
    pub chains: Vec<ChainFile>,
    /// The signer's own token table.
    pub assets: Vec<AssetFile>,
    /// The limits.
    pub policy: PolicyFile,
}

/// One chain as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainFile {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The signer's own node (never the gateway's word).
    pub rpc_url: String,
    /// Blocks on top of a transaction's block before it counts as confirmed.
    pub confirmations: u32,
    /// The cold wallet: an address whose key the signer does not hold.
    pub cold_address: String,
}

/// One asset as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetFile {
    /// Ticker symbol.
    pub symbol: String,
    /// Its chain.
    pub chain_id: u64,
    /// The ERC-20 contract; absent for the native coin.
    #[serde(default)]
    pub contract: Option<String>,
    /// Decimals of the base unit.
    pub decimals: u8,
}

mod defaults {
    pub(super) fn yes() -> bool {
        true
    }
    pub(super) fn request_window_secs() -> u64 {
        30
    }
    pub(super) fn poll_ms() -> u64 {
        500
    }
    pub(super) fn bump_after_secs() -> u64 {
        60
    }
    pub(super) fn hot_cap_check_secs() -> u64 {
        30
    }
}

/// The configuration, checked.
#[derive(Debug, Clone)]
pub struct SignerConfig {
    /// As written.
    pub file: SignerConfigFile,
    /// The gateway's request key.
    pub gateway_key: PublicKey,
    /// Chains with their cold addresses.
    pub chains: Vec<Chain>,
    /// The token table.
    pub assets: Vec<Asset>,
    /// The policy in base units.
    pub policy: coffer_policy::Policy,
}

/// A checked chain.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Its id.
    pub id: ChainId,
    /// The signer's node.
    pub rpc_url: String,
    /// Depth at which a transaction is final for the signer.
    pub confirmations: u32,
    /// The cold wallet.
    pub cold: Address,
}

impl SignerConfig {
    /// Reads and checks `signer.toml`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::Missing(path.to_owned()));
        }
        let file: SignerConfigFile = Figment::from(Toml::file_exact(path)).extract().map_err(Box::new)?;
        validate::check(file)
    }

    /// Parses and checks a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: SignerConfigFile = Figment::from(Toml::string(text)).extract().map_err(Box::new)?;
        validate::check(file)
    }

    /// The chain with this id.
    pub fn chain(&self, id: ChainId) -> Option<&Chain> {
        self.chains.iter().find(|c| c.id == id)
    }

    /// The signer's database.
    pub fn database_path(&self) -> PathBuf {
        self.file.data_dir.join("signer.db")
    }
}
