//! Where webhooks may go. A merchant chooses the URL, so without a guard
//! the gateway would call whatever it can reach: its own admin ports, the
//! database, a cloud metadata service (server-side request forgery).
//!
//! URLs whose host is, or resolves to, a loopback, private, link-local or
//! otherwise non-public address are refused when an endpoint is registered
//! and again at every delivery. At delivery the check runs inside the HTTP
//! client's DNS resolver, so the connection goes to an address that was
//! checked: a name that resolves to a public address for the check and to
//! a private one for the connection (DNS rebinding) gets nowhere. Redirects
//! are not followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute http(s) URL.
    #[error("{0}")]
    Malformed(String),
    /// The host is or resolves to an address that is not public. Which
    /// address is not said: what a name resolves to inside the gateway's
    /// network is not the merchant's to learn (the gateway's log has it).
    #[error(
        "{host} is not a public address; webhooks go to public addresses only \
         (an operator can allow private ones with webhooks.allow_private_urls)"
    )]
    NotPublic {
        /// The host, as the URL names it.
        host: String,
    },
    /// The host does not resolve.
    #[error("{host} does not resolve: {reason}")]
    Unresolvable {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
}

/// Longest accepted URL.
const MAX_URL: usize = 2048;

/// Checks a URL's shape: absolute `http` or `https`, a host, no credentials.
pub fn parse_url(text: &str) -> Result<url::Url, UrlError> {
    if text.len() > MAX_URL {
        return Err(UrlError::Malformed(format!("the URL is longer than {MAX_URL} characters")));
    }
    let url = url::Url::parse(text).map_err(|e| UrlError::Malformed(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Malformed(format!("scheme {} is not http or https", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::Malformed("the URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Malformed(
            "credentials in the URL would be sent in clear to logs; use the signature".into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(UrlError::Malformed("a webhook URL has no #fragment".into()));
    }
    Ok(url)
}

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// IPv6 is public only inside the global unicast block 2000::/3: everything
/// outside it (loopback, unique and link-local, multicast, NAT64, and the
/// forms that embed an IPv4 address: compatible, translated `::ffff:0:0/96`)
/// is special. Inside it, the blocks that embed IPv4 or are not routed.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, ..] = ip.segments();
    (first & 0xe000) == 0x2000
        && !((first == 0x2001 && second == 0x0db8) // documentation
            || (first == 0x3fff && (second & 0xf000) == 0) // documentation (3fff::/20)
            || first == 0x2002 // 6to4, embeds an IPv4 address
            || (first == 0x2001 && second == 0) // Teredo, embeds an IPv4 address
            || (first == 0x2001 && second == 0x0002 && ip.segments()[2] == 0) // benchmarking
            || (first == 0x2001 && (second & 0xfff0) == 0x0010) // ORCHID
            || (first == 0x2001 && (second & 0xfff0) == 0x0020)) // ORCHIDv2
}

/// Whether private addresses are allowed.
#[derive(Clone, Copy, Debug)]
pub struct UrlPolicy {
    /// Allow loopback, private and link-local addresses (development).
    pub allow_private: bool,
}

impl UrlPolicy {
    fn admit(&self, host: &str, ip: IpAddr) -> Result<(), UrlError> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            tracing::info!(host, %ip, "webhook host refused: not a public address");
            Err(UrlError::NotPublic { host: host.to_owned() })
        }
    }

    /// Checks a URL completely: its shape, then every address its host
    /// resolves to. Used when an endpoint is registered.
    pub async fn check(&self, text: &str) -> Result<url::Url, UrlError> {
        let url = parse_url(text)?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        for addr in self.resolve(&host, port).await? {
            self.admit(&host, addr.ip())?;
        }
        Ok(url)
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, UrlError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let unresolvable = |reason: String| UrlError::Unresolvable { host: host.to_owned(), reason };
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((host, port)).await.map_err(|e| unresolvable(e.to_string()))?.collect();
        if addrs.is_empty() {
            return Err(unresolvable("no addresses".into()));
        }
        Ok(addrs)
    }

    /// Checks a URL whose host is an IP address (no DNS involved); names pass.
    pub fn check_literal(&self, text: &str) -> Result<(), UrlError> {
        let url = parse_url(text)?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) => self.admit(host, ip),
            Err(_) => Ok(()),
        }
    }

    /// The HTTP client's resolver: resolves, and refuses the connection if
    /// any address is not admitted.
    pub fn resolver(self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { policy: self })
    }
}

/// A DNS resolver for reqwest that applies a [`UrlPolicy`].
#[derive(Debug)]
pub struct GuardedResolver {
    policy: UrlPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs = policy.resolve(&host, 0).await?;
            for addr in &addrs {
                policy.admit(&host, addr.ip())?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            // IPv4-translated (RFC 2765, ::ffff:0:a.b.c.d): another way to write an IPv4 address.
            "::ffff:0:7f00:1",
            "::ffff:0:a00:7",
            "::ffff:0:808:808",
            "100::1",
            "2001:2::1",
            "3fff::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in
            ["1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2a00:1450:4001::1", "3ffe::1"]
        {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_must_be_plain_http_or_https() {
        assert!(parse_url("https://shop.example/hooks?x=1").is_ok());
        for bad in ["ftp://shop.example/", "/hooks", "https://user:pw@shop.example/", "https://", "https://a/#f"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn private_hosts_are_refused_unless_allowed() {
        let strict = UrlPolicy { allow_private: false };
        for url in ["http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]/x", "http://169.254.169.254/latest/"] {
            assert!(matches!(strict.check(url).await, Err(UrlError::NotPublic { .. })), "{url}");
        }
        // What a name resolves to is the gateway's business: the merchant learns only that it is not public.
        let refused = strict.check("http://localhost:9/x").await.unwrap_err().to_string();
        assert!(refused.contains("localhost is not a public address"), "{refused}");
        assert!(!refused.contains("127.0.0.1") && !refused.contains("::1"), "no address in the message: {refused}");
        let open = UrlPolicy { allow_private: true };
        assert!(open.check("http://127.0.0.1:9/x").await.is_ok());
        assert!(open.check("gopher://127.0.0.1/").await.is_err(), "the shape is checked whatever the policy");
    }
}
