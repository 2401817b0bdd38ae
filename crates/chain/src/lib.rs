//! Following an EVM chain: new blocks, reorganisations, and the transfers
//! of watched assets to watched addresses, over JSON-RPC with alloy.
//!
//! The [`Follower`] turns the chain into a sequence of [`ChainUpdate`]s, each
//! on top of the previous one (reth's ExEx notifications are the model):
//!
//! - **committed**: new blocks on top of the tip;
//! - **reorged**: blocks above a fork point were replaced by others;
//! - **reverted**: blocks above a fork point vanished and nothing replaced
//!   them yet.
//!
//! A reorganisation is an update like any other, so a payment whose block
//! vanishes is un-seen by the same code path that saw it. The follower keeps
//! a window of recent canonical headers (persisted by its caller, so a
//! restart notices a reorg that happened while it was down) and compares
//! each new block's parent hash with its tip. Far behind the head (more than
//! the window), it reads `eth_getLogs` over ranges of blocks, which cannot be
//! reorganised any more by definition of the window; near the head, it reads
//! the blocks since its tip, at most a window. Either way it reads a
//! segment: the headers in batches of 100 (up to four at once, one at a
//! time after the node failed to answer), chained by parent hash, beside
//! their logs over one range, checking each log's block hash against the
//! block read, and asking by block hash for any block whose bloom admits a
//! watched Transfer the range did not return (a replica behind says nothing).
//! A node without a block at a height it once served is taken to be behind,
//! never reorganised: only another hash at a processed height is a reorg.
//!
//! The follower does no I/O besides the node: its caller persists each
//! update and then calls [`Follower::commit`]. If persisting fails, the
//! caller does not commit and the next [`Follower::next`] computes the same
//! update again: the cursor is never lost. (Catching up, the follower reads
//! the next range while its caller persists the last; that read is used
//! only once the caller has committed the block it starts after.)

mod balances;
mod budget;
mod checks;
mod confirm;
mod extract;
mod follow;
mod health;
mod history;
mod limits;
mod node;
mod providers;
mod segment;
mod task;
mod traces;

use std::collections::HashMap;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use coffer_domain::{AssetId, BlockHeader, BlockRef, ChainId, Timestamp};

pub use balances::read_balances;
pub use checks::check_node;
pub use follow::Follower;
pub use health::{ChainHealth, HealthSnapshot, HealthState, ProviderHealth};
pub use history::CLOCK_MARGIN;
pub use traces::InternalTransfers;

/// What to follow on one chain.
#[derive(Clone)]
pub struct ChainSpec {
    /// The chain; the node must serve this chain id.
    pub chain_id: ChainId,
    /// Where requests go: `http(s)://` or `ws(s)://`.
    pub rpc_url: String,
    /// Where to subscribe to new heads, if not `rpc_url` itself (a
    /// WebSocket `rpc_url` is subscribed to; an HTTP one alone is polled).
    pub ws_url: Option<String>,
    /// ERC-20 contracts whose `Transfer` logs count, and the asset each is.
    pub tokens: HashMap<Address, AssetId>,
    /// The decimals the configuration gives each token: checked against the
    /// contract's own `decimals()` before anything is read.
    pub token_decimals: HashMap<Address, u8>,
    /// The chain's native coin, if invoices may be paid in it.
    pub native: Option<AssetId>,
    /// Blocks near the head followed one by one, checking parent hashes.
    /// Reorganisations deeper than this are refused as incidents.
    pub reorg_window: u64,
    /// Most blocks per `eth_getLogs` request, catching up or near the head
    /// (a provider that refuses less gets less: see `limits.rs`).
    pub log_range: u64,
    /// The first block to scan on a fresh database; `None`: the head then.
    pub start_block: Option<u64>,
    /// How often to ask for the head without a subscription (and as a
    /// safety net with one).
    pub poll_interval: Duration,
    /// Deadline of one RPC call.
    pub rpc_timeout: Duration,
    /// Whether, and through which trace API, to read native transfers that
    /// contracts make (an internal call, a self-destruct).
    pub internal_transfers: InternalTransfers,
    /// The request budget of `rpc_url`'s provider.
    pub budget: RequestBudget,
    /// More providers of the same chain, besides `rpc_url` (which is the
    /// first primary). With any, nothing is reported before a second
    /// provider agrees with what the reading one said (`confirm.rs`).
    pub providers: Vec<ProviderSpec>,
    /// A provider whose head is this many blocks behind another's is
    /// passed over for a while.
    pub provider_lag: u64,
}

