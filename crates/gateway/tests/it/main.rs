//! Gateway integration tests: a real server on port 0, a fresh database per
//! test, real HTTP. Every scenario runs on SQLite and on PostgreSQL.

mod addresses;
mod auth;
mod boundary;
mod connections;
mod errors;
mod helpers;
mod input;
mod invoices;
mod observability;
mod payments;
mod proxy;
mod resilience;
mod shop;
mod system;
mod webhooks;
