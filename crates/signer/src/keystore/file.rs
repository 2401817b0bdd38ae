//! `seed.enc`, format `coffer-seed/1`: the BIP-39 phrase under
//! XChaCha20-Poly1305, its key from argon2id over the passphrase.
//!
//! ```json
//! {"format":"coffer-seed/1",
//!  "kdf":{"algorithm":"argon2id","memory_kib":65536,"iterations":3,"parallelism":1,"salt":"<hex>"},
//!  "cipher":{"algorithm":"xchacha20poly1305","nonce":"<hex>"},
//!  "ciphertext":"<hex>"}
//! ```
//!
//! Everything but the ciphertext (format, KDF and cipher parameters) is the
//! AEAD's associated data: a file whose parameters were swapped or lowered
//! does not open, it does not silently decrypt under a weaker setting. The
//! plaintext is the phrase padded with spaces to 256 bytes, so the file's
//! length says nothing about the words.
//!
//! Approvers' key files (`super::approver`) are the same envelope under
//! another format tag ([`Sealed`]): the tag is checked and bound into the
//! AEAD, so neither kind of file opens as the other.

use std::path::Path;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Passphrase;
use super::kdf::{KdfCost, KdfParams, KdfRefusal};
use crate::{Result, SignerError};

/// The format tag this signer writes and reads.
pub(crate) const FORMAT: &str = "coffer-seed/1";
const CIPHER: &str = "xchacha20poly1305";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// 24 words of at most 8 letters and 23 spaces fit in 215 bytes.
const PLAINTEXT_LEN: usize = 256;

/// One kind of sealed file: its format tag and the exact length of what it holds.
pub(crate) struct Sealed {
    /// The `format` field, checked on open and bound as associated data.
    pub(crate) format: &'static str,
    /// The plaintext's length in bytes (fixed, so the file's length says nothing).
    pub(crate) len: usize,
}

/// `seed.enc`.
pub(crate) const SEED: Sealed = Sealed { format: FORMAT, len: PLAINTEXT_LEN };