/// What a provider allows: requests (a batch counts each call) per second
/// and per UTC day. `None`: no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestBudget {
    /// Requests per second, spaced evenly.
    pub per_second: Option<u32>,
    /// Requests per day; spent, the provider is passed over until 00:00 UTC.
    pub per_day: Option<u64>,
}

/// Whether a provider is read from first, or only when the ones before
/// it are down, lagging or spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderRole {
    /// Read from in the order given, before any fallback.
    Primary,
    /// Read from only when no primary will do.
    Fallback,
}

impl ProviderRole {
    /// As the configuration and `/healthz` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Fallback => "fallback",
        }
    }
}

/// One more RPC provider of a chain.
#[derive(Clone)]
pub struct ProviderSpec {
    /// A name for logs, metrics and `/healthz` (never the URL: it may hold a key).
    pub name: String,
    /// Where requests go.
    pub rpc_url: String,
    /// Where to subscribe to new heads, if not `rpc_url` itself.
    pub ws_url: Option<String>,
    /// Primary or fallback.
    pub role: ProviderRole,
    /// What it allows.
    pub budget: RequestBudget,
}

impl std::fmt::Debug for ProviderSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSpec")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ChainSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The RPC URL may embed an API key.
        f.debug_struct("ChainSpec")
            .field("chain_id", &self.chain_id)
            .field("tokens", &self.tokens)
            .field("native", &self.native)
            .field("reorg_window", &self.reorg_window)
            .field("internal_transfers", &self.internal_transfers)
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

/// Value that arrived at a watched address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The asset.
    pub asset: AssetId,
    /// The sender.
    pub from: Address,
    /// The watched address.
    pub to: Address,
    /// Base units; never zero.
    pub value: U256,
    /// The transaction.
    pub tx_hash: B256,
    /// The `Transfer` log's index in its block; `None` for a native transfer.
    pub log_index: Option<u64>,
    /// For a native transfer made by a contract (an internal call, a
    /// self-destruct), found through the node's trace API: its position in
    /// the transaction's call tree (`"0.1"`). `None` otherwise.
    pub call_path: Option<String>,
    /// The block.
    pub block: BlockRef,
    /// The block's timestamp.
    pub block_time: Timestamp,
}

/// Which addresses the caller cares about. Checked for every transfer, so
/// it must be a cheap lookup (a hash set, not a scan).
#[async_trait::async_trait]
pub trait AddressFilter: Send + Sync {
    /// Whether transfers to `address` matter.
    fn watches(&self, address: &Address) -> bool;

    /// Called once a read's blocks and logs are in hand, before they are
    /// matched against [`AddressFilter::watches`]. A filter that others add
    /// to (invoices created by another gateway on the same database) takes
    /// in their additions here: everything added before the read ended is
    /// then matched, and no read is thrown away for it. Does nothing by
    /// default; an `Err` fails the read as passing.
    async fn refresh(&self) -> Result<(), String> {
        Ok(())
    }
}

/// How the chain moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    /// New blocks on top of the tip.
    Committed,
    /// Blocks above a fork point replaced by others.
    Reorged,
    /// Blocks above a fork point gone, nothing on top yet.
    Reverted,
}

