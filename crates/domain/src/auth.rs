//! API keys: the token a merchant holds, the digest the store keeps, and the
//! scopes a key grants.
//!
//! A token reads `coffer_sk_<key id>_<secret>`: the recognisable prefix lets
//! secret scanners find leaked keys; the key id (public) finds the row; the
//! secret is 256 random bits from the OS. The store keeps only SHA-256 of the
//! secret. A slow password hash would add nothing for a random 256-bit secret
//! (there is no dictionary to slow down) and would cap request throughput.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ApiKeyId;

const TOKEN_PREFIX: &str = "coffer_sk_";
const SECRET_LEN: usize = 32;

/// A full API key as the merchant holds it. `Debug` never shows the secret.
#[derive(Clone)]
pub struct ApiKeyToken {
    id: ApiKeyId,
    secret: [u8; SECRET_LEN],
}

/// SHA-256 of a token's secret: what the store keeps instead of the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretDigest(pub [u8; 32]);

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretDigest({}…)", hex::encode(&self.0[..4]))
    }
}

/// Text that is not an API key token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a Coffer API key (expected coffer_sk_…)")]
pub struct MalformedToken;

/// The operating system could not supply randomness.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomnessUnavailable(pub(crate) String);

impl ApiKeyToken {
    /// A new token with a fresh id and 256 bits of OS randomness.
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let mut secret = [0u8; SECRET_LEN];
        getrandom::fill(&mut secret).map_err(|e| RandomnessUnavailable(e.to_string()))?;
        Ok(Self { id: ApiKeyId::new(), secret })
    }

    /// The key's public id.
    pub fn id(&self) -> ApiKeyId {
        self.id
    }

    /// What the store keeps.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest(Sha256::digest(self.secret).into())
    }

    /// Whether this token's secret hashes to `stored`, compared in constant
    /// time so that response timing says nothing about how close a guess was.
    pub fn matches(&self, stored: &SecretDigest) -> bool {
        self.digest().0.ct_eq(&stored.0).into()
    }

    /// The token as text, to show its owner exactly once.
    pub fn reveal(&self) -> String {
        format!("{TOKEN_PREFIX}{}_{}", self.id.as_uuid().simple(), bs58::encode(self.secret).into_string())
    }
}

impl FromStr for ApiKeyToken {
    type Err = MalformedToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix(TOKEN_PREFIX).ok_or(MalformedToken)?;
        let (id_hex, secret_b58) = rest.split_once('_').ok_or(MalformedToken)?;
        let id = format!("{}_{id_hex}", ApiKeyId::PREFIX).parse::<ApiKeyId>().map_err(|_| MalformedToken)?;
        if secret_b58.len() > 50 {
            return Err(MalformedToken);
        }
        let mut secret = [0u8; SECRET_LEN];
        let written = bs58::decode(secret_b58).onto(&mut secret).map_err(|_| MalformedToken)?;
        if written != SECRET_LEN {
            return Err(MalformedToken);
        }
        Ok(Self { id, secret })
    }
}

impl fmt::Debug for ApiKeyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyToken").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

/// One permission an API key can carry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Scope {
    /// Read invoices.
    InvoicesRead,
    /// Create and invalidate invoices.
    InvoicesWrite,
    /// Read balances.
    BalancesRead,
    /// List webhook endpoints and their delivery logs.
    WebhooksRead,
    /// Register, delete and redeliver webhooks.
    WebhooksWrite,
    /// Read payouts and refunds.
    PayoutsRead,
    /// Ask for payouts and refunds: money leaves the merchant's balance.
    PayoutsWrite,
}

impl Scope {
    /// Every scope. Appended to, never reordered: a scope's bit is its
    /// position, though keys store scopes by name.
    pub const ALL: [Scope; 7] = [
        Scope::InvoicesRead,
        Scope::InvoicesWrite,
        Scope::BalancesRead,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
        Scope::PayoutsRead,
        Scope::PayoutsWrite,
    ];

    /// The scope as keys and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvoicesRead => "invoices:read",
            Self::InvoicesWrite => "invoices:write",
            Self::BalancesRead => "balances:read",
            Self::WebhooksRead => "webhooks:read",
            Self::WebhooksWrite => "webhooks:write",
            Self::PayoutsRead => "payouts:read",
            Self::PayoutsWrite => "payouts:write",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u32);

/// A scope name nobody defined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scope {0:?}; known scopes are invoices:read, invoices:write, balances:read, webhooks:read, \
     webhooks:write, payouts:read, payouts:write"
)]
pub struct UnknownScope(pub String);

impl Scopes {
    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The set plus `scope`.
    pub fn with(self, scope: Scope) -> Self {
        Self(self.0 | scope.bit())
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(Self::default(), Self::with)
    }
}

impl FromStr for Scopes {
    type Err = UnknownScope;

    /// Parses a comma-separated list such as `invoices:read,invoices:write`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                Scope::ALL
                    .into_iter()
                    .find(|scope| scope.as_str() == part)
                    .ok_or_else(|| UnknownScope(part.chars().take(40).collect()))
            })
            .collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_match_only_their_digest() {
        let token = ApiKeyToken::generate().unwrap();
        let text = token.reveal();
        assert!(text.starts_with("coffer_sk_"), "{text}");
        let parsed: ApiKeyToken = text.parse().unwrap();
        assert_eq!(parsed.id(), token.id());
        assert!(parsed.matches(&token.digest()));
        let other = ApiKeyToken::generate().unwrap();
        assert!(!other.matches(&token.digest()));
        assert_ne!(token.digest(), other.digest());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = ApiKeyToken::generate().unwrap();
        let text = token.reveal();
        let secret = text.rsplit('_').next().unwrap();
        assert!(!format!("{token:?}").contains(secret));
    }

    #[test]
    fn refuses_malformed_tokens() {
        let good = ApiKeyToken::generate().unwrap().reveal();
        let cut = &good[..good.len() - 3];
        let bad_id = good.replacen("coffer_sk_0", "coffer_sk_z", 1);
        for bad in ["", "coffer_sk_", "Bearer x", "coffer_sk_abc_def", cut, &bad_id, &format!("{good}1111")] {
            assert_eq!(bad.parse::<ApiKeyToken>().err(), Some(MalformedToken), "{bad}");
        }
    }

    #[test]
    fn scopes_parse_print_and_reject_unknown_names() {
        let scopes: Scopes = "invoices:read, invoices:write".parse().unwrap();
        assert!(scopes.contains(Scope::InvoicesRead) && scopes.contains(Scope::InvoicesWrite));
        assert_eq!(scopes.to_string(), "invoices:read,invoices:write");
        let read_only: Scopes = "invoices:read".parse().unwrap();
        assert!(!read_only.contains(Scope::InvoicesWrite));
        assert!("invoices:admin".parse::<Scopes>().is_err());
        assert!("".parse::<Scopes>().unwrap().is_empty());
        let payouts: Scopes = "payouts:read,payouts:write".parse().unwrap();
        assert!(payouts.contains(Scope::PayoutsRead) && payouts.contains(Scope::PayoutsWrite));
        assert!(!payouts.contains(Scope::InvoicesRead));
    }

    #[test]
    fn existing_scopes_keep_their_bits() {
        // Appending scopes must not move the ones keys already carry.
        let bits: Vec<u32> = Scope::ALL.iter().map(|s| s.bit()).collect();
        assert_eq!(bits, vec![1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(
            Scope::ALL.map(Scope::as_str)[..5],
            ["invoices:read", "invoices:write", "balances:read", "webhooks:read", "webhooks:write"]
        );
    }
}
