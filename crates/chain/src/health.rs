//! How a chain's following is going, for `/healthz` and the metrics.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The follower's state, as people read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthState {
    /// Not yet connected.
    Starting,
    /// At the head (within a few blocks).
    Following,
    /// Working through a backlog.
    CatchingUp,
    /// The node cannot be reached or keeps failing; retrying with backoff.
    Unreachable,
    /// Stopped on something retrying cannot fix (a reorganisation deeper
    /// than the window, the wrong chain); a person must look.
    Halted,
    /// Another gateway follows this chain (PostgreSQL, several gateways).
    Standby,
}

impl HealthState {
    /// As `/healthz` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Following => "following",
            Self::CatchingUp => "catching_up",
            Self::Unreachable => "unreachable",
            Self::Halted => "halted",
            Self::Standby => "standby",
        }
    }

    /// Whether all is well.
    pub fn is_healthy(self) -> bool {
        matches!(self, Self::Following | Self::CatchingUp | Self::Standby | Self::Starting)
    }
}

/// What `/healthz` shows of one chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// The state.
    pub state: HealthState,
    /// The node's head, as last seen.
    pub head: Option<u64>,
    /// The last block processed (the cursor).
    pub tip: Option<u64>,
    /// That block's timestamp, in seconds.
    pub tip_time: Option<u64>,
    /// Whether new heads come by subscription (else polling).
    pub subscribed: bool,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Errors since start.
    pub errors: u64,
    /// Reorganisations handled since start.
    pub reorgs: u64,
    /// Open invoices watched on this chain.
    pub watched: u64,
    /// Time since the cursor last moved.
    pub since_progress: Duration,
    /// While halted: why, for tools.
    pub halt: Option<coffer_domain::HaltCode>,
    /// The chain's lease, while this gateway holds it: its epoch and how
    /// long it has held it.
    pub lease: Option<(i64, Duration)>,
    /// The RPC providers, in the order they are read from.
    pub providers: Vec<ProviderHealth>,
}

/// What `/healthz` and the metrics show of one RPC provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderHealth {
    /// Its configured name (never its URL: that may hold a key).
    pub name: String,
    /// `primary` or `fallback`.
    pub role: &'static str,
    /// Whether the follower reads from it now.
    pub reading: bool,
    /// Its head, as last seen.
    pub head: Option<u64>,
    /// Why it is passed over now, if it is.
    pub demoted: Option<String>,
    /// Requests made to it since start (a batch counts each call).
    pub calls: u64,
    /// Times it said what another provider did not.
    pub disagreements: u64,
    /// Segments it confirmed for the reader.
    pub confirmations: u64,
}

#[derive(Debug)]
struct Inner {
    state: HealthState,
    head: Option<u64>,
    tip: Option<u64>,
    tip_time: Option<u64>,
    subscribed: bool,
    last_error: Option<String>,
    errors: u64,
    reorgs: u64,
    watched: u64,
    progress_at: Instant,
    halt: Option<coffer_domain::HaltCode>,
    lease: Option<(i64, Instant)>,
    providers: Vec<ProviderHealth>,
}

/// Shared between a chain's watcher (which writes) and the API (which reads).
#[derive(Debug)]
pub struct ChainHealth {
    inner: Mutex<Inner>,
}

impl Default for ChainHealth {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: HealthState::Starting,
                head: None,
                tip: None,
                tip_time: None,
                subscribed: false,
                last_error: None,
                errors: 0,
                reorgs: 0,
                watched: 0,
                progress_at: Instant::now(),
                halt: None,
                lease: None,
                providers: Vec::new(),
            }),
        }
    }
}

/// Within this many blocks of the head, a watcher is following, not catching up.
const NEAR_HEAD: u64 = 3;

