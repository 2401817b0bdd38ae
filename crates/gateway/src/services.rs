//! From the configuration to the background services' settings.

use std::collections::HashMap;
use std::time::Duration;

use coffer_chain::{ChainSpec, InternalTransfers, ProviderRole, ProviderSpec, RequestBudget};
use coffer_config::{Config, WebhookConfig};
use coffer_domain::{AssetBook, AssetKind, ChainId};
use coffer_watcher::WatcherSettings;
use coffer_webhooks::{DispatchConfig, UrlPolicy};

/// Deadline of one RPC call.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// One watcher per configured chain, following its configured assets.
pub(crate) fn watcher_settings(
    config: &Config,
    assets: &AssetBook,
    screener: std::sync::Arc<dyn coffer_watcher::Screener>,
) -> Vec<WatcherSettings> {
    config
        .chains
        .iter()
        .map(|chain| {
            let chain_id = ChainId(chain.chain_id);
            let mut tokens = HashMap::new();
            let mut token_decimals = HashMap::new();
            let mut native = None;
            for asset in assets.iter().filter(|a| a.id.chain_id == chain_id) {
                match asset.kind {
                    AssetKind::Native => native = Some(asset.id),
                    AssetKind::Erc20 { contract } => {
                        tokens.insert(contract, asset.id);
                        token_decimals.insert(contract, asset.decimals);
                    }
                }
            }
            WatcherSettings {
                spec: ChainSpec {
                    chain_id,
                    rpc_url: chain.rpc_url.expose().clone(),
                    ws_url: chain.ws_url.as_ref().map(|u| u.expose().clone()),
                    tokens,
                    token_decimals,
                    native,
                    reorg_window: chain.reorg_window(),
                    log_range: chain.log_range,
                    start_block: chain.start_block,
                    poll_interval: Duration::from_millis(chain.poll_interval_ms),
                    rpc_timeout: RPC_TIMEOUT,
                    // `validate` has checked the text.
                    internal_transfers: InternalTransfers::parse(&chain.internal_transfers).unwrap_or_default(),
                    budget: RequestBudget { per_second: chain.requests_per_second, per_day: chain.requests_per_day },
                    providers: chain.providers.iter().map(provider_spec).collect(),
                    provider_lag: chain.provider_lag_blocks,
                },
                confirmations: chain.confirmations,
                late_window: Duration::from_secs(config.late_payment_window_secs),
                unwatched_check: Duration::from_secs(chain.unwatched_check_secs),
                hot_wallet: config.hot_wallet(),
                screener: screener.clone(),
            }
        })
        .collect()
}

/// One more RPC provider as configured (`validate` has checked it).
fn provider_spec(provider: &coffer_config::ProviderConfig) -> ProviderSpec {
    ProviderSpec {
        name: provider.name.trim().to_owned(),
        rpc_url: provider.rpc_url.expose().clone(),
        ws_url: provider.ws_url.as_ref().map(|u| u.expose().clone()),
        role: if provider.role == "primary" { ProviderRole::Primary } else { ProviderRole::Fallback },
        budget: RequestBudget { per_second: provider.requests_per_second, per_day: provider.requests_per_day },
    }
}

/// Webhook delivery as configured.
pub(crate) fn dispatch_config(config: &WebhookConfig) -> DispatchConfig {
    DispatchConfig {
        policy: UrlPolicy { allow_private: config.allow_private_urls },
        timeout: Duration::from_secs(config.timeout_secs),
        retry_base: Duration::from_millis(config.retry_base_ms),
        retry_max: Duration::from_secs(config.retry_max_secs),
        max_attempts: config.max_attempts,
        poll_interval: Duration::from_millis(500),
        max_in_flight: config.max_in_flight as usize,
        max_in_flight_per_merchant: config.max_in_flight_per_merchant as usize,
        max_in_flight_per_endpoint: config.max_in_flight_per_endpoint as usize,
        redeliveries_per_minute: config.redeliveries_per_minute,
    }
}

/// What talks to the signer: one client, the outbox's pace, and how often
/// the signer's controls are read.
#[derive(Debug)]
pub(crate) struct SignerParts {
    pub(crate) client: std::sync::Arc<crate::signer_client::SignerClient>,
    pub(crate) outbox: crate::outbox::OutboxSettings,
    pub(crate) control_poll: Duration,
}

/// The signer's client and the outbox's pace, if `[signer]` is configured:
/// the request key is read here, at start, so a missing or unreadable key
/// stops the gateway with a sentence rather than failing every payout.
pub(crate) fn signer(config: &Config) -> Result<Option<SignerParts>, crate::StartError> {
    let Some(signer) = &config.signer else { return Ok(None) };
    let path = &signer.request_key_file;
    let key = coffer_signer_api::RequestKey::load_file(path)
        .map_err(|e| crate::StartError::Signer(format!("request_key_file {}: {e}", path.display())))?;
    // `validate` has parsed it.
    let identity: coffer_signer_api::PublicKey = signer
        .identity_key
        .parse()
        .map_err(|e: coffer_signer_api::auth::BadPublicKey| crate::StartError::Signer(e.to_string()))?;
    let timeout = Duration::from_secs(signer.timeout_secs);
    let client = crate::signer_client::SignerClient::new(
        signer.url.expose(),
        key,
        coffer_signer_api::AnswerVerifier(identity),
        timeout,
    )
    .map_err(|e| crate::StartError::Signer(e.to_string()))?;
    let settings = crate::outbox::OutboxSettings {
        retry_base: Duration::from_millis(signer.retry_base_ms),
        retry_max: Duration::from_secs(signer.retry_max_secs),
        poll_interval: Duration::from_millis(signer.poll_interval_ms),
        // Longer than a request can take, and the write of its answer.
        lease: timeout * 2 + Duration::from_secs(1),
    };
    Ok(Some(SignerParts {
        client: std::sync::Arc::new(client),
        outbox: settings,
        control_poll: Duration::from_millis(signer.control_poll_ms),
    }))
}

/// The treasury view's settings: the operator's digest, and each chain's
/// node (as its watcher reaches it) and wallets.
pub(crate) fn treasury(config: &Config, watchers: &[WatcherSettings]) -> crate::treasury::Treasury {
    let operator_digest = config.operator_token_sha256.as_deref().and_then(|digest| {
        // `validate` has checked it is 64 hex digits.
        hex::decode(digest).ok().and_then(|bytes| bytes.try_into().ok())
    });
    let chains = watchers
        .iter()
        .map(|w| crate::treasury::TreasuryChain {
            spec: w.spec.clone(),
            hot: config.hot_wallet(),
            cold: config.cold_address(w.spec.chain_id),
        })
        .collect();
    crate::treasury::Treasury { operator_digest, chains }
}
