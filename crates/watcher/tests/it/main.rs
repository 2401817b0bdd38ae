//! The watcher's planning against a real store.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

mod reorg_books;
