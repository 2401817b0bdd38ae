//! The intents the gateway may ask for, and what the signer answers.
//!
//! There is no operation that names a key, bytes to sign, or a sweep's
//! destination: a payout names where the merchant wants money to go (and
//! every rule of the signer's policy applies to it), a sweep names only the
//! deposit, and the signer picks the treasury wallet itself.

use std::fmt;

use coffer_domain::{Address, AssetSymbol, B256, ChainId, DerivationIndex, MerchantId, PayoutId, SweepId, U256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::RuleTag;
use crate::wire;

/// Pay `amount` of `asset` on `chain_id` to `destination`, for `merchant`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutIntent {
    /// The payout's id; the signer decides once per id.
    pub id: PayoutId,
    /// The merchant whose balance pays (the gateway's word: see SIGNER.md).
    pub merchant: MerchantId,
    /// The chain to pay on.
    pub chain_id: ChainId,
    /// The asset's symbol, looked up in the signer's own token table.
    #[serde(with = "wire::symbol")]
    pub asset: AssetSymbol,
    /// How much, in the asset's base units.
    #[serde(with = "wire::units")]
    pub amount: U256,
    /// Where the merchant wants it.
    pub destination: Address,
}

/// Sweep what deposit address `index` holds of `asset` into the treasury.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepIntent {
    /// The sweep's id; the signer decides once per id.
    pub id: SweepId,
    /// The chain the deposit is on.
    pub chain_id: ChainId,
    /// The asset to sweep.
    #[serde(with = "wire::symbol")]
    pub asset: AssetSymbol,
    /// The deposit's index (`m/44'/60'/0'/0/index`): the signer derives the
    /// address itself and reads its balance from its own node.
    #[serde(with = "wire::index")]
    pub index: DerivationIndex,
    /// What the gateway believes the deposit holds (the payments it
    /// settled), base units. The signer reads the balance itself; a claim
    /// above what its own node shows is a disagreement about the chain,
    /// and freezes outgoing payments (`anomaly.chain_mismatch`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "wire::opt_units")]
    pub claimed: Option<U256>,
}

/// Which request an outcome is about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A payout.
    Payout(PayoutId),
    /// A sweep.
    Sweep(SweepId),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Payout(id) => id.fmt(f),
            RequestId::Sweep(id) => id.fmt(f),
        }
    }
}

impl std::str::FromStr for RequestId {
    type Err = coffer_domain::InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<PayoutId>() {
            Ok(id) => Ok(RequestId::Payout(id)),
            Err(e) => s.parse::<SweepId>().map(RequestId::Sweep).map_err(|_| e),
        }
    }
}

/// The treasury's own wallets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wallet {
    /// The hot wallet the signer pays from.
    Hot,
    /// The cold address, whose key the signer does not hold.
    Cold,
}

/// A transaction the signer sent.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Transfer {
    /// Its hash (of the replacement, once a stuck one was bumped).
    pub tx_hash: B256,
    /// The sending address.
    pub from: Address,
    /// Who receives the asset (not the token contract).
    pub to: Address,
    /// Which treasury wallet `to` is, for a sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<Wallet>,
    /// The sender's nonce: one per intent, kept by every replacement.
    pub nonce: u64,
    /// How much of the asset moved, in base units.
    #[serde(with = "wire::units")]
    pub amount: U256,
}

/// A token sweep's gas top-up: the native coin the hot wallet sent the
/// deposit so that it could pay for its own transfer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TopUp {
    /// The top-up's transaction (of the replacement, once a stuck one was bumped).
    pub tx_hash: B256,
    /// What it sent the deposit, in the chain's native base units.
    #[serde(with = "wire::units")]
    pub amount: U256,
    /// What the top-up itself cost in gas, paid by the hot wallet.
    #[serde(with = "wire::units")]
    pub network_fee: U256,
}

/// Where a request stands, as the signer sees it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutcomeState {
    /// Accepted; the transaction is not out yet (a sweep waiting for its gas).
    Pending,
    /// A first payout to this destination waits out the cool-down, then is
    /// decided again against the policy of that moment.
    PendingCooldown {
        /// Unix seconds when the cool-down ends.
        until: i64,
    },
    /// Waits for approvers: `quorum` distinct approvers must sign `digest`
    /// (of [`crate::PayoutApproval`]) before `expires_at`; after it, the
    /// payout waits again under a new expiry and digest.
    PendingApproval {
        /// What approvers sign.
        digest: crate::Digest,
        /// Unix seconds: the end of this round of approvals.
        expires_at: i64,
        /// Approvals needed.
        quorum: u8,
        /// The names of the approvers who signed this round.
        #[serde(default)]
        approved_by: Vec<String>,
    },
    /// Refused for good by a rule.
    Refused {
        /// The rule.
        rule: RuleTag,
        /// A sentence for merchants and operators.
        message: String,
    },
    /// Signed, stored and sent to the node.
    Broadcast {
        /// The transaction.
        transfer: Transfer,
    },
    /// Mined and as deep as the chain's configured confirmations.
    Confirmed {
        /// The transaction.
        transfer: Transfer,
        /// Its block.
        block_number: u64,
        /// What this transaction (`transfer`'s, the payout's or the sweep's
        /// own) cost in gas, in the chain's native base units: paid by its
        /// sender. A sweep's top-up's gas is the top-up's own.
        #[serde(with = "wire::units")]
        network_fee: U256,
        /// The gas a token sweep's deposit was sent from the hot wallet
        /// first, once it confirmed; `None` for payouts and for sweeps the
        /// deposit could pay itself. The gateway books it: what it moved and
        /// what it cost both left the hot wallet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top_up: Option<TopUp>,
    },
    /// Reverted, or dropped for good: nothing moved to the destination,
    /// but gas may have been paid, and the gateway books it.
    Failed {
        /// Why, in a sentence.
        reason: String,
        /// The transaction that reverted, if one was mined.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tx_hash: Option<B256>,
        /// What that reverted transaction cost in gas, paid by its sender
        /// (the hot wallet for a payout, the deposit for a sweep); zero if
        /// none was mined.
        #[serde(default, with = "wire::units")]
        network_fee: U256,
        /// A token sweep's gas top-up, if one was mined before the sweep
        /// failed: what it moved to the deposit and what it cost left the
        /// hot wallet all the same (a top-up that reverted moved nothing and
        /// shows its gas only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        top_up: Option<TopUp>,
    },
}

