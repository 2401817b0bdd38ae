//! Checks of `signer.toml`, each naming its field.

use std::path::PathBuf;

use coffer_domain::{Address, Asset, AssetId, AssetKind, ChainId, MAX_DECIMALS};

use super::{Chain, SignerConfig, SignerConfigFile};

/// Why the signer will not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No such file.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    /// The TOML does not parse or has the wrong shape.
    #[error("signer.toml: {0}")]
    Parse(#[from] Box<figment::Error>),
    /// A field is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, like `chains[0].cold_address`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The policy is wrong (its sentence names the field).
    #[error("{0}")]
    Policy(#[from] coffer_policy::PolicyError),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), message: message.into() }
}

fn address(field: &str, text: &str) -> Result<Address, ConfigError> {
    let parsed: Address =
        text.parse().map_err(|_| invalid(field, format!("{text:?} is not an address (0x and 40 hex digits)")))?;
    if parsed == Address::ZERO {
        return Err(invalid(field, "the zero address cannot hold funds"));
    }
    Ok(parsed)
}

pub(super) fn check(file: SignerConfigFile) -> Result<SignerConfig, ConfigError> {
    let gateway_key = file.gateway_public_key.parse().map_err(|e| invalid("gateway_public_key", format!("{e}")))?;
    if file.request_window_secs == 0 || file.request_window_secs > 300 {
        return Err(invalid("request_window_secs", "must be between 1 and 300 seconds"));
    }
    if file.poll_ms == 0 {
        return Err(invalid("poll_ms", "must be above 0"));
    }
    if file.chains.is_empty() {
        return Err(invalid("chains", "the signer needs at least one chain"));
    }
    let mut chains = Vec::new();
    for (i, chain) in file.chains.iter().enumerate() {
        let id = ChainId(chain.chain_id);
        if chains.iter().any(|c: &Chain| c.id == id) {
            return Err(invalid(format!("chains[{i}].chain_id"), format!("chain {} is listed twice", chain.chain_id)));
        }
        if !(chain.rpc_url.starts_with("http://") || chain.rpc_url.starts_with("https://")) {
            return Err(invalid(format!("chains[{i}].rpc_url"), "must be an http(s):// URL of the signer's own node"));
        }
        if chain.confirmations == 0 {
            return Err(invalid(format!("chains[{i}].confirmations"), "must be at least 1"));
        }
        let cold = address(&format!("chains[{i}].cold_address"), &chain.cold_address)?;
        chains.push(Chain { id, rpc_url: chain.rpc_url.clone(), confirmations: chain.confirmations, cold });
    }
    let mut assets: Vec<Asset> = Vec::new();
    for (i, asset) in file.assets.iter().enumerate() {
        let field = |name: &str| format!("assets[{i}].{name}");
        let symbol = asset.symbol.parse().map_err(|e| invalid(field("symbol"), format!("{e}")))?;
        let chain_id = ChainId(asset.chain_id);
        if !chains.iter().any(|c| c.id == chain_id) {
            return Err(invalid(field("chain_id"), format!("chain {} is not in [[chains]]", asset.chain_id)));
        }
        if asset.decimals > MAX_DECIMALS {
            return Err(invalid(field("decimals"), format!("at most {MAX_DECIMALS}")));
        }
        let kind = match &asset.contract {
            None => AssetKind::Native,
            Some(text) => AssetKind::Erc20 { contract: address(&field("contract"), text)? },
        };
        let id = AssetId { chain_id, symbol };
        if assets.iter().any(|a| a.id == id) {
            return Err(invalid(field("symbol"), format!("{id} is listed twice")));
        }
        if let AssetKind::Erc20 { contract } = kind
            && assets.iter().any(|a| a.kind == AssetKind::Erc20 { contract } && a.id.chain_id == chain_id)
        {
            return Err(invalid(field("contract"), "two assets at one contract"));
        }
        assets.push(Asset { id, kind, decimals: asset.decimals });
    }
    for chain in &chains {
        if !assets.iter().any(|a| a.id.chain_id == chain.id && a.kind == AssetKind::Native) {
            return Err(invalid(
                "assets",
                format!("chain {} has no native asset: the signer pays gas in it", chain.id.0),
            ));
        }
    }
    let policy = coffer_policy::Policy::new(&file.policy, &assets)?;
    Ok(SignerConfig { gateway_key, chains, assets, policy, file })
}
