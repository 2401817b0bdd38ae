//! A chain's RPC providers: which one the follower reads from, and when it
//! passes one over.
//!
//! Providers are tried in the configured order, primaries before fallbacks.
//! The reader is the first one not passed over ("demoted"): one that could
//! not be reached, kept failing, spent its daily budget, lagged
//! `provider_lag` blocks behind another, let its head go backwards, or was
//! outvoted on what a block holds. A demotion lasts [`DEMOTION`]; then the
//! provider is back in its place in the order, so the follower returns to a
//! primary once it answers again. With one provider nothing is demoted:
//! there is nobody else to ask, and the watcher's backoff does the waiting.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::budget::Budget;
use crate::node::Node;
use crate::{ChainError, ChainSpec, ProviderRole, RequestBudget};

/// How long a provider is passed over.
pub(crate) const DEMOTION: Duration = Duration::from_secs(30);
/// Failures in a row (other than not answering) that demote a provider.
const FAILURES_TO_DEMOTE: u32 = 3;
/// How often, at the head, the other providers' heads are looked at.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// One provider and what is known of it.
#[derive(Debug)]
pub(crate) struct Provider {
    pub(crate) name: String,
    pub(crate) role: ProviderRole,
    pub(crate) node: Node,
    pub(crate) budget: Arc<Budget>,
    /// Whether its chain id and tokens were checked (`checks.rs`).
    pub(crate) checked: bool,
    /// Its head, as last seen.
    pub(crate) head: Option<u64>,
    /// Passed over until then, and why.
    demoted: Option<(Instant, String)>,
    /// Failures in a row.
    failures: u32,
    /// Times it said something another provider did not.
    pub(crate) disagreements: u64,
}

impl Provider {
    fn new(
        name: String,
        role: ProviderRole,
        url: String,
        ws_url: Option<String>,
        allows: RequestBudget,
        timeout: Duration,
    ) -> Self {
        let budget = Arc::new(Budget::new(allows.per_second, allows.per_day));
        let node = Node::with_budget(url, ws_url, timeout, budget.clone());
        Self { name, role, node, budget, checked: false, head: None, demoted: None, failures: 0, disagreements: 0 }
    }

    /// Why it is passed over now, if it is.
    pub(crate) fn demoted(&self) -> Option<&str> {
        self.demoted.as_ref().filter(|(until, _)| Instant::now() < *until).map(|(_, why)| why.as_str())
    }

    /// Requests made to it since start.
    pub(crate) fn calls(&self) -> u64 {
        self.budget.calls.load(Ordering::Relaxed)
    }
}

/// The name `rpc_url`'s provider goes by.
pub(crate) const MAIN: &str = "main";

/// Every provider of a chain, in the order they are read from.
#[derive(Debug)]
pub(crate) struct Providers {
    all: Vec<Provider>,
    reader: usize,
    lag: u64,
    probed: Option<Instant>,
}

impl Providers {
    pub(crate) fn new(spec: &ChainSpec) -> Self {
        let mut all = vec![Provider::new(
            MAIN.into(),
            ProviderRole::Primary,
            spec.rpc_url.clone(),
            spec.ws_url.clone(),
            spec.budget,
            spec.rpc_timeout,
        )];
        for role in [ProviderRole::Primary, ProviderRole::Fallback] {
            for p in spec.providers.iter().filter(|p| p.role == role) {
                all.push(Provider::new(
                    p.name.clone(),
                    role,
                    p.rpc_url.clone(),
                    p.ws_url.clone(),
                    p.budget,
                    spec.rpc_timeout,
                ));
            }
        }
        Self { all, reader: 0, lag: spec.provider_lag.max(1), probed: None }
    }

    /// Whether there is a second provider to confirm with.
    pub(crate) fn several(&self) -> bool {
        self.all.len() > 1
    }

    pub(crate) fn all(&self) -> &[Provider] {
        &self.all
    }

    /// The provider read from now.
    pub(crate) fn reader(&mut self) -> &mut Provider {
        &mut self.all[self.reader]
    }

    pub(crate) fn reader_index(&self) -> usize {
        self.reader
    }

    pub(crate) fn get(&mut self, index: usize) -> &mut Provider {
        &mut self.all[index]
    }

