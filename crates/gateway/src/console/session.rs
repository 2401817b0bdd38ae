//! Who is signed in to the console, and whether a form may act.
//!
//! A session is a random 192-bit secret in an `HttpOnly`, `SameSite=Strict`
//! cookie: `__Host-coffer_console` (`Secure`, `Path=/`, so no sibling
//! subdomain can plant one) when the public URL is https, `coffer_console`
//! scoped to `/console` on plain http (development). A request carrying two
//! cookies of that name is treated as signed out. The store keeps only the
//! secret's SHA-256; the form token is derived from the secret, so a copy
//! of the database holds neither. Sessions end at sign-out or after
//! [`SESSION_LIFETIME`], whatever happens meanwhile. One opened with an
//! API key also ends the moment that key is revoked, and acts only within
//! its scopes. Every form carries the session's CSRF token, compared in
//! constant time, and a request whose `Origin` or `Sec-Fetch-Site` says it
//! came from another site is refused before anything else is read.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use coffer_domain::{ApiKeyId, ApiKeyToken, Scope, Timestamp};
use coffer_store::{ConsoleRole, ConsoleSession};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::state::AppState;

/// Which sessions a listener's console serves: with the operator's routes
/// served apart, the public listener serves merchants only and the
/// operator's listener the operator only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Audience {
    pub(crate) merchants: bool,
    pub(crate) operator: bool,
}

impl Audience {
    pub(crate) const BOTH: Self = Self { merchants: true, operator: true };
    pub(crate) const MERCHANTS: Self = Self { merchants: true, operator: false };
    pub(crate) const OPERATOR: Self = Self { merchants: false, operator: true };

    pub(crate) fn serves(self, role: ConsoleRole) -> bool {
        match role {
            ConsoleRole::Merchant(_) => self.merchants,
            ConsoleRole::Operator => self.operator,
        }
    }

    /// The cookie's name: its own on the operator's listener (cookies do
    /// not tell ports apart), and `__Host-` on https.
    fn cookie(self, state: &AppState) -> &'static str {
        match (state.public_url.starts_with("https://"), self == Self::OPERATOR) {
            (true, false) => "__Host-coffer_console",
            (true, true) => "__Host-coffer_console_operator",
            (false, false) => "coffer_console",
            (false, true) => "coffer_console_operator",
        }
    }
}
/// How long a session lasts, however active.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// How long a sign-in link stays usable.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A fresh secret: 24 random bytes as 48 hex digits.
pub(crate) fn secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(&e))?;
    Ok(hex::encode(bytes))
}

/// What the store keeps of a secret.
pub(crate) fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// How the audit log names a session's actor: its digest's first 12 hex
/// digits, the same in the sign-in's record and in every later action's.
pub(crate) fn actor(digest: &[u8; 32]) -> String {
    format!("console:{}", &hex::encode(digest)[..12])
}

/// A session's form token: derived from its secret, so it is stored
/// nowhere and differs for every session.
pub(crate) fn csrf_token(secret: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"coffer-console-csrf.v1:");
    hash.update(secret.as_bytes());
    hex::encode(&hash.finalize()[..24])
}

/// A live session, read from its cookie.
#[derive(Clone, Debug)]
pub(crate) struct Signed {
    pub(crate) session: ConsoleSession,
    /// The API key it was opened with, if it was.
    pub(crate) key: Option<ApiKeyId>,
    /// What it may do: all of it for a link's; its key's scopes for a
    /// key's, as read with the session on this request.
    scopes: coffer_domain::Scopes,
    /// Its form token.
    pub(crate) csrf: String,
}

impl Signed {
    pub(crate) fn actor(&self) -> String {
        actor(&self.session.digest)
    }

    /// Everything the session may do.
    pub(crate) fn scopes(&self) -> coffer_domain::Scopes {
        self.scopes
    }

    /// Whether the session may do what `scope` covers.
    pub(crate) fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }
}

