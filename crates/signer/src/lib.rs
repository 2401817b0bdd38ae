//! The signer: the only part of Coffer that holds a private key.
//!
//! It owns the HD seed, stored **encrypted at rest** in its directory
//! ([`SignerHome`]): `seed.enc` holds the BIP-39 phrase under
//! XChaCha20-Poly1305, keyed by argon2id over a passphrase that comes from
//! `COFFER_SIGNER_PASSPHRASE` or a file, never a command-line flag
//! ([`Passphrase`]). The KDF's cost is stored in the file (production:
//! 64 MiB, 3 passes) and bound into the AEAD, and a file whose cost is below
//! a floor is refused, so nobody with write access to the directory can
//! make the next copy cheap to crack. A plain `seed.mnemonic` from an
//! earlier `coffer dev` is encrypted in place when a passphrase is given,
//! and refused with a sentence otherwise.
//!
//! From the seed it derives ([`SignerKeys`]) the deposit account
//! (`m/44'/60'/0'`, whose xpub the gateway holds), the hot wallet
//! (`m/44'/60'/1'/0/0`, another hardened account) and its ed25519 identity
//! key (domain-separated from the seed, so a restored mnemonic restores it).
//! Signing (sweeps and payouts, each checked against the signer's own
//! policy) arrives with the treasury work.
//!
//! **Architecture invariant:** the gateway crate never depends on this crate,
//! directly or transitively (checked by `crates/gateway/tests/it/boundary.rs`),
//! and the signer runs in its own process with its own directory. Nothing the
//! gateway can read contains the seed.
//!
//! **Invariant:** the signer never exports a private key: no public function
//! returns key bytes, an xprv or a non-hardened child private key (an xpub
//! plus one child private key yields every key of the account). Key-holding
//! types wipe their secrets on drop and redact them in `Debug`; errors never
//! repeat a phrase, a word of it or a passphrase.
//!
//! **API boundary:** what crosses to the gateway is public material only: the
//! deposit account xpub, the hot wallet's address and the identity's public
//! key, as text.

mod audit_log;
mod chain;
mod config;
mod engine;
mod engine_thread;
mod home;
mod keystore;
mod metrics;
mod offline;
mod run;
mod seed;
mod service;
mod store;
mod wallet_key;

pub use audit_log::{SignerAudit, read_audit};
pub use config::{ConfigError, SignerConfig};
pub use home::{InitOutcome, LEGACY_SEED_FILE, OpenOutcome, SEED_FILE, SignerHome};
pub use keystore::{
    APPROVER_KEY_FORMAT, APPROVER_PASSPHRASE_ENV, ApproverKey, KdfCost, MIN_ITERATIONS, MIN_MEMORY_KIB,
    MIN_PASSPHRASE_CHARS, PASSPHRASE_ENV, Passphrase,
};
pub use offline::{UnfreezeError, unfreeze_without_approvers};
pub use run::{RunError, run};
pub use seed::{ACCOUNT_PATH, HOT_WALLET_PATH, SignerKeys};
pub use store::StoreError;

use std::path::PathBuf;

