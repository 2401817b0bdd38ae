//! Whether the hot wallet can pay: what the signer's own node says it
//! holds, less what the signer has signed and not yet seen mined.

use std::collections::BTreeMap;

use coffer_domain::{Address, Asset, AssetKind, ChainId, U256};
use coffer_signer_api::{OutcomeState, RuleTag};
use sqlx::SqliteConnection;

use super::decide::refused;
use super::plan::StoredPlan;
use super::{Engine, EngineError};
use crate::chain::{self, TxPlan};
use crate::store::{self, TxState};

/// What a sender has signed and not yet seen mined.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// Per asset symbol, the amounts sent.
    pub(crate) assets: BTreeMap<String, U256>,
    /// Native coin at most spent: values and gas at the highest fee of each nonce.
    pub(crate) native: U256,
}

impl Engine {
    /// `sender`'s unmined spending. Per nonce only one attempt can be mined:
    /// the costliest counts.
    pub(crate) async fn in_flight(
        &self,
        conn: &mut SqliteConnection,
        chain: ChainId,
        sender: Address,
    ) -> Result<InFlight, EngineError> {
        let mut per_nonce: BTreeMap<u64, (String, U256, U256)> = BTreeMap::new();
        for tx in store::open_txs(conn, chain).await? {
            if tx.sender != sender || !matches!(tx.state, TxState::Signed | TxState::Sent) {
                continue;
            }
            let stored: StoredPlan = serde_json::from_str(&tx.plan).map_err(|e| store::corrupt("plan", e))?;
            let cost = chain::max_cost(&stored.plan);
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

    /// What `holder` holds of `asset`, by the signer's own node.
    pub(crate) async fn balance(&self, asset: &Asset, holder: Address) -> Result<U256, EngineError> {
        let chain = asset.id.chain_id;
        let rpc = self.rpc(chain)?;
        let balance = match asset.kind {
            AssetKind::Native => rpc.balance(holder).await,
            AssetKind::Erc20 { contract } => rpc.token_balance(contract, holder).await,
        };
        balance.map_err(|source| EngineError::Chain { chain, source })
    }

    /// A refusal if the hot wallet cannot pay `plan` (its asset and its gas)
    /// on top of what is in flight.
    pub(crate) async fn hot_cannot_pay(
        &self,
        conn: &mut SqliteConnection,
        asset: &Asset,
        amount: U256,
        plan: &TxPlan,
    ) -> Result<Option<OutcomeState>, EngineError> {
        let chain = asset.id.chain_id;
        let hot = self.hot();
        let flight = self.in_flight(conn, chain, hot).await?;
        let native = self.config.assets.iter().find(|a| a.id.chain_id == chain && a.kind == AssetKind::Native);
        let Some(native) = native else { return Ok(Some(refused(RuleTag::AssetUnknown, "no native asset"))) };
        let native_held = self.balance(native, hot).await?;
        let native_needed = flight.native.saturating_add(chain::max_cost(plan));
        if native_held < native_needed {
            return Ok(Some(refused(
                RuleTag::TreasuryInsufficient,
                format!(
                    "the hot wallet holds {} of {} and needs {} for this transaction and those in flight",
                    coffer_domain::format_units(native_held, native.decimals),
                    native.id.symbol,
                    coffer_domain::format_units(native_needed, native.decimals),
                ),
            )));
        }
        self.hot_lacks_token(conn, asset, amount).await
    }

    /// A refusal if the hot wallet holds less of token `asset` than
    /// `amount` on top of what is in flight (`None` for the native coin,
    /// whose check includes gas).
    pub(crate) async fn hot_lacks_token(
        &self,
        conn: &mut SqliteConnection,
        asset: &Asset,
        amount: U256,
    ) -> Result<Option<OutcomeState>, EngineError> {
        let hot = self.hot();
        if asset.kind != AssetKind::Native {
            let flight = self.in_flight(conn, asset.id.chain_id, hot).await?;
            let held = self.balance(asset, hot).await?;
            let in_flight = flight.assets.get(asset.id.symbol.as_str()).copied().unwrap_or_default();
            let needed = in_flight.saturating_add(amount);
            if held < needed {
                return Ok(Some(refused(
                    RuleTag::TreasuryInsufficient,
                    format!(
                        "the hot wallet holds {} {} and needs {} for this payout and those in flight",
                        coffer_domain::format_units(held, asset.decimals),
                        asset.id.symbol,
                        coffer_domain::format_units(needed, asset.decimals),
                    ),
                )));
            }
        }
        Ok(None)
    }
}
