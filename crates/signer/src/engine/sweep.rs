//! Deciding a sweep: the signer derives the deposit, reads what it holds
//! from its own node and picks the treasury wallet itself. An ERC-20
//! deposit first gets its gas from the hot wallet (under the fee budget);
//! its transfer is signed when that top-up is confirmed.

use crate::store::Connection;
use coffer_domain::{Address, Asset, AssetId, AssetKind, U256};
use coffer_policy::{Spend, assess_top_up, sweep_wallet, sweep_worth_it};
use coffer_signer_api::{OutcomeState, RuleTag, SweepIntent, Transfer, Wallet};
use serde_json::json;

use super::audit::{SIGNER, append};
use super::decide::{WindowSpend, refused};
use super::plan::{KeyRef, Purpose, transfer_plan};
use super::{Engine, EngineError, now};
use crate::chain::{self, FeeSuggestion, TxPlan};
use crate::store::{self, SpendRow};

impl Engine {
    /// Hot, unless the hot wallet would pass its cap: then cold. While
    /// frozen, always cold: nothing more gathers where payouts come from.
    async fn sweep_destination(&self, asset: &Asset, amount: U256) -> Result<(Address, Wallet), EngineError> {
        let policy = self.policy();
        let wallet = if policy.frozen().is_some() {
            Wallet::Cold
        } else {
            let held = self.balance(asset, self.hot()).await?;
            sweep_wallet(&policy, asset.id, held, amount)
        };
        let to = match wallet {
            Wallet::Hot => self.hot(),
            Wallet::Cold => self.treasury(asset.id.chain_id).cold,
        };
        Ok((to, wallet))
    }

    pub(crate) async fn decide_sweep(
        &self,
        conn: &mut Connection,
        windows: &coffer_policy::Windows,
        intent: &SweepIntent,
        now: i64,
    ) -> Result<(OutcomeState, Option<WindowSpend>), EngineError> {
        let chain = intent.chain_id;
        let asset_id = AssetId { chain_id: chain, symbol: intent.asset };
        let (Some(asset), Some(native)) =
            (self.asset(asset_id).cloned(), self.asset(asset_id).and_then(|a| self.native_of(a)).cloned())
        else {
            return Ok((
                refused(RuleTag::AssetUnknown, format!("{asset_id} is not in the signer's token table")),
                None,
            ));
        };
        let index = intent.index.get();
        let deposit = self.key(KeyRef::Deposit(index))?.address();
        let fees = self.view(chain).await?.fees;
        let held = self.balance(&asset, deposit).await?;
        let id = intent.id.to_string();
        if let Some(claimed) = intent.claimed.filter(|claimed| *claimed > held) {
            // The gateway claims money the signer's own node does not show:
            // its books, or its chain, are not the chain (the caller freezes).
            let message = format!(
                "The gateway claims deposit {index} holds {} of {}, but the signer's node shows {}.",
                claimed, asset.id.symbol, held
            );
            return Ok((refused(RuleTag::AnomalyChainMismatch, message), None));
        }
        if asset.kind == AssetKind::Native {
            let gas = chain::max_fee(&chain::native_transfer(chain.0, 0, deposit, U256::ZERO, fees));
            let amount = held.saturating_sub(gas);
            if let Err(refusal) = sweep_worth_it(&self.policy(), asset_id, amount) {
                return Ok((refused(refusal.rule, refusal.message), None));
            }
            let (to, wallet) = self.sweep_destination(&asset, amount).await?;
            let leg = SweepLeg { index, deposit, to, wallet, amount, gas: chain::NATIVE_TRANSFER_GAS };
            let state = self.sign_sweep(conn, &asset, &leg, fees, &id, now).await?;
            return Ok((state, None));
        }
        if let Err(refusal) = sweep_worth_it(&self.policy(), asset_id, held) {
            return Ok((refused(refusal.rule, refusal.message), None));
        }
        // The gas to the wallet it will go to: a first transfer to an
        // address costs more than one to an address that holds the token.
        let (to, wallet) = self.sweep_destination(&asset, held).await?;
        let gas = match self.transfer_gas_or_refusal(&asset, deposit, to, held).await? {
            Ok(gas) => gas,
            Err(refusal) => return Ok((refusal, None)),
        };
        let leg = SweepLeg { index, deposit, to, wallet, amount: held, gas };
        let need = chain::max_fee(&transfer_plan(&asset, 0, to, held, gas, fees));
        let gas_held = self.balance(&native, deposit).await?;
        if gas_held >= need {
            let state = self.sign_sweep(conn, &asset, &leg, fees, &id, now).await?;
            return Ok((state, None));
        }
        let top_up = need - gas_held;
        let top_plan = chain::native_transfer(chain.0, 0, deposit, top_up, fees);
        let cost = top_up.saturating_add(chain::max_fee(&top_plan));
        if let Err(refusal) = assess_top_up(&self.policy(), windows, chain, cost, now) {
            return Ok((refused(refusal.rule, refusal.message), None));
        }
        let funds = self.hot_funds(conn, chain).await?;
        let (_, short) = self.recheck(conn, chain, funds, |f| f.lacks_native(&native, &top_plan)).await?;
        if let Some(refusal) = short {
            return Ok((refusal, None));
        }
        let nonce = self.allocate_nonce(conn, chain, self.hot()).await?;
        let plan = TxPlan { nonce, ..top_plan };
        self.sign_and_store(conn, KeyRef::Hot, plan, Purpose::TopUp, Some(&id), deposit, &native, top_up, 0, now)
            .await?;
        let spend = SpendRow {
            at: now,
            kind: "fee",
            chain_id: chain,
            asset: native.id.symbol.to_string(),
            merchant: None,
            destination: Some(deposit),
            amount: cost,
            request_id: Some(id),
            restricted: false,
        };
        store::insert_spend(conn, &spend)?;
        Ok((OutcomeState::Pending, Some(WindowSpend::new(now, Spend::Fee { chain, amount: cost }))))
    }

