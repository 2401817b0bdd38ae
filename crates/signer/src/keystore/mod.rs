//! The seed at rest: `seed.enc` ([`file`]), the argon2id step that turns a
//! passphrase into its key ([`kdf`]), the passphrase itself
//! ([`passphrase`]) and how files reach the disk ([`disk`]).

pub(crate) mod disk;
pub(crate) mod file;
pub(crate) mod kdf;
pub(crate) mod passphrase;

pub use kdf::{KdfCost, MIN_ITERATIONS, MIN_MEMORY_KIB};
pub use passphrase::{MIN_PASSPHRASE_CHARS, PASSPHRASE_ENV, Passphrase};