impl ChainHealth {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut inner) = self.inner.lock() {
            f(&mut inner);
        }
    }

    /// The node's head was seen at `head`.
    pub fn saw_head(&self, head: u64, subscribed: bool) {
        self.with(|i| {
            i.head = Some(head);
            i.subscribed = subscribed;
        });
    }

    /// The cursor moved to `tip` (block time `tip_time`, seconds); `reorg` if by a reorganisation.
    pub fn progressed(&self, tip: u64, tip_time: u64, reorg: bool) {
        self.with(|i| {
            i.tip = Some(tip);
            i.tip_time = Some(tip_time);
            i.progress_at = Instant::now();
            i.last_error = None;
            i.halt = None;
            if reorg {
                i.reorgs += 1;
            }
            let behind = i.head.map_or(0, |head| head.saturating_sub(tip));
            i.state = if behind > NEAR_HEAD { HealthState::CatchingUp } else { HealthState::Following };
        });
    }

    /// Nothing new: the watcher is at the head.
    pub fn idle(&self) {
        self.with(|i| {
            i.last_error = None;
            if matches!(i.state, HealthState::Starting | HealthState::Unreachable | HealthState::CatchingUp) {
                i.state = HealthState::Following;
            }
        });
    }

    /// An attempt failed and will be retried.
    pub fn failed(&self, error: &str) {
        self.with(|i| {
            i.errors += 1;
            i.last_error = Some(error.to_owned());
            i.state = HealthState::Unreachable;
        });
    }

    /// Following stopped until a person resolves `code`.
    pub fn halted(&self, code: coffer_domain::HaltCode, reason: &str) {
        self.with(|i| {
            i.errors += 1;
            i.last_error = Some(reason.to_owned());
            i.state = HealthState::Halted;
            i.halt = Some(code);
        });
    }

    /// Another gateway follows the chain (this one holds no lease on it).
    pub fn standby(&self) {
        self.with(|i| {
            i.state = HealthState::Standby;
            i.lease = None;
        });
    }

    /// This gateway took the chain's lease at `epoch`: it follows the chain.
    pub fn leading(&self, epoch: i64) {
        self.with(|i| {
            i.state = HealthState::Starting;
            // A new holder's time without progress starts now.
            i.progress_at = Instant::now();
            i.lease = Some((epoch, Instant::now()));
        });
    }

    /// What is known of the providers now.
    pub(crate) fn set_providers(&self, providers: &crate::providers::Providers) {
        self.with(|i| {
            let confirmed: std::collections::HashMap<String, u64> =
                i.providers.iter().map(|p| (p.name.clone(), p.confirmations)).collect();
            i.providers = providers
                .all()
                .iter()
                .enumerate()
                .map(|(index, p)| ProviderHealth {
                    name: p.name.clone(),
                    role: p.role.as_str(),
                    reading: index == providers.reader_index(),
                    head: p.head,
                    demoted: p.demoted().map(str::to_owned),
                    calls: p.calls(),
                    disagreements: p.disagreements,
                    confirmations: confirmed.get(&p.name).copied().unwrap_or_default(),
                })
                .collect();
        });
    }

    /// Provider `name` confirmed a segment the reader served.
    pub(crate) fn confirmed_by(&self, name: &str) {
        self.with(|i| {
            if let Some(p) = i.providers.iter_mut().find(|p| p.name == name) {
                p.confirmations += 1;
            }
        });
    }

    /// How many invoices are watched.
    pub fn set_watched(&self, watched: u64) {
        self.with(|i| i.watched = watched);
    }

    /// The time up to which the chain has been read: the last processed
    /// block's time (never after `now`); before any block, `None`.
    ///
    /// Never `now` merely because the node says we are at its head: a node
    /// whose head froze (its consensus client died) or a replica behind
    /// would then let invoices expire, and age out of the watch list, while
    /// blocks stamped before their expiry are still to come. Expiry waits
    /// for a block stamped at or after it: at most one block interval late.
    pub fn seen_until(&self, now: coffer_domain::Timestamp) -> Option<coffer_domain::Timestamp> {
        let tip_time = coffer_domain::Timestamp::from_unix_secs(self.snapshot().tip_time?);
        Some(tip_time.min(now))
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> HealthSnapshot {
        let inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        HealthSnapshot {
            state: inner.state,
            head: inner.head,
            tip: inner.tip,
            tip_time: inner.tip_time,
            subscribed: inner.subscribed,
            last_error: inner.last_error.clone(),
            errors: inner.errors,
            reorgs: inner.reorgs,
            watched: inner.watched,
            since_progress: inner.progress_at.elapsed(),
            halt: inner.halt,
            lease: inner.lease.map(|(epoch, since)| (epoch, since.elapsed())),
            providers: inner.providers.clone(),
        }
    }
}
