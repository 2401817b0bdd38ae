//! What the signer's own node last said about each chain, all read at one
//! block: its height, the fee offer, and the hot wallet's balances.
//!
//! Decisions read this view instead of asking the node, so no round trip
//! to the node sits inside the decision lock (the speed target of a
//! decision is a few milliseconds; one node call can take longer). A task
//! reads it again every poll; a decision that finds it older than
//! [`STALE_AFTER_POLLS`] polls reads it itself, so a wedged refresher
//! slows decisions down and never lets them use old facts.
//!
//! Reading every fact at one height is what makes a view safe to use late:
//! what the hot wallet can still spend is its balance at the view's block
//! less every transaction of its that is not in a block at or below that
//! height ([`Engine::in_flight`]). A transaction mined after the view was
//! read is still counted as in flight, never subtracted twice or not at all.
//! Money arriving after the view only makes the view cautious.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use coffer_domain::{Asset, AssetKind, ChainId, U256};

use super::{Engine, EngineError};
use crate::chain::{At, FeeSuggestion};

/// A view older than this many polls is read again before a decision uses it.
pub(crate) const STALE_AFTER_POLLS: u32 = 4;

/// The hot wallet and the chain at one block of the signer's own node.
#[derive(Debug)]
pub(crate) struct HotView {
    /// The block every fact here was read at.
    pub(crate) block: u64,
    /// The fee offer from that block's base fee and the node's tip.
    pub(crate) fees: FeeSuggestion,
    /// The hot wallet's balance of each asset of the chain, by symbol.
    balances: BTreeMap<String, U256>,
    read_at: Instant,
}

impl HotView {
    /// What the hot wallet held of `asset` at [`HotView::block`] (nothing,
    /// for an asset the view was not read for: a refusal, never a guess).
    pub(crate) fn held(&self, asset: &Asset) -> U256 {
        self.balances.get(asset.id.symbol.as_str()).copied().unwrap_or_default()
    }
}

/// The latest view of every chain.
#[derive(Debug, Default)]
pub(crate) struct Views(Mutex<HashMap<ChainId, Arc<HotView>>>);

impl Views {
    fn fresh(&self, chain: ChainId, max_age: Duration) -> Option<Arc<HotView>> {
        let views = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        views.get(&chain).filter(|v| v.read_at.elapsed() <= max_age).cloned()
    }

    fn put(&self, chain: ChainId, view: Arc<HotView>) {
        // The latest read wins, even at a lower height: after a
        // reorganisation to a shorter chain, the lower block is the truth.
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(chain, view);
    }
}

impl Engine {
    fn view_max_age(&self) -> Duration {
        Duration::from_millis(self.config.file.poll_ms) * STALE_AFTER_POLLS
    }

    /// The chain's view: the refresher's if fresh, else read now.
    pub(crate) async fn view(&self, chain: ChainId) -> Result<Arc<HotView>, EngineError> {
        match self.views.fresh(chain, self.view_max_age()) {
            Some(view) => Ok(view),
            None => self.refresh_view(chain).await,
        }
    }

    /// Reads the chain's head, then the hot wallet's balances at it.
    pub(crate) async fn refresh_view(&self, chain: ChainId) -> Result<Arc<HotView>, EngineError> {
        let rpc = self.rpc(chain)?;
        let failed = |source| EngineError::Chain { chain, source };
        let read_at = Instant::now();
        let head = rpc.head().await.map_err(failed)?;
        let at = At::Block(head.number);
        let hot = self.hot();
        let mut balances = BTreeMap::new();
        for asset in self.config.assets.iter().filter(|a| a.id.chain_id == chain) {
            let held = match asset.kind {
                AssetKind::Native => rpc.balance_at(hot, at).await,
                AssetKind::Erc20 { contract } => rpc.token_balance_at(contract, hot, at).await,
            };
            balances.insert(asset.id.symbol.to_string(), held.map_err(failed)?);
        }
        let view = Arc::new(HotView { block: head.number, fees: head.fees, balances, read_at });
        self.views.put(chain, view.clone());
        Ok(view)
    }

    /// Reads every chain's view every poll until `shutdown` resolves.
    pub(crate) async fn run_views(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let poll = Duration::from_millis(self.config.file.poll_ms);
        tokio::pin!(shutdown);
        loop {
            for chain in self.config.chains.iter().map(|c| c.id) {
                if let Err(e) = self.refresh_view(chain).await {
                    tracing::warn!(chain = chain.0, error = %e, "reading the hot wallet's view of the chain");
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}
