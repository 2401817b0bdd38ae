//! Checks that a parsed configuration makes sense, naming the field that does not.

use std::collections::HashSet;

/// The longest invoice lifetime a configuration may allow: one year.
const MAX_EXPIRY_SECS: u64 = 365 * 24 * 3600;

use coffer_domain::{Address, Asset, AssetId, AssetKind, AssetSymbol, ChainId, MAX_DECIMALS};

use crate::{AssetConfig, ChainConfig, Config, ConfigError};

/// The most confirmations a chain may ask for: beyond this, a typo is likelier than intent.
const MAX_CONFIRMATIONS: u32 = 10_000;

impl Config {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("data_dir", "must not be empty"));
        }
        database_url(self.database_url.expose())?;
        if !self.xpub.expose().is_empty() {
            coffer_xpub::DepositDeriver::from_xpub(self.xpub.expose())
                .map_err(|e| ConfigError::invalid("xpub", e.to_string()))?;
        }
        if self.default_invoice_expiry_secs < 60 {
            return Err(ConfigError::invalid("default_invoice_expiry_secs", "must be at least 60 seconds"));
        }
        if self.max_invoice_expiry_secs < self.default_invoice_expiry_secs {
            return Err(ConfigError::invalid(
                "max_invoice_expiry_secs",
                "must not be below default_invoice_expiry_secs",
            ));
        }
        // An invoice open for years is a mistake, and a lifetime near u64::MAX
        // would push expiry times past what timestamps can print.
        if self.max_invoice_expiry_secs > MAX_EXPIRY_SECS {
            return Err(ConfigError::invalid("max_invoice_expiry_secs", "must be at most 31536000 (one year)"));
        }
        tracing_filter(&self.log_filter)?;
        if self.late_payment_window_secs > MAX_EXPIRY_SECS {
            return Err(ConfigError::invalid("late_payment_window_secs", "must be at most 31536000 (one year)"));
        }
        if !(3..=300).contains(&self.lease_secs) {
            return Err(ConfigError::invalid("lease_secs", "must be between 3 and 300"));
        }
        let hooks = &self.webhooks;
        if !(1..=120).contains(&hooks.timeout_secs) {
            return Err(ConfigError::invalid("webhooks.timeout_secs", "must be between 1 and 120"));
        }
        if hooks.retry_base_ms == 0 || hooks.retry_max_secs == 0 || hooks.max_attempts == 0 {
            return Err(ConfigError::invalid(
                "webhooks",
                "retry_base_ms, retry_max_secs and max_attempts must be positive",
            ));
        }
        if !(1..=1024).contains(&hooks.max_in_flight) {
            return Err(ConfigError::invalid("webhooks.max_in_flight", "must be between 1 and 1024"));
        }
        if !(1..=hooks.max_in_flight).contains(&hooks.max_in_flight_per_merchant) {
            return Err(ConfigError::invalid(
                "webhooks.max_in_flight_per_merchant",
                "must be between 1 and webhooks.max_in_flight",
            ));
        }
        if !(1..=hooks.max_in_flight_per_merchant).contains(&hooks.max_in_flight_per_endpoint) {
            return Err(ConfigError::invalid(
                "webhooks.max_in_flight_per_endpoint",
                "must be between 1 and webhooks.max_in_flight_per_merchant",
            ));
        }
        if !(1..=60_000).contains(&hooks.redeliveries_per_minute) {
            return Err(ConfigError::invalid("webhooks.redeliveries_per_minute", "must be between 1 and 60000"));
        }
        http(&self.http)?;
        operator_listen_addr(self)?;
        self.checkout.validate()?;
        let mut chain_ids = HashSet::new();
        for (i, chain) in self.chains.iter().enumerate() {
            self::chain(i, chain)?;
            if !chain_ids.insert(chain.chain_id) {
                return Err(ConfigError::invalid(
                    format!("chains[{i}].chain_id"),
                    format!("chain {} is configured twice", chain.chain_id),
                ));
            }
        }
        let mut asset_ids = HashSet::new();
        let mut natives = HashSet::new();
        let mut contracts = std::collections::HashMap::new();
        for (i, config) in self.assets.iter().enumerate() {
            let asset = asset(i, config, &self.chains)?;
            // Two assets at one contract: a transfer would be counted as either, and one
            // would shadow the other in silence.
            if let AssetKind::Erc20 { contract } = asset.kind
                && let Some(first) = contracts.insert((asset.id.chain_id, contract), asset.id.symbol)
            {
                return Err(ConfigError::invalid(
                    format!("assets[{i}].contract"),
                    format!(
                        "{contract} on chain {} is already asset {first}; one contract is one asset",
                        asset.id.chain_id
                    ),
                ));
            }
            if !asset_ids.insert(asset.id) {
                return Err(ConfigError::invalid(
                    format!("assets[{i}].symbol"),
                    format!("{} is configured twice on chain {}", asset.id.symbol, asset.id.chain_id),
                ));
            }
            if asset.kind == AssetKind::Native && !natives.insert(asset.id.chain_id) {
                return Err(ConfigError::invalid(
                    format!("assets[{i}].contract"),
                    format!(
                        "chain {} already has a native asset; a token needs its contract address",
                        asset.id.chain_id
                    ),
                ));
            }
        }
        self.validate_treasury()
    }
}

