use coffer_domain::{MerchantId, PayoutId};
use ed25519_dalek::{Signer as _, SigningKey};

use super::*;

fn key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

fn sign(key: &SigningKey, decision: Decision, digest: Digest) -> Approval {
    let approver = PublicKey::from_bytes(&key.verifying_key().to_bytes()).unwrap();
    let signature = hex::encode(key.sign(decision.signed_text(&digest).as_bytes()).to_bytes());
    Approval { approver, decision, digest, signature }
}

fn ask() -> PayoutApproval {
    PayoutApproval {
        payout: PayoutIntent {
            id: PayoutId::new(),
            merchant: MerchantId::new(),
            chain_id: ChainId(31337),
            asset: "USDT".parse().unwrap(),
            amount: U256::from(2_500_000_000u64),
            destination: Address::repeat_byte(0x42),
        },
        expires_at: 1_800_000_000,
    }
}

#[test]
fn the_payout_digest_names_every_field_and_follows_each() {
    let base = ask();
    let text = base.canonical();
    for needle in ["payout ", "merchant ", "chain 31337", "asset USDT", "amount 2500000000", "expires 1800000000"] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert!(text.contains(&base.payout.destination.to_checksum(None)));
    let d = base.digest();
    let mut others = Vec::new();
    let mut p = base.clone();
    p.payout.amount += U256::from(1u8);
    others.push(p);
    let mut p = base.clone();
    p.payout.destination = Address::repeat_byte(0x43);
    others.push(p);
    let mut p = base.clone();
    p.payout.chain_id = ChainId(1);
    others.push(p);
    let mut p = base.clone();
    p.payout.merchant = MerchantId::new();
    others.push(p);
    let mut p = base.clone();
    p.payout.id = PayoutId::new();
    others.push(p);
    let mut p = base.clone();
    p.payout.asset = "USDC".parse().unwrap();
    others.push(p);
    let mut p = base.clone();
    p.expires_at += 1;
    others.push(p);
    for other in others {
        assert_ne!(other.digest(), d, "{}", other.canonical());
    }
}

#[test]
fn an_approval_verifies_only_for_its_key_decision_and_digest() {
    let digest = ask().digest();
    let good = sign(&key(1), Decision::Approve, digest);
    assert!(good.verifies());
    let mut flipped = good.clone();
    flipped.decision = Decision::Reject;
    assert!(!flipped.verifies(), "an approval cannot be passed off as a rejection");
    let mut other_digest = good.clone();
    other_digest.digest = Digest([7; 32]);
    assert!(!other_digest.verifies());
    let mut other_key = good.clone();
    other_key.approver = PublicKey::from_bytes(&key(2).verifying_key().to_bytes()).unwrap();
    assert!(!other_key.verifies());
    let mut garbage = good;
    garbage.signature = "00".repeat(63);
    assert!(!garbage.verifies());
}

#[test]
fn a_change_is_bound_to_its_base_version_and_expiry() {
    let proposal = ChangeProposal { change: PolicyChange::Unfreeze, base_version: 4, expires_at: 10 };
    let d = proposal.digest();
    assert_ne!(ChangeProposal { base_version: 5, ..proposal.clone() }.digest(), d);
    assert_ne!(ChangeProposal { expires_at: 11, ..proposal.clone() }.digest(), d);
    let freeze = ChangeProposal { change: PolicyChange::Freeze { reason: "x".into() }, ..proposal };
    assert_ne!(freeze.digest(), d);
}

#[test]
fn changes_and_digests_round_trip_on_the_wire() {
    let change = PolicyChange::Limit {
        chain_id: ChainId(1),
        asset: "USDT".parse().unwrap(),
        limit: LimitName::Amount1h,
        value: U256::from(5u8),
    };
    let json = serde_json::to_value(&change).unwrap();
    assert_eq!(json["change"], "limit");
    assert_eq!(json["value"], "5");
    assert_eq!(serde_json::from_value::<PolicyChange>(json).unwrap(), change);
    let digest = Digest([0xab; 32]);
    assert_eq!(digest.grouped().split(' ').count(), 16);
    assert_eq!(digest.grouped().parse::<Digest>().unwrap(), digest);
    assert_eq!(serde_json::from_value::<Digest>(serde_json::to_value(digest).unwrap()).unwrap(), digest);
    for name in LimitName::ALL {
        assert_eq!(name.as_str().parse::<LimitName>().unwrap(), name);
    }
}
