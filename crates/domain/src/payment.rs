//! Payments: value that arrived on chain at an invoice's deposit address.
//!
//! A payment is a fact about one block. If a reorganisation drops that block
//! before the payment is booked, it becomes [`PaymentState::Orphaned`]
//! (kept, for the record, but never counted); if the same transaction is
//! mined again in another block, that is a new payment with a new
//! [`PaymentId`], counted once.
//!
//! A reorganisation deeper than the confirmations can drop the block of a
//! payment already booked (and credited). The money usually did arrive: the
//! new chain carries the same transfer in another block. So a booked payment
//! whose block left the chain is [`PaymentState::Displaced`]: it still
//! counts, while the watcher looks for the same transfer (transaction,
//! sender, recipient, asset, amount) on the new chain. Found, the booking
//! moves to the payment in the new block ([`Payment::moved_from`]; the old
//! one becomes [`PaymentState::Moved`]) and the books do not change. Not
//! found by [`Payment::displaced_until`], the transfer is gone: the watcher
//! halts for a person, who can wait longer or write it off.

use std::fmt;

use alloy_primitives::{Address, B256, keccak256};

use crate::{Amount, ChainId, Hold, InvoiceId, ObservedPayment, Timestamp};

/// A block, by height and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRef {
    /// Its height.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
}

/// A block's header, as much of it as following a chain needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockHeader {
    /// Height.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// The parent's hash.
    pub parent_hash: B256,
    /// Block timestamp, in seconds.
    pub timestamp: u64,
}

impl BlockHeader {
    /// Height and hash.
    pub fn block_ref(&self) -> BlockRef {
        BlockRef { number: self.number, hash: self.hash }
    }

    /// The block timestamp as a [`Timestamp`].
    pub fn time(&self) -> Timestamp {
        Timestamp::from_unix_secs(self.timestamp)
    }
}

/// Names a payment by where it sits on chain: the same transfer in the same
/// block always gets the same id, so recording it twice (a retry after a
/// crash) stores it once, and the same transfer re-mined in another block
/// after a reorg gets another id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentId(pub B256);

impl PaymentId {
    /// The id of the transfer at `log_index` of `tx_hash` in block `block_hash`
    /// of `chain` (`None` for a native transfer, which has no log).
    pub fn of(chain: ChainId, block_hash: B256, tx_hash: B256, log_index: Option<u64>) -> Self {
        let mut bytes = [0u8; 8 + 32 + 32 + 9];
        bytes[..8].copy_from_slice(&chain.0.to_be_bytes());
        bytes[8..40].copy_from_slice(block_hash.as_slice());
        bytes[40..72].copy_from_slice(tx_hash.as_slice());
        if let Some(index) = log_index {
            bytes[72] = 1;
            bytes[73..].copy_from_slice(&index.to_be_bytes());
        }
        Self(keccak256(bytes))
    }

    /// The id of an internal native transfer: value a contract sent during
    /// `tx_hash` in block `block_hash`, at `call_path` of its call tree (the
    /// node's trace address, "0.1"). Never the id of a log or of the
    /// transaction's own value.
    pub fn of_internal(chain: ChainId, block_hash: B256, tx_hash: B256, call_path: &str) -> Self {
        let mut bytes = Vec::with_capacity(8 + 32 + 32 + 1 + call_path.len());
        bytes.extend_from_slice(&chain.0.to_be_bytes());
        bytes.extend_from_slice(block_hash.as_slice());
        bytes.extend_from_slice(tx_hash.as_slice());
        bytes.push(2);
        bytes.extend_from_slice(call_path.as_bytes());
        Self(keccak256(bytes))
    }
}

impl PaymentId {
    /// The first 16 bytes: what [`PaymentId`]'s text (`pay_` and 32 hex
    /// digits) names, and what a lookup by that text matches.
    pub fn short(&self) -> [u8; 16] {
        let mut short = [0u8; 16];
        short.copy_from_slice(&self.0[..16]);
        short
    }

    /// Parses the text [`PaymentId`] displays into its [`PaymentId::short`] form.
    pub fn parse_short(text: &str) -> Option<[u8; 16]> {
        let hex = text.strip_prefix("pay_")?;
        let mut short = [0u8; 16];
        hex::decode_to_slice(hex, &mut short).ok()?;
        Some(short)
    }
}

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pay_{}", hex::encode(&self.0[..16]))
    }
}

impl fmt::Debug for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether a payment's block is still on the chain the watcher follows, and
/// whether the payment counts (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentState {
    /// Its block is canonical: the payment counts.
    Canonical,
    /// A reorganisation dropped its block before it was booked: kept for
    /// the record, never counted.
    Orphaned,
    /// A reorganisation dropped its block after it was booked: it still
    /// counts while the same transfer is looked for on the new chain.
    Displaced,
    /// Was displaced, and the same transfer was found in another block: its
    /// booking moved to that payment. Kept for the record, not counted.
    Moved,
    /// Was displaced and never found again: an operator wrote it off (the
    /// loss is on the books; the merchant keeps its credit).
    WrittenOff,
}

