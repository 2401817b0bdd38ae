//! coffer-audit: the hash format, the verifier against every single
//! mutation of random logs, anchors, and JSON Lines.

#![allow(clippy::unwrap_used)]

mod anchors;
mod format;
mod jsonl;
mod logs;
mod mutations;
