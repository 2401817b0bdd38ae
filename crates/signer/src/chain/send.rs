//! What a node's pool answered to `eth_sendRawTransaction`, typed.
//!
//! Nodes do not agree on error codes (anvil answers -32003 where geth
//! answers -32000), only, roughly, on the words: the classification reads
//! the message. The texts matched, by client:
//!
//! | meaning | anvil 1.7 | geth, reth, erigon | besu | nethermind |
//! |---|---|---|---|---|
//! | same tx already pooled | `transaction already imported` | `already known` | `Known transaction` | `AlreadyKnown` |
//! | nonce already mined | `nonce too low` | `nonce too low: …` | `Nonce too low` | `OldNonce` |
//! | replacement bid too low | `replacement transaction underpriced` | same | `Replacement transaction underpriced` | |
//! | fee below what the pool takes | `max fee per gas less than block base fee` | `transaction underpriced: …`, same | | `FeeTooLow` |
//! | cannot pay value + gas × cap | `Insufficient funds for gas * price + value` | `insufficient funds for gas * price + value: …` | `Upfront cost exceeds account balance` | `InsufficientFunds` |

use super::rpc::RpcError;

/// Why a signed transaction was not (newly) accepted. Each classified
/// variant carries the node's own words, for the log.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// The pool already holds this very transaction: the broadcast has, in
    /// effect, succeeded.
    #[error("the node already has this transaction: {0}")]
    AlreadyKnown(String),
    /// A transaction with this nonce was already mined (ours, or one it
    /// replaced): look for the receipts of the nonce's transactions.
    #[error("nonce too low: a transaction with this nonce is mined: {0}")]
    NonceTooLow(String),
    /// Another transaction with this nonce is pooled and this one does not
    /// outbid it by enough: bump the fees again.
    #[error("replacement underpriced: {0}")]
    Underpriced(String),
    /// The fee is below what the pool takes at all (under the base fee, or
    /// under the node's minimum tip): sign again with current fees.
    #[error("fee too low for the pool: {0}")]
    FeeTooLow(String),
    /// The sender cannot pay `value + gas_limit × max_fee_per_gas`.
    #[error("insufficient funds: {0}")]
    InsufficientFunds(String),
    /// The node refused the transaction for another reason (its words).
    #[error("the node refused the transaction: {0}")]
    Other(String),
    /// No answer, or not one we could read: the transaction may or may not
    /// have reached the pool, so send the same bytes again later.
    #[error(transparent)]
    Rpc(RpcError),
}

impl SendError {
    /// A stable code for logs and the audit trail.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            SendError::AlreadyKnown(_) => "send.already_known",
            SendError::NonceTooLow(_) => "send.nonce_too_low",
            SendError::Underpriced(_) => "send.underpriced",
            SendError::FeeTooLow(_) => "send.fee_too_low",
            SendError::InsufficientFunds(_) => "send.insufficient_funds",
            SendError::Other(_) => "send.refused",
            SendError::Rpc(err) => err.code(),
        }
    }

    /// The node's answer `message` (code `code`), classified.
    pub(crate) fn from_node(code: i64, message: &str) -> Self {
        let lower = message.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
        let words = message.to_owned();
        // "replacement transaction underpriced" before "transaction underpriced".
        if has(&["already known", "already imported", "known transaction", "alreadyknown"]) {
            SendError::AlreadyKnown(words)
        } else if has(&["nonce too low", "nonce is too low", "oldnonce"]) {
            SendError::NonceTooLow(words)
        } else if has(&["replacement transaction underpriced", "another transaction with same nonce"]) {
            SendError::Underpriced(words)
        } else if has(&["transaction underpriced", "less than block base fee", "feetoolow", "gas price too low"]) {
            SendError::FeeTooLow(words)
        } else if has(&["insufficient funds", "insufficientfunds", "upfront cost exceeds account balance"]) {
            SendError::InsufficientFunds(words)
        } else {
            SendError::Other(format!("{code}: {message}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SendError;

    fn code(message: &str) -> &'static str {
        SendError::from_node(-32000, message).code()
    }

    #[test]
    fn each_clients_wording_is_recognised() {
        let cases = [
            // anvil 1.7.1, as answered in this crate's tests.
            ("transaction already imported", "send.already_known"),
            ("nonce too low", "send.nonce_too_low"),
            ("replacement transaction underpriced", "send.underpriced"),
            ("max fee per gas less than block base fee", "send.fee_too_low"),
            ("Insufficient funds for gas * price + value", "send.insufficient_funds"),
            // geth / reth / erigon.
            ("already known", "send.already_known"),
            ("nonce too low: address 0xf39F…, tx: 0 state: 1", "send.nonce_too_low"),
            ("transaction underpriced: tip needed 1, tip permitted 0", "send.fee_too_low"),
            ("insufficient funds for gas * price + value: address 0x… have 0 want 21000", "send.insufficient_funds"),
            // besu.
            ("Known transaction", "send.already_known"),
            ("Nonce too low", "send.nonce_too_low"),
            ("Replacement transaction underpriced", "send.underpriced"),
            ("Upfront cost exceeds account balance", "send.insufficient_funds"),
            // nethermind.
            ("AlreadyKnown", "send.already_known"),
            ("OldNonce, Current nonce: 5, nonce of rejected tx: 3", "send.nonce_too_low"),
            ("FeeTooLow, MaxFeePerGas too low.", "send.fee_too_low"),
            ("InsufficientFunds, Account balance: 0, cumulative cost: 21000", "send.insufficient_funds"),
            // Anything else is the node's word, kept.
            ("intrinsic gas too low", "send.refused"),
            ("nonce too high", "send.refused"),
        ];
        for (message, expected) in cases {
            assert_eq!(code(message), expected, "{message}");
        }
    }

    #[test]
    fn the_nodes_words_are_kept() {
        let SendError::Other(text) = SendError::from_node(-32000, "intrinsic gas too low") else {
            panic!("not Other");
        };
        assert!(text.contains("intrinsic gas too low") && text.contains("-32000"), "{text}");
    }
}
