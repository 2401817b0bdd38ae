//! The checkout page's security headers. The page holds a customer's
//! payment details behind a secret link, so: only its own script and
//! stylesheet (no inline script, no eval, no third-party origin), no
//! framing unless the operator names who may, no referrer (the link's
//! token must not reach the shop or a block explorer), no caching, and
//! never a cookie.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// The `Content-Security-Policy` for `frame_ancestors` (none: `'none'`).
pub(crate) fn content_security_policy(frame_ancestors: &[String]) -> String {
    let ancestors = if frame_ancestors.is_empty() { "'none'".to_owned() } else { frame_ancestors.join(" ") };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
}

/// [`content_security_policy`] as a header, made once when the gateway
/// starts (the origins were validated then; should one still not fit a
/// header, nothing may frame the page).
pub(crate) fn csp_header(frame_ancestors: &[String]) -> HeaderValue {
    HeaderValue::from_str(&content_security_policy(frame_ancestors))
        .unwrap_or_else(|_| HeaderValue::from_static(NO_FRAMING_CSP))
}

const NO_FRAMING_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                              connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn secure(state: &AppState, response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, state.checkout_csp.clone());
    if state.frame_ancestors.is_empty() {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    );
}

/// A page (or event stream) answer, secured and never cached.
pub(crate) fn page(state: &AppState, status: StatusCode, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    secure(state, &mut response);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A static file compiled into the gateway.
pub(crate) fn asset(state: &AppState, content_type: &'static str, body: &'static str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    secure(state, &mut response);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// Strips any `Set-Cookie` a layer might add: the checkout page sets none.
pub(crate) async fn no_cookies(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().remove(header::SET_COOKIE);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_the_page_s_own_files() {
        let csp = content_security_policy(&[]);
        assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval") && !csp.contains('*'));
        assert_eq!(csp, NO_FRAMING_CSP);
        let framed = content_security_policy(&["https://shop.example".into()]);
        assert!(framed.ends_with("frame-ancestors https://shop.example"));
    }
}
