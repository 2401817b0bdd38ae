//! The signer's record of the gateway log's heads catches what the chain
//! alone cannot: a log rewritten whole, or cut short.

use coffer_audit::{Anchor, AnchorBreakKind, Entry, Hash, check_anchors, verify};
use proptest::prelude::*;

use crate::logs::{log, rewrite_from};

/// The heads a signer would have recorded: after some of the entries, in order.
fn anchors_of(log: &[Entry], picks: &[bool]) -> Vec<Anchor> {
    let mut anchors = vec![Anchor { at_ms: 0, head: Hash::ZERO }];
    for (entry, pick) in log.iter().zip(picks) {
        if *pick {
            anchors.push(Anchor { at_ms: entry.record.at_ms, head: entry.hash });
        }
    }
    anchors
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_log_bears_out_the_heads_it_had(log in log(30), picks in prop::collection::vec(any::<bool>(), 30)) {
        prop_assert_eq!(check_anchors(&log, &anchors_of(&log, &picks)), Ok(()));
    }

    #[test]
    fn a_log_rewritten_with_recomputed_hashes_fails_at_the_first_anchor_it_lost(
        log in log(30), from in any::<prop::sample::Index>(), picks in prop::collection::vec(any::<bool>(), 30),
    ) {
        let from = from.index(log.len());
        let rewritten = rewrite_from(&log, from);
        prop_assert!(verify(&rewritten).is_ok(), "the rewrite verifies on its own");
        let anchors = anchors_of(&log, &picks);
        // The first anchor at or after the rewritten entry is lost; the ones
        // before it still hold, and say how far the log is as the signer saw it.
        let first_lost = anchors.iter().position(|a| log[from..].iter().any(|e| e.hash == a.head));
        match (check_anchors(&rewritten, &anchors), first_lost) {
            (Ok(()), None) => {}
            (Err(found), Some(i)) => {
                prop_assert_eq!(found.kind, AnchorBreakKind::Lost);
                prop_assert_eq!(found.number, i + 1);
                let confirmed = log.iter().find(|e| e.hash == anchors[i - 1].head).map_or(0, |e| e.seq);
                prop_assert_eq!(found.confirmed_seq, confirmed);
                prop_assert!(confirmed <= from as u64);
            }
            (result, expected) => {
                return Err(TestCaseError::fail(format!("{result:?}, expected a break at anchor {expected:?}")));
            }
        }
    }

    #[test]
    fn a_cut_tail_fails_against_the_last_head(log in log(30), cut in any::<prop::sample::Index>()) {
        let keep = cut.index(log.len());
        let last = Anchor { at_ms: 0, head: log.last().unwrap().hash };
        let found = check_anchors(&log[..keep], &[last]).unwrap_err();
        prop_assert_eq!(found.kind, AnchorBreakKind::Lost);
    }
}

#[test]
fn a_head_that_went_back_is_named() {
    let log = crate::logs::chain(
        (0..4)
            .map(|i| coffer_audit::Record {
                at_ms: i,
                actor: "operator".into(),
                action: "merchant.created".into(),
                subject: String::new(),
                detail: serde_json::json!({}),
            })
            .collect(),
    );
    let anchors = [Anchor { at_ms: 10, head: log[2].hash }, Anchor { at_ms: 11, head: log[1].hash }];
    let found = check_anchors(&log, &anchors).unwrap_err();
    assert_eq!((found.number, found.kind, found.confirmed_seq), (2, AnchorBreakKind::WentBack, 3));
    assert!(found.to_string().contains("went_back"), "{found}");
    // An empty log's head is always borne out.
    assert_eq!(check_anchors(Vec::<Entry>::new(), &[Anchor { at_ms: 1, head: Hash::ZERO }]), Ok(()));
}
