//! The signer's directory: the encrypted seed `seed.enc`, readable by its
//! owner only, and the migration of a plain `seed.mnemonic` left by an
//! earlier `coffer dev`.

use std::fs;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::keystore::{KdfCost, Passphrase, disk, file};
use crate::{Result, SignerError, SignerKeys};

/// The encrypted seed (format `coffer-seed/1`).
pub const SEED_FILE: &str = "seed.enc";
/// The plain BIP-39 phrase earlier versions of `coffer dev` stored.
pub const LEGACY_SEED_FILE: &str = "seed.mnemonic";

/// The signer's home directory.
#[derive(Debug, Clone)]
pub struct SignerHome {
    dir: PathBuf,
    cost: KdfCost,
}

/// What [`SignerHome::init`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    /// A new seed was generated and stored encrypted.
    Created,
    /// An encrypted seed was already there and was kept.
    Existing,
    /// A plain `seed.mnemonic` was there: it is now `seed.enc`, and the
    /// plain file was overwritten with zeros and removed.
    EncryptedLegacy,
}

/// What [`SignerHome::open`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenOutcome {
    /// The encrypted seed was opened.
    Opened,
    /// A plain `seed.mnemonic` was encrypted in place first (see
    /// [`InitOutcome::EncryptedLegacy`]).
    EncryptedLegacy,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SignerError {
    let path = path.to_owned();
    move |source| SignerError::Io { action, path, source }
}

fn present(path: &Path) -> Result<bool> {
    path.try_exists().map_err(io("checking", path))
}

impl SignerHome {
    /// The signer directory at `dir` (not touched until used). Seed files it
    /// writes cost [`KdfCost::Production`] to open.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), cost: KdfCost::Production }
    }

    /// The cost of the seed files this home writes (a new seed, or a legacy
    /// one encrypted in place). Files already written keep their own.
    #[must_use]
    pub fn with_kdf_cost(self, cost: KdfCost) -> Self {
        Self { cost, ..self }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the encrypted seed lives.
    pub fn seed_path(&self) -> PathBuf {
        self.dir.join(SEED_FILE)
    }

    fn legacy_path(&self) -> PathBuf {
        self.dir.join(LEGACY_SEED_FILE)
    }

    /// Generates and stores a seed unless one is there already (then opens
    /// it, encrypting a legacy plain seed in place). The directory is
    /// created mode 0700 and `seed.enc` mode 0600; the file appears whole or
    /// not at all, and an existing seed is never overwritten (two racing
    /// inits: one wins, the other answers [`SignerError::AlreadyInitialised`]).
    /// Without a passphrase it answers the sentence that says how to give one.
    pub fn init(&self, passphrase: Option<&Passphrase>) -> Result<(InitOutcome, SignerKeys)> {
        if present(&self.seed_path())? || present(&self.legacy_path())? {
            let (outcome, keys) = self.open(passphrase)?;
            let outcome = match outcome {
                OpenOutcome::Opened => InitOutcome::Existing,
                OpenOutcome::EncryptedLegacy => InitOutcome::EncryptedLegacy,
            };
            return Ok((outcome, keys));
        }
        let passphrase = passphrase.ok_or(SignerError::NoPassphrase)?;
        disk::private_dir(&self.dir)?;
        let keys = SignerKeys::generate()?;
        let sealed = file::seal(keys.phrase(), passphrase, self.cost)?;
        if !disk::create_new(&self.dir, SEED_FILE, &sealed)? {
            return Err(SignerError::AlreadyInitialised(self.dir.clone()));
        }
        Ok((InitOutcome::Created, keys))
    }

    /// Opens the stored seed with `passphrase`. A directory that holds only
    /// a plain `seed.mnemonic` has it encrypted in place first; without a
    /// passphrase that is refused with the sentence that says what to do.
    pub fn open(&self, passphrase: Option<&Passphrase>) -> Result<(OpenOutcome, SignerKeys)> {
        match (present(&self.seed_path())?, present(&self.legacy_path())?) {
            (true, true) => Err(SignerError::AmbiguousSeeds(self.dir.clone())),
            (false, true) => {
                let passphrase = passphrase.ok_or_else(|| SignerError::LegacyPlainSeed(self.dir.clone()))?;
                Ok((OpenOutcome::EncryptedLegacy, self.encrypt_legacy(passphrase)?))
            }
            (true, false) => {
                let passphrase = passphrase.ok_or(SignerError::NoPassphrase)?;
                Ok((OpenOutcome::Opened, SignerKeys::from_phrase(&self.read_sealed(passphrase)?)?))
            }
            (false, false) => Err(SignerError::NotInitialised(self.dir.clone())),
        }
    }

    fn read_sealed(&self, passphrase: &Passphrase) -> Result<Zeroizing<String>> {
        let path = self.seed_path();
        let bytes = fs::read(&path).map_err(io("reading", &path))?;
        file::open(&bytes, passphrase, &path)
    }

    /// `seed.enc` is written durably and read back before the plain file is
    /// wiped: at every instant at least one readable copy of the seed exists.
    fn encrypt_legacy(&self, passphrase: &Passphrase) -> Result<SignerKeys> {
        let legacy = self.legacy_path();
        let phrase = Zeroizing::new(fs::read_to_string(&legacy).map_err(io("reading", &legacy))?);
        let keys = SignerKeys::from_phrase(&phrase)?;
        let sealed = file::seal(keys.phrase(), passphrase, self.cost)?;
        if !disk::create_new(&self.dir, SEED_FILE, &sealed)? {
            return Err(SignerError::AmbiguousSeeds(self.dir.clone()));
        }
        if *self.read_sealed(passphrase)? != keys.phrase() {
            return Err(SignerError::Derivation(format!(
                "{} does not read back as the seed just written; {} was kept",
                self.seed_path().display(),
                legacy.display()
            )));
        }
        disk::wipe(&legacy)?;
        Ok(keys)
    }
}

#[cfg(test)]
#[path = "home_tests.rs"]
mod tests;
