//! The signer's own metrics: decisions by outcome, refusals by rule, and
//! the time a decision takes (authenticate, every rule, sign, commit) and
//! the wait for its commit to reach the disk.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use coffer_signer_api::{OutcomeState, RuleTag};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// Counters and the decision-time histogram, registered once.
pub(crate) struct Metrics {
    registry: Registry,
    refusals: Family<RuleLabel, Counter<u64, AtomicU64>>,
    outcomes: Family<StateLabel, Counter<u64, AtomicU64>>,
    decisions: Histogram,
    requests: Histogram,
    durable: Histogram,
    durable_decisions: Histogram,
    syncs: Histogram,
    frozen: Gauge,
    policy_version: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("coffer_signer");
        let refusals = Family::<RuleLabel, Counter<u64, AtomicU64>>::default();
        let outcomes = Family::<StateLabel, Counter<u64, AtomicU64>>::default();
        // 50 µs to ~1 s in steps of 15%: fine enough to read a p99 off.
        let buckets = || prometheus_client::metrics::histogram::exponential_buckets(0.00005, 1.15, 72);
        let decisions = Histogram::new(buckets());
        let requests = Histogram::new(buckets());
        let durable = Histogram::new(buckets());
        let durable_decisions = Histogram::new(buckets());
        let syncs = Histogram::new(buckets());
        registry.register("refusals", "Requests and intents refused, by rule tag", refusals.clone());
        registry.register("outcomes", "Decisions and their later states, by state", outcomes.clone());
        registry.register(
            "decision_seconds",
            "Time a decision takes: authenticating the request, every rule, signing and committing \
             (not the wait for the decision lock, nor the node's gas estimate before it, nor the \
             shared fsync that makes the commit durable: durable_wait_seconds)",
            decisions.clone(),
        );
        registry.register(
            "payout_request_seconds",
            "Time from a payout request's arrival to its answer: the decision, the node's gas estimate, \
             the wait for the decision lock, the waits for the disk and the broadcast",
            requests.clone(),
        );
        registry.register(
            "durable_wait_seconds",
            "Time an answer or a broadcast waits for the store's commits to reach the disk \
             (one fsync of the WAL, shared by every commit made while it runs)",
            durable.clone(),
        );
        registry.register(
            "durable_decision_seconds",
            "A payout decision that signed, until it is on disk: decision_seconds and the wait for the \
             fsync that covers its commit",
            durable_decisions.clone(),
        );
        registry.register(
            "store_sync_seconds",
            "Time one fdatasync of the store's WAL took (the engine's own; SQLite's checkpoints sync apart)",
            syncs.clone(),
        );
        let frozen = Gauge::default();
        let policy_version = Gauge::default();
        registry.register("frozen", "1 while outgoing payments are frozen, 0 otherwise", frozen.clone());
        registry.register("policy_version", "The policy version every decision now records", policy_version.clone());
        Self {
            registry,
            refusals,
            outcomes,
            decisions,
            requests,
            durable,
            durable_decisions,
            syncs,
            frozen,
            policy_version,
        }
    }
}

impl Metrics {
    pub(crate) fn refused(&self, rule: RuleTag) {
        self.refusals.get_or_create(&RuleLabel { rule: rule.as_str() }).inc();
    }

    pub(crate) fn decided(&self, state: &OutcomeState) {
        if let OutcomeState::Refused { rule, .. } = state {
            self.refused(*rule);
        }
        let state = match state {
            OutcomeState::Pending => "pending",
            OutcomeState::PendingCooldown { .. } => "pending_cooldown",
            OutcomeState::PendingApproval { .. } => "pending_approval",
            OutcomeState::Refused { .. } => "refused",
            OutcomeState::Broadcast { .. } => "broadcast",
            OutcomeState::Confirmed { .. } => "confirmed",
            OutcomeState::Failed { .. } => "failed",
        };
        self.outcomes.get_or_create(&StateLabel { state }).inc();
    }

    /// The policy in force: its version, and whether it is frozen.
    pub(crate) fn policy(&self, policy: &coffer_policy::Policy) {
        self.frozen.set(i64::from(policy.frozen().is_some()));
        self.policy_version.set(i64::try_from(policy.version()).unwrap_or(i64::MAX));
    }

    pub(crate) fn decision_time(&self, elapsed: Duration) {
        self.decisions.observe(elapsed.as_secs_f64());
    }

    pub(crate) fn durable_time(&self, elapsed: Duration) {
        self.durable.observe(elapsed.as_secs_f64());
    }

    pub(crate) fn durable_decision_time(&self, elapsed: Duration) {
        self.durable_decisions.observe(elapsed.as_secs_f64());
    }

    pub(crate) fn sync_time(&self, elapsed: Duration) {
        self.syncs.observe(elapsed.as_secs_f64());
    }

    pub(crate) fn request_time(&self, elapsed: Duration) {
        self.requests.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
