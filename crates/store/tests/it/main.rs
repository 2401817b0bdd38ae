//! The store conformance suite: every test runs against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod approvals;
mod audit;
mod cancelled_writes;
mod chain;
mod conformance;
mod console;
mod leases;
mod payouts;
mod sweeps;
mod webhooks;