    /// Chooses the reader for the next step: the first provider not passed
    /// over (if all are, the one whose demotion ends first). `true` if it
    /// changed: what was read ahead from the last one is to be dropped.
    pub(crate) fn choose(&mut self) -> bool {
        let chosen = self.all.iter().position(|p| p.demoted().is_none()).unwrap_or_else(|| {
            let ends = |p: &Provider| p.demoted.as_ref().map(|(until, _)| *until);
            (0..self.all.len()).min_by_key(|i| ends(&self.all[*i])).unwrap_or(0)
        });
        if chosen == self.reader {
            return false;
        }
        let (from, to) = (&self.all[self.reader], &self.all[chosen]);
        tracing::warn!(
            from = from.name,
            to = to.name,
            role = to.role.as_str(),
            why = from.demoted().unwrap_or("it is back"),
            "reading the chain from another provider"
        );
        self.reader = chosen;
        true
    }

    /// Passes provider `index` over for [`DEMOTION`] (never the only one).
    pub(crate) fn demote(&mut self, index: usize, why: String) {
        if !self.several() {
            return;
        }
        let provider = &mut self.all[index];
        if provider.demoted().is_none() {
            tracing::warn!(provider = provider.name, why, "provider passed over for {}s", DEMOTION.as_secs());
        }
        provider.failures = 0;
        provider.demoted = Some((Instant::now() + DEMOTION, why));
    }

    /// How the reader's last step went: one that did not answer (or spent
    /// its budget) is passed over at once; one that keeps failing otherwise,
    /// after a few in a row.
    pub(crate) fn reader_did<T>(&mut self, result: &Result<T, ChainError>) {
        let index = self.reader;
        match result {
            Ok(_) => self.all[index].failures = 0,
            Err(ChainError::Unreachable(why)) => self.demote(index, format!("unreachable: {why}")),
            Err(err)
                if err.is_passing()
                    && !matches!(
                        err,
                        ChainError::Filter(_) | ChainError::Disagreement(_) | ChainError::Unconfirmed(_)
                    ) =>
            {
                let provider = &mut self.all[index];
                provider.failures += 1;
                if provider.failures >= FAILURES_TO_DEMOTE {
                    self.demote(index, format!("{FAILURES_TO_DEMOTE} failures in a row, the last: {err}"));
                }
            }
            Err(_) => {}
        }
    }

    /// The reader says its head is `head`. An error if that demotes it: its
    /// head went backwards, or lags others' by `provider_lag` blocks.
    pub(crate) fn reader_head(&mut self, head: u64) -> Result<(), ChainError> {
        let index = self.reader;
        let reader = &mut self.all[index];
        let before = reader.head.replace(head);
        let name = reader.name.clone();
        if let Some(before) = before
            && head < before
            && self.several()
        {
            let why = format!("its head went backwards from {before} to {head}");
            self.demote(index, why.clone());
            return Err(ChainError::Moved(format!("provider {name}: {why}")));
        }
        self.judge_lag()
    }

    /// At the head, now and then: asks the other providers for their heads,
    /// so that a reader falling behind them is noticed.
    pub(crate) async fn probe(&mut self) -> Result<(), ChainError> {
        if !self.several() || self.probed.is_some_and(|at| at.elapsed() < PROBE_EVERY) {
            return Ok(());
        }
        self.probed = Some(Instant::now());
        let reader = self.reader;
        for index in (0..self.all.len()).filter(|i| *i != reader) {
            let provider = &mut self.all[index];
            match provider.node.head_number().await {
                Ok(head) => provider.head = Some(head),
                Err(err) => self.demote(index, format!("no head: {err}")),
            }
        }
        self.judge_lag()
    }

    /// Demotes the reader if another provider's head is `provider_lag`
    /// blocks ahead of its own.
    fn judge_lag(&mut self) -> Result<(), ChainError> {
        let index = self.reader;
        let Some(head) = self.all[index].head else { return Ok(()) };
        let best = self
            .all
            .iter()
            .enumerate()
            .filter(|(i, p)| *i != index && p.demoted().is_none())
            .max_by_key(|(_, p)| p.head);
        if let Some((_, ahead)) = best
            && let Some(theirs) = ahead.head
            && theirs >= head.saturating_add(self.lag)
        {
            let why = format!("its head {head} lags {}'s {theirs}", ahead.name);
            let name = self.all[index].name.clone();
            self.demote(index, why.clone());
            return Err(ChainError::Moved(format!("provider {name}: {why}")));
        }
        Ok(())
    }

    /// Provider `index` said what another provider did not.
    pub(crate) fn disagreed(&mut self, index: usize) {
        self.all[index].disagreements += 1;
    }
}
