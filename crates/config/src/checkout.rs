//! The hosted checkout page's settings (`[checkout]`).

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// How the checkout page is reached and embedded.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutConfig {
    /// The origin customers reach this gateway at (`https://pay.example.com`),
    /// from which every invoice's `checkout_url` is made. Unset: the address
    /// the API listens on, which suits a single machine and `coffer dev`.
    pub public_url: Option<String>,
    /// Origins allowed to embed the page in a frame (the
    /// `Content-Security-Policy` `frame-ancestors`), such as
    /// `https://shop.example`. Empty (the default): no one may frame it.
    pub frame_ancestors: Vec<String>,
}

impl CheckoutConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url
            && !is_origin(url.trim_end_matches('/'))
        {
            return Err(ConfigError::invalid(
                "checkout.public_url",
                format!("{url:?} is not an http(s) origin such as \"https://pay.example.com\" (no path, no query)"),
            ));
        }
        for origin in &self.frame_ancestors {
            if !is_origin(origin) {
                return Err(ConfigError::invalid(
                    "checkout.frame_ancestors",
                    format!("{origin:?} is not an http(s) origin such as \"https://shop.example\""),
                ));
            }
        }
        Ok(())
    }

    /// `public_url` without a trailing slash, if set.
    pub fn public_origin(&self) -> Option<String> {
        self.public_url.as_ref().map(|u| u.trim_end_matches('/').to_owned())
    }
}

/// `http(s)://host[:port]` and nothing else: it goes into links and into a
/// security header, where a space, a quote or a `;` would change its meaning.
fn is_origin(text: &str) -> bool {
    let Some(host) = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://")) else { return false };
    !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        && !host.starts_with([':', '.'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_origins_pass() {
        for good in ["https://pay.example.com", "http://127.0.0.1:8080", "https://[::1]:8443"] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "pay.example.com",
            "https://",
            "https://pay.example.com/path",
            "https://a.example; script-src *",
            "https://a.example 'unsafe-inline'",
            "javascript:alert(1)",
            "https://user@host",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
        let config = CheckoutConfig { public_url: Some("https://pay.example.com/".into()), frame_ancestors: vec![] };
        assert!(config.validate().is_ok());
        assert_eq!(config.public_origin().as_deref(), Some("https://pay.example.com"));
        let framed = CheckoutConfig { public_url: None, frame_ancestors: vec!["*".into()] };
        assert!(framed.validate().is_err());
    }
}
