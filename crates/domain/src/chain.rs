//! Chains, named by their EIP-155 chain id.

use std::fmt;

/// An EVM chain's EIP-155 id: 1 for Ethereum mainnet, 31337 for a local anvil.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ChainId(pub u64);

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
