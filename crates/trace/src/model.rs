//! What a trace reads: transfers of one asset between two addresses.

use alloy_primitives::{Address, B256, U256};
use coffer_domain::Timestamp;
use serde::Serialize;

/// What moved: ether, or one ERC-20 token (by its contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Asset {
    /// The chain's own coin.
    Native,
    /// An ERC-20 token.
    Token(Address),
}

impl std::fmt::Display for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Native => f.write_str("ETH"),
            Self::Token(contract) => write!(f, "token:{contract:#x}"),
        }
    }
}

/// One transfer's identity: its transaction and its place there (a log's
/// index, a call's position, or a CSV row's line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TransferId {
    /// Transaction hash (for a CSV row without one: a digest of the row).
    pub tx: B256,
    /// Its place in the transaction.
    pub index: u64,
}

/// Value moved from one address to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transfer {
    /// Which transfer.
    pub id: TransferId,
    /// Its block (0 where the source has none, as a CSV export).
    pub block: u64,
    /// Its place in the block: the transaction's index × 2^24 plus the
    /// log's index + 1 (0: the transaction's own value), or a CSV row's line.
    pub seq: u64,
    /// Its block's time.
    #[serde(serialize_with = "crate::output::rfc3339")]
    pub time: Timestamp,
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// What.
    pub asset: Asset,
    /// How much, in base units.
    #[serde(serialize_with = "crate::output::decimal")]
    pub amount: U256,
}

impl Transfer {
    /// The order transfers happened in: by time, block, then place.
    pub fn order(&self) -> (Timestamp, u64, u64, TransferId) {
        (self.time, self.block, self.seq, self.id)
    }
}
