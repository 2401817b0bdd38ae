//! Prometheus metrics: request counts and latencies by route and status,
//! served as text at `/metrics`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// Every label below comes from a fixed set, whatever a client sends: a
/// label set is kept for the life of the process and written out at every
/// scrape, so one a client could choose would let anyone grow both.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    /// One of [`method_label`]'s names.
    method: &'static str,
    /// The route template (`/v1/invoices/{id}`), never the raw path: ids
    /// would make the label set unbounded. `unmatched` for any other path.
    route: String,
    /// Statuses are the handlers' own, a short list.
    status: u16,
}

/// The method as a label: the standard ones by name, any other `other`
/// (HTTP lets a client invent methods, and hyper accepts them).
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    /// `api` or `operator`.
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimeoutLabels {
    listener: &'static str,
    /// `header`, `body`, `write` or `idle`.
    kind: &'static str,
}

/// The kinds of connection deadline, each a label value.
const TIMEOUT_KINDS: [&str; 4] = ["header", "body", "write", "idle"];

/// One listener's connection metrics.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionMetrics {
    listener: &'static str,
    open: Family<ListenerLabels, Gauge>,
    accepted: Family<ListenerLabels, Counter>,
    timeouts: Family<TimeoutLabels, Counter>,
}

impl ConnectionMetrics {
    pub(crate) fn opened(&self) {
        let labels = ListenerLabels { listener: self.listener };
        self.open.get_or_create(&labels).inc();
        self.accepted.get_or_create(&labels).inc();
    }

    pub(crate) fn closed(&self) {
        self.open.get_or_create(&ListenerLabels { listener: self.listener }).dec();
    }

    /// `kind` is one of [`TIMEOUT_KINDS`].
    pub(crate) fn timed_out(&self, kind: &'static str) {
        self.timeouts.get_or_create(&TimeoutLabels { listener: self.listener, kind }).inc();
    }
}

/// The gateway's metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: LatencyFamily,
    /// Invoices created (not replays).
    pub(crate) invoices_created: Counter,
    connections_open: Family<ListenerLabels, Gauge>,
    connections_accepted: Family<ListenerLabels, Counter>,
    connection_timeouts: Family<TimeoutLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~3 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("coffer");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let invoices_created = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer HTTP requests", latency.clone());
        registry.register(
            "invoices_created",
            "Invoices created (idempotent replays excluded)",
            invoices_created.clone(),
        );
        let connections_open = Family::<ListenerLabels, Gauge>::default();
        let connections_accepted = Family::<ListenerLabels, Counter>::default();
        let connection_timeouts = Family::<TimeoutLabels, Counter>::default();
        registry.register("http_connections_open", "HTTP connections open", connections_open.clone());
        registry.register("http_connections", "HTTP connections accepted", connections_accepted.clone());
        registry.register(
            "http_timeouts",
            "HTTP connections past a deadline (header, body, write, idle), closed",
            connection_timeouts.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            invoices_created,
            connections_open,
            connections_accepted,
            connection_timeouts,
        }
    }
}

impl Metrics {
    /// The connection metrics of one listener, every series present from the start.
    pub(crate) fn connections(&self, listener: &'static str) -> ConnectionMetrics {
        let labels = ListenerLabels { listener };
        let _ = self.connections_open.get_or_create(&labels);
        let _ = self.connections_accepted.get_or_create(&labels);
        for kind in TIMEOUT_KINDS {
            let _ = self.connection_timeouts.get_or_create(&TimeoutLabels { listener, kind });
        }
        ConnectionMetrics {
            listener,
            open: self.connections_open.clone(),
            accepted: self.connections_accepted.clone(),
            timeouts: self.connection_timeouts.clone(),
        }
    }

