//! What every handler can reach.

use std::sync::Arc;

use coffer_domain::AssetBook;
use coffer_store::Store;

use crate::address_pool::AddressPool;
use crate::auth::KeyCache;
use crate::metrics::Metrics;

/// Invoice lifetime rules, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct ExpiryPolicy {
    /// Lifetime when a request does not ask for one, in seconds.
    pub default_secs: u64,
    /// The longest lifetime a request may ask for, in seconds.
    pub max_secs: u64,
}

/// The shared state; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) assets: Arc<AssetBook>,
    pub(crate) addresses: Arc<AddressPool>,
    pub(crate) keys: Arc<KeyCache>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) expiry: ExpiryPolicy,
    pub(crate) watchers: Arc<coffer_watcher::Watchers>,
    pub(crate) dispatcher: Arc<coffer_webhooks::Dispatcher>,
    pub(crate) url_policy: coffer_webhooks::UrlPolicy,
    /// The outbox to the signer; `None` without `[signer]` (no payouts).
    pub(crate) outbox: Option<Arc<crate::outbox::Outbox>>,
    /// The watch on the signer's controls (its freeze, policy version and
    /// profile); `None` without `[signer]`.
    pub(crate) control: Option<Arc<crate::control::ControlWatch>>,
    /// The treasury view's settings.
    pub(crate) treasury: Arc<crate::treasury::Treasury>,
    /// The screening lists deposits and payouts are screened with.
    pub(crate) screening: Arc<crate::screening::Lists>,
    /// The origin customers reach the gateway at (`[checkout] public_url`,
    /// or the API's bound address), without a trailing slash.
    pub(crate) public_url: Arc<str>,
    /// Origins that may frame the checkout page.
    pub(crate) frame_ancestors: Arc<[String]>,
    /// The checkout page's `Content-Security-Policy`, made once.
    pub(crate) checkout_csp: axum::http::HeaderValue,
    /// Turns true when the gateway begins to shut down: open event streams
    /// end then, so the connections they hold can drain.
    pub(crate) closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// Each chain's name for people.
    pub(crate) chain_names: Arc<std::collections::HashMap<coffer_domain::ChainId, String>>,
}
