//! The signer's engine: every decision, and the life of every transaction.
//!
//! One lock serialises decisions: a decision reads the windows, the nonces
//! and the audit head that the previous one wrote, and writes them in one
//! SQLite transaction (ADR 0011). Only after that commit does a signed
//! transaction leave the process; the tracker ([`track`]) sends what is
//! stored and not yet sent, replaces what is stuck with the same nonce, and
//! follows each to its confirmations.

mod approve;
mod audit;
mod controls;
mod decide;
mod funds;
mod plan;
mod sweep;
mod track;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use crate::store::Connection;
use coffer_audit::Head;
use coffer_domain::{Address, Asset, AssetId, ChainId};
use coffer_policy::{Alarms, Policy, ScreeningSet, Treasury, Windows};
use tokio::sync::Mutex;

use crate::SignerKeys;
use crate::chain::{ChainRpc, RpcError};
use crate::config::SignerConfig;
use crate::metrics::Metrics;
use crate::store::{self, StoreError};

pub(crate) use controls::ControlReply;
pub(crate) use decide::Answer;

/// Why the engine could not decide (nothing of the decision was kept).
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    /// The signer's own database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signer's node did not answer; the request may be asked again.
    #[error("the signer's node for chain {chain} is unavailable: {source}")]
    Chain {
        /// Which chain.
        chain: ChainId,
        /// What failed.
        source: RpcError,
    },
    /// A request named a chain the signer's configuration lacks.
    #[error("chain {0} is not in the signer's configuration")]
    UnknownChain(ChainId),
    /// The engine's runtime stopped before the decision ran (shutting down).
    #[error("the signer is stopping")]
    Stopped,
    /// A key could not be derived or could not sign.
    #[error("signing failed: {0}")]
    Signing(String),
    /// A transaction could not be built (a token transfer that would revert,
    /// a gas estimate above any plain transfer's).
    #[error("{code}: {message}")]
    Build {
        /// The builder's stable code.
        code: &'static str,
        /// Its sentence.
        message: String,
    },
}

impl From<rusqlite::Error> for EngineError {
    fn from(e: rusqlite::Error) -> Self {
        EngineError::Store(StoreError::Sql(e))
    }
}

/// Every call to the signer's node has this deadline.
const RPC_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// What the lock guards.
pub(crate) struct Inner {
    pub(crate) conn: Connection,
    pub(crate) windows: Windows,
    pub(crate) audit: Head,
    /// The tripwires' recent events (in memory: ADR 0013).
    pub(crate) alarms: Alarms,
}

/// The signer's engine.
pub(crate) struct Engine {
    pub(crate) config: SignerConfig,
    pub(crate) keys: SignerKeys,
    pub(crate) rpcs: HashMap<ChainId, ChainRpc>,
    pub(crate) screening: ScreeningSet,
    pub(crate) metrics: Arc<Metrics>,
    /// What the signer's node last said, read at one block per chain.
    pub(crate) views: view::Views,
    /// The policy in force: `signer.toml`'s with the stored controls laid
    /// over it. Replaced, under the decision lock, only after the store
    /// transaction that changed it commits.
    policy: std::sync::RwLock<Arc<Policy>>,
    pub(crate) inner: Mutex<Inner>,
    /// Makes the store's commits durable before anything leaves ([`Engine::durable`]).
    durability: store::Durability,
}

/// Seconds since the epoch, the signer's own clock.
pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The time a decision is made at: the clock, but never before the last
/// spend the windows counted, so a clock stepped back cannot empty them.
pub(crate) fn decision_time(windows: &Windows) -> i64 {
    now().max(windows.latest().unwrap_or(i64::MIN))
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Engine {
    /// Opens the store, rebuilds the windows from the spend ledger's last
    /// day, and logs the start with the policy it runs.
    pub(crate) async fn open(
        config: SignerConfig,
        keys: SignerKeys,
        screening: ScreeningSet,
        metrics: Arc<Metrics>,
    ) -> Result<Self, EngineError> {
        let (conn, durability) = store::open_grouped(&config.database_path())?;
        let mut windows = Windows::default();
        for spend in store::spends_since(&conn, Windows::replay_from(now()))? {
            if let Some(spend) = decide::window_spend(&config, &spend) {
                spend.count(&mut windows);
            }
        }
        let audit = store::audit_head(&conn)?;
        let stored = store::controls(&conn)?;
        let policy = config.policy.with_controls(stored.clone().unwrap_or_default());
        let mut rpcs = HashMap::new();
        for chain in &config.chains {
            let rpc = ChainRpc::new(&chain.rpc_url, chain.id.0, RPC_DEADLINE)
                .map_err(|source| EngineError::Chain { chain: chain.id, source })?;
            rpcs.insert(chain.id, rpc);
        }
        let inner = Mutex::new(Inner { conn, windows, audit, alarms: Alarms::default() });
        let policy = std::sync::RwLock::new(Arc::new(policy));
        let views = view::Views::default();
        let engine = Self { config, keys, rpcs, screening, metrics, views, policy, inner, durability };
        engine.log_start(stored.as_ref()).await?;
        Ok(engine)
    }

    /// Returns once every commit made so far is on disk: call it before
    /// anything leaves the signer (a broadcast, an answer). A failed sync
    /// ends the process: after one, the kernel may have dropped the pages
    /// and a later sync may succeed without them (PostgreSQL's rule since
    /// 2018), so nothing the signer decided since can be trusted to stay.
    pub(crate) async fn durable(&self) {
        let waited = std::time::Instant::now();
        match self.durability.wait().await {
            Ok(synced) => {
                if let Some(took) = synced {
                    self.metrics.sync_time(took);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "syncing the signer's database failed; stopping before anything else leaves");
                eprintln!("coffer signer: syncing its database failed ({e}); stopping at once");
                std::process::abort();
            }
        }
        self.metrics.durable_time(waited.elapsed());
    }

    /// The policy in force now.
    pub(crate) fn policy(&self) -> Arc<Policy> {
        self.policy.read().map(|p| p.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Installs `policy`: call only after the transaction that stored its controls committed.
    pub(crate) fn set_policy(&self, policy: Policy) {
        self.metrics.policy(&policy);
        let mut slot = self.policy.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Arc::new(policy);
    }

    pub(crate) fn asset(&self, id: AssetId) -> Option<&Asset> {
        self.config.assets.iter().find(|a| a.id == id)
    }

    pub(crate) fn rpc(&self, chain: ChainId) -> Result<&ChainRpc, EngineError> {
        self.rpcs.get(&chain).ok_or(EngineError::UnknownChain(chain))
    }

    pub(crate) fn hot(&self) -> Address {
        self.keys.hot_address()
    }

    pub(crate) fn treasury(&self, chain: ChainId) -> Treasury {
        let cold = self.config.chain(chain).map(|c| c.cold).unwrap_or(Address::ZERO);
        Treasury { hot: self.hot(), cold }
    }
}
