//! The hash format, pinned: the signer and the gateway write it, verifiers
//! of years-old logs read it. The expected hashes were computed outside
//! Rust (Python's hashlib) from the encoding `entry_hash` documents.

use coffer_audit::{Entry, FORMAT, Hash, Head, Record, entry_hash};
use serde_json::json;

fn first() -> Record {
    // Keys given out of order, and a non-ASCII string: canonical JSON sorts
    // the keys and keeps the UTF-8 bytes.
    let mut detail = serde_json::Map::new();
    detail.insert("name".into(), json!("Acme"));
    detail.insert("b".into(), json!([1, "é"]));
    Record {
        at_ms: 1_700_000_000_000,
        actor: "operator".into(),
        action: "merchant.created".into(),
        subject: "mer_x".into(),
        detail: detail.into(),
    }
}

#[test]
fn entry_hashes_are_pinned() {
    assert_eq!(FORMAT, "coffer-audit/1");
    let one = Entry::next(Head::EMPTY, first());
    assert_eq!((one.seq, one.prev), (1, Hash::ZERO));
    assert_eq!(one.hash.to_string(), "7cf504878ea8ee93a665aff43f92177945cd4ec659779a4da33e7706b5b02e30");
    let two = Entry::next(
        one.head(),
        Record { at_ms: -5, actor: String::new(), action: "a.b".into(), subject: String::new(), detail: json!(null) },
    );
    assert_eq!((two.seq, two.prev), (2, one.hash));
    assert_eq!(two.hash.to_string(), "07f51f6c5a016f26216bdd372b5f5707426789eb87b7a7fad00be94d43ae0e86");
    assert!(one.is_intact() && two.is_intact());
}

#[test]
fn moving_bytes_between_text_fields_changes_the_hash() {
    // Without length prefixes "ab" + "c" and "a" + "bc" would hash alike.
    let record = |actor: &str, action: &str| Record {
        at_ms: 0,
        actor: actor.into(),
        action: action.into(),
        subject: String::new(),
        detail: json!({}),
    };
    assert_ne!(entry_hash(1, &record("ab", "c"), &Hash::ZERO), entry_hash(1, &record("a", "bc"), &Hash::ZERO));
}
