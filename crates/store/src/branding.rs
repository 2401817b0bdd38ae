//! A merchant's branding for its checkout page (colour and logo).
//!
//! **Contract:** a change is written with its audit record in one
//! transaction; what is read back is checked again by coffer-domain's
//! rules, so a row edited in the database is refused, never served.

use async_trait::async_trait;
use coffer_audit::{Entry, Record};
use coffer_domain::{Branding, MerchantId, Timestamp};

use crate::Result;

/// Reading and changing merchants' branding.
#[async_trait]
pub trait BrandingStore: Send + Sync {
    /// The merchant's branding (empty if none was set).
    async fn branding(&self, merchant_id: MerchantId) -> Result<Branding>;
    /// Replaces the merchant's branding, with its record; fails with
    /// [`crate::StoreError::UnknownMerchant`] for no such merchant.
    async fn set_branding_audited(
        &self,
        merchant_id: MerchantId,
        branding: &Branding,
        at: Timestamp,
        record: &Record,
    ) -> Result<Entry>;
}
