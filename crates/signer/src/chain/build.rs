//! Transactions the signer builds and signs itself: EIP-1559 only.

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, sol};

use super::fees::{FeeSuggestion, bumped};
use super::rpc::{ChainRpc, RpcError};
use crate::wallet_key::WalletKey;

/// Gas of a plain native transfer to an account without code: the intrinsic
/// cost, exactly what it uses on Ethereum and OP-stack chains.
pub(crate) const NATIVE_TRANSFER_GAS: u64 = 21_000;

/// The most gas an ERC-20 `transfer` may be estimated at before the signer
/// refuses to sign it: mainnet USDT and USDC use 35,000–65,000; an
/// estimate several times that is not a plain transfer.
pub(crate) const TOKEN_TRANSFER_GAS_CEILING: u64 = 250_000;

sol! {
    /// ERC-20 `transfer`. Declared without its `bool` return on purpose:
    /// mainnet USDT returns nothing, and only the receipt's status says
    /// whether a transfer succeeded.
    function transfer(address to, uint256 amount) external;
}

/// Everything a transaction says, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TxPlan {
    /// The chain it is valid on (EIP-155 replay protection).
    pub(crate) chain_id: u64,
    /// The sender's nonce it uses.
    pub(crate) nonce: u64,
    /// The recipient: the payee, or the token contract.
    pub(crate) to: Address,
    /// Wei sent along.
    pub(crate) value: U256,
    /// Call data (empty for a native transfer).
    pub(crate) input: Bytes,
    /// The most gas it may use.
    pub(crate) gas_limit: u64,
    /// What it offers per gas.
    pub(crate) fees: FeeSuggestion,
}

/// Why a transaction was not built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    /// Reading the chain failed, or the transfer would revert ([`RpcError::Reverted`]).
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The gas estimate is above what any plain token transfer needs.
    #[error("a token transfer estimated at {estimate} gas, above the ceiling of {ceiling}; not signing it")]
    GasAboveCeiling {
        /// The node's estimate.
        estimate: u64,
        /// [`TOKEN_TRANSFER_GAS_CEILING`].
        ceiling: u64,
    },
    /// The key failed to sign (the k256 error's text).
    #[error("signing failed: {0}")]
    Sign(String),
}

impl BuildError {
    /// A stable code for logs and the audit trail.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            BuildError::Rpc(err) => err.code(),
            BuildError::GasAboveCeiling { .. } => "build.gas_above_ceiling",
            BuildError::Sign(_) => "build.sign",
        }
    }
}

/// A signed transaction: what is stored before it is sent, and sent again
/// as it is after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SignedTx {
    /// The EIP-2718 envelope (type byte 2, then the RLP of the signed body):
    /// what `eth_sendRawTransaction` takes.
    pub(crate) raw: Bytes,
    /// The transaction hash: keccak of `raw`.
    pub(crate) hash: B256,
    /// Its nonce.
    pub(crate) nonce: u64,
    /// Its sender: the key's address.
    pub(crate) from: Address,
}

impl TxPlan {
    /// The same transaction with fees that replace it in a pool: the old
    /// ones [`bumped`](super::bumped), or the market's `now` where higher.
    pub(crate) fn replacement(&self, now: FeeSuggestion) -> TxPlan {
        TxPlan { fees: bumped(self.fees).at_least(now), ..self.clone() }
    }
}

/// Sends `value` wei to `to`.
pub(crate) fn native_transfer(chain_id: u64, nonce: u64, to: Address, value: U256, fees: FeeSuggestion) -> TxPlan {
    TxPlan { chain_id, nonce, to, value, input: Bytes::new(), gas_limit: NATIVE_TRANSFER_GAS, fees }
}

/// Calls `contract.transfer(recipient, amount)`, with no native value.
pub(crate) fn erc20_transfer(
    chain_id: u64,
    nonce: u64,
    contract: Address,
    recipient: Address,
    amount: U256,
    gas_limit: u64,
    fees: FeeSuggestion,
) -> TxPlan {
    let input = transferCall { to: recipient, amount }.abi_encode().into();
    TxPlan { chain_id, nonce, to: contract, value: U256::ZERO, input, gas_limit, fees }
}

/// The gas limit to give a token transfer the node estimated at `estimate`:
/// half as much again. A token's gas depends on state that can change
/// between the estimate and the block (a recipient's balance going from
/// zero costs an extra 17,100 for the storage write), and running out of
/// gas costs the fee and moves nothing; unused gas is not charged.
pub(crate) fn gas_limit_from_estimate(estimate: u64) -> Result<u64, BuildError> {
    if estimate < NATIVE_TRANSFER_GAS {
        return Err(BuildError::Rpc(RpcError::Malformed {
            method: "eth_estimateGas",
            reason: format!("{estimate} is below the 21,000 every transaction costs"),
        }));
    }
    if estimate > TOKEN_TRANSFER_GAS_CEILING {
        return Err(BuildError::GasAboveCeiling { estimate, ceiling: TOKEN_TRANSFER_GAS_CEILING });
    }
    Ok(estimate + estimate.div_ceil(2))
}

/// The gas limit for `from` to send `amount` of `contract` to `recipient`,
/// from the node's estimate ([`gas_limit_from_estimate`]). A transfer that
/// would revert now (too few tokens, a paused or blacklisting token) is
/// [`RpcError::Reverted`]: not worth a fee. The estimate names no fees, so
/// it works for a deposit address before its gas top-up arrives.
pub(crate) async fn erc20_gas_limit(
    rpc: &ChainRpc,
    from: Address,
    contract: Address,
    recipient: Address,
    amount: U256,
) -> Result<u64, BuildError> {
    let input: Bytes = transferCall { to: recipient, amount }.abi_encode().into();
    gas_limit_from_estimate(rpc.estimate_gas(from, contract, U256::ZERO, &input).await?)
}

/// Signs `plan` with `key`.
pub(crate) fn sign(plan: &TxPlan, key: &WalletKey) -> Result<SignedTx, BuildError> {
    let tx = TxEip1559 {
        chain_id: plan.chain_id,
        nonce: plan.nonce,
        gas_limit: plan.gas_limit,
        max_fee_per_gas: plan.fees.max_fee_per_gas,
        max_priority_fee_per_gas: plan.fees.max_priority_fee_per_gas,
        to: TxKind::Call(plan.to),
        value: plan.value,
        access_list: Default::default(),
        input: plan.input.clone(),
    };
    let signature = key.sign_hash(&tx.signature_hash()).map_err(|e| BuildError::Sign(e.to_string()))?;
    let signed = tx.into_signed(signature);
    Ok(SignedTx { raw: signed.encoded_2718().into(), hash: *signed.hash(), nonce: plan.nonce, from: key.address() })
}

/// The gas part of the worst case: `gas_limit × max_fee_per_gas`.
pub(crate) fn max_fee(plan: &TxPlan) -> U256 {
    // u64 × u128 < 2^192: no overflow.
    U256::from(plan.gas_limit) * U256::from(plan.fees.max_fee_per_gas)
}

/// What the sender must hold in the native coin for the pool to take the
/// plan: `value + gas_limit × max_fee_per_gas`. A token transfer's amount
/// is not in it (that is held in the token); on OP-stack chains the L1 data
/// fee comes on top.
pub(crate) fn max_cost(plan: &TxPlan) -> U256 {
    plan.value.saturating_add(max_fee(plan))
}