/// The live session the request's cookie names, if this listener serves it.
/// A key's session is read with its key, once: it is no session once the
/// key is revoked, gone, another merchant's, or may not read invoices.
pub(crate) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    audience: Audience,
) -> Result<Option<Signed>, ApiError> {
    let Some(secret) = cookie(headers, audience.cookie(state)) else { return Ok(None) };
    let Some(session) = state.store.console_session(digest(&secret)).await? else { return Ok(None) };
    if !session.is_live(Timestamp::now()) || !audience.serves(session.role) {
        return Ok(None);
    }
    // Anything but a link or a key it can name is no session at all.
    let (key, scopes) = match session.opened_by.as_str() {
        "link" => (None, coffer_domain::Scopes::from_iter(Scope::ALL)),
        other => {
            let Some(id) = other.strip_prefix("api_key:").and_then(|id| id.parse::<ApiKeyId>().ok()) else {
                return Ok(None);
            };
            match state.store.api_key(id).await? {
                Some(record)
                    if record.revoked_at.is_none()
                        && ConsoleRole::Merchant(record.merchant_id) == session.role
                        && record.scopes.contains(Scope::InvoicesRead) =>
                {
                    (Some(id), record.scopes)
                }
                _ => return Ok(None),
            }
        }
    };
    Ok(Some(Signed { session, key, scopes, csrf: csrf_token(&secret) }))
}

/// The session cookie's value: exactly one cookie of that name, shaped as
/// ours. Two (one planted beside ours, say) count as none.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, value)| value);
    let value = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(value.to_owned()).filter(|value| value.len() == 48 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `Set-Cookie` for a new session (`secret`), or to clear it (`None`).
pub(crate) fn set_cookie(state: &AppState, audience: Audience, secret: Option<&str>) -> HeaderValue {
    let name = audience.cookie(state);
    let (path, secure) = if name.starts_with("__Host-") { ("/", "; Secure") } else { ("/console", "") };
    let (value, age) = match secret {
        Some(secret) => (secret, SESSION_LIFETIME.as_secs()),
        None => ("", 0),
    };
    let text = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("coffer_console=; Max-Age=0"))
}

/// Whether a form post came from the console's own pages: not from
/// another site by its `Sec-Fetch-Site`, nor from another origin by its
/// `Origin` (the public origin; on the operator's own listener, the one the
/// browser addressed, which a page of another site cannot make its own
/// origin). Browsers send at least one of them on every form post.
pub(crate) fn same_origin(state: &AppState, headers: &HeaderMap, audience: Audience) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site" | "same-site")) {
        return false;
    }
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) if audience == Audience::OPERATOR => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            host.is_some_and(|host| origin == format!("http://{host}"))
        }
        Some(Ok(origin)) => origin == &*state.public_url,
        Some(Err(_)) => false,
        None => true,
    }
}

/// Whether `given` is the session's form token.
pub(crate) fn csrf_matches(signed: &Signed, given: Option<&str>) -> bool {
    given.is_some_and(|given| bool::from(given.as_bytes().ct_eq(signed.csrf.as_bytes())))
}

/// The API key a sign-in form names, checked as the API checks it: the
/// same one answer for every way it can be wrong.
pub(crate) async fn verify_key(state: &AppState, text: &str) -> Option<coffer_store::ApiKeyRecord> {
    let token: ApiKeyToken = text.trim().parse().ok()?;
    let record = state.store.api_key(token.id()).await.ok()??;
    (token.matches(&record.secret_digest) && record.revoked_at.is_none()).then_some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_cookie_of_ours_is_read() {
        let mut headers = HeaderMap::new();
        let good = "a".repeat(48);
        let name = "coffer_console";
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("x=1; {name}={good}; y=2")).unwrap());
        assert_eq!(cookie(&headers, name), Some(good.clone()));
        let planted = format!("{name}={}; {name}={good}", "b".repeat(48));
        headers.insert(header::COOKIE, HeaderValue::from_str(&planted).unwrap());
        assert_eq!(cookie(&headers, name), None, "a second cookie of our name: signed out, not the first");
        headers.insert(header::COOKIE, HeaderValue::from_static("coffer_console=' OR 1=1 --"));
        assert_eq!(cookie(&headers, name), None);
        headers.insert(header::COOKIE, HeaderValue::from_static("coffer_consolex=aaaa"));
        assert_eq!(cookie(&headers, name), None);
    }

    #[test]
    fn the_form_token_is_the_session_s_own_and_not_its_secret() {
        let (one, two) = (csrf_token(&"a".repeat(48)), csrf_token(&"b".repeat(48)));
        assert_eq!(one.len(), 48);
        assert_ne!(one, two);
        assert_ne!(one, "a".repeat(48));
        assert_eq!(one, csrf_token(&"a".repeat(48)));
    }

    #[test]
    fn the_actor_is_stable_and_reveals_no_usable_secret() {
        let d = digest("secret");
        assert_eq!(actor(&d), actor(&digest("secret")));
        assert!(!actor(&d).contains("secret") && actor(&d).len() == "console:".len() + 12);
    }
}
