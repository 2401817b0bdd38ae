//! Whether the hot wallet can pay: what the signer's own node said it held
//! at the view's block ([`super::view`]), less what the signer has signed
//! that is not in a block at or below that height.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::store::Connection;
use coffer_domain::{Address, Asset, AssetKind, ChainId, U256, format_units};
use coffer_signer_api::{OutcomeState, RuleTag};

use super::decide::refused;
use super::plan::StoredPlan;
use super::view::HotView;
use super::{Engine, EngineError};
use crate::chain::{self, TxPlan};
use crate::store;

/// What a sender has signed and the view's block does not include.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// Per asset symbol, the amounts sent.
    pub(crate) assets: BTreeMap<String, U256>,
    /// Native coin at most spent: values and gas at the highest fee of each nonce.
    pub(crate) native: U256,
}

/// The hot wallet's funds on one chain, as a decision sees them.
#[derive(Debug)]
pub(crate) struct HotFunds {
    pub(crate) view: Arc<HotView>,
    flight: InFlight,
}

impl Engine {
    /// `sender`'s spending not in a block at or below `block`. Per nonce
    /// only one attempt can be mined: the costliest counts. The rows read
    /// are the unmined ones and those mined above `block`: what is in
    /// flight, never the history.
    pub(crate) fn in_flight(
        &self,
        conn: &Connection,
        chain: ChainId,
        sender: Address,
        block: u64,
    ) -> Result<InFlight, EngineError> {
        let mut per_nonce: BTreeMap<u64, (String, U256, U256)> = BTreeMap::new();
        for tx in store::unincluded(conn, chain, sender, block)? {
            let cost = match tx.max_cost {
                Ok(cost) => cost,
                Err(plan) => {
                    let stored: StoredPlan = serde_json::from_str(&plan).map_err(|e| store::corrupt("plan", e))?;
                    chain::max_cost(&stored.plan)
                }
            };
            let entry = per_nonce.entry(tx.nonce).or_insert((tx.asset.clone(), tx.amount, cost));
            entry.2 = entry.2.max(cost);
        }
        let mut flight = InFlight::default();
        for (asset, amount, cost) in per_nonce.into_values() {
            *flight.assets.entry(asset).or_default() += amount;
            flight.native = flight.native.saturating_add(cost);
        }
        Ok(flight)
    }

    /// The hot wallet's funds on `chain`: the view, and what is in flight beyond it.
    pub(crate) async fn hot_funds(&self, conn: &mut Connection, chain: ChainId) -> Result<HotFunds, EngineError> {
        let view = self.view(chain).await?;
        let flight = self.in_flight(conn, chain, self.hot(), view.block)?;
        Ok(HotFunds { view, flight })
    }

    /// `check` on `funds`; if it refuses, on funds read from the node now.
    /// A view is never optimistic about what the signer sent, but it may
    /// miss money that arrived since it was read (an operator funding the
    /// hot wallet), and a refusal is final: it is never made on an old view.
    pub(crate) async fn recheck(
        &self,
        conn: &mut Connection,
        chain: ChainId,
        funds: HotFunds,
        check: impl Fn(&HotFunds) -> Option<OutcomeState>,
    ) -> Result<(HotFunds, Option<OutcomeState>), EngineError> {
        if check(&funds).is_none() {
            return Ok((funds, None));
        }
        let view = self.refresh_view(chain).await?;
        let flight = self.in_flight(conn, chain, self.hot(), view.block)?;
        let fresh = HotFunds { view, flight };
        let refusal = check(&fresh);
        Ok((fresh, refusal))
    }

    /// The native coin of `asset`'s chain.
    pub(crate) fn native_of(&self, asset: &Asset) -> Option<&Asset> {
        self.config.assets.iter().find(|a| a.id.chain_id == asset.id.chain_id && a.kind == AssetKind::Native)
    }

    /// What `holder` holds of `asset` now, by the signer's own node.
    pub(crate) async fn balance(&self, asset: &Asset, holder: Address) -> Result<U256, EngineError> {
        let chain = asset.id.chain_id;
        let rpc = self.rpc(chain)?;
        let balance = match asset.kind {
            AssetKind::Native => rpc.balance(holder).await,
            AssetKind::Erc20 { contract } => rpc.token_balance(contract, holder).await,
        };
        balance.map_err(|source| EngineError::Chain { chain, source })
    }
}

impl HotFunds {
    /// What is left of `asset` once everything in flight is paid.
    pub(crate) fn spendable(&self, asset: &Asset) -> U256 {
        let in_flight = self.flight.assets.get(asset.id.symbol.as_str()).copied().unwrap_or_default();
        self.view.held(asset).saturating_sub(in_flight)
    }

    /// A refusal if the hot wallet cannot pay `plan`'s value and gas (in
    /// `native`) on top of what is in flight.
    pub(crate) fn lacks_native(&self, native: &Asset, plan: &TxPlan) -> Option<OutcomeState> {
        let held = self.view.held(native);
        let needed = self.flight.native.saturating_add(chain::max_cost(plan));
        if held < needed {
            return Some(refused(
                RuleTag::TreasuryInsufficient,
                format!(
                    "the hot wallet holds {} of {} and needs {} for this transaction and those in flight",
                    format_units(held, native.decimals),
                    native.id.symbol,
                    format_units(needed, native.decimals),
                ),
            ));
        }
        None
    }

    /// A refusal if the hot wallet holds less of token `asset` than
    /// `amount` on top of what is in flight (`None` for the native coin,
    /// whose check includes gas).
    pub(crate) fn lacks_token(&self, asset: &Asset, amount: U256) -> Option<OutcomeState> {
        if asset.kind == AssetKind::Native {
            return None;
        }
        let held = self.view.held(asset);
        let in_flight = self.flight.assets.get(asset.id.symbol.as_str()).copied().unwrap_or_default();
        let needed = in_flight.saturating_add(amount);
        (held < needed).then(|| {
            refused(
                RuleTag::TreasuryInsufficient,
                format!(
                    "the hot wallet holds {} {} and needs {} for this payout and those in flight",
                    format_units(held, asset.decimals),
                    asset.id.symbol,
                    format_units(needed, asset.decimals),
                ),
            )
        })
    }
}
