//! The offline verifier: reads a log in its stored order and names the
//! first entry that is not what was written.
//!
//! How each kind of break is told apart, from what the log itself shows:
//!
//! - **Edited**: an entry whose `hash` is not the hash of its contents (any
//!   field changed: record, seq, prev or hash). If its hash was recomputed
//!   too, the entry after it gives it away: that one's `prev` is no hash
//!   the log holds, so the entry before it is not the one it was chained to.
//!   An entry whose seq alone was changed (and rehashed), still chained to
//!   its predecessor, is also called edited.
//! - **Deleted**: a gap in seq (entry 7 follows entry 5) whose missing
//!   entry never turns up later in the log. The break names the first
//!   missing seq.
//! - **Reordered**: a gap whose missing entry turns up later, and is the
//!   one the entry after the gap is chained to (a swap of neighbours, or an
//!   entry moved later in the log). The break names the entry that turned
//!   up late.
//! - **Inserted**: a seq seen before (a second entry 6 after entry 6: a
//!   forged entry slipped in before the real one, or a replayed copy), or
//!   an entry chained to an earlier entry than its predecessor (what stands
//!   between them was slipped in). The break names the seq of the first
//!   inserted entry as the log numbers it.
//!
//! Where the evidence runs out:
//!
//! - The **tail**: deleting the last entries, or rewriting the last entry
//!   with its hash recomputed, leaves a log that verifies; so does
//!   rewriting the whole log with every hash recomputed. Only something
//!   outside the log can tell: the heads the signer recorded
//!   ([`crate::check_anchors`]), or the head a store keeps beside its rows.
//! - An entry inserted without a valid hash of its own is reported as
//!   edited: an entry that does not match itself is all the log shows.
//! - A gap whose entry turns up later but is not chained to by the entry
//!   after the gap is reported as inserted (the entry after the gap is the
//!   stranger). A copy of an entry slipped in *before* the original's place
//!   looks like the original moved there: reordered.
//! - Only the last [`WINDOW`] hashes are remembered: an entry chained to
//!   one older than that, or a copy of one, reads as edited or inserted
//!   without saying which entry it repeats.
//!
//! One pass, memory bounded by [`WINDOW`]: logs of any length stream
//! through [`Verifier::push`].

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::fmt;

use crate::{Entry, Hash, Head};

/// How many recent hashes the verifier keeps to recognise an entry chained
/// further back than its predecessor, or a copy of a recent entry.
pub const WINDOW: usize = 4096;

/// What happened to the first bad entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakKind {
    /// Its contents are not what its hash (or its successor) says.
    Edited,
    /// It is missing.
    Deleted,
    /// It was slipped in.
    Inserted,
    /// It is out of place.
    Reordered,
}

impl BreakKind {
    /// A stable lower-case name, for scripts (`edited`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edited => "edited",
            Self::Deleted => "deleted",
            Self::Inserted => "inserted",
            Self::Reordered => "reordered",
        }
    }
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a log stops being what was written, and how.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit log broken at entry {seq}: {kind}: {message}")]
pub struct Break {
    /// The first bad entry's seq (for [`BreakKind::Deleted`], the first missing one).
    pub seq: u64,
    /// What happened to it.
    pub kind: BreakKind,
    /// A sentence for people, naming the entries the evidence involves.
    pub message: String,
}

fn broken(seq: u64, kind: BreakKind, message: String) -> Break {
    Break { seq, kind, message }
}

/// A gap seen and not yet explained: deleted, or moved later?
#[derive(Clone, Debug)]
struct Gap {
    /// The first missing seq.
    missing: u64,
    /// The entry found in its place: its seq and the `prev` it is chained to.
    after_gap: (u64, Hash),
    /// The last seq read since, to say where a late entry turned up.
    last_read: u64,
}

/// Checks a log one entry at a time, in stored order; [`verify`] is this
/// over a whole iterator.
#[derive(Clone, Debug)]
pub struct Verifier {
    /// The head of the part checked good.
    head: Head,
    /// Hashes of the last entries of that part: `recent[i]` is entry
    /// `head.seq - recent.len() + 1 + i`.
    recent: VecDeque<Hash>,
    gap: Option<Gap>,
    broken: Option<Break>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// A verifier for a log that starts at entry 1.
    pub fn new() -> Self {
        Self { head: Head::EMPTY, recent: VecDeque::new(), gap: None, broken: None }
    }

    /// Checks the next entry. An `Err` is final: later pushes return it
    /// again. After a gap, `Ok` means "undecided": the rest of the log is
    /// read to learn whether the missing entry turns up later.
    pub fn push(&mut self, entry: &Entry) -> Result<(), Break> {
        if let Some(found) = &self.broken {
            return Err(found.clone());
        }
        let result = match &mut self.gap {
            Some(gap) => Self::look_for_missing(gap, entry),
            None => self.check(entry),
        };
        if let Err(found) = &result {
            self.broken = Some(found.clone());
        }
        result
    }

