//! Health.

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::routes::errors::error_responses;
use crate::state::AppState;

/// Whether the gateway can serve, and how each chain's watcher is doing.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`; `degraded` when a chain's watcher is not following (the API
    /// still serves, payments wait); `unavailable` when the database is down.
    status: &'static str,
    /// `ok` or `unavailable`.
    database: &'static str,
    /// One entry per configured chain.
    chains: Vec<ChainHealthView>,
    /// This gateway's name as a lease holder.
    instance: String,
    /// The fleet's leases (one per chain: who runs its watcher), from the
    /// database; empty when it is unavailable.
    leases: Vec<LeaseView>,
}

/// A lease, as the database holds it.
#[derive(Serialize, ToSchema)]
pub(crate) struct LeaseView {
    /// `chain:<id>`.
    name: String,
    /// The gateway holding it (or that held it last).
    holder: String,
    /// Grows on every change of holder.
    epoch: i64,
    /// Whether it is held now (not lapsed).
    held: bool,
    /// Whether this gateway holds it.
    mine: bool,
    /// Seconds since the holder took it.
    age_secs: i64,
    /// Milliseconds until it lapses unless renewed (negative: lapsed).
    expires_in_ms: i64,
}

impl LeaseView {
    pub(crate) fn of(row: coffer_store::LeaseRow, me: &str) -> Self {
        Self {
            held: row.held(),
            mine: row.holder == me && row.held(),
            age_secs: (row.now_ms - row.acquired_at_ms) / 1000,
            expires_in_ms: row.expires_at_ms - row.now_ms,
            name: row.name,
            holder: row.holder,
            epoch: row.epoch,
        }
    }
}

/// One chain's watcher.
#[derive(Serialize, ToSchema)]
pub(crate) struct ChainHealthView {
    /// EIP-155 chain id.
    chain_id: u64,
    /// `starting`, `following`, `catching_up`, `unreachable` (retrying with
    /// backoff), `halted` (a person must look) or `standby`.
    state: &'static str,
    /// The node's head, as last seen.
    head: Option<u64>,
    /// The last block processed.
    cursor: Option<u64>,
    /// Blocks between the two.
    lag: Option<u64>,
    /// Whether new heads arrive by subscription (else polling).
    subscribed: bool,
    /// Open invoices watched.
    watched_invoices: u64,
    /// Reorganisations handled since start.
    reorgs: u64,
    /// Errors since start.
    errors: u64,
    /// The last error, while the watcher is failing.
    last_error: Option<String>,
    /// Seconds since the cursor last moved.
    seconds_since_progress: u64,
    /// While `halted`: `transfer_gone`, `deep_reorg`, `config` or `corrupt`
    /// (`coffer chain status` and `coffer chain resolve`).
    halt: Option<&'static str>,
    /// How ETH that contracts send is read: `trace_block` or `debug_trace`
    /// (the node's trace API), or `off`: such transfers are not seen.
    internal_transfers: &'static str,
    /// The RPC providers in the order they are read from (`main` is
    /// `rpc_url`'s).
    providers: Vec<ProviderView>,
}

/// One RPC provider of a chain.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProviderView {
    /// Its configured name.
    name: String,
    /// `primary` or `fallback`.
    role: &'static str,
    /// Whether the watcher reads from it now.
    reading: bool,
    /// Its head, as last seen.
    head: Option<u64>,
    /// Why it is passed over now (down, lagging, outvoted…), if it is.
    demoted: Option<String>,
    /// Requests made to it since start (a batch counts each call).
    calls: u64,
    /// Times it said what another provider did not.
    disagreements: u64,
    /// Reads it confirmed for the provider read from.
    confirmations: u64,
}

impl From<coffer_chain::ProviderHealth> for ProviderView {
    fn from(p: coffer_chain::ProviderHealth) -> Self {
        Self {
            name: p.name,
            role: p.role,
            reading: p.reading,
            head: p.head,
            demoted: p.demoted,
            calls: p.calls,
            disagreements: p.disagreements,
            confirmations: p.confirmations,
        }
    }
}

error_responses!(
    /// `/healthz` answers with its own body, 200 or 503; only a failure inside the gateway is an error.
    HealthErrors = []
);

/// Liveness and readiness: 200 when the database answers (`degraded` if a
/// chain is not being followed), 503 otherwise. Served on
/// `operator_listen_addr` instead when one is configured (404 here then,
/// and absent from the description this address serves).
#[utoipa::path(get, path = "/healthz", tag = "system", operation_id = "healthz",
    responses((status = 200, description = "Serving (`ok` or `degraded`)", body = Health),
        (status = 503, description = "The database is unavailable", body = Health),
        HealthErrors))]
pub(crate) async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    // One snapshot per chain, for the view and the verdict alike.
    let snapshots: Vec<_> = state
        .watchers
        .chains()
        .map(|(chain_id, handle)| (chain_id, handle.health.snapshot(), handle.internal_transfers()))
        .collect();
    let chains_ok = snapshots.iter().all(|(_, h, _)| h.state.is_healthy());
    let chains: Vec<ChainHealthView> = snapshots
        .into_iter()
        .map(|(chain_id, h, internal)| ChainHealthView {
            chain_id: chain_id.0,
            state: h.state.as_str(),
            head: h.head,
            cursor: h.tip,
            lag: h.head.zip(h.tip).map(|(head, tip)| head.saturating_sub(tip)),
            subscribed: h.subscribed,
            watched_invoices: h.watched,
            reorgs: h.reorgs,
            errors: h.errors,
            last_error: h.last_error,
            seconds_since_progress: h.since_progress.as_secs(),
            halt: h.halt.map(|code| code.as_str()),
            internal_transfers: internal.as_str(),
            providers: h.providers.into_iter().map(ProviderView::from).collect(),
        })
        .collect();
    let instance = state.watchers.holder().to_owned();
    match state.store.ping().await {
        Ok(()) => {
            let status = if chains_ok { "ok" } else { "degraded" };
            let leases = match state.store.leases().await {
                Ok(rows) => rows.into_iter().map(|row| LeaseView::of(row, &instance)).collect(),
                Err(err) => {
                    tracing::warn!(error = %err, "health check: reading the leases");
                    Vec::new()
                }
            };
            (StatusCode::OK, Json(Health { status, database: "ok", chains, instance, leases }))
        }
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            let health =
                Health { status: "unavailable", database: "unavailable", chains, instance, leases: Vec::new() };
            (StatusCode::SERVICE_UNAVAILABLE, Json(health))
        }
    }
}

/// Middleware for the API's address when the operator endpoints are served
/// apart: they answer 404 there, as any unknown route does.
pub(crate) async fn served_apart(request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    if path.is_some_and(|p| matches!(p, "/healthz" | "/metrics") || super::OPERATOR_PATHS.contains(&p)) {
        return ApiError::not_found("route").into_response();
    }
    next.run(request).await
}
