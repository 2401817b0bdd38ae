//! A local EVM chain for `coffer dev` and the tests: anvil, installed by the
//! project itself from the pinned npm package (`tools/package.json`, hashes
//! in `tools/package-lock.json`, install scripts disabled), and the test
//! USDT token compiled from `contracts/TestUSDT.sol`.
//!
//! Transactions go through anvil's unlocked dev accounts
//! (`eth_sendTransaction`): this crate holds no key.

mod anvil;
mod control;
mod forwarder;
mod rpc;
mod tcp_proxy;
mod token;
mod tools;

pub use anvil::{Anvil, AnvilOptions};
pub use forwarder::{Forwarder, deploy_forwarder};
pub use rpc::{Rpc, RpcError};
pub use tcp_proxy::TcpProxy;
pub use token::{TestToken, deploy_test_usdt};
pub use tools::{ToolsError, anvil_binary, repo_root};

/// Chain id anvil uses unless told otherwise.
pub const ANVIL_CHAIN_ID: u64 = 31337;

/// Errors of the local chain.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// Installing or finding anvil failed.
    #[error(transparent)]
    Tools(#[from] ToolsError),
    /// anvil did not start.
    #[error("anvil did not start: {0}")]
    Start(String),
    /// A transaction reverted or was not mined in time (is the chain mining?).
    #[error("{0}")]
    Transaction(String),
    /// A JSON-RPC call failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A contract artifact is missing or malformed.
    #[error("contract artifact {path}: {reason}")]
    Artifact {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}
