//! Building, signing and storing one transaction: the key it is signed
//! with is named by role (hot, or deposit i), never carried as bytes, so a
//! stored plan can be signed again (a replacement) after a restart.

use crate::store::Connection;
use coffer_domain::{Address, Asset, AssetKind, ChainId, DerivationIndex, U256};
use serde::{Deserialize, Serialize};

use super::decide::refused;
use super::{Engine, EngineError};
use crate::chain::{self, FeeSuggestion, NonceTag, RpcError, TxPlan};
use crate::store::{self, TxRow, TxState};
use crate::wallet_key::WalletKey;
use coffer_signer_api::{OutcomeState, RuleTag};

/// Which of the signer's keys sends a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KeyRef {
    /// The hot wallet.
    Hot,
    /// Deposit address `m/44'/60'/0'/0/i`.
    Deposit(u32),
}

/// What `txs.plan` holds: the key's role and the unsigned transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredPlan {
    pub(crate) key: KeyRef,
    pub(crate) plan: TxPlan,
}

/// Why a transaction is sent, as `txs.purpose` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Payout,
    Sweep,
    TopUp,
    ToCold,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Purpose::Payout => "payout",
            Purpose::Sweep => "sweep",
            Purpose::TopUp => "top_up",
            Purpose::ToCold => "to_cold",
        }
    }
}

/// A transfer of `amount` of `asset` to `recipient`, unsigned. `gas` is
/// what [`Engine::transfer_gas`] found (ignored for the native coin).
pub(crate) fn transfer_plan(
    asset: &Asset,
    nonce: u64,
    recipient: Address,
    amount: U256,
    gas: u64,
    fees: FeeSuggestion,
) -> TxPlan {
    let chain_id = asset.id.chain_id.0;
    match asset.kind {
        AssetKind::Native => chain::native_transfer(chain_id, nonce, recipient, amount, fees),
        AssetKind::Erc20 { contract } => chain::erc20_transfer(chain_id, nonce, contract, recipient, amount, gas, fees),
    }
}

/// A gas estimate, with a transfer the token would refuse turned into a
/// refusal rather than an error.
pub(crate) fn gas_or_refusal(
    asset: &Asset,
    estimate: Result<u64, EngineError>,
) -> Result<Result<u64, OutcomeState>, EngineError> {
    match estimate {
        Ok(gas) => Ok(Ok(gas)),
        Err(EngineError::Build { code: "transfer.would_revert", message }) => Ok(Err(refused(
            RuleTag::TransferWouldRevert,
            format!("the {} contract would refuse this transfer ({message}); nothing was signed", asset.id.symbol),
        ))),
        Err(other) => Err(other),
    }
}

impl Engine {
    pub(crate) fn key(&self, key: KeyRef) -> Result<WalletKey, EngineError> {
        match key {
            KeyRef::Hot => Ok(self.keys.hot_key()),
            KeyRef::Deposit(i) => {
                let index = DerivationIndex::try_from(u64::from(i)).map_err(|e| EngineError::Signing(e.to_string()))?;
                self.keys.deposit_key(index).map_err(|e| EngineError::Signing(e.to_string()))
            }
        }
    }

    /// The gas limit of a transfer from `from`: 21,000 for the native coin;
    /// for a token, the node's estimate with a margin (which also refuses a
    /// transfer that would revert, before it costs a fee).
    pub(crate) async fn transfer_gas(
        &self,
        asset: &Asset,
        from: Address,
        recipient: Address,
        amount: U256,
    ) -> Result<u64, EngineError> {
        let AssetKind::Erc20 { contract } = asset.kind else { return Ok(chain::NATIVE_TRANSFER_GAS) };
        let chain = asset.id.chain_id;
        chain::erc20_gas_limit(self.rpc(chain)?, from, contract, recipient, amount).await.map_err(|e| match e {
            chain::BuildError::Rpc(RpcError::Reverted { message, .. }) => {
                EngineError::Build { code: "transfer.would_revert", message }
            }
            chain::BuildError::Rpc(source) => EngineError::Chain { chain, source },
            other => EngineError::Build { code: other.code(), message: other.to_string() },
        })
    }

    /// [`Engine::transfer_gas`], with a transfer the token would refuse
    /// turned into a refusal rather than an error.
    pub(crate) async fn transfer_gas_or_refusal(
        &self,
        asset: &Asset,
        from: Address,
        recipient: Address,
        amount: U256,
    ) -> Result<Result<u64, OutcomeState>, EngineError> {
        gas_or_refusal(asset, self.transfer_gas(asset, from, recipient, amount).await)
    }

    /// The next nonce of `sender`: the signer's own counter, started from
    /// the node's pending count the first time it sends from an address.
    pub(crate) async fn allocate_nonce(
        &self,
        conn: &mut Connection,
        chain: ChainId,
        sender: Address,
    ) -> Result<u64, EngineError> {
        let first = if store::has_nonce(conn, chain, sender)? {
            0
        } else {
            self.rpc(chain)?
                .nonce(sender, NonceTag::Pending)
                .await
                .map_err(|source| EngineError::Chain { chain, source })?
        };
        Ok(store::take_nonce(conn, chain, sender, first)?)
    }

    /// Signs `plan` with `key` and stores it (state `signed`): it leaves
    /// the process only after the caller's transaction commits.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn sign_and_store(
        &self,
        conn: &mut Connection,
        key: KeyRef,
        plan: TxPlan,
        purpose: Purpose,
        request_id: Option<&str>,
        recipient: Address,
        asset: &Asset,
        amount: U256,
        attempt: u32,
        now: i64,
    ) -> Result<TxRow, EngineError> {
        let wallet = self.key(key)?;
        let signed = chain::sign(&plan, &wallet).map_err(|e| EngineError::Signing(e.to_string()))?;
        let max_cost = chain::max_cost(&plan);
        let row = TxRow {
            request_id: request_id.map(str::to_owned),
            purpose: purpose.as_str(),
            chain_id: asset.id.chain_id,
            sender: wallet.address(),
            nonce: plan.nonce,
            attempt,
            recipient,
            asset: asset.id.symbol.to_string(),
            amount,
            plan: serde_json::to_string(&StoredPlan { key, plan }).map_err(|e| EngineError::Signing(e.to_string()))?,
            raw: signed.raw.to_vec(),
            hash: signed.hash,
            max_cost: Some(max_cost),
            state: TxState::Signed,
            block_number: None,
            network_fee: None,
            created_at: now,
            sent_at: None,
        };
        store::insert_tx(conn, &row)?;
        Ok(row)
    }
}
