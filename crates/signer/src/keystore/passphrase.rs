//! The passphrase that opens `seed.enc`: from an environment variable or a
//! file, never from a command-line flag (argv is readable by every user of
//! the host through `/proc` and lands in shell history).

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::{Result, SignerError};

/// The environment variable a passphrase may come from.
pub const PASSPHRASE_ENV: &str = "COFFER_SIGNER_PASSPHRASE";
/// Shorter passphrases are refused: argon2id slows each guess, it does not
/// make a short passphrase long.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// A passphrase, wiped from memory when dropped; `Debug` redacts it.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// A passphrase from text the caller already holds (the signer's
    /// configuration, a test). Refused under [`MIN_PASSPHRASE_CHARS`].
    pub fn new(text: String) -> Result<Self> {
        Self::checked(Zeroizing::new(text), "the passphrase")
    }

    fn checked(text: Zeroizing<String>, from: &str) -> Result<Self> {
        let chars = text.chars().count();
        if chars < MIN_PASSPHRASE_CHARS {
            return Err(SignerError::PassphraseTooShort { from: from.to_owned(), chars });
        }
        Ok(Self(text))
    }

    /// The whole content of `path`, less one trailing line ending.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut bytes = Zeroizing::new(std::fs::read(path).map_err(|source| SignerError::Io {
            action: "reading",
            path: path.into(),
            source,
        })?);
        let from = path.display().to_string();
        let text = match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(text) => Zeroizing::new(text),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                return Err(SignerError::PassphraseNotText { from });
            }
        };
        let mut text = text;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Self::checked(text, &from)
    }

    /// The passphrase in [`PASSPHRASE_ENV`], if that variable is set.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_env_var(PASSPHRASE_ENV)
    }

    /// The passphrase in the environment variable `name`, if it is set
    /// (an approver's key has its own: [`crate::APPROVER_PASSPHRASE_ENV`]).
    pub fn from_env_var(name: &str) -> Result<Option<Self>> {
        let Some(value) = std::env::var_os(name) else { return Ok(None) };
        match value.into_string() {
            Ok(text) => Self::checked(Zeroizing::new(text), name).map(Some),
            Err(raw) => {
                drop(Zeroizing::new(raw.into_encoded_bytes()));
                Err(SignerError::PassphraseNotText { from: name.into() })
            }
        }
    }

    /// The passphrase the operator gave: the file when one is named (an
    /// explicit choice beats the environment), else [`PASSPHRASE_ENV`], else
    /// none (then [`crate::SignerHome`] says what to do).
    pub fn resolve(file: Option<&Path>) -> Result<Option<Self>> {
        Self::resolve_from(file, PASSPHRASE_ENV)
    }

    /// Like [`Passphrase::resolve`], from the variable `env` instead.
    pub fn resolve_from(file: Option<&Path>, env: &str) -> Result<Option<Self>> {
        match file {
            Some(path) => Self::from_file(path).map(Some),
            None => Self::from_env_var(env),
        }
    }

    /// The secret text, for the KDF only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_gives_its_content_less_one_line_ending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passphrase");
        for (content, expected) in [
            ("correct horse battery\n", "correct horse battery"),
            ("correct horse battery\r\n", "correct horse battery"),
            ("correct horse battery", "correct horse battery"),
            ("  spaced out words  \n\n", "  spaced out words  \n"),
        ] {
            std::fs::write(&path, content).unwrap();
            assert_eq!(Passphrase::from_file(&path).unwrap().expose(), expected, "{content:?}");
        }
    }

    #[test]
    fn short_or_binary_or_missing_passphrases_are_refused_with_a_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passphrase");
        std::fs::write(&path, "hunter2\n").unwrap();
        let err = Passphrase::from_file(&path).unwrap_err();
        assert!(matches!(err, SignerError::PassphraseTooShort { chars: 7, .. }), "{err:?}");
        assert!(err.to_string().contains("at least 12 characters"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "the error never repeats the passphrase: {err}");
        // Twelve characters, counted as characters, not bytes.
        assert!(Passphrase::new("ééééééééééé".into()).is_err());
        assert!(Passphrase::new("éééééééééééé".into()).is_ok());
        std::fs::write(&path, [0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5, 0xf4, 0xf3]).unwrap();
        assert!(matches!(Passphrase::from_file(&path), Err(SignerError::PassphraseNotText { .. })));
        let missing = Passphrase::from_file(&dir.path().join("absent")).unwrap_err();
        assert!(matches!(missing, SignerError::Io { action: "reading", .. }), "{missing:?}");
    }

    #[test]
    fn debug_redacts() {
        let passphrase = Passphrase::new("correct horse battery staple".into()).unwrap();
        assert_eq!(format!("{passphrase:?}"), "Passphrase(<redacted>)");
    }
}