    /// The registry in Prometheus' text exposition format.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Middleware recording every answered request.
pub(crate) async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    // Only routes the router was built with have a `MatchedPath`.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let labels = RouteLabels { method, route, status: response.status().as_u16() };
    state.metrics.requests.get_or_create(&labels).inc();
    state.metrics.latency.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    response
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    chain_id: u64,
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChainLabels {
    chain_id: u64,
}

/// The chain watchers' and the dispatcher's state, read at scrape time.
fn live(state: &AppState) -> Registry {
    use std::sync::atomic::Ordering::Relaxed;
    let mut registry = Registry::with_prefix("coffer");
    let gauge = || Family::<ChainLabels, Gauge>::default();
    let counter = || Family::<ChainLabels, Counter>::default();
    let (head, cursor, watched, healthy) = (gauge(), gauge(), gauge(), gauge());
    let (leading, epoch, lease_age) = (gauge(), gauge(), gauge());
    let (errors, reorgs, payments, bookings, settlements) = (counter(), counter(), counter(), counter(), counter());
    let heard = counter();
    let (calls, disagreements, confirmations) = (
        Family::<ProviderLabels, Counter>::default(),
        Family::<ProviderLabels, Counter>::default(),
        Family::<ProviderLabels, Counter>::default(),
    );
    let (reading, demoted) = (Family::<ProviderLabels, Gauge>::default(), Family::<ProviderLabels, Gauge>::default());
    for (chain_id, handle) in state.watchers.chains() {
        let labels = ChainLabels { chain_id: chain_id.0 };
        let h = handle.health.snapshot();
        for p in &h.providers {
            let labels = ProviderLabels { chain_id: chain_id.0, provider: p.name.clone() };
            calls.get_or_create(&labels).inc_by(p.calls);
            disagreements.get_or_create(&labels).inc_by(p.disagreements);
            confirmations.get_or_create(&labels).inc_by(p.confirmations);
            reading.get_or_create(&labels).set(i64::from(p.reading));
            demoted.get_or_create(&labels).set(i64::from(p.demoted.is_some()));
        }
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        head.get_or_create(&labels).set(h.head.map_or(-1, as_i64));
        cursor.get_or_create(&labels).set(h.tip.map_or(-1, as_i64));
        watched.get_or_create(&labels).set(as_i64(h.watched));
        healthy.get_or_create(&labels).set(i64::from(h.state.is_healthy()));
        leading.get_or_create(&labels).set(i64::from(h.lease.is_some()));
        epoch.get_or_create(&labels).set(h.lease.map_or(-1, |(e, _)| e));
        lease_age.get_or_create(&labels).set(h.lease.map_or(-1, |(_, age)| as_i64(age.as_secs())));
        errors.get_or_create(&labels).inc_by(h.errors);
        reorgs.get_or_create(&labels).inc_by(h.reorgs);
        payments.get_or_create(&labels).inc_by(handle.stats.payments.load(Relaxed));
        bookings.get_or_create(&labels).inc_by(handle.stats.bookings.load(Relaxed));
        settlements.get_or_create(&labels).inc_by(handle.stats.settlements.load(Relaxed));
        heard.get_or_create(&labels).inc_by(handle.stats.heard.load(Relaxed));
    }
    registry.register("chain_head_block", "The node's head, as last seen (-1: not yet)", head);
    registry.register("chain_cursor_block", "The last block processed (-1: not yet)", cursor);
    registry.register("chain_watched_invoices", "Open invoices whose address is watched", watched);
    registry.register("chain_healthy", "1 while the chain is followed, 0 while unreachable or halted", healthy);
    registry.register("chain_lease_held", "1 while this gateway holds the chain's lease (runs its watcher)", leading);
    registry.register("chain_lease_epoch", "The epoch of the chain's lease this gateway holds (-1: none)", epoch);
    registry.register(
        "chain_lease_age_seconds",
        "How long this gateway has held the chain's lease (-1: not)",
        lease_age,
    );
    registry.register("chain_errors", "Failed watcher steps (node or database)", errors);
    registry.register("chain_provider_requests", "Requests made to the RPC provider (a batch counts each call)", calls);
    registry.register("chain_provider_disagreements", "Times the provider said what another did not", disagreements);
    registry.register(
        "chain_provider_confirmations",
        "Reads the provider confirmed for the one read from",
        confirmations,
    );
    registry.register("chain_provider_reading", "1 for the provider the watcher reads from", reading);
    registry.register(
        "chain_provider_demoted",
        "1 while the provider is passed over (down, lagging, outvoted)",
        demoted,
    );
    registry.register("chain_reorgs", "Reorganisations applied", reorgs);
    registry.register("payments_seen", "Payments recorded", payments);
    registry.register("payments_confirmed", "Payments booked after their confirmations", bookings);
    registry.register("invoices_settled", "Invoices settled", settlements);
    registry.register(
        "chain_changes_heard",
        "Changes to the chain's invoices other gateways of the fleet announced (PostgreSQL)",
        heard,
    );
    // The signer's controls, once read: what a freeze alert watches.
    if let Some(reading) = state.control.as_ref().and_then(|control| control.seen()) {
        let frozen = Gauge::<i64>::default();
        frozen.set(i64::from(reading.state.frozen.is_some()));
        registry.register("signer_frozen", "1 while the signer has frozen outgoing payments, as last read", frozen);
        let version = Gauge::<i64>::default();
        version.set(i64::try_from(reading.state.policy_version).unwrap_or(i64::MAX));
        registry.register("signer_policy_version", "The signer's policy version, as last read", version);
    }
    let stats = state.dispatcher.stats();
    for (name, help, count) in [
        ("webhook_deliveries", "Webhook attempts acknowledged with 2xx", &stats.delivered),
        ("webhook_failures", "Webhook attempts that failed (retried or given up)", &stats.failed),
        ("webhook_given_up", "Webhook deliveries given up after their last attempt", &stats.given_up),
        (
            "webhook_skipped",
            "Deliveries not sent after waiting their turn: their endpoint was deleted or their lease was taken over",
            &stats.skipped,
        ),
    ] {
        let counter = Counter::<u64>::default();
        counter.inc_by(count.load(Relaxed));
        registry.register(name, help, counter);
    }
    registry
}

/// `GET /metrics`.
pub(crate) async fn serve(State(state): State<AppState>) -> Response {
    let encoded = state.metrics.encode().and_then(|mut text| {
        let mut more = String::new();
        prometheus_client::encoding::text::encode(&mut more, &live(&state))?;
        // Both end with "# EOF"; the exposition has one, at the very end.
        if let Some(head) = text.strip_suffix("# EOF\n") {
            text = head.to_owned();
        }
        text.push_str(&more);
        Ok(text)
    });
    match encoded {
        Ok(text) => {
            ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
        }
        Err(err) => crate::error::ApiError::internal(&err).into_response(),
    }
}
