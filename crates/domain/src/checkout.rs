//! An invoice's hosted checkout page: the unguessable token in its public
//! link, and the shop's return addresses.
//!
//! The token is 192 random bits, drawn apart from the invoice id: the
//! public link reveals nothing about the API id or about any other
//! invoice's link, and the id (in logs, in a merchant's back office) never
//! opens the page.

use std::fmt;
use std::str::FromStr;

use crate::RandomnessUnavailable;

/// Random bytes in a token.
const TOKEN_BYTES: usize = 24;
/// Longest return URL accepted.
pub const MAX_RETURN_URL: usize = 2_000;
/// What the shop writes in a return URL for the invoice's id.
pub const INVOICE_ID_PLACEHOLDER: &str = "{INVOICE_ID}";

/// The secret part of `/pay/{token}`: lower-case hex, 32 to 64 digits
/// (new tokens have 48; older rows were given theirs by a migration).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CheckoutToken(String);

/// Text that is not a checkout token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a checkout token")]
pub struct MalformedCheckoutToken;

impl CheckoutToken {
    /// A fresh token from the system's random source.
    pub fn random() -> Result<Self, RandomnessUnavailable> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessUnavailable(e.to_string()))?;
        Ok(Self(hex::encode(bytes)))
    }

    /// As stored and as it appears in the link.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CheckoutToken {
    type Err = MalformedCheckoutToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_digits = s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if (32..=64).contains(&s.len()) && hex_digits { Ok(Self(s.to_owned())) } else { Err(MalformedCheckoutToken) }
    }
}

impl fmt::Display for CheckoutToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CheckoutToken {
    // A token opens a customer's page: keep it out of debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckoutToken({}…)", &self.0[..6.min(self.0.len())])
    }
}

/// A shop URL the customer is sent back to: absolute `http` or `https`,
/// with `{INVOICE_ID}` optionally standing for the invoice's id.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReturnUrl(String);

/// Why a return URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReturnUrl {
    /// Longer than [`MAX_RETURN_URL`].
    #[error("is longer than {MAX_RETURN_URL} characters")]
    TooLong,
    /// Not `http://` or `https://` with a host.
    #[error("must be an absolute http:// or https:// URL")]
    NotHttp,
    /// Spaces, quotes, angle brackets or control characters.
    #[error("contains a character a URL cannot hold unescaped (space, quote, <, >, or a control character)")]
    BadCharacter,
}

impl ReturnUrl {
    /// Checks `url`. `javascript:`, `data:` and relative URLs are refused:
    /// the page turns this into a link and a redirect.
    pub fn parse(url: &str) -> Result<Self, BadReturnUrl> {
        if url.chars().count() > MAX_RETURN_URL {
            return Err(BadReturnUrl::TooLong);
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`')) {
            return Err(BadReturnUrl::BadCharacter);
        }
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).ok_or(BadReturnUrl::NotHttp)?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.starts_with('@') || host.starts_with(':') {
            return Err(BadReturnUrl::NotHttp);
        }
        Ok(Self(url.to_owned()))
    }

    /// As the merchant gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// With the placeholder replaced by `invoice_id`.
    pub fn for_invoice(&self, invoice_id: &str) -> String {
        self.0.replace(INVOICE_ID_PLACEHOLDER, invoice_id)
    }
}

/// What an invoice's checkout page needs beyond the invoice.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Checkout {
    /// The page's secret token.
    pub token: CheckoutToken,
    /// What the customer is paying for, as the shop wrote it (plain text).
    pub description: Option<String>,
    /// Where to send the customer once paid.
    pub success_url: Option<ReturnUrl>,
    /// Where "back to the shop" goes before paying.
    pub cancel_url: Option<ReturnUrl>,
}

impl Checkout {
    /// A fresh token and no return addresses.
    pub fn random() -> Result<Self, RandomnessUnavailable> {
        Ok(Self { token: CheckoutToken::random()?, description: None, success_url: None, cancel_url: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_parse_back() {
        let (a, b) = (CheckoutToken::random().unwrap(), CheckoutToken::random().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 48, "192 bits");
        assert_eq!(a.as_str().parse::<CheckoutToken>(), Ok(a.clone()));
        assert!(!format!("{a:?}").contains(a.as_str()), "Debug does not print the token");
        for bad in ["", "ABCDEF0123456789abcdef0123456789", "0123", &"a".repeat(65), "../../../etc/passwd"] {
            assert!(bad.parse::<CheckoutToken>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn return_urls_must_be_plain_absolute_http() {
        let ok = ReturnUrl::parse("https://shop.example/thanks?order={INVOICE_ID}").unwrap();
        assert_eq!(ok.for_invoice("inv_1"), "https://shop.example/thanks?order=inv_1");
        assert!(ReturnUrl::parse("http://127.0.0.1:3000/back").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>",
            "/relative",
            "https://",
            "https://@evil",
            "https://shop.example/\"><script>",
            "https://shop example",
            "ftp://shop.example",
        ] {
            assert!(ReturnUrl::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ReturnUrl::parse(&format!("https://a.example/{}", "x".repeat(2_000))), Err(BadReturnUrl::TooLong));
    }
}
