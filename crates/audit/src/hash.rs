//! [`Hash`]: a SHA-256 digest, written as 64 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A SHA-256 digest: an entry's hash, the `prev` it is chained to, a log's head.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The head of an empty log, and the `prev` of entry 1. The gateway
    /// sends it to the signer (as 64 zeros) before its first entry.
    pub const ZERO: Self = Self([0; 32]);

    /// The 32 bytes.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl TryFrom<&[u8]> for Hash {
    type Error = HashParseError;

    /// From a database column: exactly 32 bytes.
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| HashParseError(format!("{} bytes, not 32", bytes.len())))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Text that is not a hash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 hash (64 hex digits): {0}")]
pub struct HashParseError(String);

impl FromStr for Hash {
    type Err = HashParseError;

    /// 64 hex digits. Upper case is accepted (people paste); [`Hash`]
    /// always writes lower case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 64 {
            return Err(HashParseError(format!("{} characters, not 64", text.len())));
        }
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| HashParseError(e.to_string()))?;
        Ok(Self(bytes))
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_32_bytes() {
        let hash = Hash([0xab; 32]);
        assert_eq!(hash.to_string(), "ab".repeat(32));
        assert_eq!(hash.to_string().parse::<Hash>().unwrap(), hash);
        assert_eq!("AB".repeat(32).parse::<Hash>().unwrap(), hash);
        assert_eq!(serde_json::to_string(&hash).unwrap(), format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Hash>(&format!("\"{hash}\"")).unwrap(), hash);
        assert!("ab".repeat(31).parse::<Hash>().is_err());
        assert!("zz".repeat(32).parse::<Hash>().is_err());
        assert!(Hash::try_from(&[0u8; 31][..]).is_err());
        assert_eq!(Hash::ZERO.to_string(), "0".repeat(64));
    }
}
