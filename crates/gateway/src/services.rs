//! From the configuration to the background services' settings.

use std::collections::HashMap;
use std::time::Duration;

use coffer_chain::{ChainSpec, InternalTransfers};
use coffer_config::{Config, WebhookConfig};
use coffer_domain::{AssetBook, AssetKind, ChainId};
use coffer_watcher::WatcherSettings;
use coffer_webhooks::{DispatchConfig, UrlPolicy};

/// Deadline of one RPC call.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// One watcher per configured chain, following its configured assets.
pub(crate) fn watcher_settings(config: &Config, assets: &AssetBook) -> Vec<WatcherSettings> {
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
                },
                confirmations: chain.confirmations,
                late_window: Duration::from_secs(config.late_payment_window_secs),
                unwatched_check: Duration::from_secs(chain.unwatched_check_secs),
            }
        })
        .collect()
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
