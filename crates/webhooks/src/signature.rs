//! Webhook signatures: HMAC-SHA256 over the timestamp and the body.
//!
//! Every delivery carries `Coffer-Signature: t=<unix seconds>,v1=<hex>`,
//! where the hex is HMAC-SHA256, keyed with the endpoint's secret, of
//! `<t>.<raw body>`. A receiver recomputes it over the bytes it received,
//! compares in constant time, and refuses a timestamp far from its clock
//! (a replayed old delivery). Signing the timestamp with the body means an
//! attacker who captured one delivery cannot re-send it later as new.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "coffer-signature";
/// The delivery id header (the same on every retry of one delivery).
pub const DELIVERY_HEADER: &str = "coffer-delivery";
/// The event id header (the same on every delivery of one event: deduplicate on it).
pub const EVENT_ID_HEADER: &str = "coffer-event-id";
/// The event type header (`invoice.settled`).
pub const EVENT_HEADER: &str = "coffer-event";
/// How far a signature's timestamp may be from the receiver's clock.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Prefix of webhook signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Coffer-Signature` header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is not `t=…,v1=…`.
    #[error("malformed Coffer-Signature header")]
    Malformed,
    /// The timestamp is too far from now.
    #[error("signature timestamp is {0} s away from now")]
    Stale(i64),
    /// The HMAC does not match.
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a `Coffer-Signature` header against `body`, at `now` (Unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(hex::decode(v).map_err(|_| VerifyError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let skew = now.saturating_sub(timestamp);
    if skew.abs() > tolerance_secs {
        return Err(VerifyError::Stale(skew));
    }
    let expected: [u8; 32] = mac(secret, timestamp, body).finalize().into_bytes().into();
    if signatures.iter().any(|s| bool::from(s.as_slice().ct_eq(&expected))) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// A fresh signing secret: `whsec_` and 32 random bytes in hex.
pub fn generate_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_secret_body_and_time() {
        let body = br#"{"type":"invoice.settled"}"#;
        let header = sign("whsec_k", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify("whsec_k", &header, body, 1_700_000_100, 300), Ok(()));
        assert_eq!(verify("whsec_other", &header, body, 1_700_000_100, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify("whsec_k", &header, b"{}", 1_700_000_100, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify("whsec_k", &header, body, 1_700_001_000, 300), Err(VerifyError::Stale(1000)));
        assert_eq!(verify("whsec_k", "v1=00", body, 1_700_000_000, 300), Err(VerifyError::Malformed));
        // A different timestamp with the old digest does not verify: the time is signed.
        let forged = header.replace("t=1700000000", "t=1700000900");
        assert_eq!(verify("whsec_k", &forged, body, 1_700_000_900, 300), Err(VerifyError::Mismatch));
    }

    #[test]
    fn matches_an_independent_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        // Our message is "<t>.<body>", so split the data accordingly.
        let header = sign("Jefe", 0, b"what do ya want for nothing?");
        let expected_for = |message: &[u8]| {
            let mut m = <HmacSha256 as Mac>::new_from_slice(b"Jefe").unwrap();
            m.update(message);
            hex::encode(m.finalize().into_bytes())
        };
        assert_eq!(header, format!("t=0,v1={}", expected_for(b"0.what do ya want for nothing?")));
        let rfc = expected_for(b"what do ya want for nothing?");
        assert_eq!(rfc, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn secrets_are_random_and_prefixed() {
        let (a, b) = (generate_secret().unwrap(), generate_secret().unwrap());
        assert!(a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 64);
        assert_ne!(a, b);
    }
}
