//! Coffer's gateway: the HTTP API merchants call.
//!
//! **Architecture invariant:** this crate never holds, loads or links code
//! that loads a private key. Deposit addresses are derived from an xpub
//! (public material only); anything that signs lives in `coffer-signer`, in
//! another process. `tests/it/boundary.rs` fails the build if this crate's
//! dependency graph ever reaches signing code.

mod address_pool;
pub mod admin;
pub mod audit;
mod auth;
mod checkout;
pub(crate) mod console;
mod control;
mod error;
mod extract;
mod holds;
mod input;
mod metrics;
mod outbox;
mod payout_view;
mod request_id;
mod routes;
pub mod screening;
mod serve;
mod services;
mod signer_client;
mod state;
mod sweeper;
pub mod treasury;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::routing::get;
use coffer_config::{Config, DatabaseTarget};
use coffer_domain::{AssetBook, DerivationIndex};
use coffer_store::{Backend, Store};
use coffer_xpub::DepositDeriver;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use auth::KEY_CACHE_TTL;
pub use console::session::LINK_LIFETIME as CONSOLE_LINK_LIFETIME;
pub use error::{ApiError, ErrorCode};
pub use routes::invoices::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
pub use state::ExpiryPolicy;

use crate::address_pool::AddressPool;
use crate::request_id::{RequestIdentity, RequestIds};
use crate::state::AppState;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration lacks something the gateway needs.
    #[error(transparent)]
    Config(#[from] coffer_config::ConfigError),
    /// The xpub does not parse or derive.
    #[error("xpub: {0}")]
    Xpub(#[from] coffer_xpub::XpubError),
    /// The database could not be opened, migrated or bound to the xpub.
    #[error(transparent)]
    Store(#[from] coffer_store::StoreError),
    /// Another gateway already serves this SQLite file.
    #[error(
        "another gateway is already running on {0} (it holds {0}.gateway.lock); one gateway per SQLite file, \
         use PostgreSQL to run several"
    )]
    SqliteInUse(std::path::PathBuf),
    /// The lock file next to the SQLite database could not be opened.
    #[error("cannot open the lock file next to {path}: {source}")]
    LockFile {
        /// The database.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The webhook HTTP client could not be built.
    #[error(transparent)]
    Webhooks(#[from] coffer_webhooks::ClientError),
    /// An imported screening list no longer parses.
    #[error(transparent)]
    Screening(#[from] screening::ListsError),
    /// The signer's request key could not be read, or its client built.
    #[error("signer: {0}")]
    Signer(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Everything the gateway runs on, already opened.
#[derive(Debug)]
pub struct GatewayParts {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Accepted assets.
    pub assets: AssetBook,
    /// The screening lists (builtin and imported), reloaded as they change.
    pub screening: Arc<screening::Lists>,
    /// Public-only address derivation.
    pub deriver: DepositDeriver,
    /// Invoice lifetimes.
    pub expiry: ExpiryPolicy,
    /// The chains to watch (nothing runs until the gateway serves).
    pub watchers: coffer_watcher::Watchers,
    /// Webhook delivery.
    pub webhooks: coffer_webhooks::DispatchConfig,
    /// Connection deadlines and caps.
    pub http: coffer_config::HttpConfig,
    /// Where `/metrics`, `/healthz` and `/v1/treasury` are served instead of the API's address.
    pub operator_listen_addr: Option<SocketAddr>,
    /// The signer's client, how the outbox to it paces itself and how often
    /// its controls are read; `None`: no payouts.
    signer: Option<services::SignerParts>,
    /// Each swept asset's minimum, and how often to look.
    sweeps: (Vec<coffer_domain::Amount>, Duration),
    /// The treasury view's settings.
    pub treasury: treasury::Treasury,
    /// The checkout page's public origin and framing.
    pub checkout: coffer_config::CheckoutConfig,
    /// Each chain's name for people, as the checkout page shows it.
    pub chain_names: std::collections::HashMap<coffer_domain::ChainId, String>,
    /// With SQLite, an exclusive lock on `<database>.gateway.lock`, held
    /// while the gateway runs: the SQLite store's single writer and its
    /// invoice cache assume one gateway per file (ADR 0002).
    sqlite_lock: Option<std::fs::File>,
    /// `config.loaded` for the audit log, logged once the database is
    /// known to belong to this xpub.
    configuration: coffer_audit::Record,
}

impl GatewayParts {
    /// Opens the database the configuration names and reads the xpub.
    pub async fn from_config(config: &Config) -> Result<Self, StartError> {
        let deriver = DepositDeriver::from_xpub(config.require_xpub()?)?;
        let (backend, sqlite_lock) = match config.database() {
            DatabaseTarget::Sqlite(path) => {
                let lock = lock_sqlite(&path)?;
                (Backend::Sqlite(path), Some(lock))
            }
            DatabaseTarget::Postgres(url) => (Backend::Postgres(url.expose().clone()), None),
        };
        let store = coffer_store::open(&backend).await?;
        let assets = config.asset_book();
        let screening = Arc::new(screening::Lists::load(&*store, config.screening.builtin).await?);
        let settings = services::watcher_settings(config, &assets, screening.clone());
        Ok(Self {
            screening,
            configuration: audit::configuration_loaded(config, coffer_domain::Timestamp::now()),
            sqlite_lock,
            store,
            signer: services::signer(config)?,
            sweeps: (config.sweep_minimums(), Duration::from_secs(config.sweeps.interval_secs)),
            treasury: services::treasury(config, &settings),
            watchers: {
                let mut watchers = coffer_watcher::Watchers::new(settings);
                let lease = Duration::from_secs(config.lease_secs);
                watchers.set_fleet(coffer_watcher::FleetSettings { lease, ..Default::default() });
                watchers
            },
            webhooks: services::dispatch_config(&config.webhooks),
            http: config.http.clone(),
            checkout: config.checkout.clone(),
            chain_names: config.chains.iter().map(|c| (coffer_domain::ChainId(c.chain_id), c.name.clone())).collect(),
            operator_listen_addr: config.operator_listen_addr,
            assets,
            deriver,
            expiry: ExpiryPolicy {
                default_secs: config.default_invoice_expiry_secs,
                max_secs: config.max_invoice_expiry_secs,
            },
        })
    }
}

fn lock_sqlite(path: &std::path::Path) -> Result<std::fs::File, StartError> {
    let lock_err = |source| StartError::LockFile { path: path.to_owned(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(lock_err)?;
    }
    // One lock per file, whatever names it: symlinks to the file or to any
    // directory above it resolve to one canonical path. Resolving needs the
    // file, so create it if missing (an empty file is an empty database), but
    // never open an existing one: closing a descriptor of a file drops the
    // POSIX locks SQLite holds on it in this process.
    if !path.exists() {
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(lock_err)?;
    }
    let canonical = std::fs::canonicalize(path).map_err(lock_err)?;
    let mut lock_name = canonical.file_name().unwrap_or_default().to_os_string();
    lock_name.push(".gateway.lock");
    let lock_path = canonical.with_file_name(lock_name);
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(lock_err)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::SqliteInUse(path.to_owned())),
        Err(std::fs::TryLockError::Error(source)) => Err(lock_err(source)),
    }
}

/// A bound, ready-to-serve gateway.
#[derive(Debug)]
pub struct Gateway {
    api: serve::Listener,
    operator: Option<serve::Listener>,
    state: AppState,
    sweeps: (Vec<coffer_domain::Amount>, Duration),
    _sqlite_lock: Option<std::fs::File>,
}

impl Gateway {
    /// Binds `addr` (port 0 picks a free port), checks that the database
    /// belongs to this xpub, and starts deriving deposit addresses.
    pub async fn bind(addr: SocketAddr, mut parts: GatewayParts) -> Result<Self, StartError> {
        // The first deposit address names the wallet: a database refuses a second one.
        let first = parts.deriver.derive(DerivationIndex::try_from(0u64).unwrap_or_else(|_| unreachable!()))?;
        parts.store.bind_xpub(&first.address.to_checksum(None)).await?;
        audit::log_configuration(&*parts.store, &parts.configuration).await?;
        let dispatcher = coffer_webhooks::Dispatcher::new(parts.store.clone(), parts.webhooks)?;
        let assets = Arc::new(parts.assets);
        let (outbox, control) = match parts.signer {
            Some(signer) => {
                let outbox = outbox::Outbox::new(
                    parts.store.clone(),
                    signer.client.clone(),
                    assets.clone(),
                    dispatcher.clone(),
                    signer.outbox,
                );
                let control = control::ControlWatch::new(
                    signer.client,
                    parts.store.clone(),
                    dispatcher.clone(),
                    signer.control_poll,
                );
                (Some(Arc::new(outbox)), Some(Arc::new(control)))
            }
            None => (None, None),
        };
        let api_tcp = TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })?;
        let public_url: Arc<str> = match parts.checkout.public_origin() {
            Some(origin) => origin.into(),
            None => {
                let bound = api_tcp.local_addr().map_err(|source| StartError::Listen { addr, source })?;
                format!("http://{bound}").into()
            }
        };
        parts.watchers.set_public_url(&public_url);
        let state = AppState {
            public_url,
            checkout_csp: checkout::csp_header(&parts.checkout.frame_ancestors),
            frame_ancestors: parts.checkout.frame_ancestors.clone().into(),
            chain_names: Arc::new(parts.chain_names),
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
            addresses: Arc::new(AddressPool::start(parts.store.clone(), parts.deriver)),
            store: parts.store,
            assets,
            keys: Arc::default(),
            metrics: Arc::default(),
            expiry: parts.expiry,
            watchers: Arc::new(parts.watchers),
            dispatcher,
            url_policy: parts.webhooks.policy,
            outbox,
            control,
            treasury: Arc::new(parts.treasury),
            screening: parts.screening,
        };
        let (api, operator) = listeners(api_tcp, parts.operator_listen_addr, &parts.http, &state).await?;
        Ok(Self { api, operator, state, sweeps: parts.sweeps, _sqlite_lock: parts.sqlite_lock })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.api.tcp.local_addr()
    }

    /// The operator listener's address, when `/metrics` and `/healthz` are
    /// served apart from the API.
    pub fn operator_addr(&self) -> Option<SocketAddr> {
        self.operator.as_ref().and_then(|operator| operator.tcp.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    /// The chain watchers, the webhook dispatcher, the outbox to the signer,
    /// the watch on its controls and the sweep scheduler run meanwhile and
    /// stop after the last request is answered.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let state = self.state;
        let mut tasks = state.watchers.start(
            state.store.clone(),
            state.assets.clone(),
            Some(state.dispatcher.clone()),
            stopped.clone(),
        );
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Some(control) = state.control.clone() {
            tasks.push(tokio::spawn(control.run(until_stopped(stopped.clone()))));
        }
        if let Some(outbox) = state.outbox.clone() {
            tasks.push(tokio::spawn(outbox.clone().run(until_stopped(stopped.clone()))));
            let (minimums, interval) = self.sweeps;
            if !minimums.is_empty() {
                let sweeper = sweeper::Sweeper {
                    store: state.store.clone(),
                    assets: state.assets.clone(),
                    minimums,
                    interval,
                    outbox,
                };
                tasks.push(tokio::spawn(sweeper.run(until_stopped(stopped.clone()))));
            }
        }
        tasks.push(tokio::spawn(state.screening.clone().run(state.store.clone(), stopped.clone())));
        tasks.push(tokio::spawn(state.dispatcher.clone().run(until_stopped(stopped))));
        let listeners = [Some(self.api), self.operator].into_iter().flatten().collect();
        let closing = state.closing.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = closing.send(true);
        };
        let served = serve::serve(listeners, state.metrics.clone(), shutdown).await;
        let _ = stop.send(true);
        for task in tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "a background task failed");
            }
        }
        drop(self._sqlite_lock); // held until the last request is answered and the watchers stopped
        served
    }
}

