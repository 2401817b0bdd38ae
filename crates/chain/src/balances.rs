//! What addresses hold at the node's head: the chain's side of the
//! treasury view (`GET /v1/treasury`), set beside what the books say.

use alloy_primitives::{Address, U256};
use coffer_domain::AssetKind;

use crate::{ChainError, ChainSpec};

/// `balanceOf(address)`, the ERC-20 selector.
const BALANCE_OF: &str = "70a08231";

/// What each `(holder, asset)` holds at the head of `spec`'s node, in base
/// units, in the order asked; within `spec.rpc_timeout` for each call.
pub async fn read_balances(spec: &ChainSpec, holdings: &[(Address, AssetKind)]) -> Result<Vec<U256>, ChainError> {
    let mut node = crate::node::Node::new(spec.rpc_url.clone(), None, spec.rpc_timeout);
    let requests = node.requests().await?;
    let mut balances = Vec::with_capacity(holdings.len());
    for (holder, kind) in holdings {
        let balance = match kind {
            AssetKind::Native => requests.balance(*holder).await,
            AssetKind::Erc20 { contract } => {
                let data = format!("0x{BALANCE_OF}{:0>64}", alloy_primitives::hex::encode(holder.as_slice()));
                let answer = requests.eth_call(*contract, &data).await;
                answer.and_then(|bytes| {
                    (bytes.len() == 32).then(|| U256::from_be_slice(&bytes)).ok_or_else(|| {
                        ChainError::Node(format!("balanceOf on {contract} answered {} bytes", bytes.len()))
                    })
                })
            }
        };
        balances.push(node.failed(balance)?);
    }
    Ok(balances)
}
