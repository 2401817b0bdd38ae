//! [`crate::ConsoleStore`] for both backends (see `console.rs` at the crate
//! root for the contract). Uses the audit appends the store's audit macro
//! defines beside it.

/// A console link or session's row: who it is for.
pub(crate) fn role(merchant_id: Option<uuid::Uuid>) -> crate::ConsoleRole {
    match merchant_id {
        Some(id) => crate::ConsoleRole::Merchant(coffer_domain::MerchantId::from_uuid(id)),
        None => crate::ConsoleRole::Operator,
    }
}

pub(crate) fn digest(table: &'static str, bytes: &[u8]) -> Result<[u8; 32], crate::StoreError> {
    bytes.try_into().map_err(|_| crate::StoreError::corrupt(table, "a digest is not 32 bytes"))
}

pub(crate) type SessionRow = (Vec<u8>, Option<uuid::Uuid>, String, i64, i64, Option<i64>);

pub(crate) fn session(row: SessionRow) -> Result<crate::ConsoleSession, crate::StoreError> {
    let (digest_bytes, merchant, opened_by, created_at, expires_at, ended_at) = row;
    Ok(crate::ConsoleSession {
        digest: digest("console_sessions", &digest_bytes)?,
        role: role(merchant),
        opened_by,
        created_at: coffer_domain::Timestamp::from_millis(created_at),
        expires_at: coffer_domain::Timestamp::from_millis(expires_at),
        ended_at: ended_at.map(coffer_domain::Timestamp::from_millis),
    })
}

