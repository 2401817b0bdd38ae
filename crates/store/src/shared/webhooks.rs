//! [`crate::WebhookStore`] for both backends.

macro_rules! webhook_store {
    ($store:ty, $db:ty) => {
        mod webhook_sql {
            /// A delivery with its event's type and invoice, for the delivery log.
            pub(super) const DELIVERY: &str = "SELECT d.id, d.endpoint_id, d.event_id, ev.type AS event_type, \
                ev.invoice_id, d.state, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, \
                d.last_error, d.created_at, d.delivered_at FROM webhook_deliveries d JOIN events ev ON ev.id = d.event_id";
            pub(super) const ENDPOINT: &str =
                "SELECT id, merchant_id, url, events, secret, created_at FROM webhook_endpoints";

            /// Registers an endpoint unless its merchant has `limit` already
            /// (see [`crate::WebhookStore::register_webhook`]), on a connection in a transaction.
            pub(super) async fn register(
                conn: &mut <$db as sqlx::Database>::Connection,
                endpoint: &$crate::WebhookEndpoint,
                limit: u32,
            ) -> $crate::Result<$crate::WebhookRegistration> {
                // A no-op update takes the merchant's row lock (PostgreSQL), so
                // registrations of one merchant count one after the other: under
                // READ COMMITTED two could otherwise both count 15 and insert.
                // SQLite's one writer serialises them anyway.
                let merchant = sqlx::query("UPDATE merchants SET name = name WHERE id = $1")
                    .bind(endpoint.merchant_id.as_uuid())
                    .execute(&mut *conn)
                    .await?;
                if merchant.rows_affected() == 0 {
                    return Err($crate::StoreError::UnknownMerchant(endpoint.merchant_id));
                }
                let (count,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL",
                )
                .bind(endpoint.merchant_id.as_uuid())
                .fetch_one(&mut *conn)
                .await?;
                if count >= i64::from(limit) {
                    return Ok($crate::WebhookRegistration::LimitReached);
                }
                sqlx::query(
                    "INSERT INTO webhook_endpoints (id, merchant_id, url, events, secret, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(endpoint.id.as_uuid())
                .bind(endpoint.merchant_id.as_uuid())
                .bind(&endpoint.url)
                .bind($crate::rows::events_text(&endpoint.events))
                .bind(&endpoint.secret)
                .bind(endpoint.created_at.as_millis())
                .execute(&mut *conn)
                .await?;
                Ok($crate::WebhookRegistration::Registered)
            }

            /// Deletes an endpoint and fails its pending deliveries, on a connection in a transaction.
            pub(super) async fn delete(
                conn: &mut <$db as sqlx::Database>::Connection,
                merchant_id: coffer_domain::MerchantId,
                id: coffer_domain::WebhookId,
                at: coffer_domain::Timestamp,
            ) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE webhook_endpoints SET deleted_at = $3 \
                     WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL",
                )
                .bind(id.as_uuid())
                .bind(merchant_id.as_uuid())
                .bind(at.as_millis())
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, \
                     last_error = 'endpoint deleted' WHERE endpoint_id = $1 AND state = 'pending'",
                )
                .bind(id.as_uuid())
                .execute(&mut *conn)
                .await?;
                Ok(true)
            }

            /// Starts a fair claim's choice: the lists of what the dispatcher has in
            /// flight, by endpoint and by merchant, as `busy_endpoints (id, n)` and
            /// `busy_merchants (id, n)`.
            pub(super) fn busy_lists(
                endpoints: &[(uuid::Uuid, u32)],
                merchants: &[(uuid::Uuid, u32)],
            ) -> sqlx::QueryBuilder<$db> {
                let mut query = sqlx::QueryBuilder::<$db>::new("WITH ");
                for (name, busy) in [("busy_endpoints", endpoints), ("busy_merchants", merchants)] {
                    query.push(name).push(" (id, n) AS (");
                    if busy.is_empty() {
                        // No rows, with the columns' types.
                        query.push("SELECT id, 0 FROM webhook_endpoints WHERE 1 = 0");
                    } else {
                        query.push_values(busy, |mut row, (id, n)| {
                            row.push_bind(*id).push_bind(i64::from(*n));
                        });
                    }
                    query.push("), ");
                }
                query
            }
        }

        #[async_trait::async_trait]
        impl $crate::WebhookStore for $store {
            async fn register_webhook(
                &self,
                endpoint: &$crate::WebhookEndpoint,
                limit: u32,
            ) -> $crate::Result<$crate::WebhookRegistration> {
                let endpoint = endpoint.clone();
                self.transaction(move |conn| {
                    Box::pin(async move { webhook_sql::register(conn, &endpoint, limit).await })
                })
                .await
            }

            async fn webhooks(
                &self,
                merchant_id: coffer_domain::MerchantId,
            ) -> $crate::Result<Vec<$crate::WebhookEndpoint>> {
                let sql = format!("{} WHERE merchant_id = $1 AND deleted_at IS NULL ORDER BY id", webhook_sql::ENDPOINT);
                let rows: Vec<$crate::rows::EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(merchant_id.as_uuid())
                    .fetch_all(&self.reads)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn webhook(
                &self,
                merchant_id: coffer_domain::MerchantId,
                id: coffer_domain::WebhookId,
            ) -> $crate::Result<Option<$crate::WebhookEndpoint>> {
                let sql = format!(
                    "{} WHERE merchant_id = $1 AND id = $2 AND deleted_at IS NULL",
                    webhook_sql::ENDPOINT
                );
                let row: Option<$crate::rows::EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(merchant_id.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.reads)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn delete_webhook(
                &self,
                merchant_id: coffer_domain::MerchantId,
                id: coffer_domain::WebhookId,
                at: coffer_domain::Timestamp,
            ) -> $crate::Result<bool> {
                self.transaction(move |conn| {
                    Box::pin(async move { webhook_sql::delete(conn, merchant_id, id, at).await })
                })
                .await
            }

            async fn deliveries(
                &self,
                merchant_id: coffer_domain::MerchantId,
                endpoint_id: coffer_domain::WebhookId,
                before: Option<coffer_domain::DeliveryId>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::Delivery>> {
                let mut query = sqlx::QueryBuilder::<$db>::new(webhook_sql::DELIVERY);
                query.push(" WHERE d.merchant_id = ").push_bind(merchant_id.as_uuid());
                query.push(" AND d.endpoint_id = ").push_bind(endpoint_id.as_uuid());
                if let Some(before) = before {
                    query.push(" AND d.id < ").push_bind(before.as_uuid());
                }
                query.push(" ORDER BY d.id DESC LIMIT ").push_bind(i64::from(limit));
                let rows: Vec<$crate::rows::DeliveryRow> = query.build_query_as().fetch_all(&self.reads).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn redeliver(
                &self,
                merchant_id: coffer_domain::MerchantId,
                endpoint: coffer_domain::WebhookId,
                id: coffer_domain::DeliveryId,
                at: coffer_domain::Timestamp,
            ) -> $crate::Result<$crate::Redelivery> {
                let new_id = coffer_domain::DeliveryId::new();
                let outcome = self
                    .transaction(move |conn| {
                        Box::pin(async move {
                            // A no-op update takes the endpoint's row lock (PostgreSQL): two
                            // requests cannot both find nothing pending and queue a copy each,
                            // and a deletion waits (or is waited for). It also checks the
                            // endpoint is the merchant's and not deleted.
                            let locked = sqlx::query(
                                "UPDATE webhook_endpoints SET deleted_at = deleted_at \
                                 WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL",
                            )
                            .bind(endpoint.as_uuid())
                            .bind(merchant_id.as_uuid())
                            .execute(&mut *conn)
                            .await?;
                            if locked.rows_affected() == 0 {
                                return Ok(None);
                            }
                            let source: Option<(uuid::Uuid,)> = sqlx::query_as(
                                "SELECT event_id FROM webhook_deliveries WHERE id = $1 AND merchant_id = $2 AND endpoint_id = $3",
                            )
                            .bind(id.as_uuid())
                            .bind(merchant_id.as_uuid())
                            .bind(endpoint.as_uuid())
                            .fetch_optional(&mut *conn)
                            .await?;
                            let Some((event_id,)) = source else { return Ok(None) };
                            let pending: Option<(uuid::Uuid,)> = sqlx::query_as(
                                "SELECT id FROM webhook_deliveries \
                                 WHERE event_id = $1 AND endpoint_id = $2 AND state = 'pending' ORDER BY id LIMIT 1",
                            )
                            .bind(event_id)
                            .bind(endpoint.as_uuid())
                            .fetch_optional(&mut *conn)
                            .await?;
                            if let Some((pending,)) = pending {
                                return Ok(Some(Err(coffer_domain::DeliveryId::from_uuid(pending))));
                            }
                            sqlx::query(
                                "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, state, attempts, \
                                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
                            )
                            .bind(new_id.as_uuid())
                            .bind(endpoint.as_uuid())
                            .bind(event_id)
                            .bind(merchant_id.as_uuid())
                            .bind(at.as_millis())
                            .execute(&mut *conn)
                            .await?;
                            Ok(Some(Ok(())))
                        })
                    })
                    .await?;
                match outcome {
                    None => Ok($crate::Redelivery::NotFound),
                    Some(Err(pending)) => Ok($crate::Redelivery::AlreadyPending(pending)),
                    Some(Ok(())) => {
                        let sql = format!("{} WHERE d.id = $1", webhook_sql::DELIVERY);
                        let row: $crate::rows::DeliveryRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                            .bind(new_id.as_uuid())
                            .fetch_one(&self.reads)
                            .await?;
                        Ok($crate::Redelivery::Queued(row.try_into()?))
                    }
                }
            }

            async fn claim_deliveries(
                &self,
                now: coffer_domain::Timestamp,
                lease_until: coffer_domain::Timestamp,
                limits: &$crate::ClaimLimits,
            ) -> $crate::Result<Vec<$crate::DueDelivery>> {
                if limits.total == 0 {
                    return Ok(Vec::new());
                }
                // Choosing reads every due delivery: on the read pool, not in the
                // (SQLite: only) writer; the claim below re-checks each row. Each due
                // delivery is ranked within its endpoint (oldest first, after what is
                // in flight there), then within its merchant (round-robin over its
                // endpoints, after what is in flight for it); the lowest ranks go
                // first: every merchant's first delivery before anyone's second.
                let endpoints: Vec<(uuid::Uuid, u32)> =
                    limits.busy_endpoints.iter().map(|(id, n)| (id.as_uuid(), *n)).collect();
                let merchants: Vec<(uuid::Uuid, u32)> =
                    limits.busy_merchants.iter().map(|(id, n)| (id.as_uuid(), *n)).collect();
                let mut choose = webhook_sql::busy_lists(&endpoints, &merchants);
                choose.push(
                    "by_endpoint AS (SELECT d.id, d.merchant_id, d.next_attempt_at, \
                     ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) + COALESCE(b.n, 0) \
                     AS endpoint_rank FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                     LEFT JOIN busy_endpoints b ON b.id = d.endpoint_id \
                     WHERE d.state = 'pending' AND w.deleted_at IS NULL AND d.next_attempt_at <= ",
                );
                choose.push_bind(now.as_millis());
                choose.push(
                    "), by_merchant AS (SELECT e.id, e.next_attempt_at, \
                     ROW_NUMBER() OVER (PARTITION BY e.merchant_id ORDER BY e.endpoint_rank, e.next_attempt_at, e.id) \
                     + COALESCE(b.n, 0) AS merchant_rank FROM by_endpoint e LEFT JOIN busy_merchants b \
                     ON b.id = e.merchant_id WHERE e.endpoint_rank <= ",
                );
                choose.push_bind(i64::from(limits.per_endpoint));
                choose.push(") SELECT id FROM by_merchant WHERE merchant_rank <= ").push_bind(i64::from(limits.per_merchant));
                choose.push(" ORDER BY merchant_rank, next_attempt_at, id LIMIT ").push_bind(i64::from(limits.total));
                let chosen: Vec<(uuid::Uuid,)> = choose.build_query_as().fetch_all(&self.reads).await?;
                let mut claimed: Vec<uuid::Uuid> = Vec::with_capacity(chosen.len());
                for chunk in chosen.chunks($crate::shared::MAX_IN) {
                    let ids: Vec<uuid::Uuid> = chunk.iter().map(|(id,)| *id).collect();
                    let rows: Vec<uuid::Uuid> = self
                        .write(move |conn| {
                            Box::pin(async move {
                                // Re-checked on the row itself: a delivery another dispatcher
                                // claimed meanwhile has its lease moved already and is skipped.
                                let mut query = sqlx::QueryBuilder::<$db>::new("UPDATE webhook_deliveries SET next_attempt_at = ");
                                query.push_bind(lease_until.as_millis()).push(" WHERE id IN (");
                                let mut list = query.separated(", ");
                                for id in &ids {
                                    list.push_bind(*id);
                                }
                                query.push(") AND state = 'pending' AND next_attempt_at <= ").push_bind(now.as_millis());
                                query.push(" RETURNING id");
                                let rows: Vec<(uuid::Uuid,)> = query.build_query_as().fetch_all(&mut *conn).await?;
                                Ok(rows.into_iter().map(|(id,)| id).collect())
                            })
                        })
                        .await?;
                    claimed.extend(rows);
                }
                let mut due = Vec::with_capacity(claimed.len());
                for chunk in claimed.chunks($crate::shared::MAX_IN) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT d.id, d.endpoint_id, d.merchant_id, w.url, w.secret, d.event_id, ev.type AS event_type, \
                         ev.invoice_id, ev.payload, d.attempts, d.next_attempt_at FROM webhook_deliveries d \
                         JOIN webhook_endpoints w ON w.id = d.endpoint_id JOIN events ev ON ev.id = d.event_id WHERE d.id IN (",
                    );
                    let mut list = query.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    query.push(") ORDER BY d.id");
                    let rows: Vec<$crate::rows::DueRow> = query.build_query_as().fetch_all(&self.reads).await?;
                    for row in rows {
                        due.push(row.try_into()?);
                    }
                }
                Ok(due)
            }

            async fn holds_lease(
                &self,
                id: coffer_domain::DeliveryId,
                leased_until: coffer_domain::Timestamp,
            ) -> $crate::Result<bool> {
                let row: Option<(uuid::Uuid,)> = sqlx::query_as(
                    "SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                     WHERE d.id = $1 AND d.state = 'pending' AND d.next_attempt_at = $2 AND w.deleted_at IS NULL",
                )
                .bind(id.as_uuid())
                .bind(leased_until.as_millis())
                .fetch_optional(&self.reads)
                .await?;
                Ok(row.is_some())
            }

            async fn renew_lease(
                &self,
                id: coffer_domain::DeliveryId,
                leased_until: coffer_domain::Timestamp,
                until: coffer_domain::Timestamp,
            ) -> $crate::Result<bool> {
                self.write(move |conn| {
                    Box::pin(async move {
                        let done = sqlx::query(
                            "UPDATE webhook_deliveries SET next_attempt_at = $3 \
                             WHERE id = $1 AND state = 'pending' AND next_attempt_at = $2 AND EXISTS \
                             (SELECT 1 FROM webhook_endpoints w WHERE w.id = webhook_deliveries.endpoint_id \
                             AND w.deleted_at IS NULL)",
                        )
                        .bind(id.as_uuid())
                        .bind(leased_until.as_millis())
                        .bind(until.as_millis())
                        .execute(&mut *conn)
                        .await?;
                        Ok(done.rows_affected() == 1)
                    })
                })
                .await
            }

            async fn record_attempts(&self, attempts: &[$crate::Attempt]) -> $crate::Result<Vec<bool>> {
                let mut recorded = Vec::with_capacity(attempts.len());
                // One statement per chunk, each on its own: a chunk recorded
                // stays recorded whatever happens to the next.
                for chunk in attempts.chunks($crate::shared::MAX_IN) {
                    let chunk = chunk.to_vec();
                    let ids: Vec<uuid::Uuid> = chunk.iter().map(|a| a.id.as_uuid()).collect();
                    let done: std::collections::HashSet<uuid::Uuid> = self
                        .write(move |conn| {
                            Box::pin(async move {
                                // Only under its lease: a late answer to an attempt whose lease ran
                                // out (and was taken over, maybe acknowledged) changes nothing.
                                let mut query = sqlx::QueryBuilder::<$db>::new(
                                    "WITH v (id, state, at, status, error, next, delivered, lease) AS (",
                                );
                                query.push_values(&chunk, |mut row, attempt| {
                                    let (state, status, error, next, delivered) = $crate::shared::attempt_columns(attempt);
                                    row.push_bind(attempt.id.as_uuid())
                                        .push_bind(state)
                                        .push_bind(attempt.at.as_millis())
                                        .push_bind(status)
                                        .push_bind(error)
                                        .push_bind(next)
                                        .push_bind(delivered)
                                        .push_bind(attempt.leased_until.as_millis());
                                });
                                query.push(
                                    ") UPDATE webhook_deliveries SET state = v.state, attempts = attempts + 1, \
                                     last_attempt_at = v.at, last_status = v.status, last_error = v.error, \
                                     next_attempt_at = v.next, delivered_at = v.delivered FROM v \
                                     WHERE webhook_deliveries.id = v.id AND webhook_deliveries.state = 'pending' \
                                     AND webhook_deliveries.next_attempt_at = v.lease RETURNING webhook_deliveries.id",
                                );
                                let rows: Vec<(uuid::Uuid,)> = query.build_query_as().fetch_all(&mut *conn).await?;
                                Ok(rows.into_iter().map(|(id,)| id).collect())
                            })
                        })
                        .await?;
                    recorded.extend(ids.iter().map(|id| done.contains(id)));
                }
                Ok(recorded)
            }

            async fn invoice_events(
                &self,
                invoice_id: coffer_domain::InvoiceId,
            ) -> $crate::Result<Vec<(coffer_domain::EventId, coffer_domain::EventType, String)>> {
                let rows: Vec<(uuid::Uuid, String, String)> =
                    sqlx::query_as("SELECT id, type, payload FROM events WHERE invoice_id = $1 ORDER BY id")
                        .bind(invoice_id.as_uuid())
                        .fetch_all(&self.reads)
                        .await?;
                rows.into_iter()
                    .map(|(id, kind, payload)| {
                        let kind = kind.parse().map_err(|e| $crate::StoreError::corrupt("events", e))?;
                        Ok((coffer_domain::EventId::from_uuid(id), kind, payload))
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use webhook_store;

/// An attempt's columns: state, last status, last error, next attempt, delivered at.
pub(crate) fn attempt_columns(
    attempt: &crate::Attempt,
) -> (&'static str, Option<i64>, Option<String>, Option<i64>, Option<i64>) {
    match &attempt.outcome {
        crate::AttemptOutcome::Delivered { status } => {
            ("delivered", Some(i64::from(*status)), None, None, Some(attempt.at.as_millis()))
        }
        crate::AttemptOutcome::Failed { status, error, retry_at } => (
            if retry_at.is_some() { "pending" } else { "failed" },
            status.map(i64::from),
            Some(error.clone()),
            retry_at.map(coffer_domain::Timestamp::as_millis),
            None,
        ),
    }
}
