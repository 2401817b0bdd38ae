//! The seed at rest: `seed.enc` ([`file`]), the argon2id step that turns a
//! passphrase into its key ([`kdf`]), the passphrase itself
//! ([`passphrase`]) and how files reach the disk ([`disk`]); and an
//! approver's own key, sealed the same way ([`approver`]).

pub(crate) mod approver;
pub(crate) mod disk;
pub(crate) mod file;
pub(crate) mod kdf;
pub(crate) mod passphrase;

pub use approver::{APPROVER_KEY_FORMAT, APPROVER_PASSPHRASE_ENV, ApproverKey};
pub use kdf::{KdfCost, MIN_ITERATIONS, MIN_MEMORY_KIB};
pub use passphrase::{MIN_PASSPHRASE_CHARS, PASSPHRASE_ENV, Passphrase};
