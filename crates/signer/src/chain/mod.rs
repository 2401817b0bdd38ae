//! The signer's own access to each chain, and the transactions it signs.
//!
//! ADR 0011: the signer takes no chain fact from the gateway. Balances,
//! nonces, fees and receipts come from the signer's own node for that chain
//! ([`ChainRpc`], one per chain, its URL in the signer's configuration), and
//! the signer builds every transaction itself from a typed plan ([`TxPlan`]),
//! never from bytes someone handed it.
//!
//! The pieces, in the order the transaction engine uses them:
//!
//! 1. read the sender's nonce and [`ChainRpc::fees`]; for a token transfer,
//!    [`erc20_gas_limit`] (which also refuses a transfer that would revert);
//! 2. [`native_transfer`] or [`erc20_transfer`] makes the plan, [`max_cost`]
//!    and [`max_fee`] say what it can cost (checked against the balance and
//!    the fee budget);
//! 3. [`sign`] gives the EIP-2718 bytes and their hash, to be stored before
//!    anything is sent;
//! 4. [`ChainRpc::send_raw`] broadcasts, its [`SendError`] says what the pool
//!    thought; [`ChainRpc::receipt`] and [`ChainRpc::transaction_known`] follow it;
//! 5. a stuck transaction is replaced by [`TxPlan::replacement`] (same nonce,
//!    [`bumped`] fees), signed and stored again before it is sent.

mod build;
mod fees;
mod rpc;
mod send;
#[cfg(test)]
mod tests;

pub(crate) use build::{
    BuildError, NATIVE_TRANSFER_GAS, SignedTx, TxPlan, erc20_gas_limit, erc20_transfer, max_cost, max_fee,
    native_transfer, sign,
};
pub(crate) use fees::FeeSuggestion;
pub(crate) use rpc::{At, ChainRpc, MinedReceipt, NonceTag, RpcError};
pub(crate) use send::SendError;
#[cfg(test)]
pub(crate) use {build::TOKEN_TRANSFER_GAS_CEILING, build::gas_limit_from_estimate, fees::bumped};
