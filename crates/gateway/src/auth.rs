//! Bearer API keys: who is calling, and what they may do.
//!
//! A token names its key id in clear, so one primary-key lookup finds the
//! stored digest; the secret is then compared in constant time. Verified
//! key records are cached for [`KEY_CACHE_TTL`] so that a busy client does
//! not cost a database read per request; a revocation therefore takes
//! effect on every gateway within that time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use coffer_domain::{ApiKeyId, ApiKeyToken, MerchantId, Scope, Scopes};
use coffer_store::{ApiKeyRecord, Store};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// How long a looked-up key is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
/// Bounds the cache; it is cleared when full (keys are few, this is a safety net).
const KEY_CACHE_MAX: usize = 10_000;

/// The caller, once its key checked out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    /// The key's id: the actor of what the caller does, in the audit log.
    pub(crate) key_id: ApiKeyId,
    /// The merchant the key acts for.
    pub(crate) merchant_id: MerchantId,
    /// The key's scopes.
    pub(crate) scopes: Scopes,
}

impl Caller {
    /// Fails with 403 unless the key has `scope`.
    pub(crate) fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::InsufficientScope, format!("this API key lacks the {scope} scope")))
        }
    }
}

/// Recently verified key records, by key id.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    entries: RwLock<HashMap<ApiKeyId, (ApiKeyRecord, Instant)>>,
}

impl KeyCache {
    async fn record(&self, store: &Arc<dyn Store>, id: ApiKeyId) -> Result<Option<ApiKeyRecord>, ApiError> {
        let now = Instant::now();
        if let Ok(entries) = self.entries.read()
            && let Some((record, fetched)) = entries.get(&id)
            && now.duration_since(*fetched) < KEY_CACHE_TTL
        {
            return Ok(Some(record.clone()));
        }
        let record = store.api_key(id).await?;
        if let (Some(record), Ok(mut entries)) = (&record, self.entries.write()) {
            if entries.len() >= KEY_CACHE_MAX {
                entries.clear();
            }
            entries.insert(id, (record.clone(), now));
        }
        Ok(record)
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing API key; send it as Authorization: Bearer coffer_sk_…"))?;
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| unauthorized("the Authorization header must read Bearer coffer_sk_…"))?;
        // One answer for every way a key can be wrong: no oracle for guessing.
        let invalid = || unauthorized("invalid or revoked API key");
        let token: ApiKeyToken = token.trim().parse().map_err(|_| invalid())?;
        let record = state.keys.record(&state.store, token.id()).await?.ok_or_else(invalid)?;
        if !token.matches(&record.secret_digest) || record.revoked_at.is_some() {
            return Err(invalid());
        }
        Ok(Caller { key_id: record.id, merchant_id: record.merchant_id, scopes: record.scopes })
    }
}

macro_rules! scoped_caller {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        pub(crate) struct $name(pub(crate) Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
                let caller = Caller::from_request_parts(parts, state).await?;
                caller.require($scope)?;
                Ok(Self(caller))
            }
        }
    };
}

scoped_caller!(
    /// A caller whose key has `invoices:read`; checked before the body is read.
    CanRead,
    Scope::InvoicesRead
);
scoped_caller!(
    /// A caller whose key has `invoices:write`; checked before the body is read.
    CanWrite,
    Scope::InvoicesWrite
);
scoped_caller!(
    /// A caller whose key has `balances:read`.
    CanReadBalances,
    Scope::BalancesRead
);
scoped_caller!(
    /// A caller whose key has `webhooks:read`.
    CanReadWebhooks,
    Scope::WebhooksRead
);
scoped_caller!(
    /// A caller whose key has `webhooks:write`; checked before the body is read.
    CanWriteWebhooks,
    Scope::WebhooksWrite
);

scoped_caller!(
    /// A caller whose key has `payouts:read`.
    CanReadPayouts,
    Scope::PayoutsRead
);
scoped_caller!(
    /// A caller whose key has `payouts:write`; checked before the body is read.
    CanWritePayouts,
    Scope::PayoutsWrite
);

/// A caller that may register a webhook endpoint: `webhooks:write`, and
/// `invoices:read` too, since every delivery carries the whole invoice
/// (order id, metadata): without it, a key refused the invoice routes
/// could have invoices sent to a URL of its choice. (Subscribing to
/// `payout.*` events needs `payouts:read` as well, checked with the body.)
/// Checked before the body is read.
pub(crate) struct CanRegisterWebhooks(pub(crate) Caller);

impl FromRequestParts<AppState> for CanRegisterWebhooks {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let CanWriteWebhooks(caller) = CanWriteWebhooks::from_request_parts(parts, state).await?;
        if !caller.scopes.contains(Scope::InvoicesRead) {
            return Err(ApiError::new(
                ErrorCode::InsufficientScope,
                "registering a webhook also needs the invoices:read scope: deliveries carry whole invoices",
            ));
        }
        Ok(Self(caller))
    }
}

/// The operator, by the bearer token whose SHA-256 the configuration holds
/// (`operator_token_sha256`). One answer for a missing, malformed or wrong
/// token; compared in constant time.
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let Some(expected) = state.treasury.operator_digest else {
            return Err(ApiError::not_found("route"));
        };
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| unauthorized("the treasury needs the operator token: Authorization: Bearer coffer_op_…"))?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if bool::from(digest.ct_eq(&expected)) { Ok(Operator) } else { Err(unauthorized("invalid operator token")) }
    }
}
