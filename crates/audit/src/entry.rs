//! [`Record`], [`Entry`], [`Head`], and the hash that chains entries.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Hash, canonical_json};

/// Names the hash format. Part of every entry's hash, so a log can never be
/// read as if it were written in another format.
pub const FORMAT: &str = "coffer-audit/1";

/// What happened: one privileged act, as the process that did it saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// When, in Unix milliseconds (the writer's clock).
    pub at_ms: i64,
    /// Who: `operator` for a command run on the host, an API key id
    /// (`key_…`) for a merchant's request, the process itself for what it
    /// does on its own (`gateway`).
    pub actor: String,
    /// What, as a stable dotted name (`api_key.created`). Verifiers and
    /// alerts match on it; never rename one.
    pub action: String,
    /// What it was done to (`key_…`, `wh_…`, `chain:1`), or empty.
    pub subject: String,
    /// Whatever else says what happened. Never a secret: the log is
    /// exported and read by people.
    pub detail: Value,
}

/// Where a log ends: its last entry's seq and hash. An empty log's head is
/// seq 0 with [`Hash::ZERO`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The last entry's seq; 0 for an empty log.
    pub seq: u64,
    /// The last entry's hash; [`Hash::ZERO`] for an empty log.
    pub hash: Hash,
}

impl Head {
    /// The head of an empty log.
    pub const EMPTY: Self = Self { seq: 0, hash: Hash::ZERO };
}

/// One entry of a log: a record, its place (`seq`, 1-based, no gaps), the
/// hash of the entry before it (`prev`) and its own hash over all of that.
///
/// As one JSON object per line ([`crate::to_jsonl`]) the record's fields sit
/// beside `seq`, `prev` and `hash`:
/// `{"seq":1,"at_ms":…,"actor":…,"action":…,"subject":…,"detail":{…},"prev":"00…","hash":"…"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "Line", into = "Line")]
pub struct Entry {
    /// Its place in the log, from 1.
    pub seq: u64,
    /// What happened.
    pub record: Record,
    /// The hash of entry `seq - 1` ([`Hash::ZERO`] for entry 1).
    pub prev: Hash,
    /// [`entry_hash`] of `seq`, `record` and `prev`.
    pub hash: Hash,
}

impl Entry {
    /// The entry that follows `head`: seq `head.seq + 1`, chained to `head.hash`.
    pub fn next(head: Head, record: Record) -> Self {
        // 2^64 entries are never written; saturating keeps this total, and a
        // repeated seq would fail verification rather than wrap to 0.
        let seq = head.seq.saturating_add(1);
        let hash = entry_hash(seq, &record, &head.hash);
        Self { seq, record, prev: head.hash, hash }
    }

    /// The log's head once this entry is its last.
    pub fn head(&self) -> Head {
        Head { seq: self.seq, hash: self.hash }
    }

    /// The hash its contents call for, whatever its `hash` field says.
    pub fn computed_hash(&self) -> Hash {
        entry_hash(self.seq, &self.record, &self.prev)
    }

    /// Whether its `hash` field is the hash of its contents.
    pub fn is_intact(&self) -> bool {
        self.computed_hash() == self.hash
    }
}

/// SHA-256 over an encoding with exactly one reading: [`FORMAT`], then
/// `seq` (u64) and `at_ms` (i64) as 8 big-endian bytes each, then `actor`,
/// `action`, `subject` and the [`canonical_json`] of `detail`, each
/// preceded by its length in bytes (u64, big-endian), then the 32 bytes of
/// `prev`. [`FORMAT`] is length-prefixed too. No two different entries
/// encode alike: fixed widths and lengths leave no boundary to move.
pub fn entry_hash(seq: u64, record: &Record, prev: &Hash) -> Hash {
    let detail = canonical_json(&record.detail);
    let mut hasher = Sha256::new();
    field(&mut hasher, FORMAT.as_bytes());
    hasher.update(seq.to_be_bytes());
    hasher.update(record.at_ms.to_be_bytes());
    for text in [&record.actor, &record.action, &record.subject, &detail] {
        field(&mut hasher, text.as_bytes());
    }
    hasher.update(prev.0);
    Hash(hasher.finalize().into())
}

/// A variable-length field: its length (u64, big-endian), then its bytes.
fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

/// An entry as one flat JSON object (see [`Entry`]). Unknown fields are
/// refused: an export is read exactly as it was written.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    seq: u64,
    at_ms: i64,
    actor: String,
    action: String,
    subject: String,
    detail: Value,
    prev: Hash,
    hash: Hash,
}

impl From<Line> for Entry {
    fn from(l: Line) -> Self {
        let record = Record { at_ms: l.at_ms, actor: l.actor, action: l.action, subject: l.subject, detail: l.detail };
        Self { seq: l.seq, record, prev: l.prev, hash: l.hash }
    }
}

impl From<Entry> for Line {
    fn from(e: Entry) -> Self {
        let Record { at_ms, actor, action, subject, detail } = e.record;
        Self { seq: e.seq, at_ms, actor, action, subject, detail, prev: e.prev, hash: e.hash }
    }
}
