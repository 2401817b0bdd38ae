//! Anchors: the gateway log's heads as the signer recorded them.
//!
//! Every gateway → signer request carries the gateway log's head hash, and
//! the signer writes it into its own log, which the gateway's host cannot
//! touch. A log that verifies on its own may still have been rewritten
//! whole, every hash recomputed, or had its tail cut off: then some head
//! the signer saw is the hash of no entry any more. [`check_anchors`] finds
//! the first such anchor.
//!
//! The rules, for anchors in the order the signer recorded them:
//!
//! - each head is [`Hash::ZERO`] (the log was empty) or the hash of an
//!   entry of the log (else **lost**: the log was rewritten after the last
//!   entry an earlier anchor confirmed, or its tail was deleted);
//! - their seqs never go down (else **went back**: the signer saw the head
//!   at entry 9, then at entry 7).
//!
//! Check a log that [`crate::verify`] accepts: anchors trust each entry's
//! `hash` field, which only the verifier checks against its contents.
//! With anchors, every entry up to the last one confirmed is exactly what
//! the gateway had written when the signer saw it (each hash covers all
//! before it).
//!
//! The order rule assumes the gateway reads its head and sends its
//! requests in one order: two requests racing (two tasks, or two gateways
//! sharing PostgreSQL) can reach the signer in the other order than the
//! heads they carry were read, and the rule then reports a head that went
//! back although nothing was rewritten. A head that went back is worth a
//! look, not proof; a lost head is proof.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Entry, Hash};

/// A head of the gateway's log the signer recorded, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// When the signer recorded it, Unix milliseconds.
    pub at_ms: i64,
    /// The head hash the request carried ([`Hash::ZERO`]: an empty log).
    pub head: Hash,
}

/// How an anchor fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnchorBreakKind {
    /// No entry of the log has the head's hash.
    Lost,
    /// The head is an earlier entry than the one an earlier anchor saw.
    WentBack,
}

impl AnchorBreakKind {
    /// A stable lower-case name, for scripts (`lost`, `went_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lost => "lost",
            Self::WentBack => "went_back",
        }
    }
}

impl fmt::Display for AnchorBreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first anchor the log does not bear out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit log disagrees with the signer's anchor {number}: {kind}: {message}")]
pub struct AnchorBreak {
    /// Its place among the anchors, from 1.
    pub number: usize,
    /// The anchor.
    pub anchor: Anchor,
    /// How it fails.
    pub kind: AnchorBreakKind,
    /// The last entry an earlier anchor confirmed (0: none): the log is as
    /// the signer saw it up to there.
    pub confirmed_seq: u64,
    /// A sentence for people.
    pub message: String,
}

/// Checks anchors against a log streamed one entry at a time;
/// [`check_anchors`] is this over a whole iterator. Memory grows with the
/// number of distinct anchored heads, not with the log.
#[derive(Clone, Debug)]
pub struct AnchorCheck<'a> {
    anchors: &'a [Anchor],
    /// Each anchored head, and the seq of the entry with that hash once read.
    seqs: HashMap<Hash, Option<u64>>,
    /// The last entry read.
    last_seq: u64,
}

impl<'a> AnchorCheck<'a> {
    /// A check of these anchors, in the order the signer recorded them.
    pub fn new(anchors: &'a [Anchor]) -> Self {
        let seqs = anchors.iter().filter(|a| a.head != Hash::ZERO).map(|a| (a.head, None)).collect();
        Self { anchors, seqs, last_seq: 0 }
    }

    /// Reads the next entry of the log.
    pub fn observe(&mut self, entry: &Entry) {
        self.last_seq = entry.seq;
        if let Some(seq @ None) = self.seqs.get_mut(&entry.hash) {
            *seq = Some(entry.seq);
        }
    }

    /// Ok if every anchor is borne out; the number of anchors checked.
    pub fn finish(self) -> Result<usize, AnchorBreak> {
        let mut confirmed = 0;
        for (i, anchor) in self.anchors.iter().enumerate() {
            let number = i + 1;
            let seen = if anchor.head == Hash::ZERO { Some(0) } else { self.seqs.get(&anchor.head).copied().flatten() };
            let fail = |kind, message| AnchorBreak { number, anchor: *anchor, kind, confirmed_seq: confirmed, message };
            match seen {
                None => {
                    let since = if confirmed == 0 {
                        "from its first entry".to_owned()
                    } else {
                        format!("after entry {confirmed}")
                    };
                    return Err(fail(
                        AnchorBreakKind::Lost,
                        format!(
                            "the signer recorded head {} at {} ms and no entry of this log (which ends at entry {}) \
                             has that hash: the log was rewritten {since}, or entries were deleted from its end",
                            anchor.head, anchor.at_ms, self.last_seq
                        ),
                    ));
                }
                Some(seq) if seq < confirmed => {
                    return Err(fail(
                        AnchorBreakKind::WentBack,
                        format!(
                            "the signer recorded head {} (entry {seq}) at {} ms, after it had seen entry {confirmed}: \
                             the log's head went back",
                            anchor.head, anchor.at_ms
                        ),
                    ));
                }
                Some(seq) => confirmed = seq,
            }
        }
        Ok(self.anchors.len())
    }
}

/// Checks that every head the signer recorded is borne out by the log
/// (see the module docs). Run it on a log that verifies.
pub fn check_anchors<E: Borrow<Entry>>(
    entries: impl IntoIterator<Item = E>,
    anchors: &[Anchor],
) -> Result<(), AnchorBreak> {
    let mut check = AnchorCheck::new(anchors);
    for entry in entries {
        check.observe(entry.borrow());
    }
    check.finish().map(drop)
}
