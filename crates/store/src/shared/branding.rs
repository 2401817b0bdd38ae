//! [`crate::BrandingStore`] for both backends.

macro_rules! branding_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::BrandingStore for $store {
            async fn branding(
                &self,
                merchant_id: coffer_domain::MerchantId,
            ) -> $crate::Result<coffer_domain::Branding> {
                let row: Option<(Option<String>, Option<Vec<u8>>, Option<String>)> =
                    sqlx::query_as("SELECT color, logo, logo_type FROM merchant_branding WHERE merchant_id = $1")
                        .bind(merchant_id.as_uuid())
                        .fetch_optional(&self.reads)
                        .await?;
                let Some((color, logo, logo_type)) = row else { return Ok(Default::default()) };
                let corrupt =
                    |e: &dyn std::fmt::Display| $crate::StoreError::corrupt("merchant_branding", e.to_string());
                let color =
                    color.map(|c| c.parse::<coffer_domain::BrandColor>()).transpose().map_err(|e| corrupt(&e))?;
                let logo = match (logo, logo_type) {
                    (Some(bytes), Some(mime)) => {
                        Some(coffer_domain::Logo::stored(&mime, bytes).map_err(|e| corrupt(&e))?)
                    }
                    _ => None,
                };
                Ok(coffer_domain::Branding { color, logo })
            }

            async fn set_branding_audited(
                &self,
                merchant_id: coffer_domain::MerchantId,
                branding: &coffer_domain::Branding,
                at: coffer_domain::Timestamp,
                record: &coffer_audit::Record,
            ) -> $crate::Result<coffer_audit::Entry> {
                let (branding, record) = (branding.clone(), record.clone());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        let exists = sqlx::query($crate::sql::MERCHANT)
                            .bind(merchant_id.as_uuid())
                            .fetch_optional(&mut *conn)
                            .await?;
                        if exists.is_none() {
                            return Err($crate::StoreError::UnknownMerchant(merchant_id));
                        }
                        sqlx::query(
                            "INSERT INTO merchant_branding (merchant_id, color, logo, logo_type, updated_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id) DO UPDATE SET \
                             color = excluded.color, logo = excluded.logo, logo_type = excluded.logo_type, \
                             updated_at = excluded.updated_at",
                        )
                        .bind(merchant_id.as_uuid())
                        .bind(branding.color.map(|c| c.to_string()))
                        .bind(branding.logo.as_ref().map(|l| l.bytes().to_vec()))
                        .bind(branding.logo.as_ref().map(|l| l.kind().mime()))
                        .bind(at.as_millis())
                        .execute(&mut *conn)
                        .await?;
                        audit_writes::append(conn, &record).await
                    })
                })
                .await
            }
        }
    };
}
pub(crate) use branding_store;
