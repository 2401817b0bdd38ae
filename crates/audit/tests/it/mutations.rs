//! Every single mutation of a random valid log is named at the right entry
//! with the right kind; a valid log always verifies.

use coffer_audit::{Break, BreakKind, Entry, Head, Record, verify};
use proptest::prelude::*;
use serde_json::json;

use crate::logs::{log, record};

fn expect_break(result: Result<Head, Break>, seq: u64, kind: BreakKind) -> Result<(), TestCaseError> {
    match result {
        Err(found) => {
            prop_assert_eq!((found.seq, found.kind), (seq, kind), "{}", found);
            Ok(())
        }
        Ok(head) => Err(TestCaseError::fail(format!("verified (head {head:?}), expected {kind} at {seq}"))),
    }
}

/// One field of a record changed, as someone editing a row or a line would.
fn edit(record: &mut Record, field: u8) {
    match field % 5 {
        0 => record.detail = json!({ "edited": true }),
        1 => record.actor.push('x'),
        2 => record.action.push('x'),
        3 => record.subject.push('x'),
        _ => record.at_ms = record.at_ms.wrapping_add(1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_valid_log_verifies_to_its_last_entry(log in log(40)) {
        let last = log.last().unwrap().head();
        prop_assert_eq!(verify(&log), Ok(last));
    }

    #[test]
    fn an_edited_entry_is_named(log in log(40), at in any::<prop::sample::Index>(), field in any::<u8>()) {
        let i = at.index(log.len());
        let mut log = log;
        edit(&mut log[i].record, field);
        expect_break(verify(&log), log[i].seq, BreakKind::Edited)?;
    }

    #[test]
    fn an_edited_entry_with_its_hash_recomputed_is_named_by_its_successor(
        log in log(40), at in any::<prop::sample::Index>(), field in any::<u8>(),
    ) {
        let i = at.index(log.len());
        let mut log = log;
        edit(&mut log[i].record, field);
        log[i].hash = log[i].computed_hash();
        if i + 1 == log.len() {
            // Nothing after it to tell: the tail is what anchors are for.
            prop_assert_eq!(verify(&log), Ok(log[i].head()));
        } else {
            expect_break(verify(&log), log[i].seq, BreakKind::Edited)?;
        }
    }

    #[test]
    fn an_edited_seq_prev_or_hash_field_is_named(log in log(40), at in any::<prop::sample::Index>(), field in 0..3u8) {
        let i = at.index(log.len());
        let mut log = log;
        let seq = log[i].seq;
        match field {
            0 => log[i].seq += 3,
            1 => log[i].prev.0[0] ^= 1,
            _ => log[i].hash.0[31] ^= 1,
        }
        expect_break(verify(&log), seq, BreakKind::Edited)?;
    }

    #[test]
    fn a_deleted_entry_is_named(log in log(40), at in any::<prop::sample::Index>()) {
        let i = at.index(log.len());
        let mut log = log;
        let gone = log.remove(i);
        if log.len() == i {
            // The last entry: invisible without an anchor.
            let expected = log.last().map_or(Head::EMPTY, Entry::head);
            prop_assert_eq!(verify(&log), Ok(expected));
        } else {
            expect_break(verify(&log), gone.seq, BreakKind::Deleted)?;
        }
    }

    #[test]
    fn a_forged_entry_slipped_in_is_named(log in log(40), at in any::<prop::sample::Index>(), forged in record()) {
        // Before entry i, numbered and chained as entry i, its own hash valid:
        // everything a forger can do without rewriting the rest.
        let i = at.index(log.len());
        let mut log = log;
        let before = Head { seq: log[i].seq - 1, hash: log[i].prev };
        let seq = log[i].seq;
        log.insert(i, Entry::next(before, forged));
        expect_break(verify(&log), seq, BreakKind::Inserted)?;
    }

    #[test]
    fn a_replayed_copy_is_named(log in log(40), of in any::<prop::sample::Index>(), after in any::<prop::sample::Index>()) {
        // A copy of entry j, put anywhere after the original.
        let j = of.index(log.len());
        let k = j + after.index(log.len() - j);
        let mut log = log;
        let copy = log[j].clone();
        log.insert(k + 1, copy);
        expect_break(verify(&log), log[j].seq, BreakKind::Inserted)?;
    }

    #[test]
    fn swapped_neighbours_are_named(log in log(40), at in any::<prop::sample::Index>()) {
        prop_assume!(log.len() >= 2);
        let i = at.index(log.len() - 1);
        let mut log = log;
        log.swap(i, i + 1);
        // The earlier of the two is the one that turns up late.
        expect_break(verify(&log), log[i + 1].seq, BreakKind::Reordered)?;
    }

    #[test]
    fn an_entry_moved_later_is_named(log in log(40), at in any::<prop::sample::Index>(), by in 1..5usize) {
        prop_assume!(log.len() >= 2);
        let i = at.index(log.len() - 1);
        let to = (i + by).min(log.len() - 1);
        let mut log = log;
        let moved = log.remove(i);
        let seq = moved.seq;
        log.insert(to, moved);
        expect_break(verify(&log), seq, BreakKind::Reordered)?;
    }
}

#[test]
fn break_sentences_name_the_entry_and_what_happened() {
    let log = crate::logs::chain(
        (0..5)
            .map(|i| Record {
                at_ms: i,
                actor: "operator".into(),
                action: "merchant.created".into(),
                subject: format!("mer_{i}"),
                detail: json!({}),
            })
            .collect(),
    );
    let mut deleted = log.clone();
    deleted.remove(2);
    let found = verify(&deleted).unwrap_err();
    assert_eq!(found.to_string(), "audit log broken at entry 3: deleted: entry 3 is missing: entry 4 follows entry 2");
    let mut two_gone = log.clone();
    two_gone.drain(1..3);
    assert!(verify(&two_gone).unwrap_err().message.starts_with("entries 2 to 3 are missing"));
    let mut swapped = log.clone();
    swapped.swap(1, 2);
    assert_eq!(verify(&swapped).unwrap_err().message, "entry 2 comes after entry 3: it was moved");
    let mut edited = log;
    edited[3].record.subject = "mer_evil".into();
    assert_eq!(verify(&edited).unwrap_err().kind.as_str(), "edited");
}

#[test]
fn an_entry_chained_past_its_predecessor_names_what_was_slipped_in() {
    // A forger slips entry X in as entry 3 and renumbers the real entry 3
    // as 4, rehashed but still chained to entry 2.
    let log = crate::logs::chain(
        (0..4)
            .map(|i| Record {
                at_ms: i,
                actor: "operator".into(),
                action: "merchant.created".into(),
                subject: String::new(),
                detail: json!({}),
            })
            .collect(),
    );
    let forged = Entry::next(log[1].head(), Record { subject: "forged".into(), ..log[2].record.clone() });
    let mut renumbered = Entry { seq: 4, ..log[2].clone() };
    renumbered.hash = renumbered.computed_hash();
    let tampered = vec![log[0].clone(), log[1].clone(), forged, renumbered];
    let found = verify(&tampered).unwrap_err();
    assert_eq!((found.seq, found.kind), (3, BreakKind::Inserted), "{found}");
    assert_eq!(found.message, "entry 4 is chained to entry 2: entry 3 before it was slipped in");

    // Entry 1 chained to anything but the start: rewritten.
    let mut first = log[0].clone();
    first.prev.0[0] = 1;
    first.hash = first.computed_hash();
    assert_eq!(verify([first]).unwrap_err().kind, BreakKind::Edited);
}
