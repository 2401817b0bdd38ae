//! Request ids. A client may send its own `X-Request-Id` to find its
//! request again, but it is taken only when short and plain: anything else
//! (spaces, quotes, `=`: a forged log field) is dropped and the gateway
//! makes one, unique in this process. The answer carries the id in use, and
//! the log records it as `request_id`. When the client's is used, the
//! gateway's own is logged beside it (`gateway_request_id`), so a client
//! that reuses an id cannot make two requests look like one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The header, on requests and answers.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// The longest id taken from a client: enough for a UUID or a W3C trace id.
const MAX_CLIENT_ID: usize = 64;

/// A request's ids, in its extensions for the trace span.
#[derive(Clone, Debug)]
pub(crate) struct RequestIdentity {
    /// The gateway's own, unique.
    pub(crate) gateway: HeaderValue,
    /// The client's, if it sent a plain one.
    pub(crate) client: Option<HeaderValue>,
}

impl RequestIdentity {
    /// The id the answer carries: the client's if taken, else ours.
    pub(crate) fn shown(&self) -> &HeaderValue {
        self.client.as_ref().unwrap_or(&self.gateway)
    }
}

/// Whether a client's id can go into a log line as it is: ASCII letters,
/// digits and `-_.:`, 1 to 64 of them.
pub(crate) fn is_plain(id: &[u8]) -> bool {
    (1..=MAX_CLIENT_ID).contains(&id.len())
        && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Request ids: a UUIDv7 (time-ordered, random) drawn once per process, with
/// its low 64 bits replaced by a counter. Unique and sortable, without a
/// system call for randomness on every request.
#[derive(Clone, Debug)]
pub(crate) struct RequestIds {
    base: Arc<(u64, AtomicU64)>,
}

impl Default for RequestIds {
    fn default() -> Self {
        let (high, low) = uuid::Uuid::now_v7().as_u64_pair();
        Self { base: Arc::new((high, AtomicU64::new(low))) }
    }
}

impl RequestIds {
    fn next(&self) -> HeaderValue {
        let low = self.base.1.fetch_add(1, Ordering::Relaxed);
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::from_u64_pair(self.base.0, low).hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(id).unwrap_or_else(|_| unreachable!("a UUID is a valid header value"))
    }
}

/// Middleware: gives the request its ids and the answer its `X-Request-Id`.
pub(crate) async fn assign(State(ids): State<RequestIds>, mut request: Request, next: Next) -> Response {
    let client = request.headers_mut().remove(HEADER).filter(|given| is_plain(given.as_bytes()));
    let identity = RequestIdentity { gateway: ids.next(), client };
    let answered = identity.shown().clone();
    request.extensions_mut().insert(identity);
    let mut response = next.run(request).await;
    response.headers_mut().insert(HEADER, answered);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_taken() {
        for plain in ["a", "trace-me-42", "0195f3a0-c1b2-7c3e-9a4d-5e6f70812345", "svc:web.1_x", &"x".repeat(64)] {
            assert!(is_plain(plain.as_bytes()), "{plain}");
        }
        for forged in ["", "a b", "a\"b", "a=b", "a\tb", "a\nb", "é", &"x".repeat(65)] {
            assert!(!is_plain(forged.as_bytes()), "{forged:?}");
        }
    }

    #[test]
    fn made_ids_are_unique_uuids() {
        let ids = RequestIds::default();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert!(uuid::Uuid::parse_str(a.to_str().unwrap_or_default()).is_ok());
    }
}
