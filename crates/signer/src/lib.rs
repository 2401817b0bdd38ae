//! The signer: the only part of Coffer that holds a private key.
//!
//! Today it owns the HD seed and exports the account xpub the gateway
//! derives deposit addresses from. Signing (sweeps and payouts, each checked
//! against the signer's own policy) arrives with the treasury work.
//!
//! **Architecture invariant:** the gateway crate never depends on this crate,
//! directly or transitively (checked by `crates/gateway/tests/it/boundary.rs`),
//! and the signer runs in its own process with its own directory. Nothing the
//! gateway can read contains the seed.
//!
//! **API boundary:** what crosses to the gateway is public material only: the
//! account xpub, as text.

#[allow(dead_code)] // used by the transaction engine, which lands next
mod chain;
mod home;
mod seed;
#[allow(dead_code)] // used by the transaction engine, which lands next
mod wallet_key;

pub use home::{InitOutcome, SignerHome};
pub use seed::{ACCOUNT_PATH, SignerSeed};

/// Errors of the signer's key storage and derivation.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// Reading or writing the signer directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `init` found a seed already there and will not overwrite it.
    #[error("{0} already holds a seed; refusing to overwrite it")]
    AlreadyInitialised(std::path::PathBuf),
    /// There is no seed to open.
    #[error("no seed in {0}; run `coffer signer init --dir {0}` first")]
    NotInitialised(std::path::PathBuf),
    /// The stored mnemonic does not parse.
    #[error("the stored mnemonic is not a valid BIP-39 phrase: {0}")]
    BadMnemonic(String),
    /// HD derivation failed.
    #[error("key derivation failed: {0}")]
    Derivation(String),
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Randomness(String),
}

/// Result of signer operations.
pub type Result<T, E = SignerError> = std::result::Result<T, E>;
