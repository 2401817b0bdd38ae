//! The store conformance suite: every test runs against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod chain;
mod conformance;
mod webhooks;
