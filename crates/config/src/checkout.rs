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

    /// `public_url` as a browser serialises its origin (the `Origin` header
    /// the console compares with): no trailing slash, the host in lower
    /// case, no default port.
    pub fn public_origin(&self) -> Option<String> {
        self.public_url.as_deref().map(serialised_origin)
    }
}

fn serialised_origin(url: &str) -> String {
    let url = url.trim_end_matches('/').to_ascii_lowercase();
    for (scheme, default_port) in [("https://", ":443"), ("http://", ":80")] {
        if url.starts_with(scheme)
            && let Some(host) = url.strip_suffix(default_port)
        {
            return host.to_owned();
        }
    }
    url
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
    fn the_public_origin_is_what_a_browser_sends() {
        let origin = |url: &str| CheckoutConfig { public_url: Some(url.into()), ..Default::default() }.public_origin();
        assert_eq!(origin("https://Pay.Example.com:443/").as_deref(), Some("https://pay.example.com"));
        assert_eq!(origin("http://127.0.0.1:80").as_deref(), Some("http://127.0.0.1"));
        assert_eq!(origin("https://pay.example.com:8443").as_deref(), Some("https://pay.example.com:8443"));
        assert_eq!(origin("http://shop:4430").as_deref(), Some("http://shop:4430"));
    }

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