/// Errors of the signer's key storage and derivation. None carries secret
/// material.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// Reading or writing the signer directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `init` lost a race to another `init` that stored its seed first.
    #[error("{0} already holds a seed; refusing to overwrite it")]
    AlreadyInitialised(PathBuf),
    /// There is no seed to open.
    #[error("no seed in {0}; run `coffer signer init --dir {0}` first")]
    NotInitialised(PathBuf),
    /// No passphrase was given.
    #[error(
        "the signer's seed is encrypted with a passphrase: set {PASSPHRASE_ENV} or pass --passphrase-file FILE \
         (at least {MIN_PASSPHRASE_CHARS} characters)"
    )]
    NoPassphrase,
    /// The passphrase is too short to protect the seed.
    #[error("{from} has {chars} characters; a passphrase needs at least {MIN_PASSPHRASE_CHARS} characters")]
    PassphraseTooShort {
        /// Where it came from (the variable or the file).
        from: String,
        /// How many characters it has.
        chars: usize,
    },
    /// The passphrase is not UTF-8 text.
    #[error("{from} is not UTF-8 text; a passphrase must be")]
    PassphraseNotText {
        /// Where it came from (the variable or the file).
        from: String,
    },
    /// The AEAD refused: a wrong passphrase, or a file altered since it was written.
    #[error(
        "the passphrase does not open {}: it is the wrong passphrase, or the file was altered",
        .0.display()
    )]
    WrongPassphrase(PathBuf),
    /// The stored KDF cost is below the floor (or absurdly high).
    #[error(
        "{} asks for argon2id with m = {memory_kib} KiB, t = {iterations}, p = {parallelism}, below this signer's \
         floor (m >= {MIN_MEMORY_KIB} KiB, t >= {MIN_ITERATIONS}) or above its ceiling; refusing it, as someone \
         may have weakened it: restore the file from your backup",
        path.display()
    )]
    WeakKdf {
        /// The seed file (or an approver's key file).
        path: PathBuf,
        /// Stored memory cost (KiB).
        memory_kib: u32,
        /// Stored passes.
        iterations: u32,
        /// Stored lanes.
        parallelism: u32,
    },
    /// The seed file is not a `coffer-seed/1` file this signer can read.
    #[error("{} is not a seed file this signer reads: {reason}", path.display())]
    MalformedSeedFile {
        /// The seed file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is not an approver's key file (a seed file, another format, damage).
    #[error("{} is not an approver's key file: {reason}", path.display())]
    MalformedApproverKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An approver's key file is never overwritten.
    #[error("{} already exists; refusing to overwrite it (an approver's key is made once)", .0.display())]
    ApproverKeyExists(PathBuf),
    /// A plain seed from an earlier `coffer dev`, and no passphrase to encrypt it with.
    #[error(
        "{} holds an unencrypted seed ({LEGACY_SEED_FILE}) from an earlier `coffer dev`; set {PASSPHRASE_ENV} or \
         pass --passphrase-file FILE to encrypt it in place",
        .0.display()
    )]
    LegacyPlainSeed(PathBuf),
    /// Both `seed.enc` and a plain `seed.mnemonic`: which one is the seed?
    #[error(
        "{} holds both {SEED_FILE} and an unencrypted {LEGACY_SEED_FILE}; refusing to guess which is the signer's \
         seed: keep one (wipe {LEGACY_SEED_FILE} if {SEED_FILE} holds the same seed) and start again",
        .0.display()
    )]
    AmbiguousSeeds(PathBuf),
    /// The stored mnemonic does not parse (the reason never repeats its words).
    #[error("the stored mnemonic is not a valid BIP-39 phrase: {0}")]
    BadMnemonic(String),
    /// HD derivation or encryption failed.
    #[error("key derivation failed: {0}")]
    Derivation(String),
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Randomness(String),
}

impl SignerError {
    /// A stable code for logs and the signer's answers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "signer.io",
            Self::AlreadyInitialised(_) => "signer.already_initialised",
            Self::NotInitialised(_) => "signer.not_initialised",
            Self::NoPassphrase => "signer.passphrase_missing",
            Self::PassphraseTooShort { .. } => "signer.passphrase_too_short",
            Self::PassphraseNotText { .. } => "signer.passphrase_not_text",
            Self::WrongPassphrase(_) => "signer.passphrase_wrong",
            Self::WeakKdf { .. } => "signer.seed_kdf_out_of_bounds",
            Self::MalformedSeedFile { .. } => "signer.seed_malformed",
            Self::MalformedApproverKey { .. } => "signer.approver_key_malformed",
            Self::ApproverKeyExists(_) => "signer.approver_key_exists",
            Self::LegacyPlainSeed(_) => "signer.seed_unencrypted",
            Self::AmbiguousSeeds(_) => "signer.seed_ambiguous",
            Self::BadMnemonic(_) => "signer.mnemonic_invalid",
            Self::Derivation(_) => "signer.derivation",
            Self::Randomness(_) => "signer.randomness",
        }
    }
}

/// Result of signer operations.
pub type Result<T, E = SignerError> = std::result::Result<T, E>;
