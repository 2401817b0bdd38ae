//! An approver's own key: ed25519, made on the approver's device from the
//! OS's randomness, and kept there in a file sealed like `seed.enc`
//! (argon2id over a passphrase, XChaCha20-Poly1305, parameters stored and
//! bound as associated data) under its own format tag,
//! `coffer-approver-key/1`: a seed file never opens as an approver's key,
//! nor an approver's key as a seed.
//!
//! The key signs one thing: a decision about a digest
//! ([`Decision::signed_text`]), which is what the signer counts. It never
//! leaves the type: no function returns its bytes, `Debug` prints the
//! public half only, and the secret is wiped on drop (ed25519-dalek's
//! `zeroize`).

use std::fmt;
use std::path::Path;

use coffer_signer_api::{Approval, Decision, Digest, PublicKey};
use ed25519_dalek::{Signer as _, SigningKey};
use zeroize::Zeroizing;

use super::file::{self, Refusal, Sealed};
use super::{KdfCost, Passphrase, disk};
use crate::{Result, SignerError};

/// The format tag of an approver's key file.
pub const APPROVER_KEY_FORMAT: &str = "coffer-approver-key/1";
/// The environment variable an approver's passphrase may come from (never
/// the signer's: an approver's key and the seed are on different hosts and
/// in different hands).
pub const APPROVER_PASSPHRASE_ENV: &str = "COFFER_APPROVER_PASSPHRASE";

/// The file holds the 32-byte ed25519 secret.
const KIND: Sealed = Sealed { format: APPROVER_KEY_FORMAT, len: 32 };

/// One approver's signing key.
pub struct ApproverKey {
    secret: SigningKey,
    public: PublicKey,
}

impl ApproverKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<Self> {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|e| SignerError::Randomness(e.to_string()))?;
        Self::from_secret(&secret)
    }

    fn from_secret(secret: &[u8; 32]) -> Result<Self> {
        let secret = SigningKey::from_bytes(secret);
        // A verifying key made from a secret is a valid point; were it not, say so rather than sign.
        let public = PublicKey::from_bytes(&secret.verifying_key().to_bytes())
            .ok_or_else(|| SignerError::Derivation("the approver's public key is not a valid point".into()))?;
        Ok(Self { secret, public })
    }

    /// The public half, as `signer.toml` lists it (`ed25519:` and hex).
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// This approver's approval of `digest`.
    pub fn approve(&self, digest: &Digest) -> Approval {
        self.decide(Decision::Approve, digest)
    }

    /// This approver's rejection of `digest`: a refused payout, a vetoed change.
    pub fn reject(&self, digest: &Digest) -> Approval {
        self.decide(Decision::Reject, digest)
    }

    fn decide(&self, decision: Decision, digest: &Digest) -> Approval {
        let signature = self.secret.sign(decision.signed_text(digest).as_bytes());
        Approval { approver: self.public(), decision, digest: *digest, signature: hex::encode(signature.to_bytes()) }
    }

    /// Writes the key, sealed under `passphrase` at `cost`, to the new file
    /// `path` (mode 0600, fsynced with its directory). Never overwrites:
    /// a file already there is [`SignerError::ApproverKeyExists`].
    pub fn create_file(&self, path: &Path, passphrase: &Passphrase, cost: KdfCost) -> Result<()> {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| SignerError::MalformedApproverKey {
            path: path.into(),
            reason: "the path does not end in a file name of UTF-8 text".into(),
        })?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let secret = Zeroizing::new(self.secret.to_bytes());
        let sealed = file::seal_as(&KIND, secret.as_slice(), passphrase, cost)?;
        if !disk::create_new(dir, name, &sealed)? {
            return Err(SignerError::ApproverKeyExists(path.into()));
        }
        Ok(())
    }

    /// Opens the key file at `path` with `passphrase`.
    pub fn load_file(path: &Path, passphrase: &Passphrase) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|source| SignerError::Io { action: "reading", path: path.into(), source })?;
        let malformed = |reason: String| SignerError::MalformedApproverKey { path: path.into(), reason };
        let plain = file::open_as(&KIND, &bytes, passphrase).map_err(|refusal| match refusal {
            Refusal::Malformed(reason) => malformed(reason),
            Refusal::OtherFormat(format) if format == file::FORMAT => {
                malformed(format!("it is a signer's seed file ({format}), not an approver's key"))
            }
            Refusal::OtherFormat(format) => {
                malformed(format!("format {format:?}; an approver's key file is {APPROVER_KEY_FORMAT:?}"))
            }
            Refusal::WeakKdf(memory_kib, iterations, parallelism) => {
                SignerError::WeakKdf { path: path.into(), memory_kib, iterations, parallelism }
            }
            Refusal::WrongPassphrase => SignerError::WrongPassphrase(path.into()),
        })?;
        let secret: &[u8; 32] = plain.as_slice().try_into().map_err(|_| malformed("the key is not 32 bytes".into()))?;
        Self::from_secret(secret)
    }
}

impl fmt::Debug for ApproverKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApproverKey(public {}, secret <redacted>)", self.public())
    }
}

#[cfg(test)]
mod tests;