/// Binds the API's address and, if set, the operator's.
async fn listeners(
    api_tcp: TcpListener,
    operator_addr: Option<SocketAddr>,
    http: &coffer_config::HttpConfig,
    state: &AppState,
) -> Result<(serve::Listener, Option<serve::Listener>), StartError> {
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })
    };
    let (api_limits, operator_limits) = serve::Limits::from_config(http);
    let api = serve::Listener {
        tcp: api_tcp,
        router: api_router(state.clone(), operator_addr.is_some()),
        limits: api_limits,
        name: "api",
    };
    let operator = match operator_addr {
        Some(addr) => Some(serve::Listener {
            tcp: bind(addr).await?,
            router: operator_router(state.clone()),
            limits: operator_limits,
            name: "operator",
        }),
        None => None,
    };
    serve::check_descriptors(&[Some(&api), operator.as_ref()].into_iter().flatten().collect::<Vec<_>>());
    Ok((api, operator))
}

/// The merchants' API; with `/metrics` and `/healthz` unless they are served apart.
fn api_router(state: AppState, operator_apart: bool) -> Router {
    let (api, openapi) = routes::api().split_for_parts();
    // Serialised once: the document is this gateway's, and does not change while it runs.
    let document = routes::document::document(&openapi, &state, operator_apart).to_string();
    let document = axum::body::Bytes::from(document);
    let api = api.route(
        "/openapi.json",
        get(move || {
            let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
            std::future::ready((json, document.clone()))
        }),
    );
    // With the operator's routes apart, the operator's console is there too.
    let scope = if operator_apart { console::Audience::MERCHANTS } else { console::Audience::BOTH };
    let api = api.merge(checkout::routes()).merge(console::routes(scope));
    let api = if operator_apart {
        // The documented routes include /healthz: hidden here, as if absent.
        api.layer(axum::middleware::from_fn(routes::system::served_apart))
    } else {
        api.route("/metrics", get(metrics::serve))
    };
    with_layers(api, state)
}

