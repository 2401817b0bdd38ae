//! [`crate::ChainStore`] for both backends. The SQL is the same; only the
//! connection type differs, so this macro writes the implementation for
//! each store. A store provides `reads` (a pool) and `transaction_changing`
//! (runs a closure in one write transaction that changes the invoices it is
//! given: the SQLite store refreshes its cache after the commit).

macro_rules! chain_store {
    ($store:ty, $conn:ty, $db:ty, $leases:expr) => {
        $crate::shared::chain_writes!($conn, $db, $leases);

        impl $store {
            /// The payments of these invoices whose state meets `condition`, oldest block first.
            async fn payments_in(
                &self,
                invoice_ids: &[coffer_domain::InvoiceId],
                condition: &'static str,
            ) -> $crate::Result<Vec<coffer_domain::Payment>> {
                let mut payments = Vec::new();
                for chunk in invoice_ids.chunks($crate::shared::MAX_IN) {
                    let mut query = sqlx::QueryBuilder::<$db>::new("SELECT ");
                    query.push($crate::rows::PAYMENT_COLUMNS);
                    query.push(" FROM payments WHERE ").push(condition).push(" AND invoice_id IN (");
                    let mut list = query.separated(", ");
                    for id in chunk {
                        list.push_bind(id.as_uuid());
                    }
                    query.push(") ORDER BY block_number, log_index");
                    let rows: Vec<$crate::rows::PaymentRow> = query.build_query_as().fetch_all(&self.reads).await?;
                    for row in rows {
                        payments.push(row.try_into()?);
                    }
                }
                Ok(payments)
            }
        }

        #[async_trait::async_trait]
        impl $crate::ChainStore for $store {
            async fn chain_cursor(&self, chain_id: coffer_domain::ChainId) -> $crate::Result<Option<coffer_domain::BlockRef>> {
                let row: Option<(i64, Vec<u8>)> =
                    sqlx::query_as("SELECT number, hash FROM chain_cursors WHERE chain_id = $1")
                        .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                        .fetch_optional(&self.reads)
                        .await?;
                row.map(|(number, hash)| {
                    Ok(coffer_domain::BlockRef {
                        number: $crate::rows::to_u64("chain_cursors", number)?,
                        hash: $crate::rows::b256("chain_cursors", &hash)?,
                    })
                })
                .transpose()
            }

            async fn chain_blocks(&self, chain_id: coffer_domain::ChainId) -> $crate::Result<Vec<$crate::ChainBlock>> {
                let rows: Vec<$crate::rows::BlockRow> = sqlx::query_as(
                    "SELECT number, hash, parent_hash, timestamp FROM chain_blocks WHERE chain_id = $1 ORDER BY number",
                )
                .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                .fetch_all(&self.reads)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn apply_chain_step(&self, step: $crate::ChainStep) -> $crate::Result<$crate::Applied> {
                let changed = $crate::shared::changed(&step.changes);
                self.transaction_changing(changed, move |conn| Box::pin(async move { chain_writes::apply_step(conn, &step).await })).await
            }

            async fn apply_invoice_changes(&self, changes: $crate::InvoiceChanges) -> $crate::Result<$crate::Applied> {
                let changed = $crate::shared::changed(&changes.changes);
                self
                    .transaction_changing(changed, move |conn| {
                        Box::pin(async move {
                            chain_writes::check_fence(&mut *conn, changes.fence.as_ref()).await?;
                            let mut postings = Vec::new();
                            let deliveries = chain_writes::apply_changes(
                                &mut *conn,
                                &changes.changes,
                                changes.at,
                                changes.lease_until,
                                &mut postings,
                            )
                            .await?;
                            chain_writes::post(conn, &postings, changes.at).await?;
                            chain_writes::announce(conn, "*", changes.fence.as_ref()).await?;
                            Ok($crate::Applied { deliveries })
                        })
                    })
                    .await
            }

            async fn watched_invoices(
                &self,
                chain_id: coffer_domain::ChainId,
                expired_since: coffer_domain::Timestamp,
                visit: &mut (dyn FnMut(coffer_domain::Address, coffer_domain::InvoiceId) + Send),
            ) -> $crate::Result<u64> {
                use futures_util::TryStreamExt as _;
                let mut rows = sqlx::query_as::<_, (Vec<u8>, uuid::Uuid)>(
                    "SELECT address, id FROM invoices WHERE chain_id = $1 \
                     AND (status IN ('new', 'processing') OR expires_at >= $2 \
                     OR id IN (SELECT invoice_id FROM payments WHERE chain_id = $1 \
                     AND state IN ('displaced', 'written_off')))",
                )
                .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                .bind(expired_since.as_millis())
                .fetch(&self.reads);
                let mut count = 0;
                while let Some((address, id)) = rows.try_next().await? {
                    visit($crate::rows::address("invoices", &address)?, coffer_domain::InvoiceId::from_uuid(id));
                    count += 1;
                }
                Ok(count)
            }

            async fn invoices_created_since(
                &self,
                chain_id: coffer_domain::ChainId,
                since: coffer_domain::Timestamp,
            ) -> $crate::Result<Vec<(coffer_domain::Address, coffer_domain::InvoiceId)>> {
                let rows: Vec<(Vec<u8>, uuid::Uuid)> =
                    sqlx::query_as("SELECT address, id FROM invoices WHERE chain_id = $1 AND created_at >= $2")
                        .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                        .bind(since.as_millis())
                        .fetch_all(&self.reads)
                        .await?;
                rows.into_iter()
                    .map(|(address, id)| Ok(($crate::rows::address("invoices", &address)?, coffer_domain::InvoiceId::from_uuid(id))))
                    .collect()
            }

            async fn open_invoices_created_since(
                &self,
                chain_id: coffer_domain::ChainId,
                since: coffer_domain::Timestamp,
            ) -> $crate::Result<Vec<(coffer_domain::Address, coffer_domain::InvoiceId, coffer_domain::Timestamp)>> {
                let rows: Vec<(Vec<u8>, uuid::Uuid, i64)> = sqlx::query_as(
                    "SELECT address, id, created_at FROM invoices WHERE chain_id = $1 AND created_at >= $2 \
                     AND status IN ('new', 'processing')",
                )
                .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                .bind(since.as_millis())
                .fetch_all(&self.reads)
                .await?;
                rows.into_iter()
                    .map(|(address, id, created_at)| {
                        Ok((
                            $crate::rows::address("invoices", &address)?,
                            coffer_domain::InvoiceId::from_uuid(id),
                            coffer_domain::Timestamp::from_millis(created_at),
                        ))
                    })
                    .collect()
            }

            async fn invoices_by_ids(&self, ids: &[coffer_domain::InvoiceId]) -> $crate::Result<Vec<coffer_domain::Invoice>> {
                let mut invoices = Vec::with_capacity(ids.len());
                for chunk in ids.chunks($crate::shared::MAX_IN) {
                    let mut query = sqlx::QueryBuilder::<$db>::new($crate::sql::INVOICE_COLUMNS);
                    query.push(" WHERE id IN (");
                    let mut list = query.separated(", ");
                    for id in chunk {
                        list.push_bind(id.as_uuid());
                    }
                    query.push(")");
                    let rows: Vec<$crate::rows::InvoiceRow> = query.build_query_as().fetch_all(&self.reads).await?;
                    for row in rows {
                        invoices.push(row.try_into()?);
                    }
                }
                Ok(invoices)
            }

            async fn payments_of(&self, invoice_ids: &[coffer_domain::InvoiceId]) -> $crate::Result<Vec<coffer_domain::Payment>> {
                self.payments_in(invoice_ids, "state IN ('canonical', 'displaced', 'written_off')").await
            }

            async fn every_payment_of(&self, invoice_ids: &[coffer_domain::InvoiceId]) -> $crate::Result<Vec<coffer_domain::Payment>> {
                self.payments_in(invoice_ids, "TRUE").await
            }

            async fn invoices_awaiting_confirmations(
                &self,
                chain_id: coffer_domain::ChainId,
            ) -> $crate::Result<Vec<coffer_domain::InvoiceId>> {
                let rows: Vec<(uuid::Uuid,)> = sqlx::query_as(
                    "SELECT DISTINCT invoice_id FROM payments WHERE chain_id = $1 \
                     AND ((booked_at IS NULL AND state = 'canonical') OR state = 'displaced')",
                )
                .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                .fetch_all(&self.reads)
                .await?;
                Ok(rows.into_iter().map(|(id,)| coffer_domain::InvoiceId::from_uuid(id)).collect())
            }

            async fn invoices_paid_above(
                &self,
                chain_id: coffer_domain::ChainId,
                height: u64,
            ) -> $crate::Result<Vec<coffer_domain::InvoiceId>> {
                let rows: Vec<(uuid::Uuid,)> = sqlx::query_as(
                    "SELECT DISTINCT invoice_id FROM payments WHERE chain_id = $1 AND block_number > $2 AND state = 'canonical'",
                )
                .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                .bind($crate::rows::to_i64(height, "block number")?)
                .fetch_all(&self.reads)
                .await?;
                Ok(rows.into_iter().map(|(id,)| coffer_domain::InvoiceId::from_uuid(id)).collect())
            }

            async fn aged_out_between(
                &self,
                chain_id: coffer_domain::ChainId,
                from: coffer_domain::Timestamp,
                to: coffer_domain::Timestamp,
            ) -> $crate::Result<Vec<coffer_domain::Address>> {
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
                    "SELECT address FROM invoices WHERE chain_id = $1 AND status NOT IN ('new', 'processing') \
                     AND expires_at >= $2 AND expires_at < $3 AND id NOT IN (SELECT invoice_id FROM payments \
                     WHERE chain_id = $1 AND state IN ('displaced', 'written_off'))",
                )
                .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                .bind(from.as_millis())
                .bind(to.as_millis())
                .fetch_all(&self.reads)
                .await?;
                rows.into_iter().map(|(address,)| $crate::rows::address("invoices", &address)).collect()
            }

            async fn invoices_due_to_expire(
                &self,
                chain_id: coffer_domain::ChainId,
                now: coffer_domain::Timestamp,
                limit: u32,
            ) -> $crate::Result<Vec<coffer_domain::Invoice>> {
                let rows: Vec<$crate::rows::InvoiceRow> = sqlx::query_as($crate::sql::INVOICES_DUE_TO_EXPIRE)
                    .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                    .bind(now.as_millis())
                    .bind(i64::from(limit))
                    .fetch_all(&self.reads)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn first_invoice_at(&self, chain_id: coffer_domain::ChainId) -> $crate::Result<Option<coffer_domain::Timestamp>> {
                let first: Option<i64> = sqlx::query_scalar("SELECT MIN(created_at) FROM invoices WHERE chain_id = $1")
                    .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                    .fetch_one(&self.reads)
                    .await?;
                Ok(first.map(coffer_domain::Timestamp::from_millis))
            }

            async fn record_halt(&self, halt: &$crate::ChainHalt, fence: Option<&$crate::Fence>) -> $crate::Result<bool> {
                let (halt, fence) = (halt.clone(), fence.cloned());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        chain_writes::check_fence(&mut *conn, fence.as_ref()).await?;
                        chain_writes::record_halt(conn, &halt).await
                    })
                })
                .await
            }

            async fn open_halt(&self, chain_id: coffer_domain::ChainId) -> $crate::Result<Option<$crate::ChainHalt>> {
                let sql = format!("{} WHERE chain_id = $1 AND resolved_at IS NULL", $crate::rows::HALT_SELECT);
                let row: Option<$crate::rows::HaltRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                    .fetch_optional(&self.reads)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn halts(&self, limit: u32) -> $crate::Result<Vec<$crate::ChainHalt>> {
                let sql = format!(
                    "{} ORDER BY resolved_at IS NOT NULL, COALESCE(resolved_at, halted_at) DESC, id DESC LIMIT $1",
                    $crate::rows::HALT_SELECT
                );
                let rows: Vec<$crate::rows::HaltRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(i64::from(limit)).fetch_all(&self.reads).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn resolve_halt(
                &self,
                chain_id: coffer_domain::ChainId,
                at: coffer_domain::Timestamp,
                resolution: &str,
                fence: Option<&$crate::Fence>,
            ) -> $crate::Result<bool> {
                let (resolution, fence) = (resolution.to_owned(), fence.cloned());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        chain_writes::check_fence(&mut *conn, fence.as_ref()).await?;
                        chain_writes::resolve_halt(conn, chain_id, at, &resolution).await
                    })
                })
                .await
            }

            async fn displaced_payments(&self, chain_id: coffer_domain::ChainId) -> $crate::Result<Vec<coffer_domain::Payment>> {
                let rows: Vec<$crate::rows::PaymentRow> = sqlx::query_as(sqlx::AssertSqlSafe(chain_writes::displaced_select()))
                    .bind($crate::rows::to_i64(chain_id.0, "chain id")?)
                    .fetch_all(&self.reads)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn resolve_displaced(
                &self,
                chain_id: coffer_domain::ChainId,
                resolution: $crate::DisplacedResolution,
                at: coffer_domain::Timestamp,
                note: &str,
            ) -> $crate::Result<Vec<coffer_domain::PaymentId>> {
                let note = note.to_owned();
                self.transaction(move |conn| {
                    Box::pin(async move { chain_writes::resolve_displaced(conn, chain_id, &resolution, at, &note).await })
                })
                .await
            }
        }
    };
}

pub(crate) use chain_store;
