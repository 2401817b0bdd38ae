//! Who is signed in to the console, and whether a form may act.
//!
//! A session is a random 192-bit secret in an `HttpOnly`, `SameSite=Strict`
//! cookie scoped to `/console` (`Secure` when the public URL is https);
//! the store keeps only its SHA-256. Sessions end at sign-out or after
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

/// The session cookie's name.
pub(crate) const COOKIE: &str = "coffer_console";
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

/// A live session, read from its cookie.
#[derive(Clone, Debug)]
pub(crate) struct Signed {
    pub(crate) session: ConsoleSession,
    /// The API key it was opened with, if it was.
    pub(crate) key: Option<ApiKeyId>,
}

impl Signed {
    pub(crate) fn actor(&self) -> String {
        actor(&self.session.digest)
    }

    /// Whether the session may do what `scope` covers: a link's session
    /// may do all its merchant may; an API key's, what that key may, while
    /// it is not revoked.
    pub(crate) async fn may(&self, state: &AppState, scope: Scope) -> Result<bool, ApiError> {
        let Some(key) = self.key else { return Ok(true) };
        let Some(record) = state.store.api_key(key).await? else { return Ok(false) };
        Ok(record.revoked_at.is_none()
            && record.scopes.contains(scope)
            && ConsoleRole::Merchant(record.merchant_id) == self.session.role)
    }
}

/// The live session the request's cookie names, if any.
pub(crate) async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Option<Signed>, ApiError> {
    let Some(secret) = cookie(headers) else { return Ok(None) };
    let Some(session) = state.store.console_session(digest(&secret)).await? else { return Ok(None) };
    if !session.is_live(Timestamp::now()) {
        return Ok(None);
    }
    let key = session.opened_by.strip_prefix("api_key:").and_then(|id| id.parse().ok());
    let signed = Signed { session, key };
    // A session opened with a key that has since been revoked ends with it.
    if signed.key.is_some() && !signed.may(state, Scope::InvoicesRead).await? {
        return Ok(None);
    }
    Ok(Some(signed))
}

/// The session cookie's value, if the request carries one that could be ours.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() == 48 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `Set-Cookie` for a new session (`secret`), or to clear it (`None`).
pub(crate) fn set_cookie(state: &AppState, secret: Option<&str>) -> HeaderValue {
    let secure = if state.public_url.starts_with("https://") { "; Secure" } else { "" };
    let text = match secret {
        Some(secret) => format!(
            "{COOKIE}={secret}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_LIFETIME.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("coffer_console=; Max-Age=0"))
}

/// Whether a form post came from the console's own pages: not from
/// another site by its `Sec-Fetch-Site`, nor from another origin by its
/// `Origin`. Browsers send at least one of them on every form post.
pub(crate) fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site" | "same-site")) {
        return false;
    }
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => origin == &*state.public_url,
        Some(Err(_)) => false,
        None => true,
    }
}

/// Whether `given` is the session's form token.
pub(crate) fn csrf_matches(session: &ConsoleSession, given: Option<&str>) -> bool {
    given.is_some_and(|given| bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes())))
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
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("x=1; {COOKIE}={good}; y=2")).unwrap());
        assert_eq!(cookie(&headers), Some(good));
        headers.insert(header::COOKIE, HeaderValue::from_static("coffer_console=' OR 1=1 --"));
        assert_eq!(cookie(&headers), None);
        headers.insert(header::COOKIE, HeaderValue::from_static("coffer_consolex=aaaa"));
        assert_eq!(cookie(&headers), None);
    }

    #[test]
    fn the_actor_is_stable_and_reveals_no_usable_secret() {
        let d = digest("secret");
        assert_eq!(actor(&d), actor(&digest("secret")));
        assert!(!actor(&d).contains("secret") && actor(&d).len() == "console:".len() + 12);
    }
}
