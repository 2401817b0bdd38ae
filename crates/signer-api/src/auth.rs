//! Who said it: ed25519 signatures on every request and every answer.
//!
//! A request is signed over its method, path, body hash, timestamp, a random
//! nonce and the head of the gateway's audit log. The signer refuses a bad
//! signature, a timestamp outside its window and (with its own store) a nonce
//! it has seen, each with its own [`RuleTag`]. An answer is signed over its
//! status, body hash and the request's nonce, so an answer to one request
//! cannot be passed off as the answer to another.
//!
//! A valid signature proves only that the request came from the gateway host,
//! which an attacker may own: it is where checking starts, not where it ends.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::RuleTag;

const REQUEST_TAG: &str = "coffer-signer-request/1";
const ANSWER_TAG: &str = "coffer-signer-answer/1";
const PUBLIC_PREFIX: &str = "ed25519:";

/// Header names of a signed request (lower case, as HTTP/2 and hyper keep them).
pub mod headers {
    /// Unix seconds when the gateway signed.
    pub const TIMESTAMP: &str = "coffer-timestamp";
    /// 16 random bytes, hex: the signer accepts each once.
    pub const NONCE: &str = "coffer-nonce";
    /// The gateway audit log's head hash, hex (zeros for an empty log).
    pub const AUDIT_HEAD: &str = "coffer-audit-head";
    /// The gateway's ed25519 signature, hex.
    pub const SIGNATURE: &str = "coffer-signature";
    /// The signer's ed25519 signature of its answer, hex.
    pub const ANSWER_SIGNATURE: &str = "coffer-signer-signature";
}

/// Why a signature check failed: a rule tag and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {message}")]
pub struct AuthFailure {
    /// `auth.malformed`, `auth.signature`, `auth.stale` or `auth.replay`.
    pub rule: RuleTag,
    /// What was wrong.
    pub message: String,
}

impl AuthFailure {
    fn new(rule: RuleTag, message: impl Into<String>) -> Self {
        Self { rule, message: message.into() }
    }
}

/// An ed25519 public key, written `ed25519:` and 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// The key of these 32 bytes, if they are a valid ed25519 point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(bytes).ok().map(PublicKey)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", hex::encode(self.0.to_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Text that is not an ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ed25519 public key (expected `ed25519:` and 64 hex digits): {0:?}")]
pub struct BadPublicKey(pub String);

impl FromStr for PublicKey {
    type Err = BadPublicKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPublicKey(s.chars().take(80).collect());
        let hex = s.trim().strip_prefix(PUBLIC_PREFIX).ok_or_else(bad)?;
        let bytes: [u8; 32] = hex::decode(hex).ok().and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
        VerifyingKey::from_bytes(&bytes).map(PublicKey).map_err(|_| bad())
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The gateway's request key. It moves no money by itself; it proves a
/// request came from the gateway host. `Debug` redacts it; the secret is
/// zeroised on drop (ed25519-dalek's `zeroize` feature).
pub struct RequestKey(SigningKey);

/// The signer's identity key: it signs the signer's answers. The signer
/// derives it from its seed (see `coffer-signer`).
pub struct IdentityKey(SigningKey);

fn random_secret() -> std::io::Result<[u8; 32]> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(secret)
}

impl RequestKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> std::io::Result<Self> {
        Ok(Self(SigningKey::from_bytes(&random_secret()?)))
    }

    /// The public half, for the signer's configuration.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Writes the key to a new file only its owner can read (never overwrites).
    pub fn create_file(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        let text = zeroize::Zeroizing::new(format!("coffer-request-key/1 {}\n", hex::encode(self.0.to_bytes())));
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }

    /// Reads a key written by [`RequestKey::create_file`].
    pub fn load_file(path: &Path) -> std::io::Result<Self> {
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path)?);
        let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a coffer request key file");
        let hex = text.trim().strip_prefix("coffer-request-key/1 ").ok_or_else(invalid)?;
        let bytes = zeroize::Zeroizing::new(hex::decode(hex).map_err(|_| invalid())?);
        let secret: &[u8; 32] = bytes.as_slice().try_into().map_err(|_| invalid())?;
        Ok(Self(SigningKey::from_bytes(secret)))
    }

    /// Signs a request at `now` (unix seconds), carrying the gateway log's head.
    pub fn sign(&self, request: &RequestParts<'_>, now: i64, audit_head: [u8; 32]) -> std::io::Result<SignedHeaders> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
        let message = request_message(request, now, &nonce, &audit_head);
        Ok(SignedHeaders { timestamp: now, nonce, audit_head, signature: self.0.sign(message.as_bytes()) })
    }
}

impl IdentityKey {
    /// The identity key behind 32 secret bytes (derived by the signer from its seed).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// The public half, which the gateway's configuration holds.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs an answer to the request that carried `request_nonce`; hex, for the header.
    pub fn sign_answer(&self, status: u16, body: &[u8], request_nonce: &[u8; 16]) -> String {
        hex::encode(self.0.sign(answer_message(status, body, request_nonce).as_bytes()).to_bytes())
    }
}

impl fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestKey(public {}, secret <redacted>)", self.public())
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey(public {}, secret <redacted>)", self.public())
    }
}

/// What of an HTTP request is signed besides the headers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The path, without scheme, host or query.
    pub path: &'a str,
    /// The body's bytes, exactly as sent.
    pub body: &'a [u8],
}

