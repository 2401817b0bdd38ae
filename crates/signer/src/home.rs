//! The signer's directory: where the seed lives, readable by its owner only.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::{Result, SignerError, SignerSeed};

const SEED_FILE: &str = "seed.mnemonic";

/// The signer's home directory.
#[derive(Debug, Clone)]
pub struct SignerHome {
    dir: PathBuf,
}

/// What `init` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    /// A new seed was generated and stored.
    Created,
    /// A seed was already there and was kept.
    Existing,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SignerError {
    let path = path.to_owned();
    move |source| SignerError::Io { action, path, source }
}

impl SignerHome {
    /// The signer directory at `dir` (not touched until used).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn seed_path(&self) -> PathBuf {
        self.dir.join(SEED_FILE)
    }

    /// Generates and stores a seed unless one is there already. The directory
    /// is created mode 0700 and the seed file mode 0600; the file appears
    /// whole or not at all, and an existing seed is never overwritten.
    pub fn init(&self) -> Result<(InitOutcome, SignerSeed)> {
        if self.seed_path().exists() {
            return Ok((InitOutcome::Existing, self.load()?));
        }
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir).map_err(io("creating", &self.dir))?;
        let seed = SignerSeed::generate()?;
        let tmp = self.dir.join(format!(".{SEED_FILE}.{}", std::process::id()));
        let mut file =
            OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io("creating", &tmp))?;
        file.write_all(seed.phrase().as_bytes()).and_then(|()| file.sync_all()).map_err(io("writing", &tmp))?;
        drop(file);
        // A hard link fails if the target exists: two racing inits cannot both win.
        let linked = fs::hard_link(&tmp, self.seed_path());
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok((InitOutcome::Created, seed)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(SignerError::AlreadyInitialised(self.dir.clone()))
            }
            Err(e) => Err(io("storing", &self.seed_path())(e)),
        }
    }

    /// Loads the stored seed.
    pub fn load(&self) -> Result<SignerSeed> {
        let path = self.seed_path();
        let phrase = match fs::read_to_string(&path) {
            Ok(phrase) => phrase,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SignerError::NotInitialised(self.dir.clone()));
            }
            Err(e) => return Err(io("reading", &path)(e)),
        };
        SignerSeed::from_phrase(&phrase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn init_creates_a_private_seed_once_and_reuses_it() {
        let tmp = tempfile::tempdir().unwrap();
        let home = SignerHome::at(tmp.path().join("signer"));
        assert!(matches!(home.load(), Err(SignerError::NotInitialised(_))));
        let (outcome, seed) = home.init().unwrap();
        assert_eq!(outcome, InitOutcome::Created);
        let (again, reloaded) = home.init().unwrap();
        assert_eq!(again, InitOutcome::Existing);
        assert_eq!(seed.account_xpub().unwrap(), reloaded.account_xpub().unwrap());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&tmp.path().join("signer")), 0o700);
        assert_eq!(mode(&home.seed_path()), 0o600);
        let leftovers: Vec<_> = fs::read_dir(tmp.path().join("signer")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the seed file remains");
    }
}
