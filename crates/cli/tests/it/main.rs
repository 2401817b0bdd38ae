//! The `coffer` binary, run as a user runs it: a child process, real HTTP.

mod approvals;
mod audit;
mod browser;
mod checkout;
mod console;
mod crash;
mod dev;
mod dev_panel;
mod dev_topup;
mod dev_treasury;
mod drill;
mod fleet;
mod gateway;
mod halts;
mod http_double;
mod operator;
mod receiver;
mod signer;
mod signing;
mod support;
mod trace;
mod treasury;