impl OutcomeState {
    /// Whether nothing more will happen to the request.
    pub fn is_final(&self) -> bool {
        matches!(self, OutcomeState::Refused { .. } | OutcomeState::Confirmed { .. } | OutcomeState::Failed { .. })
    }
}

/// The signer's answer about one request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Outcome {
    /// The request.
    pub id: RequestId,
    /// Where it stands.
    #[serde(flatten)]
    pub state: OutcomeState,
    /// The policy version that decided it.
    pub policy_version: u64,
}

/// The SHA-256 of an intent's canonical JSON: "the same payload" means the
/// same digest, whatever whitespace or key order a retry used.
pub fn payload_digest<T: Serialize>(intent: &T) -> [u8; 32] {
    // serde_json writes struct fields in declaration order, so one intent
    // has one encoding.
    let canonical = serde_json::to_vec(intent).unwrap_or_default();
    Sha256::digest(&canonical).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payout() -> PayoutIntent {
        PayoutIntent {
            id: PayoutId::new(),
            merchant: MerchantId::new(),
            chain_id: ChainId(31337),
            asset: "USDT".parse().unwrap(),
            amount: U256::from(12_500_000u64),
            destination: Address::repeat_byte(0x11),
        }
    }

    #[test]
    fn a_payout_round_trips_with_units_as_text() {
        let intent = payout();
        let json = serde_json::to_value(&intent).unwrap();
        assert_eq!(json["amount"], "12500000");
        assert_eq!(json["asset"], "USDT");
        let back: PayoutIntent = serde_json::from_value(json).unwrap();
        assert_eq!(back, intent);
    }

    #[test]
    fn malformed_intents_do_not_parse() {
        let mut json = serde_json::to_value(payout()).unwrap();
        for (field, bad) in [
            ("amount", serde_json::json!("-1")),
            ("amount", serde_json::json!(12)),
            ("amount", serde_json::json!("1.5")),
            ("destination", serde_json::json!("0x12")),
            ("asset", serde_json::json!("not a symbol!")),
        ] {
            let saved = json[field].clone();
            json[field] = bad;
            assert!(serde_json::from_value::<PayoutIntent>(json.clone()).is_err(), "{field}");
            json[field] = saved;
        }
        json["to"] = serde_json::json!("0x00");
        assert!(serde_json::from_value::<PayoutIntent>(json).is_err(), "unknown fields are refused");
        let sweep = serde_json::json!({"id": SweepId::new(), "chain_id": 1, "asset": "ETH", "index": 2147483648u64});
        assert!(serde_json::from_value::<SweepIntent>(sweep).is_err(), "hardened index");
    }

    #[test]
    fn the_digest_ignores_the_encoding_and_follows_the_payload() {
        let intent = payout();
        let reordered: PayoutIntent = serde_json::from_str(&format!(
            r#"{{ "destination": "{}", "amount": "12500000", "asset": "USDT", "chain_id": 31337,
                 "merchant": "{}", "id": "{}" }}"#,
            intent.destination, intent.merchant, intent.id
        ))
        .unwrap();
        assert_eq!(payload_digest(&reordered), payload_digest(&intent));
        let other = PayoutIntent { amount: U256::from(12_500_001u64), ..intent.clone() };
        assert_ne!(payload_digest(&other), payload_digest(&intent));
    }

    #[test]
    fn a_confirmed_sweep_carries_its_top_up_and_one_without_reads_as_before() {
        let transfer = Transfer {
            tx_hash: B256::repeat_byte(1),
            from: Address::repeat_byte(2),
            to: Address::repeat_byte(3),
            wallet: Some(Wallet::Hot),
            nonce: 0,
            amount: U256::from(250_000_000u64),
        };
        let top_up =
            TopUp { tx_hash: B256::repeat_byte(4), amount: U256::from(77_900u64), network_fee: U256::from(21u8) };
        let state = OutcomeState::Confirmed {
            transfer: transfer.clone(),
            block_number: 9,
            network_fee: U256::from(60u8),
            top_up: Some(top_up),
        };
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["top_up"]["amount"], "77900");
        assert_eq!(json["top_up"]["network_fee"], "21");
        assert_eq!(json["network_fee"], "60");
        assert_eq!(serde_json::from_value::<OutcomeState>(json).unwrap(), state);
        let payout = OutcomeState::Confirmed { transfer, block_number: 9, network_fee: U256::from(60u8), top_up: None };
        let json = serde_json::to_value(&payout).unwrap();
        assert!(json.get("top_up").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<OutcomeState>(json).unwrap(), payout);
    }

    #[test]
    fn outcomes_carry_their_state_as_a_tag() {
        let outcome = Outcome {
            id: RequestId::Payout(PayoutId::new()),
            state: OutcomeState::Refused { rule: RuleTag::LimitPerPayout, message: "too much".into() },
            policy_version: 3,
        };
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["state"], "refused");
        assert_eq!(json["rule"], "limit.per_payout");
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), outcome);
        let id = outcome.id.to_string();
        assert_eq!(id.parse::<RequestId>().unwrap(), outcome.id);
    }
}