    /// Signs the deposit's own transfer into the treasury.
    async fn sign_sweep(
        &self,
        conn: &mut Connection,
        asset: &Asset,
        leg: &SweepLeg,
        fees: FeeSuggestion,
        id: &str,
        now: i64,
    ) -> Result<OutcomeState, EngineError> {
        let nonce = self.allocate_nonce(conn, asset.id.chain_id, leg.deposit).await?;
        let plan = transfer_plan(asset, nonce, leg.to, leg.amount, leg.gas, fees);
        let key = KeyRef::Deposit(leg.index);
        let row =
            self.sign_and_store(conn, key, plan, Purpose::Sweep, Some(id), leg.to, asset, leg.amount, 0, now).await?;
        Ok(OutcomeState::Broadcast {
            transfer: Transfer {
                tx_hash: row.hash,
                from: leg.deposit,
                to: leg.to,
                wallet: Some(leg.wallet),
                nonce,
                amount: leg.amount,
            },
        })
    }

    /// After a sweep's gas top-up is confirmed: sign the token transfer,
    /// with a fee the deposit can pay from what it was given.
    pub(crate) async fn continue_sweep(&self, id: &str) -> Result<(), EngineError> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let mut tx = store::begin(&mut inner.conn)?;
        let Some(row) = store::request(&tx, id)? else { return Ok(()) };
        if row.outcome != OutcomeState::Pending {
            return Ok(());
        }
        let intent: SweepIntent = serde_json::from_str(&row.intent).map_err(|e| store::corrupt("sweep intent", e))?;
        let chain = intent.chain_id;
        let asset_id = AssetId { chain_id: chain, symbol: intent.asset };
        let (Some(asset), Some(native)) =
            (self.asset(asset_id).cloned(), self.asset(asset_id).and_then(|a| self.native_of(a)).cloned())
        else {
            return Ok(());
        };
        let index = intent.index.get();
        let deposit = self.key(KeyRef::Deposit(index))?.address();
        let held = self.balance(&asset, deposit).await?;
        let gas_held = self.balance(&native, deposit).await?;
        let mut fees = self.rpc(chain)?.fees().await.map_err(|source| EngineError::Chain { chain, source })?;
        let (to, wallet) = self.sweep_destination(&asset, held).await?;
        let gas = if held.is_zero() { 0 } else { self.transfer_gas(&asset, deposit, to, held).await? };
        let leg = SweepLeg { index, deposit, to, wallet, amount: held, gas };
        let draft = transfer_plan(&asset, 0, to, held, gas, fees);
        if chain::max_fee(&draft) > gas_held {
            // Fees rose since the top-up: offer what the deposit holds.
            let per_gas = gas_held / U256::from(draft.gas_limit);
            fees = FeeSuggestion {
                max_fee_per_gas: u128::try_from(per_gas).unwrap_or(u128::MAX),
                max_priority_fee_per_gas: fees
                    .max_priority_fee_per_gas
                    .min(u128::try_from(per_gas).unwrap_or(u128::MAX)),
            };
        }
        let now = now();
        let state = if held.is_zero() {
            OutcomeState::Failed {
                reason: format!("deposit {index} no longer holds {}", asset.id.symbol),
                tx_hash: None,
                network_fee: U256::ZERO,
                top_up: super::track::confirmed_top_up(&tx, id)?,
            }
        } else {
            self.sign_sweep(&mut tx, &asset, &leg, fees, id, now).await?
        };
        let version = self.policy().version();
        store::update_request(&tx, id, &state, None, version, now)?;
        let head = inner.audit;
        let head = append(&tx, head, SIGNER, "sweep.signed", id, json!({ "state": &state }))?;
        tx.commit()?;
        inner.audit = head;
        drop(guard);
        self.send_pending(chain).await;
        Ok(())
    }
}

/// One deposit's transfer into the treasury, as decided.
struct SweepLeg {
    index: u32,
    deposit: Address,
    to: Address,
    wallet: Wallet,
    amount: U256,
    gas: u64,
}
