//! The signer's own metrics: decisions by outcome, refusals by rule, and
//! the time a decision takes (authenticate, every rule, sign, persist).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use coffer_signer_api::{OutcomeState, RuleTag};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("coffer_signer");
        let refusals = Family::<RuleLabel, Counter<u64, AtomicU64>>::default();
        let outcomes = Family::<StateLabel, Counter<u64, AtomicU64>>::default();
        // 50 µs to ~1 s in steps of 15%: fine enough to read a p99 off.
        let decisions = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.00005, 1.15, 72));
        registry.register("refusals", "Requests and intents refused, by rule tag", refusals.clone());
        registry.register("outcomes", "Decisions and their later states, by state", outcomes.clone());
        registry.register(
            "decision_seconds",
            "Time from a request's arrival to its stored decision",
            decisions.clone(),
        );
        Self { registry, refusals, outcomes, decisions }
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
            OutcomeState::Refused { .. } => "refused",
            OutcomeState::Broadcast { .. } => "broadcast",
            OutcomeState::Confirmed { .. } => "confirmed",
            OutcomeState::Failed { .. } => "failed",
        };
        self.outcomes.get_or_create(&StateLabel { state }).inc();
    }

    pub(crate) fn decision_time(&self, elapsed: Duration) {
        self.decisions.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