/// The operator's endpoints, on their own address.
fn operator_router(state: AppState) -> Router {
    let operator = Router::new()
        .route("/healthz", get(routes::system::healthz))
        .route("/metrics", get(metrics::serve))
        .route("/v1/treasury", get(routes::treasury::get))
        .route("/v1/operator/payouts/{id}", get(routes::operator::payout))
        .route("/v1/payouts/{id}/approvals", axum::routing::post(routes::operator::approve))
        .route("/v1/signer", get(routes::operator::signer))
        .route("/v1/operator/signer/control", axum::routing::post(routes::operator::control))
        .route("/v1/operator/holds", get(routes::holds::list))
        .route("/v1/operator/payments/{id}/release", axum::routing::post(routes::holds::release))
        .route("/v1/operator/payments/{id}/reject", axum::routing::post(routes::holds::reject))
        .route("/v1/trace", get(routes::trace::get))
        .merge(console::routes(console::Audience::OPERATOR));
    with_layers(operator, state)
}

/// Fallbacks and the layers every answer goes through.
fn with_layers(router: Router<AppState>, state: AppState) -> Router {
    router
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "this route does not accept that method")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::record))
        .with_state(state)
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::new(ErrorCode::Internal, "internal error"))
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let ids = request.extensions().get::<RequestIdentity>();
                    let id = ids.and_then(|ids| ids.shown().to_str().ok()).unwrap_or("-");
                    let span = tracing::info_span!("request", request_id = %id, gateway_request_id = tracing::field::Empty,
                        method = %request.method(), path = %request.uri().path());
                    if let Some(ids) = ids.filter(|ids| ids.client.is_some()) {
                        span.record("gateway_request_id", ids.gateway.to_str().unwrap_or("-"));
                    }
                    span
                })
                .on_response(|response: &axum::response::Response, latency: Duration, _: &tracing::Span| {
                    // DEBUG, as tower-http's default: at thousands of requests a second an
                    // INFO access line per request would cost more than the request itself.
                    tracing::debug!(status = response.status().as_u16(), latency_us = latency.as_micros() as u64, "answered");
                }),
        )
        .layer(axum::middleware::from_fn_with_state(RequestIds::default(), request_id::assign))
}
