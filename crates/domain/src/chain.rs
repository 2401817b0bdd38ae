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

/// Why a chain's watcher stopped for a person: a stable code an operator's
/// tooling can match, with a sentence (the halt's reason) beside it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum HaltCode {
    /// A booked payment's block left the chain and the new chain, with the
    /// confirmations, does not carry the same transfer: money that was
    /// credited did not arrive. `coffer chain resolve` waits longer or
    /// writes it off.
    TransferGone,
    /// None of the remembered blocks is canonical any more: a
    /// reorganisation deeper than the window.
    DeepReorg,
    /// The node serves another chain, or a token's contract disagrees with
    /// the configuration (its decimals): fix the configuration or the node.
    Config,
    /// The store holds something Coffer could not have written, or a rule
    /// refused what the data asks for (a bug): look before going on.
    Corrupt,
}

impl HaltCode {
    /// Every code.
    pub const ALL: [HaltCode; 4] = [Self::TransferGone, Self::DeepReorg, Self::Config, Self::Corrupt];

    /// As the database, `/healthz` and `coffer chain status` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransferGone => "transfer_gone",
            Self::DeepReorg => "deep_reorg",
            Self::Config => "config",
            Self::Corrupt => "corrupt",
        }
    }

    /// Parses [`HaltCode::as_str`]'s text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for HaltCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
