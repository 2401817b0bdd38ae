//! Gateway integration tests: a real server on port 0, a fresh database per
//! test, real HTTP. Every scenario runs on SQLite and on PostgreSQL.

mod addresses;
mod approvals;
mod audit;
mod auth;
mod boundary;
mod cancelled_requests;
mod connections;
mod deep_reorgs;
mod errors;
mod first_start;
mod fleet;
mod helpers;
mod hot_wallet_gas;
mod input;
mod internal_transfers;
mod invoices;
mod node_checks;
mod observability;
mod openapi_contract;
mod payments;
mod payout_restart;
mod payout_treasury;
mod payouts;
mod providers;
mod resilience;
mod rpc_proxy;
mod screening;
mod several_providers;
mod shop;
mod signer_double;
mod sqlite_lock;
mod system;
mod unwatched;
mod webhook_fairness;
mod webhooks;