/// One step of the chain, to be applied on top of `parent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainUpdate {
    /// The tip this update builds on; `None` for the first update ever.
    pub parent: Option<BlockRef>,
    /// Set on a reorganisation: blocks above this height are no longer canonical.
    pub reverted_above: Option<u64>,
    /// Headers to remember, ascending; the last one is the new tip.
    pub blocks: Vec<BlockHeader>,
    /// Transfers to watched addresses in the new canonical blocks.
    pub transfers: Vec<Transfer>,
}

impl ChainUpdate {
    /// The new tip.
    pub fn tip(&self) -> BlockHeader {
        // Every update carries at least its tip (see `Follower`).
        self.blocks.last().copied().unwrap_or(BlockHeader {
            number: 0,
            hash: B256::ZERO,
            parent_hash: B256::ZERO,
            timestamp: 0,
        })
    }

    /// Committed, reorged or reverted.
    pub fn kind(&self) -> UpdateKind {
        match self.reverted_above {
            None => UpdateKind::Committed,
            Some(fork) if self.tip().number > fork => UpdateKind::Reorged,
            Some(_) => UpdateKind::Reverted,
        }
    }
}

/// Why following failed. All but [`ChainError::Config`],
/// [`ChainError::WrongChain`] and [`ChainError::DeepReorg`] are passing:
/// retry with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or did not answer in time.
    #[error("the node is unreachable: {0}")]
    Unreachable(String),
    /// The node answered with an error.
    #[error("the node refused a request: {0}")]
    Node(String),
    /// The node does not have a block it just said exists (it is syncing, or
    /// the chain moved between two calls).
    #[error("the node has no block {0}")]
    MissingBlock(u64),
    /// Two answers of the node disagree (the chain moved between them).
    #[error("the chain moved while it was being read: {0}")]
    Moved(String),
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
    /// Two providers say different things about the same blocks (one lies,
    /// or serves a fork of its own): nothing is reported until one agrees.
    #[error("the providers disagree: {0}")]
    Disagreement(String),
    /// No other provider could confirm what the reader served yet (they
    /// are behind, or down): nothing is reported until one does.
    #[error("not confirmed by a second provider yet: {0}")]
    Unconfirmed(String),
    /// The node refused an `eth_getLogs` range for its size (too many
    /// blocks or results). The follower reads smaller ranges (the one the
    /// node suggested, if it did) and tries again at once.
    #[error("the node refused a log range for its size: {message}")]
    LogLimit {
        /// The node's words.
        message: String,
        /// How many blocks the node said would do, if it said.
        suggested: Option<u64>,
    },
    /// The address filter could not be brought up to date (its store).
    #[error("the watched addresses could not be refreshed: {0}")]
    Filter(String),
    /// The node serves another chain than the one configured.
    #[error("the node serves chain {actual}, not the configured chain {expected}")]
    WrongChain {
        /// Configured.
        expected: ChainId,
        /// Served.
        actual: u64,
    },
    /// None of the remembered blocks is canonical any more: the chain was
    /// reorganised deeper than the window. A person must look.
    #[error(
        "reorganisation deeper than the {window}-block window: none of the remembered blocks (from {oldest}) is \
         canonical any more"
    )]
    DeepReorg {
        /// The window.
        window: u64,
        /// The oldest remembered block.
        oldest: u64,
    },
}

impl ChainError {
    /// The same error, saying which provider it came from.
    pub(crate) fn said_by(self, name: &str) -> Self {
        match self {
            Self::Unreachable(why) => Self::Unreachable(format!("provider {name}: {why}")),
            Self::Node(why) => Self::Node(format!("provider {name}: {why}")),
            Self::Moved(why) if !why.starts_with("provider ") => Self::Moved(format!("provider {name}: {why}")),
            other => other,
        }
    }

    /// Whether retrying can help.
    pub fn is_passing(&self) -> bool {
        !matches!(self, Self::Config(_) | Self::WrongChain { .. } | Self::DeepReorg { .. })
    }
}
