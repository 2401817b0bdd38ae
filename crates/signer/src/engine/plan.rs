//! Building, signing and storing one transaction: the key it is signed
//! with is named by role (hot, or deposit i), never carried as bytes, so a
//! stored plan can be signed again (a replacement) after a restart.

use coffer_domain::{Address, Asset, AssetKind, ChainId, DerivationIndex, U256};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;

use super::{Engine, EngineError};
use crate::chain::{self, FeeSuggestion, NonceTag, TxPlan};
use crate::store::{self, TxRow, TxState};
use crate::wallet_key::WalletKey;

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

/// A transfer of `amount` of `asset` to `recipient`, unsigned.
pub(crate) fn transfer_plan(asset: &Asset, nonce: u64, recipient: Address, amount: U256, fees: FeeSuggestion) -> TxPlan {
    let chain_id = asset.id.chain_id.0;
    match asset.kind {
        AssetKind::Native => chain::native_transfer(chain_id, nonce, recipient, amount, fees),
        AssetKind::Erc20 { contract } => chain::erc20_transfer(chain_id, nonce, contract, recipient, amount, fees),
    }
}

impl Engine {
    pub(crate) fn key(&self, key: KeyRef) -> Result<WalletKey, EngineError> {
        let derived = match key {
            KeyRef::Hot => self.keys.hot_key(),
            KeyRef::Deposit(i) => DerivationIndex::try_from(u64::from(i))
                .map_err(|e| EngineError::Signing(e.to_string()))
                .and_then(|i| self.keys.deposit_key(i).map_err(|e| EngineError::Signing(e.to_string()))),
        };
        derived.map_err(|e| EngineError::Signing(e.to_string()))
    }

    /// The next nonce of `sender`: the signer's own counter, started from
    /// the node's pending count the first time it sends from an address.
    pub(crate) async fn allocate_nonce(
        &self,
        conn: &mut SqliteConnection,
        chain: ChainId,
        sender: Address,
    ) -> Result<u64, EngineError> {
        let first = if store::has_nonce(conn, chain, sender).await? {
            0
        } else {
            self.rpc(chain)?
                .nonce(sender, NonceTag::Pending)
                .await
                .map_err(|source| EngineError::Chain { chain, source })?
        };
        Ok(store::take_nonce(conn, chain, sender, first).await?)
    }

    /// Signs `plan` with `key` and stores it (state `signed`): it leaves
    /// the process only after the caller's transaction commits.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn sign_and_store(
        &self,
        conn: &mut SqliteConnection,
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
            state: TxState::Signed,
            block_number: None,
            network_fee: None,
            created_at: now,
            sent_at: None,
        };
        store::insert_tx(conn, &row).await?;
        Ok(row)
    }
}
