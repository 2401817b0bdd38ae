#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

const ID: &str = "po_0195f3a0c1b27c3e9a4d5e6f70812345";
const MERCHANT: &str = "mer_0195f3a0c1b27c3e9a4d5e6f70812345";
const DESTINATION: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const EXPIRES: i64 = 1_796_227_200;

/// The payout as an honest gateway shows it, with the digest computed independently here.
fn shown() -> (Value, Digest) {
    let intent = PayoutIntent {
        id: ID.parse().unwrap(),
        merchant: MERCHANT.parse().unwrap(),
        chain_id: coffer_domain::ChainId(31337),
        asset: "USDT".parse().unwrap(),
        amount: U256::from(1_500_000u64),
        destination: DESTINATION.parse().unwrap(),
    };
    let digest = PayoutApproval { payout: intent, expires_at: EXPIRES }.digest();
    let value = json!({
        "id": ID, "merchant": MERCHANT, "chain_id": 31337, "asset": "USDT",
        "amount": "1.5", "amount_units": "1500000", "destination": DESTINATION,
        "status": "pending_approval",
        "approval": {"digest": digest.to_string(), "expires_at": "2026-12-02T16:00:00.000Z", "expires_at_unix": EXPIRES,
            "quorum": 2, "approved_by": ["alice"]},
    });
    (value, digest)
}

#[test]
fn an_honest_payout_is_rebuilt_to_its_digest() {
    let (value, digest) = shown();
    let checked = check(&value, ID.parse().unwrap()).unwrap();
    assert_eq!(checked.digest, digest);
    assert_eq!(checked.decimal, Some(("1.5".into(), 6)));
    assert_eq!((checked.quorum, checked.approved_by), (2, vec!["alice".to_owned()]));

    let mut text_only = value.clone();
    text_only["approval"]["expires_at_unix"] = Value::Null;
    assert_eq!(check(&text_only, ID.parse().unwrap()).unwrap().digest, digest, "the same instant as text");
    let mut unix_only = value.clone();
    unix_only["approval"]["expires_at"] = EXPIRES.into();
    unix_only["approval"]["expires_at_unix"] = Value::Null;
    assert_eq!(check(&unix_only, ID.parse().unwrap()).unwrap().digest, digest, "as the signer writes it");
    let mut lower = value;
    lower["destination"] = DESTINATION.to_lowercase().into();
    assert_eq!(check(&lower, ID.parse().unwrap()).unwrap().digest, digest, "the digest uses the checksummed form");
}

#[test]
fn a_digest_that_is_not_the_fields_shown_is_refused() {
    let (value, _) = shown();
    // The gateway shows the honest fields but reports another payout's digest…
    let mut other = value.clone();
    other["approval"]["digest"] = Digest([9; 32]).to_string().into();
    let err = check(&other, ID.parse().unwrap()).unwrap_err().to_string();
    assert!(err.starts_with("REFUSED: the gateway reports digest 0909 0909"), "{err}");
    assert!(err.contains("Do not approve"), "{err}");
    // …or the honest digest beside altered fields.
    for (field, altered) in [
        ("amount_units", json!("1500001")),
        ("destination", json!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")),
        ("merchant", json!("mer_0195f3a0c1b27c3e9a4d5e6f70899999")),
        ("chain_id", json!(1)),
        ("asset", json!("USDC")),
    ] {
        let mut tampered = value.clone();
        tampered[field] = altered;
        if field == "amount_units" {
            tampered["amount"] = "1.500001".into();
        }
        let err = check(&tampered, ID.parse().unwrap()).unwrap_err().to_string();
        assert!(err.starts_with("REFUSED"), "{field}: {err}");
    }
    let mut later = value.clone();
    later["approval"]["expires_at_unix"] = (EXPIRES + 1).into();
    later["approval"]["expires_at"] = "2026-12-02T16:00:01Z".into();
    assert!(check(&later, ID.parse().unwrap()).unwrap_err().to_string().starts_with("REFUSED: the gateway reports"));
    let mut two_times = value;
    two_times["approval"]["expires_at"] = "2026-12-02T17:00:00Z".into();
    let err = check(&two_times, ID.parse().unwrap()).unwrap_err().to_string();
    assert!(err.starts_with("REFUSED: the gateway shows the round's expiry as"), "{err}");
}

#[test]
fn a_decimal_amount_that_is_not_its_base_units_is_refused() {
    let (mut value, _) = shown();
    value["amount"] = "0.0015".into();
    assert_eq!(check(&value, ID.parse().unwrap()).unwrap().decimal, Some(("0.0015".into(), 9)), "9 decimals, shown");
    value["amount"] = "1.4".into();
    let err = check(&value, ID.parse().unwrap()).unwrap_err().to_string();
    assert!(err.contains("1500000 base units are not 1.4"), "{err}");
}

#[test]
fn another_payout_a_payout_not_waiting_and_a_bad_checksum_are_refused() {
    let (value, _) = shown();
    let err = check(&value, "po_0195f3a0c1b27c3e9a4d5e6f70899999".parse().unwrap()).unwrap_err().to_string();
    assert!(err.contains("the gateway answered about po_0195f3a0c1b27c3e9a4d5e6f70812345"), "{err}");
    // Sent after its approvals: the gateway still shows the last round.
    let mut sent = value.clone();
    sent["status"] = "broadcast".into();
    let err = check(&sent, ID.parse().unwrap()).unwrap_err().to_string();
    assert_eq!(err, format!("payout {ID} is broadcast, not waiting for approvals: there is nothing to sign"));
    let mut never = value.clone();
    never["status"] = "pending".into();
    never["approval"] = Value::Null;
    assert!(check(&never, ID.parse().unwrap()).is_err());
    let mut typo = value;
    typo["destination"] = "0x70997970c51812dc3A010C7d01b50e0d17dc79C8".into();
    let err = format!("{:#}", check(&typo, ID.parse().unwrap()).unwrap_err());
    assert!(err.contains("does not match its EIP-55 checksum"), "{err}");
}
