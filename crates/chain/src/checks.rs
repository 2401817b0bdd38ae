//! What is checked against the node before anything is read from it: that
//! it serves the configured chain, and that each token's contract has the
//! decimals the configuration gives it. A token configured with 18
//! decimals whose contract has 6 would price every invoice a trillion
//! times too high (or the reverse): the merchant is paid the wrong amount
//! in silence. Either is for a person to fix, never a retry.

use alloy_primitives::U256;

use crate::node::Requests;
use crate::{ChainError, ChainSpec};

/// `decimals()`, the ERC-20 selector.
const DECIMALS: &str = "0x313ce567";

/// Checks the node behind `requests` against `spec`: the chain it serves,
/// then every token's `decimals()`. A mismatch is [`ChainError::WrongChain`]
/// or [`ChainError::Config`], with a sentence naming the asset.
pub(crate) async fn check(requests: &Requests, spec: &ChainSpec) -> Result<(), ChainError> {
    let served = requests.chain_id().await?;
    if served != spec.chain_id.0 {
        return Err(ChainError::WrongChain { expected: spec.chain_id, actual: served });
    }
    let mut tokens: Vec<_> = spec.tokens.iter().collect();
    tokens.sort_by_key(|(_, asset)| asset.symbol.as_str().to_owned());
    for (contract, asset) in tokens {
        let Some(&configured) = spec.token_decimals.get(contract) else { continue };
        let answer = match requests.eth_call(*contract, DECIMALS).await {
            Ok(answer) => answer,
            // The call reverted (no such function) or the contract is missing.
            Err(ChainError::Node(reason)) => {
                return Err(ChainError::Config(format!(
                    "{} on chain {}: the contract at {contract} does not answer decimals() ({reason}); is it an \
                     ERC-20 on this chain?",
                    asset.symbol, spec.chain_id
                )));
            }
            Err(other) => return Err(other),
        };
        let decimals = (answer.len() == 32).then(|| U256::from_be_slice(&answer));
        match decimals {
            Some(actual) if actual == U256::from(configured) => {}
            Some(actual) => {
                return Err(ChainError::Config(format!(
                    "{} on chain {} is configured with {configured} decimals, but its contract at {contract} says \
                     {actual}; set that asset's decimals to {actual}",
                    asset.symbol, spec.chain_id
                )));
            }
            None => {
                return Err(ChainError::Config(format!(
                    "{} on chain {}: the contract at {contract} answers decimals() with {} bytes, not a number (no \
                     contract there?)",
                    asset.symbol,
                    spec.chain_id,
                    answer.len()
                )));
            }
        }
    }
    Ok(())
}

/// The same checks, for a process starting up: connects to `spec`'s node
/// and checks it within `spec.rpc_timeout`. `Ok(false)` if the node could
/// not be reached (the watcher checks again when it is).
pub async fn check_node(spec: &ChainSpec) -> Result<bool, ChainError> {
    let mut node = crate::node::Node::new(spec.rpc_url.clone(), None, spec.rpc_timeout);
    let checked = async {
        let requests = node.requests().await?;
        check(&requests, spec).await
    };
    match tokio::time::timeout(spec.rpc_timeout, checked).await {
        Ok(Ok(())) => Ok(true),
        Ok(Err(ChainError::Unreachable(_))) | Err(_) => Ok(false),
        Ok(Err(err)) => Err(err),
    }
}
