//! [`crate::PayoutStore`] for both backends. A store provides `reads` (a
//! pool), `transaction` (one atomic write) and `write` (one statement).

macro_rules! payout_store {
    ($store:ty, $conn:ty, $db:ty) => {
        $crate::shared::payout_writes!($conn, $db);
        $crate::shared::sweep_writes!($conn);

        #[async_trait::async_trait]
        impl $crate::PayoutStore for $store {
            async fn create_payout(&self, new: $crate::NewPayout) -> $crate::Result<$crate::CreatedPayout> {
                let merchant = new.payout.merchant_id;
                let idempotency = new.idempotency.clone();
                let created = self
                    .transaction(move |conn| Box::pin(async move { payout_writes::create_payout(conn, &new).await }))
                    .await;
                match (created, idempotency) {
                    // Two requests with one key racing on PostgreSQL: the loser's
                    // insert met the winner's committed row. Answer as a retry would.
                    (Err($crate::StoreError::Conflict(message)), Some(idem)) if message.contains("idempotency_key") => {
                        let mut conn = self.reads.acquire().await?;
                        payout_writes::idempotent(&mut conn, merchant, &idem).await?.ok_or_else(|| {
                            $crate::StoreError::corrupt("payouts", "an idempotency conflict with no payout under the key")
                        })
                    }
                    (created, _) => created,
                }
            }

            async fn payout(
                &self,
                merchant_id: coffer_domain::MerchantId,
                id: coffer_domain::PayoutId,
            ) -> $crate::Result<Option<coffer_domain::Payout>> {
                let sql = format!("SELECT {} FROM payouts WHERE merchant_id = $1 AND id = $2", $crate::rows::PAYOUT_COLUMNS);
                let row: Option<$crate::rows::PayoutRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(merchant_id.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.reads)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn payout_by_id(&self, id: coffer_domain::PayoutId) -> $crate::Result<Option<coffer_domain::Payout>> {
                let sql = format!("SELECT {} FROM payouts WHERE id = $1", $crate::rows::PAYOUT_COLUMNS);
                let row: Option<$crate::rows::PayoutRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.as_uuid()).fetch_optional(&self.reads).await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn payouts(&self, query: $crate::PayoutQuery) -> $crate::Result<Vec<coffer_domain::Payout>> {
                let mut sql = sqlx::QueryBuilder::<$db>::new("SELECT ");
                sql.push($crate::rows::PAYOUT_COLUMNS).push(" FROM payouts WHERE merchant_id = ");
                sql.push_bind(query.merchant_id.as_uuid());
                if let Some(status) = query.status {
                    sql.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(asset) = query.asset {
                    sql.push(" AND asset = ").push_bind($crate::rows::symbol(asset));
                }
                if let Some(chain) = query.chain_id {
                    sql.push(" AND chain_id = ").push_bind($crate::rows::to_i64(chain.0, "chain id")?);
                }
                if let Some(before) = query.before {
                    sql.push(" AND id < ").push_bind(before.as_uuid());
                }
                // Ids are UUIDv7: by id is by creation, and the cursor is the last id.
                sql.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(query.limit));
                let rows: Vec<$crate::rows::PayoutRow> = sql.build_query_as().fetch_all(&self.reads).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn merchant_reserved(
                &self,
                merchant_id: coffer_domain::MerchantId,
            ) -> $crate::Result<Vec<coffer_domain::Amount>> {
                let rows: Vec<$crate::rows::BalanceRow> = sqlx::query_as(
                    "SELECT account, chain_id, asset, debits, credits FROM ledger_balances WHERE account = $1 \
                     ORDER BY chain_id, asset",
                )
                .bind($crate::ledger::reserved_key(merchant_id))
                .fetch_all(&self.reads)
                .await?;
                rows.into_iter()
                    .map(|row| {
                        let stored: $crate::StoredBalance = row.try_into()?;
                        let units = stored.account.balance_of(stored.debits, stored.credits).ok_or_else(|| {
                            $crate::StoreError::corrupt("ledger_balances", format!("{:?} is below zero", stored.account))
                        })?;
                        Ok(coffer_domain::Amount::from_units(stored.account.asset(), units))
                    })
                    .collect()
            }

            async fn claim_outbox(
                &self,
                now: coffer_domain::Timestamp,
                lease_until: coffer_domain::Timestamp,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::OutboxEntry>> {
                // One statement: the row is re-checked when it is updated, so a
                // row another gateway claimed meanwhile (its lease moved) is skipped.
                let sql = format!(
                    "UPDATE signer_outbox SET next_attempt_at = $1, attempts = attempts + 1, updated_at = $2 \
                     WHERE request_id IN (SELECT request_id FROM signer_outbox WHERE state IN ('submit', 'poll') \
                     AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3) \
                     AND state IN ('submit', 'poll') AND next_attempt_at <= $2 RETURNING {}",
                    $crate::rows::OUTBOX_COLUMNS
                );
                let rows: Vec<$crate::rows::OutboxRow> = self
                    .write(move |conn| {
                        Box::pin(async move {
                            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                                .bind(lease_until.as_millis())
                                .bind(now.as_millis())
                                .bind(i64::from(limit))
                                .fetch_all(&mut *conn)
                                .await?)
                        })
                    })
                    .await?;
                let mut entries = rows.into_iter().map(TryInto::try_into).collect::<$crate::Result<Vec<$crate::OutboxEntry>>>()?;
                entries.sort_by_key(|e| e.created_at);
                Ok(entries)
            }

            async fn outbox_failed(
                &self,
                request: $crate::SignerRequest,
                leased_until: coffer_domain::Timestamp,
                state: $crate::OutboxState,
                error: &str,
                retry_at: coffer_domain::Timestamp,
            ) -> $crate::Result<bool> {
                let error: String = error.chars().take(1000).collect();
                let due = (state != $crate::OutboxState::Held).then(|| retry_at.as_millis());
                self.write(move |conn| {
                    Box::pin(async move {
                        let done = sqlx::query(
                            "UPDATE signer_outbox SET state = $2, next_attempt_at = $3, last_error = $4, updated_at = $5 \
                             WHERE request_id = $1 AND next_attempt_at = $6 AND state IN ('submit', 'poll')",
                        )
                        .bind(request.uuid())
                        .bind(state.as_str())
                        .bind(due)
                        .bind(error)
                        .bind(coffer_domain::Timestamp::now().as_millis())
                        .bind(leased_until.as_millis())
                        .execute(&mut *conn)
                        .await?;
                        Ok(done.rows_affected() == 1)
                    })
                })
                .await
            }

            async fn record_answer(&self, answer: $crate::SignerAnswer) -> $crate::Result<$crate::RecordedAnswer> {
                self.transaction(move |conn| Box::pin(async move { payout_writes::record_answer(conn, &answer).await }))
                    .await
            }

            async fn outbox_entry(
                &self,
                request: $crate::SignerRequest,
            ) -> $crate::Result<Option<$crate::OutboxEntry>> {
                let sql = format!("SELECT {} FROM signer_outbox WHERE request_id = $1", $crate::rows::OUTBOX_COLUMNS);
                let row: Option<$crate::rows::OutboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(request.uuid())
                    .fetch_optional(&self.reads)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }
        }

        #[async_trait::async_trait]
        impl $crate::ControlStore for $store {
            async fn signer_control(&self) -> $crate::Result<Option<$crate::StoredControl>> {
                let row: Option<(String, i64)> = sqlx::query_as("SELECT state, read_at FROM signer_control WHERE id = 1")
                    .fetch_optional(&self.reads)
                    .await?;
                Ok(row.map(|(state, read_at)| $crate::StoredControl {
                    state,
                    read_at: coffer_domain::Timestamp::from_millis(read_at),
                }))
            }

            async fn record_signer_control(&self, change: $crate::ControlChange) -> $crate::Result<$crate::RecordedAnswer> {
                self.transaction(move |conn| Box::pin(async move { payout_writes::record_control(conn, &change).await }))
                    .await
            }
        }
    };
}

pub(crate) use payout_store;
