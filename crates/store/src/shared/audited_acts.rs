//! [`crate::AuditedActs`] for both backends: each act, then its entry, in
//! one transaction (see `audit.rs` in this folder for the lock order).

macro_rules! audited_acts {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::AuditedActs for $store {
            async fn create_merchant_audited(
                &self,
                merchant: &$crate::Merchant,
                record: &coffer_audit::Record,
            ) -> $crate::Result<coffer_audit::Entry> {
                let (merchant, record) = (merchant.clone(), record.clone());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        sqlx::query($crate::sql::INSERT_MERCHANT)
                            .bind(merchant.id.as_uuid())
                            .bind(&merchant.name)
                            .bind(merchant.created_at.as_millis())
                            .execute(&mut *conn)
                            .await?;
                        audit_writes::append(conn, &record).await
                    })
                })
                .await
            }

            async fn create_api_key_audited(
                &self,
                key: &$crate::ApiKeyRecord,
                record: &coffer_audit::Record,
            ) -> $crate::Result<coffer_audit::Entry> {
                let (key, record) = (key.clone(), record.clone());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        let exists = sqlx::query($crate::sql::MERCHANT)
                            .bind(key.merchant_id.as_uuid())
                            .fetch_optional(&mut *conn)
                            .await?;
                        if exists.is_none() {
                            return Err($crate::StoreError::UnknownMerchant(key.merchant_id));
                        }
                        sqlx::query($crate::sql::INSERT_API_KEY)
                            .bind(key.id.as_uuid())
                            .bind(key.merchant_id.as_uuid())
                            .bind(key.secret_digest.0.as_slice())
                            .bind(key.scopes.to_string())
                            .bind(&key.label)
                            .bind(key.created_at.as_millis())
                            .execute(&mut *conn)
                            .await?;
                        audit_writes::append(conn, &record).await
                    })
                })
                .await
            }

            async fn revoke_api_key_audited(
                &self,
                id: coffer_domain::ApiKeyId,
                at: coffer_domain::Timestamp,
                record: &coffer_audit::Record,
            ) -> $crate::Result<Option<coffer_audit::Entry>> {
                let record = record.clone();
                self.transaction(move |conn| {
                    Box::pin(async move {
                        let done = sqlx::query($crate::sql::REVOKE_API_KEY)
                            .bind(id.as_uuid())
                            .bind(at.as_millis())
                            .execute(&mut *conn)
                            .await?;
                        if done.rows_affected() == 0 {
                            return Ok(None);
                        }
                        audit_writes::append(conn, &record).await.map(Some)
                    })
                })
                .await
            }

            async fn register_webhook_audited(
                &self,
                endpoint: &$crate::WebhookEndpoint,
                limit: u32,
                record: &coffer_audit::Record,
            ) -> $crate::Result<Option<coffer_audit::Entry>> {
                let (endpoint, record) = (endpoint.clone(), record.clone());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        match webhook_sql::register(conn, &endpoint, limit).await? {
                            $crate::WebhookRegistration::LimitReached => Ok(None),
                            $crate::WebhookRegistration::Registered => {
                                audit_writes::append(conn, &record).await.map(Some)
                            }
                        }
                    })
                })
                .await
            }

            async fn delete_webhook_audited(
                &self,
                merchant_id: coffer_domain::MerchantId,
                id: coffer_domain::WebhookId,
                at: coffer_domain::Timestamp,
                record: &coffer_audit::Record,
            ) -> $crate::Result<Option<coffer_audit::Entry>> {
                let record = record.clone();
                self.transaction(move |conn| {
                    Box::pin(async move {
                        if !webhook_sql::delete(conn, merchant_id, id, at).await? {
                            return Ok(None);
                        }
                        audit_writes::append(conn, &record).await.map(Some)
                    })
                })
                .await
            }

            async fn resolve_halt_audited(
                &self,
                chain_id: coffer_domain::ChainId,
                at: coffer_domain::Timestamp,
                resolution: &str,
                record: &coffer_audit::Record,
            ) -> $crate::Result<Option<coffer_audit::Entry>> {
                let (resolution, record) = (resolution.to_owned(), record.clone());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        if !chain_writes::resolve_halt(conn, chain_id, at, &resolution).await? {
                            return Ok(None);
                        }
                        audit_writes::append(conn, &record).await.map(Some)
                    })
                })
                .await
            }

            async fn resolve_displaced_audited(
                &self,
                chain_id: coffer_domain::ChainId,
                resolution: $crate::DisplacedResolution,
                at: coffer_domain::Timestamp,
                note: &str,
                record: &coffer_audit::Record,
            ) -> $crate::Result<(Vec<coffer_domain::PaymentId>, coffer_audit::Entry)> {
                let (note, mut record) = (note.to_owned(), record.clone());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        let ids = chain_writes::resolve_displaced(conn, chain_id, &resolution, at, &note).await?;
                        if let serde_json::Value::Object(detail) = &mut record.detail {
                            let listed = ids.iter().map(|id| serde_json::Value::String(id.to_string())).collect();
                            detail.insert("payments".into(), serde_json::Value::Array(listed));
                        }
                        let entry = audit_writes::append(conn, &record).await?;
                        Ok((ids, entry))
                    })
                })
                .await
            }
        }
    };
}

pub(crate) use audited_acts;