impl PaymentState {
    /// Every state.
    pub const ALL: [PaymentState; 5] =
        [Self::Canonical, Self::Orphaned, Self::Displaced, Self::Moved, Self::WrittenOff];

    /// As the database and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canonical => "canonical",
            Self::Orphaned => "orphaned",
            Self::Displaced => "displaced",
            Self::Moved => "moved",
            Self::WrittenOff => "written_off",
        }
    }

    /// Parses [`PaymentState::as_str`]'s text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a payment in this state counts towards its invoice (and is
    /// shown with it): the ledger holds it or may come to.
    pub fn counts(self) -> bool {
        matches!(self, Self::Canonical | Self::Displaced | Self::WrittenOff)
    }
}

/// A payment to an invoice's deposit address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// Its id (see [`PaymentId::of`]).
    pub id: PaymentId,
    /// The invoice whose address received it.
    pub invoice_id: InvoiceId,
    /// What arrived: the asset it was sent in (which may not be the
    /// invoice's) and how many base units.
    pub amount: Amount,
    /// The sender.
    pub from: Address,
    /// The deposit address.
    pub to: Address,
    /// The transaction.
    pub tx_hash: B256,
    /// The `Transfer` log's index in its block; `None` for a native transfer.
    pub log_index: Option<u64>,
    /// For a native transfer a contract made (an internal call, a
    /// self-destruct): its position in the transaction's call tree.
    pub call_path: Option<String>,
    /// The block that holds it.
    pub block: BlockRef,
    /// That block's timestamp: lateness is judged by it.
    pub block_time: Timestamp,
    /// Canonical or orphaned.
    pub state: PaymentState,
    /// When the payment reached its confirmations and was booked in the ledger.
    pub booked_at: Option<Timestamp>,
    /// When its invoice settled with it and the merchant was credited.
    pub settled_at: Option<Timestamp>,
    /// When the watcher first saw it.
    pub seen_at: Timestamp,
    /// The displaced payment whose booking this one carries: the same
    /// transfer, found again in this block after a deep reorganisation.
    pub moved_from: Option<PaymentId>,
    /// While [`PaymentState::Displaced`]: the chain height by which the
    /// same transfer must be found again, or it is gone.
    pub displaced_until: Option<u64>,
    /// Set when screening matched its sender (see [`crate::Hold`]): while
    /// held or rejected it is recorded and booked, but never credited.
    pub hold: Option<Hold>,
}

impl Payment {
    /// Whether `other` is the same transfer as this one, wherever each was
    /// mined: the same transaction moving the same amount of the same asset
    /// between the same addresses. (A transaction can be mined once on a
    /// chain; its log index depends on its block, so it is not compared.)
    pub fn same_transfer(&self, other: &Payment) -> bool {
        self.tx_hash == other.tx_hash
            && self.amount == other.amount
            && self.from == other.from
            && self.to == other.to
            && self.log_index.is_some() == other.log_index.is_some()
            && self.call_path == other.call_path
    }

    /// Whether screening keeps it off the merchant's books (held or rejected).
    pub fn withheld(&self) -> bool {
        self.hold.as_ref().is_some_and(Hold::withholds)
    }

    /// The facts [`crate::assess`] looks at.
    pub fn observed(&self) -> ObservedPayment {
        ObservedPayment {
            asset: self.amount.asset(),
            units: self.amount.units(),
            block_number: self.block.number,
            block_time: self.block_time,
            booked: self.booked_at.is_some(),
            withheld: self.withheld(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_block_and_the_log() {
        let (block, other_block, tx) = (B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3));
        let chain = ChainId(31337);
        let id = PaymentId::of(chain, block, tx, Some(0));
        assert_eq!(id, PaymentId::of(chain, block, tx, Some(0)), "deterministic");
        assert_ne!(id, PaymentId::of(chain, other_block, tx, Some(0)), "re-mined elsewhere is another payment");
        assert_ne!(id, PaymentId::of(chain, block, tx, Some(1)));
        assert_ne!(id, PaymentId::of(chain, block, tx, None), "a native transfer is not log 0");
        assert_ne!(id, PaymentId::of(ChainId(1), block, tx, Some(0)));
        assert!(id.to_string().starts_with("pay_"));
        assert_eq!(PaymentId::parse_short(&id.to_string()), Some(id.short()));
        assert_eq!(PaymentId::parse_short("pay_12"), None);
        assert_eq!(PaymentId::parse_short(&id.to_string().replace("pay_", "inv_")), None);
        let internal = PaymentId::of_internal(chain, block, tx, "0");
        assert_ne!(internal, PaymentId::of(chain, block, tx, None), "a contract's transfer is not the transaction's");
        assert_ne!(internal, PaymentId::of_internal(chain, block, tx, "0.0"));
        assert_eq!(internal, PaymentId::of_internal(chain, block, tx, "0"));
    }
}