macro_rules! console_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::ConsoleStore for $store {
            async fn create_console_link_audited(
                &self,
                link: &$crate::ConsoleLink,
                record: &coffer_audit::Record,
            ) -> $crate::Result<coffer_audit::Entry> {
                let (link, record) = (link.clone(), record.clone());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        sqlx::query(
                            "INSERT INTO console_links (digest, merchant_id, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(link.digest.as_slice())
                        .bind(link.role.merchant().map(|m| m.as_uuid()))
                        .bind(link.created_at.as_millis())
                        .bind(link.expires_at.as_millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| match $crate::StoreError::from_sqlx(e) {
                            $crate::StoreError::Conflict(m) if m.contains("FOREIGN KEY") || m.contains("foreign key") => {
                                $crate::StoreError::UnknownMerchant(
                                    link.role.merchant().unwrap_or_else(|| coffer_domain::MerchantId::from_uuid(uuid::Uuid::nil())),
                                )
                            }
                            other => other,
                        })?;
                        audit_writes::append(conn, &record).await
                    })
                })
                .await
            }

            async fn console_link(&self, digest: [u8; 32]) -> $crate::Result<Option<($crate::ConsoleLink, bool)>> {
                let row: Option<(Vec<u8>, Option<uuid::Uuid>, i64, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT digest, merchant_id, created_at, expires_at, used_at FROM console_links WHERE digest = $1",
                )
                .bind(digest.as_slice())
                .fetch_optional(&self.reads)
                .await?;
                row.map(|(bytes, merchant, created_at, expires_at, used_at)| {
                    let link = $crate::ConsoleLink {
                        digest: $crate::shared::console::digest("console_links", &bytes)?,
                        role: $crate::shared::console::role(merchant),
                        created_at: coffer_domain::Timestamp::from_millis(created_at),
                        expires_at: coffer_domain::Timestamp::from_millis(expires_at),
                    };
                    Ok((link, used_at.is_some()))
                })
                .transpose()
            }

            async fn open_console_session_audited(
                &self,
                session: &$crate::ConsoleSession,
                link: Option<[u8; 32]>,
                record: &coffer_audit::Record,
            ) -> $crate::Result<Option<coffer_audit::Entry>> {
                let (session, record) = (session.clone(), record.clone());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        if let Some(link) = link {
                            // The role is compared in the statement: a link for one
                            // merchant never opens a session for another.
                            let used = sqlx::query(
                                "UPDATE console_links SET used_at = $2 WHERE digest = $1 AND used_at IS NULL \
                                 AND expires_at > $2 AND merchant_id IS NOT DISTINCT FROM $3",
                            )
                            .bind(link.as_slice())
                            .bind(session.created_at.as_millis())
                            .bind(session.role.merchant().map(|m| m.as_uuid()))
                            .execute(&mut *conn)
                            .await?;
                            if used.rows_affected() != 1 {
                                return Ok(None);
                            }
                        }
                        sqlx::query(
                            "INSERT INTO console_sessions (digest, merchant_id, opened_by, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(session.digest.as_slice())
                        .bind(session.role.merchant().map(|m| m.as_uuid()))
                        .bind(&session.opened_by)
                        .bind(session.created_at.as_millis())
                        .bind(session.expires_at.as_millis())
                        .execute(&mut *conn)
                        .await?;
                        audit_writes::append(conn, &record).await.map(Some)
                    })
                })
                .await
            }

            async fn console_session(&self, digest: [u8; 32]) -> $crate::Result<Option<$crate::ConsoleSession>> {
                let row: Option<$crate::shared::console::SessionRow> = sqlx::query_as(
                    "SELECT digest, merchant_id, opened_by, created_at, expires_at, ended_at \
                     FROM console_sessions WHERE digest = $1",
                )
                .bind(digest.as_slice())
                .fetch_optional(&self.reads)
                .await?;
                row.map($crate::shared::console::session).transpose()
            }

            async fn end_console_session_audited(
                &self,
                digest: [u8; 32],
                at: coffer_domain::Timestamp,
                record: &coffer_audit::Record,
            ) -> $crate::Result<Option<coffer_audit::Entry>> {
                let record = record.clone();
                self.transaction(move |conn| {
                    Box::pin(async move {
                        let ended =
                            sqlx::query("UPDATE console_sessions SET ended_at = $2 WHERE digest = $1 AND ended_at IS NULL")
                                .bind(digest.as_slice())
                                .bind(at.as_millis())
                                .execute(&mut *conn)
                                .await?;
                        if ended.rows_affected() != 1 {
                            return Ok(None);
                        }
                        audit_writes::append(conn, &record).await.map(Some)
                    })
                })
                .await
            }

            async fn end_console_sessions_audited(
                &self,
                role: Option<$crate::ConsoleRole>,
                at: coffer_domain::Timestamp,
                record: &coffer_audit::Record,
            ) -> $crate::Result<(u64, coffer_audit::Entry)> {
                let record = record.clone();
                self.transaction(move |conn| {
                    Box::pin(async move {
                        let mut query = sqlx::QueryBuilder::<$db>::new("UPDATE console_sessions SET ended_at = ");
                        query.push_bind(at.as_millis()).push(" WHERE ended_at IS NULL AND expires_at > ");
                        query.push_bind(at.as_millis());
                        match role {
                            Some($crate::ConsoleRole::Merchant(id)) => {
                                query.push(" AND merchant_id = ").push_bind(id.as_uuid());
                            }
                            Some($crate::ConsoleRole::Operator) => {
                                query.push(" AND merchant_id IS NULL");
                            }
                            None => {}
                        }
                        let ended = query.build().execute(&mut *conn).await?.rows_affected();
                        let entry = audit_writes::append(conn, &record).await?;
                        Ok((ended, entry))
                    })
                })
                .await
            }

            async fn search_invoices(
                &self,
                search: &$crate::InvoiceSearch,
            ) -> $crate::Result<Vec<coffer_domain::Invoice>> {
                let mut query = sqlx::QueryBuilder::<$db>::new($crate::sql::INVOICE_COLUMNS);
                query.push(" WHERE merchant_id = ").push_bind(search.merchant_id.as_uuid());
                if let Some(status) = search.status {
                    query.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(text) = search.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                    match text.parse::<coffer_domain::Address>() {
                        Ok(address) => query.push(" AND address = ").push_bind(address.as_slice().to_vec()),
                        Err(_) => query.push(" AND order_id = ").push_bind(text.to_owned()),
                    };
                }
                query.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(search.limit));
                let rows: Vec<$crate::rows::InvoiceRow> = query.build_query_as().fetch_all(&self.reads).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn invoice_entries(
                &self,
                merchant_id: coffer_domain::MerchantId,
                invoice_id: coffer_domain::InvoiceId,
            ) -> $crate::Result<Vec<$crate::StoredEntry>> {
                let rows: Vec<$crate::rows::EntryRow> = sqlx::query_as(
                    "SELECT e.transaction_id, t.kind, t.invoice_id, t.payment_id, t.payout_id, t.sweep_id, e.account, \
                     e.chain_id, e.asset, e.side, e.amount FROM ledger_transactions t \
                     JOIN invoices i ON i.id = t.invoice_id \
                     JOIN ledger_entries e ON e.transaction_id = t.id \
                     WHERE t.invoice_id = $1 AND i.merchant_id = $2 \
                     ORDER BY t.created_at, e.transaction_id, e.position",
                )
                .bind(invoice_id.as_uuid())
                .bind(merchant_id.as_uuid())
                .fetch_all(&self.reads)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn invoice_deliveries(
                &self,
                merchant_id: coffer_domain::MerchantId,
                invoice_id: coffer_domain::InvoiceId,
            ) -> $crate::Result<Vec<$crate::Delivery>> {
                let sql = format!(
                    "{} WHERE d.merchant_id = $1 AND ev.invoice_id = $2 ORDER BY d.created_at DESC, d.id DESC LIMIT 500",
                    webhook_sql::DELIVERY
                );
                let rows: Vec<$crate::rows::DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(merchant_id.as_uuid())
                    .bind(invoice_id.as_uuid())
                    .fetch_all(&self.reads)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}
pub(crate) use console_store;
