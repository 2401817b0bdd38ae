//! JSON Lines export and import.

use coffer_audit::{Anchor, Entry, Hash, parse_jsonl, read_jsonl, to_jsonl, verify};
use proptest::prelude::*;

use crate::logs::log;

proptest! {
    #[test]
    fn an_exported_log_imports_as_it_was_and_still_verifies(log in log(20)) {
        let text = to_jsonl(&log);
        prop_assert_eq!(text.lines().count(), log.len());
        let back: Vec<Entry> = parse_jsonl(&text).unwrap();
        prop_assert_eq!(&back, &log);
        prop_assert!(verify(&back).is_ok());
    }
}

#[test]
fn a_line_is_one_flat_object() {
    let line = to_jsonl(&crate::logs::chain(vec![coffer_audit::Record {
        at_ms: 7,
        actor: "operator".into(),
        action: "merchant.created".into(),
        subject: "mer_1".into(),
        detail: serde_json::json!({"name": "Acme"}),
    }]));
    let object: serde_json::Value = serde_json::from_str(&line).unwrap();
    let mut keys: Vec<&str> = object.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["action", "actor", "at_ms", "detail", "hash", "prev", "seq", "subject"]);
    assert_eq!(object["prev"], "0".repeat(64));
}

#[test]
fn a_bad_line_is_named_and_blank_lines_are_skipped() {
    let anchor = Anchor { at_ms: 5, head: Hash([1; 32]) };
    let good = to_jsonl(&[anchor]);
    let text = format!("\n{good}\n{good}{{\"at_ms\":5}}\n{good}");
    let err = parse_jsonl::<Anchor>(&text).unwrap_err();
    assert_eq!(err.line, 5, "{err}");
    assert!(err.to_string().starts_with("line 5: missing field `head`"), "{err}");
    assert_eq!(parse_jsonl::<Anchor>(&format!("{good}\n\n{good}")).unwrap(), [anchor, anchor]);

    let unknown = good.replace("\"at_ms\"", "\"extra\":1,\"at_ms\"");
    assert!(parse_jsonl::<Anchor>(&unknown).unwrap_err().message.contains("unknown field `extra`"));
    // The stream ends at the first bad line.
    let items: Vec<_> = read_jsonl::<Anchor, _>(format!("nonsense\n{good}").as_bytes()).collect();
    assert_eq!(items.len(), 1);
    assert!(items[0].is_err());
}
