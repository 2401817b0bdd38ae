//! Reads, identical on both backends: the SQL is shared (`sql.rs`) and only
//! the pool type differs, so one macro writes them for each store.

/// Adds the shared read methods to a store type whose `reads` field is a sqlx pool.
macro_rules! shared_reads {
    ($store:ty) => {
        impl $store {
            async fn read_merchant(&self, id: coffer_domain::MerchantId) -> $crate::Result<Option<$crate::Merchant>> {
                let row = sqlx::query_as::<_, $crate::rows::MerchantRow>($crate::sql::MERCHANT)
                    .bind(id.as_uuid())
                    .fetch_optional(&self.reads)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn read_merchants(&self) -> $crate::Result<Vec<$crate::Merchant>> {
                let rows = sqlx::query_as::<_, $crate::rows::MerchantRow>($crate::sql::MERCHANTS)
                    .fetch_all(&self.reads)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn read_api_key(&self, id: coffer_domain::ApiKeyId) -> $crate::Result<Option<$crate::ApiKeyRecord>> {
                let row = sqlx::query_as::<_, $crate::rows::ApiKeyRow>($crate::sql::API_KEY)
                    .bind(id.as_uuid())
                    .fetch_optional(&self.reads)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn read_invoice_by_checkout_token(
                &self,
                token: &coffer_domain::CheckoutToken,
            ) -> $crate::Result<Option<coffer_domain::Invoice>> {
                let row = sqlx::query_as::<_, $crate::rows::InvoiceRow>($crate::sql::INVOICE_BY_CHECKOUT_TOKEN)
                    .bind(token.as_str())
                    .fetch_optional(&self.reads)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn read_api_keys(
                &self,
                merchant_id: coffer_domain::MerchantId,
            ) -> $crate::Result<Vec<$crate::ApiKeyRecord>> {
                let rows = sqlx::query_as::<_, $crate::rows::ApiKeyRow>($crate::sql::API_KEYS)
                    .bind(merchant_id.as_uuid())
                    .fetch_all(&self.reads)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn read_invoice(
                &self,
                merchant_id: coffer_domain::MerchantId,
                id: coffer_domain::InvoiceId,
            ) -> $crate::Result<Option<coffer_domain::Invoice>> {
                let row = sqlx::query_as::<_, $crate::rows::InvoiceRow>($crate::sql::INVOICE)
                    .bind(merchant_id.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.reads)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn read_invoices(&self, query: $crate::InvoiceQuery) -> $crate::Result<Vec<coffer_domain::Invoice>> {
                let mut q = sqlx::query_as::<_, $crate::rows::InvoiceRow>($crate::sql::invoices_query(&query))
                    .bind(query.merchant_id.as_uuid())
                    .bind(i64::from(query.limit));
                if let Some(status) = query.status {
                    q = q.bind(status.as_str());
                }
                if let Some(before) = query.before {
                    q = q.bind(before.as_uuid());
                }
                let rows = q.fetch_all(&self.reads).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn read_ping(&self) -> $crate::Result<()> {
                sqlx::query("SELECT 1").execute(&self.reads).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use shared_reads;
