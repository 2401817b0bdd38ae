//! Coffer's hash-chained audit logs: the gateway's and the signer's.
//!
//! Every privileged act (a merchant or API key created, a key revoked, a
//! webhook registered, a halt resolved, the configuration loaded; on the
//! signer's side a seed created, a policy loaded, a payout signed) is a
//! [`Record`] appended as an [`Entry`] that carries the hash of the entry
//! before it ([`Entry::next`]). Editing, deleting, inserting or reordering
//! entries breaks the chain, and [`verify`] names the first entry where it
//! breaks and how ([`Break`]). Rewriting a whole log, every hash recomputed,
//! leaves a chain that verifies; the heads the signer recorded from the
//! gateway's requests ([`Anchor`], [`check_anchors`]) catch that.
//!
//! Pure: no I/O besides turning entries into lines and back ([`to_jsonl`],
//! [`parse_jsonl`], [`read_jsonl`]). Where a log is kept (the gateway's
//! store, the signer's SQLite) is its writer's business; what an entry
//! hashes as ([`entry_hash`], [`canonical_json`]) is fixed here, for both.
//!
//! **API boundary:** the hash format ([`FORMAT`], `coffer-audit/1`) and
//! the JSON Lines shapes are read by verifiers of logs written years
//! before; change them only with a new format name.

mod anchors;
mod canonical;
mod entry;
mod hash;
mod jsonl;
mod verify;

pub use anchors::{Anchor, AnchorBreak, AnchorBreakKind, AnchorCheck, check_anchors};
pub use canonical::canonical_json;
pub use entry::{Entry, FORMAT, Head, Record, entry_hash};
pub use hash::{Hash, HashParseError};
pub use jsonl::{JsonLine, JsonLines, ParseError, parse_jsonl, read_jsonl, to_jsonl};
pub use verify::{Break, BreakKind, Verifier, WINDOW, verify};
