//! Random valid logs for the property tests.

use coffer_audit::{Entry, Head, Record};
use proptest::prelude::*;
use serde_json::json;

/// A record with a little of everything a real one carries.
pub(crate) fn record() -> impl Strategy<Value = Record> {
    (
        any::<i64>(),
        prop_oneof![Just("operator".to_owned()), "key_[0-9a-f]{8}"],
        prop_oneof![Just("api_key.created"), Just("webhook.registered"), Just("config.loaded")],
        "[a-z_]{0,12}",
        any::<u32>(),
        ".{0,8}",
    )
        .prop_map(|(at_ms, actor, action, subject, n, text)| Record {
            at_ms,
            actor,
            action: action.to_owned(),
            subject,
            detail: json!({ "n": n, "text": text, "list": [n, { "z": true, "a": null }] }),
        })
}

/// Chains records into a log, as a writer appends them.
pub(crate) fn chain(records: Vec<Record>) -> Vec<Entry> {
    let mut head = Head::EMPTY;
    records
        .into_iter()
        .map(|record| {
            let entry = Entry::next(head, record);
            head = entry.head();
            entry
        })
        .collect()
}

/// A valid log of 1 to `max` entries.
pub(crate) fn log(max: usize) -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(record(), 1..=max).prop_map(chain)
}

/// Rewrites `log` from index `from` on with a changed record there and
/// every hash after it recomputed: what someone who owns the store can do.
pub(crate) fn rewrite_from(log: &[Entry], from: usize) -> Vec<Entry> {
    let mut records: Vec<Record> = log.iter().map(|e| e.record.clone()).collect();
    records[from].detail = json!({ "forged": true });
    chain(records)
}
