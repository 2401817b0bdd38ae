//! Gateway integration tests: a real server on port 0, a fresh database per
//! test, real HTTP. Every scenario runs on SQLite and on PostgreSQL.

mod addresses;
mod auth;
mod boundary;
mod cancelled_requests;
mod errors;
mod helpers;
mod invoices;
mod payments;
mod proxy;
mod resilience;
mod shop;
mod sqlite_lock;
mod system;
mod webhook_fairness;
mod webhooks;