    /// The head of the log if every entry checked out.
    pub fn finish(self) -> Result<Head, Break> {
        if let Some(found) = self.broken {
            return Err(found);
        }
        match self.gap {
            None => Ok(self.head),
            Some(gap) => {
                let (after, _) = gap.after_gap;
                let what = if after - gap.missing == 1 {
                    format!("entry {} is missing", gap.missing)
                } else {
                    format!("entries {} to {} are missing", gap.missing, after - 1)
                };
                Err(broken(
                    gap.missing,
                    BreakKind::Deleted,
                    format!("{what}: entry {after} follows entry {}", gap.missing - 1),
                ))
            }
        }
    }

    fn check(&mut self, entry: &Entry) -> Result<(), Break> {
        let expected = self.head.seq + 1;
        if !entry.is_intact() {
            return Err(self.edited(entry, expected));
        }
        if entry.seq == expected {
            if entry.prev == self.head.hash {
                self.accept(entry);
                return Ok(());
            }
            return Err(self.mischained(entry));
        }
        if entry.seq > expected {
            if entry.prev == self.head.hash {
                return Err(broken(
                    expected,
                    BreakKind::Edited,
                    format!(
                        "the entry after entry {} is chained to it but numbered {}: its seq was rewritten",
                        self.head.seq, entry.seq
                    ),
                ));
            }
            self.gap = Some(Gap { missing: expected, after_gap: (entry.seq, entry.prev), last_read: entry.seq });
            return Ok(());
        }
        // A seq at or below the head's: every seq up to the head was seen.
        let message = if self.recent_hash(entry.seq) == Some(entry.hash) {
            format!("a copy of entry {} follows entry {}: it was inserted", entry.seq, self.head.seq)
        } else {
            format!("a second entry {} follows entry {}: one of the two was inserted", entry.seq, self.head.seq)
        };
        Err(broken(entry.seq, BreakKind::Inserted, message))
    }

    /// Names an entry whose hash does not match its contents.
    fn edited(&self, entry: &Entry, expected: u64) -> Break {
        if entry.seq != expected {
            let renumbered = Entry { seq: expected, ..entry.clone() };
            if renumbered.is_intact() {
                return broken(
                    expected,
                    BreakKind::Edited,
                    format!("entry {expected}'s seq was changed to {}", entry.seq),
                );
            }
        }
        broken(
            entry.seq,
            BreakKind::Edited,
            format!("entry {}'s hash does not match its contents: it was changed after it was written", entry.seq),
        )
    }

    /// Names what is wrong when the expected seq is chained to another entry
    /// than its predecessor.
    fn mischained(&self, entry: &Entry) -> Break {
        if self.head.seq == 0 {
            return broken(
                1,
                BreakKind::Edited,
                format!("entry 1 is chained to {}, not to the start of a log: it was rewritten", entry.prev),
            );
        }
        if let Some(earlier) = self.recent_seq_of(&entry.prev) {
            let first = earlier + 1;
            let (which, were) = if first == self.head.seq {
                (format!("entry {first}"), "was")
            } else {
                (format!("entries {first} to {}", self.head.seq), "were")
            };
            return broken(
                first,
                BreakKind::Inserted,
                format!("entry {} is chained to entry {earlier}: {which} before it {were} slipped in", entry.seq),
            );
        }
        broken(
            self.head.seq,
            BreakKind::Edited,
            format!(
                "entry {} is not the entry {} was chained to: it was rewritten, its hash recomputed",
                self.head.seq, entry.seq
            ),
        )
    }

    /// After a gap: the missing entry turning up later means it moved.
    fn look_for_missing(gap: &mut Gap, entry: &Entry) -> Result<(), Break> {
        if entry.seq != gap.missing {
            gap.last_read = entry.seq;
            return Ok(());
        }
        let (after, chained_to) = gap.after_gap;
        if entry.hash == chained_to {
            Err(broken(
                gap.missing,
                BreakKind::Reordered,
                format!("entry {} comes after entry {}: it was moved", gap.missing, gap.last_read),
            ))
        } else {
            Err(broken(
                after,
                BreakKind::Inserted,
                format!(
                    "entry {after} stands where entry {} belongs and is chained to no entry of the log: it was inserted",
                    gap.missing
                ),
            ))
        }
    }

    fn accept(&mut self, entry: &Entry) {
        self.head = entry.head();
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(entry.hash);
    }

    fn recent_hash(&self, seq: u64) -> Option<Hash> {
        let first = self.head.seq + 1 - self.recent.len() as u64;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.recent.get(index).copied()
    }

    fn recent_seq_of(&self, hash: &Hash) -> Option<u64> {
        let first = self.head.seq + 1 - self.recent.len() as u64;
        self.recent.iter().position(|h| h == hash).map(|i| first + i as u64)
    }
}

/// Checks a whole log, in stored order: its head if every entry is the one
/// written, else the first break (see the module docs for what is told
/// apart, and what cannot be).
pub fn verify<E: Borrow<Entry>>(entries: impl IntoIterator<Item = E>) -> Result<Head, Break> {
    let mut verifier = Verifier::new();
    for entry in entries {
        verifier.push(entry.borrow())?;
    }
    verifier.finish()
}