fn database_url(url: &str) -> Result<(), ConfigError> {
    let known =
        url.is_empty() || ["sqlite:", "postgres://", "postgresql://"].iter().any(|scheme| url.starts_with(scheme));
    if known {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "database_url",
            "must start with sqlite:// or postgres:// (or be empty for SQLite in data_dir)",
        ))
    }
}

/// The longest HTTP deadline a configuration may set: an hour.
const MAX_HTTP_TIMEOUT_SECS: u64 = 3600;
/// The most connections a listener may allow.
const MAX_HTTP_CONNECTIONS: u32 = 1_000_000;

fn http(http: &crate::HttpConfig) -> Result<(), ConfigError> {
    let timeouts = [
        ("header_timeout_secs", http.header_timeout_secs),
        ("body_timeout_secs", http.body_timeout_secs),
        ("idle_timeout_secs", http.idle_timeout_secs),
        ("write_timeout_secs", http.write_timeout_secs),
    ];
    for (name, secs) in timeouts {
        if !(1..=MAX_HTTP_TIMEOUT_SECS).contains(&secs) {
            return Err(ConfigError::invalid(
                format!("http.{name}"),
                format!("must be between 1 and {MAX_HTTP_TIMEOUT_SECS} seconds"),
            ));
        }
    }
    for (name, max) in
        [("max_connections", http.max_connections), ("max_operator_connections", http.max_operator_connections)]
    {
        if !(1..=MAX_HTTP_CONNECTIONS).contains(&max) {
            return Err(ConfigError::invalid(
                format!("http.{name}"),
                format!("must be between 1 and {MAX_HTTP_CONNECTIONS}"),
            ));
        }
    }
    Ok(())
}

fn operator_listen_addr(config: &Config) -> Result<(), ConfigError> {
    match config.operator_listen_addr {
        Some(operator) if operator == config.listen_addr && operator.port() != 0 => Err(ConfigError::invalid(
            "operator_listen_addr",
            "must differ from listen_addr: the operator endpoints are served apart from the merchants' API",
        )),
        _ => Ok(()),
    }
}

fn tracing_filter(filter: &str) -> Result<(), ConfigError> {
    let ok =
        !filter.trim().is_empty() && filter.chars().all(|c| c.is_ascii_alphanumeric() || "_:=,.-[]{}\"".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "log_filter",
            format!("{filter:?} is not a tracing filter such as \"info\" or \"coffer=debug,info\""),
        ))
    }
}

/// A chain's extra RPC providers: named once each, reachable by URL, with a role.
fn providers(field: &dyn Fn(&str) -> String, chain: &ChainConfig) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::from(["main"]);
    for (j, provider) in chain.providers.iter().enumerate() {
        let at = |name: &str| field(&format!("providers[{j}].{name}"));
        let name = provider.name.trim();
        if name.is_empty() || name.len() > 32 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(ConfigError::invalid(at("name"), "must be 1 to 32 letters, digits, '-', '_' or '.'"));
        }
        if !names.insert(name) {
            return Err(ConfigError::invalid(at("name"), format!("{name:?} is taken (main is rpc_url's provider)")));
        }
        endpoint(&at, "rpc_url", provider.rpc_url.expose(), &["http", "https", "ws", "wss"])?;
        if let Some(ws) = &provider.ws_url {
            endpoint(&at, "ws_url", ws.expose(), &["ws", "wss"])?;
        }
        if !["primary", "fallback"].contains(&provider.role.as_str()) {
            return Err(ConfigError::invalid(at("role"), "must be \"primary\" or \"fallback\""));
        }
        budget(&at, provider.requests_per_second, provider.requests_per_day)?;
    }
    budget(field, chain.requests_per_second, chain.requests_per_day)?;
    if chain.provider_lag_blocks == 0 {
        return Err(ConfigError::invalid(field("provider_lag_blocks"), "must be at least 1"));
    }
    Ok(())
}

/// An RPC endpoint: a URL with one of the schemes the chain client speaks.
fn endpoint(field: &dyn Fn(&str) -> String, name: &str, url: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let url = url::Url::parse(url).map_err(|e| ConfigError::invalid(field(name), format!("is not a URL ({e})")))?;
    if !schemes.contains(&url.scheme()) {
        let listed = match schemes {
            [rest @ .., last] if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => schemes.join(""),
        };
        return Err(ConfigError::invalid(field(name), format!("scheme {} is not {listed}", url.scheme())));
    }
    Ok(())
}