/// Why a sealed file does not open; each caller names its own file in its error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not JSON of this shape, an unknown cipher, a damaged field.
    Malformed(String),
    /// A well-formed file of another kind: its format tag.
    OtherFormat(String),
    /// The stored KDF cost is out of bounds: `(memory_kib, iterations, parallelism)`.
    WeakKdf(u32, u32, u32),
    /// The AEAD refused: a wrong passphrase, or an altered file.
    WrongPassphrase,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedFile {
    format: String,
    kdf: KdfParams,
    cipher: CipherParams,
    /// Hex; ciphertext and tag.
    ciphertext: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherParams {
    algorithm: String,
    /// Hex.
    nonce: String,
}

impl SealedFile {
    /// The associated data: every field but the ciphertext, canonically.
    fn header(&self) -> String {
        format!(
            "{}\n{}\ncipher={} nonce={}",
            self.format,
            self.kdf.canonical(),
            self.cipher.algorithm,
            self.cipher.nonce
        )
    }
}

fn randomness(e: getrandom::Error) -> SignerError {
    SignerError::Randomness(e.to_string())
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    // The cipher keeps its own copy of the key and wipes it on drop (feature "zeroize").
    XChaCha20Poly1305::new(&(*key).into())
}

/// The bytes of a new file of `kind` holding `plaintext` (exactly `kind.len` bytes).
pub(crate) fn seal_as(kind: &Sealed, plaintext: &[u8], passphrase: &Passphrase, cost: KdfCost) -> Result<Vec<u8>> {
    if plaintext.len() != kind.len {
        return Err(SignerError::Derivation(format!("a {} file holds {} bytes", kind.format, kind.len)));
    }
    let kdf = KdfParams::new(cost).map_err(randomness)?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(randomness)?;
    let mut file = SealedFile {
        format: kind.format.into(),
        kdf,
        cipher: CipherParams { algorithm: CIPHER.into(), nonce: hex::encode(nonce) },
        ciphertext: String::new(),
    };
    let key = file.kdf.derive(passphrase).map_err(|e| SignerError::Derivation(format!("argon2id: {e:?}")))?;
    // Room for the tag up front: a reallocation would leave a copy of the secret behind.
    let mut buffer = Zeroizing::new(Vec::with_capacity(kind.len + TAG_LEN));
    buffer.extend_from_slice(plaintext);
    cipher(&key)
        .encrypt_in_place(&XNonce::from(nonce), file.header().as_bytes(), &mut *buffer)
        .map_err(|_| SignerError::Derivation("xchacha20poly1305 refused to encrypt".into()))?;
    file.ciphertext = hex::encode(&*buffer);
    let mut bytes = serde_json::to_vec(&file).map_err(|e| SignerError::Derivation(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The plaintext of a file of `kind` (exactly `kind.len` bytes).
pub(crate) fn open_as(
    kind: &Sealed,
    bytes: &[u8],
    passphrase: &Passphrase,
) -> std::result::Result<Zeroizing<Vec<u8>>, Refusal> {
    let file: SealedFile = serde_json::from_slice(bytes).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if file.format != kind.format {
        return Err(Refusal::OtherFormat(file.format));
    }
    if file.cipher.algorithm != CIPHER {
        return Err(Refusal::Malformed(format!("unsupported cipher {:?}", file.cipher.algorithm)));
    }
    let nonce: [u8; NONCE_LEN] = hex::decode(&file.cipher.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| Refusal::Malformed("the nonce is not 24 bytes of hex".into()))?;
    let mut buffer =
        Zeroizing::new(hex::decode(&file.ciphertext).map_err(|_| Refusal::Malformed("bad ciphertext".into()))?);
    if buffer.len() != kind.len + TAG_LEN {
        return Err(Refusal::Malformed("the ciphertext has the wrong length".into()));
    }
    let key = file.kdf.derive(passphrase).map_err(|refusal| match refusal {
        KdfRefusal::Malformed(reason) => Refusal::Malformed(reason),
        KdfRefusal::OutOfBounds => Refusal::WeakKdf(file.kdf.memory_kib, file.kdf.iterations, file.kdf.parallelism),
    })?;
    cipher(&key)
        .decrypt_in_place(&XNonce::from(nonce), file.header().as_bytes(), &mut *buffer)
        .map_err(|_| Refusal::WrongPassphrase)?;
    Ok(buffer)
}

/// The bytes of a new `seed.enc` holding `phrase`.
pub(crate) fn seal(phrase: &str, passphrase: &Passphrase, cost: KdfCost) -> Result<Vec<u8>> {
    if phrase.len() > PLAINTEXT_LEN {
        return Err(SignerError::BadMnemonic("the phrase is longer than 24 words".into()));
    }
    let mut padded = Zeroizing::new(Vec::with_capacity(PLAINTEXT_LEN));
    padded.extend_from_slice(phrase.as_bytes());
    padded.resize(PLAINTEXT_LEN, b' ');
    seal_as(&SEED, &padded, passphrase, cost)
}

/// The phrase inside `bytes`, read from `path` (named in errors).
pub(crate) fn open(bytes: &[u8], passphrase: &Passphrase, path: &Path) -> Result<Zeroizing<String>> {
    let malformed = |reason: String| SignerError::MalformedSeedFile { path: path.into(), reason };
    let mut buffer = open_as(&SEED, bytes, passphrase).map_err(|refusal| match refusal {
        Refusal::Malformed(reason) => malformed(reason),
        Refusal::OtherFormat(format) if format == super::APPROVER_KEY_FORMAT => {
            malformed(format!("it is an approver's key file ({format}), not a seed"))
        }
        Refusal::OtherFormat(format) => malformed(format!("format {format:?}, this signer reads {FORMAT:?}")),
        Refusal::WeakKdf(memory_kib, iterations, parallelism) => {
            SignerError::WeakKdf { path: path.into(), memory_kib, iterations, parallelism }
        }
        Refusal::WrongPassphrase => SignerError::WrongPassphrase(path.into()),
    })?;
    let text = String::from_utf8(std::mem::take(&mut *buffer)).map_err(|e| {
        drop(Zeroizing::new(e.into_bytes()));
        malformed("the plaintext is not text".into())
    })?;
    let mut phrase = Zeroizing::new(text);
    let words = phrase.trim_end().len();
    phrase.truncate(words);
    Ok(phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "test test test test test test test test test test test junk";

    fn passphrase(text: &str) -> Passphrase {
        Passphrase::new(text.into()).unwrap()
    }

    fn sealed() -> serde_json::Value {
        serde_json::from_slice(&seal(PHRASE, &passphrase("correct horse battery"), KdfCost::Dev).unwrap()).unwrap()
    }

    fn reopen(value: &serde_json::Value, with: &str) -> Result<Zeroizing<String>> {
        open(&serde_json::to_vec(value).unwrap(), &passphrase(with), Path::new("/signer/seed.enc"))
    }

    #[test]
    fn a_sealed_phrase_opens_with_its_passphrase_only() {
        let file = sealed();
        assert_eq!(file["format"], FORMAT);
        assert_eq!(file["kdf"]["algorithm"], "argon2id");
        assert_eq!(file["cipher"]["algorithm"], "xchacha20poly1305");
        assert_eq!(reopen(&file, "correct horse battery").unwrap().as_str(), PHRASE);
        let text = file.to_string();
        assert!(!text.contains("test") && !text.contains("junk"), "{text}");
        let wrong = reopen(&file, "correct horse batterY").unwrap_err();
        assert!(matches!(wrong, SignerError::WrongPassphrase(_)), "{wrong:?}");
        assert_eq!(wrong.to_string().split(':').next(), Some("the passphrase does not open /signer/seed.enc"));
    }

    #[test]
    fn the_header_is_bound_so_swapped_or_lowered_parameters_do_not_open() {
        let file = sealed();
        let mut dearer = file.clone();
        dearer["kdf"]["iterations"] = 2.into();
        assert!(matches!(reopen(&dearer, "correct horse battery"), Err(SignerError::WrongPassphrase(_))));
        let mut other_nonce = file.clone();
        other_nonce["cipher"]["nonce"] = hex::encode([7u8; 24]).into();
        assert!(matches!(reopen(&other_nonce, "correct horse battery"), Err(SignerError::WrongPassphrase(_))));
        let mut weak = file.clone();
        weak["kdf"]["memory_kib"] = 1024.into();
        let err = reopen(&weak, "correct horse battery").unwrap_err();
        assert!(matches!(err, SignerError::WeakKdf { memory_kib: 1024, .. }), "{err:?}");
        let mut no_passes = file.clone();
        no_passes["kdf"]["iterations"] = 0.into();
        assert!(matches!(reopen(&no_passes, "correct horse battery"), Err(SignerError::WeakKdf { .. })));
    }

    #[test]
    fn the_ciphertext_is_bound_to_the_header_as_associated_data() {
        let bytes = seal(PHRASE, &passphrase("correct horse battery"), KdfCost::Dev).unwrap();
        let file: SealedFile = serde_json::from_slice(&bytes).unwrap();
        let key = file.kdf.derive(&passphrase("correct horse battery")).unwrap();
        let nonce = XNonce::from(<[u8; NONCE_LEN]>::try_from(hex::decode(&file.cipher.nonce).unwrap()).unwrap());
        let decrypt = |aad: &[u8]| {
            let mut buffer = hex::decode(&file.ciphertext).unwrap();
            cipher(&key).decrypt_in_place(&nonce, aad, &mut buffer).map(|()| buffer)
        };
        assert!(decrypt(b"").is_err(), "the right key without the header must not open it");
        let mut swapped = file.header();
        swapped.push(' ');
        assert!(decrypt(swapped.as_bytes()).is_err());
        assert!(decrypt(file.header().as_bytes()).unwrap().starts_with(PHRASE.as_bytes()));
    }

    #[test]
    fn other_formats_and_damaged_files_are_named_malformed() {
        let file = sealed();
        let mut future = file.clone();
        future["format"] = "coffer-seed/2".into();
        let mut aes = file.clone();
        aes["cipher"]["algorithm"] = "aes-256-gcm".into();
        let mut extra = file.clone();
        extra["note"] = "unknown field".into();
        let mut short = file.clone();
        short["ciphertext"] = "00ff".into();
        for damaged in [future, aes, extra, short] {
            let err = reopen(&damaged, "correct horse battery").unwrap_err();
            assert!(matches!(err, SignerError::MalformedSeedFile { .. }), "{damaged}: {err:?}");
        }
        let err = open(PHRASE.as_bytes(), &passphrase("correct horse battery"), Path::new("x")).unwrap_err();
        assert!(matches!(err, SignerError::MalformedSeedFile { .. }), "a plain phrase is no seed file: {err:?}");
    }
}