/// The signature headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Unix seconds.
    pub timestamp: i64,
    /// Random, once per request.
    pub nonce: [u8; 16],
    /// The gateway audit log's head when the request was made.
    pub audit_head: [u8; 32],
    /// Over all of the above and the request.
    pub signature: Signature,
}

impl SignedHeaders {
    /// The four headers as name and value.
    pub fn to_pairs(&self) -> [(&'static str, String); 4] {
        [
            (headers::TIMESTAMP, self.timestamp.to_string()),
            (headers::NONCE, hex::encode(self.nonce)),
            (headers::AUDIT_HEAD, hex::encode(self.audit_head)),
            (headers::SIGNATURE, hex::encode(self.signature.to_bytes())),
        ]
    }

    /// Reads the headers through `get` (a header lookup by lower-case name).
    pub fn parse<'h>(get: impl Fn(&str) -> Option<&'h str>) -> Result<Self, AuthFailure> {
        let field = |name: &str| {
            get(name).ok_or_else(|| AuthFailure::new(RuleTag::AuthMalformed, format!("the {name} header is missing")))
        };
        let malformed =
            |name: &str| AuthFailure::new(RuleTag::AuthMalformed, format!("the {name} header is malformed"));
        fn fixed<const N: usize>(text: &str) -> Option<[u8; N]> {
            hex::decode(text).ok()?.try_into().ok()
        }
        let timestamp = field(headers::TIMESTAMP)?.parse().map_err(|_| malformed(headers::TIMESTAMP))?;
        let nonce = fixed(field(headers::NONCE)?).ok_or_else(|| malformed(headers::NONCE))?;
        let audit_head = fixed(field(headers::AUDIT_HEAD)?).ok_or_else(|| malformed(headers::AUDIT_HEAD))?;
        let signature = fixed::<64>(field(headers::SIGNATURE)?).ok_or_else(|| malformed(headers::SIGNATURE))?;
        Ok(Self { timestamp, nonce, audit_head, signature: Signature::from_bytes(&signature) })
    }
}

/// What a verified request proves: when it was signed, its nonce (for the
/// replay check) and the gateway log head it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    /// Unix seconds.
    pub timestamp: i64,
    /// To be accepted once.
    pub nonce: [u8; 16],
    /// For the signer's record of the gateway log's heads.
    pub audit_head: [u8; 32],
}

/// The signer's check of gateway requests.
#[derive(Debug, Clone, Copy)]
pub struct RequestVerifier {
    gateway: PublicKey,
    window_secs: i64,
}

impl RequestVerifier {
    /// Accepts requests signed by `gateway` within `window_secs` of the signer's clock.
    pub fn new(gateway: PublicKey, window_secs: i64) -> Self {
        Self { gateway, window_secs }
    }

    /// Checks the signature and the timestamp. The nonce's freshness is the
    /// caller's to check (it needs a store), after this succeeds.
    pub fn verify(
        &self,
        request: &RequestParts<'_>,
        signed: &SignedHeaders,
        now: i64,
    ) -> Result<Authenticated, AuthFailure> {
        let message = request_message(request, signed.timestamp, &signed.nonce, &signed.audit_head);
        // Strict verification: no malleable or small-order signatures.
        self.gateway
            .0
            .verify_strict(message.as_bytes(), &signed.signature)
            .map_err(|_| AuthFailure::new(RuleTag::AuthSignature, "the request's signature does not verify"))?;
        let skew = now.saturating_sub(signed.timestamp);
        if skew.unsigned_abs() > self.window_secs.unsigned_abs() {
            return Err(AuthFailure::new(
                RuleTag::AuthStale,
                format!(
                    "the request was signed {skew} s from the signer's clock; at most {} s is accepted",
                    self.window_secs
                ),
            ));
        }
        Ok(Authenticated { timestamp: signed.timestamp, nonce: signed.nonce, audit_head: signed.audit_head })
    }
}

/// The gateway's check of the signer's answers.
#[derive(Debug, Clone, Copy)]
pub struct AnswerVerifier(pub PublicKey);

impl AnswerVerifier {
    /// Checks an answer's signature header against its request's nonce.
    pub fn verify(
        &self,
        status: u16,
        body: &[u8],
        request_nonce: &[u8; 16],
        signature_hex: &str,
    ) -> Result<(), AuthFailure> {
        let bad = || AuthFailure::new(RuleTag::AuthSignature, "the signer's answer is not signed by its identity key");
        let bytes: [u8; 64] = hex::decode(signature_hex).ok().and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
        self.0
            .0
            .verify_strict(answer_message(status, body, request_nonce).as_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| bad())
    }
}

fn request_message(request: &RequestParts<'_>, timestamp: i64, nonce: &[u8; 16], audit_head: &[u8; 32]) -> String {
    format!(
        "{REQUEST_TAG}\n{}\n{}\n{}\n{timestamp}\n{}\n{}",
        request.method,
        request.path,
        hex::encode(Sha256::digest(request.body)),
        hex::encode(nonce),
        hex::encode(audit_head)
    )
}

fn answer_message(status: u16, body: &[u8], request_nonce: &[u8; 16]) -> String {
    format!("{ANSWER_TAG}\n{status}\n{}\n{}", hex::encode(Sha256::digest(body)), hex::encode(request_nonce))
}

#[cfg(test)]
mod tests;
