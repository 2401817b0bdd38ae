//! [`crate::ScreeningStore`] for both backends (see `screening.rs` at the
//! crate root for the contract). Uses the chain writes and the audit
//! appends the store's other macros define beside it.

macro_rules! screening_store {
    ($store:ty, $conn:ty) => {
        #[async_trait::async_trait]
        impl $crate::ScreeningStore for $store {
            async fn screening_lists(&self) -> $crate::Result<Vec<$crate::StoredList>> {
                let rows: Vec<(String, String, String, i64, Vec<u8>, i64)> = sqlx::query_as(
                    "SELECT name, format, sha256, entries, content, imported_at FROM screening_lists ORDER BY name",
                )
                .fetch_all(&self.reads)
                .await?;
                rows.into_iter()
                    .map(|(name, format, sha256, entries, content, imported_at)| {
                        Ok($crate::StoredList {
                            name,
                            format,
                            sha256,
                            entries: $crate::rows::to_u64("screening_lists", entries)?,
                            content,
                            imported_at: coffer_domain::Timestamp::from_millis(imported_at),
                        })
                    })
                    .collect()
            }

            async fn screening_list_digests(&self) -> $crate::Result<Vec<$crate::ListDigest>> {
                let rows: Vec<(String, String)> =
                    sqlx::query_as("SELECT name, sha256 FROM screening_lists ORDER BY name")
                        .fetch_all(&self.reads)
                        .await?;
                Ok(rows.into_iter().map(|(name, sha256)| $crate::ListDigest { name, sha256 }).collect())
            }

            async fn import_screening_list_audited(
                &self,
                list: &$crate::StoredList,
                record: &coffer_audit::Record,
            ) -> $crate::Result<coffer_audit::Entry> {
                let (list, record) = (list.clone(), record.clone());
                self.transaction(move |conn| {
                    Box::pin(async move {
                        sqlx::query(
                            "INSERT INTO screening_lists (name, format, sha256, entries, content, imported_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET format = excluded.format, \
                             sha256 = excluded.sha256, entries = excluded.entries, content = excluded.content, \
                             imported_at = excluded.imported_at",
                        )
                        .bind(&list.name)
                        .bind(&list.format)
                        .bind(&list.sha256)
                        .bind($crate::rows::to_i64(list.entries, "entries")?)
                        .bind(&list.content)
                        .bind(list.imported_at.as_millis())
                        .execute(&mut *conn)
                        .await?;
                        audit_writes::append(conn, &record).await
                    })
                })
                .await
            }

            async fn payment_by_short_id(&self, short: [u8; 16]) -> $crate::Result<Option<coffer_domain::Payment>> {
                // Ids are 32-byte blobs, compared bytewise by both databases:
                // the range of ids that start with `short`, on the primary key.
                let (mut low, mut high) = (short.to_vec(), short.to_vec());
                low.extend_from_slice(&[0u8; 16]);
                high.extend_from_slice(&[0xffu8; 16]);
                let sql = format!(
                    "SELECT {} FROM payments WHERE id >= $1 AND id <= $2 ORDER BY id LIMIT 2",
                    $crate::rows::PAYMENT_COLUMNS
                );
                let rows: Vec<$crate::rows::PaymentRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(low).bind(high).fetch_all(&self.reads).await?;
                match rows.len() {
                    0 => Ok(None),
                    // Two ids sharing 128 bits: not chance, so refuse to guess.
                    1 => rows.into_iter().next().map(TryInto::try_into).transpose(),
                    _ => Err($crate::StoreError::Conflict("two payments share the id's first 16 bytes".into())),
                }
            }

            async fn payments_on_hold(
                &self,
                state: coffer_domain::HoldState,
                limit: u32,
            ) -> $crate::Result<Vec<coffer_domain::Payment>> {
                let sql = format!(
                    "SELECT {} FROM payments WHERE hold_state = $1 AND state IN ('canonical', 'displaced', 'written_off') \
                     ORDER BY seen_at, id LIMIT $2",
                    $crate::rows::PAYMENT_COLUMNS
                );
                let rows: Vec<$crate::rows::PaymentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(state.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.reads)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn decide_hold_audited(
                &self,
                decision: $crate::HoldDecision,
                record: &coffer_audit::Record,
            ) -> $crate::Result<($crate::Applied, coffer_audit::Entry)> {
                let record = record.clone();
                let changed = $crate::shared::changed(decision.change.as_slice());
                self.transaction_changing(changed, move |conn| {
                    Box::pin(async move {
                        let d = &decision;
                        let done = sqlx::query(
                            "UPDATE payments SET hold_state = $2, hold_decided_at = $3, hold_note = $4 \
                             WHERE id = $1 AND hold_state = 'held' AND (booked_at IS NOT NULL) = $5",
                        )
                        .bind(d.payment_id.0.to_vec())
                        .bind(d.to.as_str())
                        .bind(d.at.as_millis())
                        .bind(&d.note)
                        .bind(d.booked)
                        .execute(&mut *conn)
                        .await?;
                        if done.rows_affected() != 1 {
                            return Err($crate::StoreError::Stale(format!(
                                "payment {} is no longer held and {} as the decision was computed",
                                d.payment_id,
                                if d.booked { "booked" } else { "unbooked" }
                            )));
                        }
                        let mut postings = Vec::new();
                        if let Some(posting) = &d.release {
                            postings.push(chain_writes::Posting {
                                posting,
                                kind: "hold_release",
                                invoice: Some(d.invoice_id),
                                payment: Some(d.payment_id),
                                payout: None,
                                sweep: None,
                            });
                        }
                        let changes: &[$crate::InvoiceChange] = d.change.as_slice();
                        let deliveries =
                            chain_writes::apply_changes(&mut *conn, changes, d.at, d.lease_until, &mut postings).await?;
                        chain_writes::post(&mut *conn, &postings, d.at).await?;
                        let entry = audit_writes::append(conn, &record).await?;
                        Ok(($crate::Applied { deliveries }, entry))
                    })
                })
                .await
            }
        }
    };
}

pub(crate) use screening_store;