/// A provider's request budget: absent, or some requests.
fn budget(field: &dyn Fn(&str) -> String, per_second: Option<u32>, per_day: Option<u64>) -> Result<(), ConfigError> {
    for (name, zero) in [("requests_per_second", per_second == Some(0)), ("requests_per_day", per_day == Some(0))] {
        if zero {
            return Err(ConfigError::invalid(field(name), "a budget of zero requests cannot work (omit it for none)"));
        }
    }
    Ok(())
}

fn chain(i: usize, chain: &ChainConfig) -> Result<(), ConfigError> {
    let field = |name: &str| format!("chains[{i}].{name}");
    if chain.chain_id == 0 {
        return Err(ConfigError::invalid(field("chain_id"), "must be a positive EIP-155 chain id"));
    }
    if chain.name.trim().is_empty() || chain.name.len() > 64 {
        return Err(ConfigError::invalid(field("name"), "must be 1 to 64 characters"));
    }
    endpoint(&field, "rpc_url", chain.rpc_url.expose(), &["http", "https", "ws", "wss"])?;
    if let Some(ws) = &chain.ws_url {
        endpoint(&field, "ws_url", ws.expose(), &["ws", "wss"])?;
    }
    providers(&field, chain)?;
    if chain.confirmations == 0 || chain.confirmations > MAX_CONFIRMATIONS {
        return Err(ConfigError::invalid(field("confirmations"), format!("must be between 1 and {MAX_CONFIRMATIONS}")));
    }
    if chain.reorg_window() > 100_000 {
        return Err(ConfigError::invalid(field("reorg_window"), "must be at most 100000 blocks"));
    }
    if chain.reorg_window() < u64::from(chain.confirmations) {
        return Err(ConfigError::invalid(
            field("reorg_window"),
            "must be at least the confirmations: a payment must stay inside the window until it is credited",
        ));
    }
    if !(10..=600_000).contains(&chain.poll_interval_ms) {
        return Err(ConfigError::invalid(field("poll_interval_ms"), "must be between 10 and 600000"));
    }
    if !(1..=100_000).contains(&chain.log_range) {
        return Err(ConfigError::invalid(field("log_range"), "must be between 1 and 100000"));
    }
    if !["off", "trace_block", "debug_trace"].contains(&chain.internal_transfers.as_str()) {
        return Err(ConfigError::invalid(
            field("internal_transfers"),
            format!("{:?} is not off, trace_block or debug_trace", chain.internal_transfers),
        ));
    }
    if !(1..=3600).contains(&chain.unwatched_check_secs) {
        return Err(ConfigError::invalid(field("unwatched_check_secs"), "must be between 1 and 3600"));
    }
    Ok(())
}

/// Checks one asset entry and turns it into the domain's [`Asset`].
pub(crate) fn asset(i: usize, config: &AssetConfig, chains: &[ChainConfig]) -> Result<Asset, ConfigError> {
    let field = |name: &str| format!("assets[{i}].{name}");
    let symbol: AssetSymbol = config
        .symbol
        .parse()
        .map_err(|e: coffer_domain::InvalidSymbol| ConfigError::invalid(field("symbol"), e.to_string()))?;
    if !chains.iter().any(|chain| chain.chain_id == config.chain_id) {
        return Err(ConfigError::invalid(
            field("chain_id"),
            format!("chain {} is not among the configured chains", config.chain_id),
        ));
    }
    if config.decimals > MAX_DECIMALS {
        return Err(ConfigError::invalid(field("decimals"), format!("must be at most {MAX_DECIMALS}")));
    }
    let kind = match &config.contract {
        None => AssetKind::Native,
        Some(text) => AssetKind::Erc20 {
            contract: contract_address(text).map_err(|reason| ConfigError::invalid(field("contract"), reason))?,
        },
    };
    Ok(Asset { id: AssetId { chain_id: ChainId(config.chain_id), symbol }, kind, decimals: config.decimals })
}

/// A contract address; mixed case must carry a valid EIP-55 checksum.
fn contract_address(text: &str) -> Result<Address, String> {
    let address: Address = text.parse().map_err(|_| format!("{text:?} is not a 0x-prefixed 20-byte address"))?;
    let hex = text.trim_start_matches("0x");
    let mixed_case = hex.chars().any(|c| c.is_ascii_lowercase()) && hex.chars().any(|c| c.is_ascii_uppercase());
    if mixed_case && address.to_checksum(None) != text {
        return Err(format!("{text} fails its EIP-55 checksum (a mistyped address?)"));
    }
    if address == Address::ZERO {
        return Err("the zero address is not a token".into());
    }
    Ok(address)
}
