//! Operator actions behind `coffer merchant …`, `coffer apikey …` and
//! `coffer treasury token`, each privileged act written with its audit
//! record in one transaction ([`crate::audit`]).

use coffer_domain::{ApiKeyId, ApiKeyToken, MerchantId, RandomnessUnavailable, Scopes, Timestamp};
use coffer_store::{ApiKeyRecord, Merchant, Store, StoreError};

use crate::audit;

/// Longest merchant name or key label, in characters.
const MAX_TEXT_CHARS: usize = 200;

/// Why an operator action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness for a new key.
    #[error(transparent)]
    Randomness(#[from] RandomnessUnavailable),
    /// A merchant name must be 1 to 200 characters, without control characters.
    #[error("a merchant name is 1 to 200 characters, without control characters")]
    BadName,
    /// An API-key label must be at most 200 characters, without control characters.
    #[error("an API-key label is at most 200 characters, without control characters")]
    BadLabel,
    /// A key with no scope could do nothing.
    #[error("give the key at least one scope (invoices:read, invoices:write)")]
    NoScopes,
    /// No such key.
    #[error("no API key {0}, or it is already revoked")]
    NoSuchKey(ApiKeyId),
    /// No randomness for an operator token.
    #[error("the operating system's random number generator failed: {0}")]
    OperatorToken(String),
    /// No such merchant, for a console link.
    #[error("no merchant {0}; `coffer merchant list` shows them")]
    NoSuchMerchant(MerchantId),
}

/// Ends live console sessions at once: a merchant's, the operator's, or
/// (`None`) everyone's. Returns how many ended.
pub async fn end_console_sessions(
    store: &dyn Store,
    role: Option<coffer_store::ConsoleRole>,
) -> Result<u64, AdminError> {
    let now = Timestamp::now();
    let (ended, _) = store.end_console_sessions_audited(role, now, &audit::console_sessions_ended(role, now)).await?;
    Ok(ended)
}

/// A change to a merchant's branding: `None` keeps a part as it is,
/// `Some(None)` removes it.
#[derive(Clone, Debug, Default)]
pub struct BrandingChange {
    /// The accent colour.
    pub color: Option<Option<coffer_domain::BrandColor>>,
    /// The logo.
    pub logo: Option<Option<coffer_domain::Logo>>,
}

/// Changes a merchant's checkout branding; returns it as it now is.
pub async fn set_branding(
    store: &dyn Store,
    merchant: MerchantId,
    change: BrandingChange,
) -> Result<coffer_domain::Branding, AdminError> {
    if store.merchant(merchant).await?.is_none() {
        return Err(AdminError::NoSuchMerchant(merchant));
    }
    let mut branding = store.branding(merchant).await?;
    if let Some(color) = change.color {
        branding.color = color;
    }
    if let Some(logo) = change.logo {
        branding.logo = logo;
    }
    let now = Timestamp::now();
    store.set_branding_audited(merchant, &branding, now, &audit::branding_changed(merchant, &branding, now)).await?;
    Ok(branding)
}

/// Makes a one-time console sign-in link for a merchant or the operator,
/// usable once within [`crate::CONSOLE_LINK_LIFETIME`]; returns its URL
/// under `public_url` (the only copy of its secret: the store keeps a digest).
pub async fn create_console_link(
    store: &dyn Store,
    role: coffer_store::ConsoleRole,
    public_url: &str,
) -> Result<(String, Timestamp), AdminError> {
    if let coffer_store::ConsoleRole::Merchant(id) = role
        && store.merchant(id).await?.is_none()
    {
        return Err(AdminError::NoSuchMerchant(id));
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| AdminError::OperatorToken(e.to_string()))?;
    let secret = hex::encode(bytes);
    let now = Timestamp::now();
    let link = coffer_store::ConsoleLink {
        digest: crate::console::session::digest(&secret),
        role,
        created_at: now,
        expires_at: now.plus(crate::console::session::LINK_LIFETIME),
    };
    store.create_console_link_audited(&link, &audit::console_link_created(&link)).await?;
    let base = public_url.trim_end_matches('/');
    Ok((format!("{base}/console/sign-in?link={secret}"), link.expires_at))
}

/// Creates a merchant.
pub async fn create_merchant(store: &dyn Store, name: &str) -> Result<Merchant, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_TEXT_CHARS || !crate::input::is_printable(name) {
        return Err(AdminError::BadName);
    }
    let merchant = Merchant { id: MerchantId::new(), name: name.to_owned(), created_at: Timestamp::now() };
    store.create_merchant_audited(&merchant, &audit::merchant_created(&merchant)).await?;
    Ok(merchant)
}

/// Creates an API key. The returned token is the only copy of its secret:
/// the store keeps a digest.
pub async fn create_api_key(
    store: &dyn Store,
    merchant_id: MerchantId,
    scopes: Scopes,
    label: &str,
) -> Result<(ApiKeyToken, ApiKeyRecord), AdminError> {
    create_api_key_by(store, merchant_id, scopes, label, audit::OPERATOR).await
}

/// [`create_api_key`], by `actor` on the audit log.
pub(crate) async fn create_api_key_by(
    store: &dyn Store,
    merchant_id: MerchantId,
    scopes: Scopes,
    label: &str,
    actor: &str,
) -> Result<(ApiKeyToken, ApiKeyRecord), AdminError> {
    if scopes.is_empty() {
        return Err(AdminError::NoScopes);
    }
    if label.chars().count() > MAX_TEXT_CHARS || !crate::input::is_printable(label) {
        return Err(AdminError::BadLabel);
    }
    let token = ApiKeyToken::generate()?;
    let record = ApiKeyRecord {
        id: token.id(),
        merchant_id,
        secret_digest: token.digest(),
        scopes,
        label: label.to_owned(),
        created_at: Timestamp::now(),
        revoked_at: None,
    };
    store.create_api_key_audited(&record, &audit::api_key_created_by(&record, actor)).await?;
    Ok((token, record))
}

/// Revokes a key; every gateway refuses it within [`crate::KEY_CACHE_TTL`].
pub async fn revoke_api_key(store: &dyn Store, id: ApiKeyId) -> Result<(), AdminError> {
    revoke_api_key_by(store, id, audit::OPERATOR).await
}

/// [`revoke_api_key`], by `actor` on the audit log.
pub(crate) async fn revoke_api_key_by(store: &dyn Store, id: ApiKeyId, actor: &str) -> Result<(), AdminError> {
    let at = Timestamp::now();
    match store.revoke_api_key_audited(id, at, &audit::api_key_revoked_by(id, at, actor)).await? {
        Some(_) => Ok(()),
        None => Err(AdminError::NoSuchKey(id)),
    }
}

/// A new operator token for `GET /v1/treasury` and its SHA-256 (hex), the
/// value of `operator_token_sha256`: the token is shown once, only its
/// digest is configured. 256 bits of OS randomness, as API keys.
pub fn operator_token() -> Result<(String, String), AdminError> {
    use sha2::{Digest, Sha256};
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| AdminError::OperatorToken(e.to_string()))?;
    let token = format!("coffer_op_{}", bs58::encode(secret).into_string());
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    Ok((token, digest))
}
