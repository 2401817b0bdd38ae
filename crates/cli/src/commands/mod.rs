//! One module per subcommand.

pub(crate) mod admin;
pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod chain;
pub(crate) mod config;
pub(crate) mod console;
pub(crate) mod dev;
pub(crate) mod drill;
pub(crate) mod fleet;
pub(crate) mod gateway;
pub(crate) mod ledger;
pub(crate) mod screening;
pub(crate) mod signer;
pub(crate) mod trace;
pub(crate) mod treasury;
