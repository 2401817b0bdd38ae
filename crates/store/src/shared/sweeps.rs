//! [`crate::SweepStore`] for both backends, and the writes of sweeps.

macro_rules! sweep_writes {
    ($conn:ty) => {
        mod sweep_writes {
            use coffer_domain::Sweep;

            use $crate::rows::{symbol, to_i64};
            use $crate::{NewSweep, Result, SignerRequest};

            /// Inserts a sweep and its outbox row, unless its deposit has a
            /// sweep in flight (`false`: left out).
            pub(super) async fn insert_sweep(conn: &mut $conn, new: &NewSweep, at: coffer_domain::Timestamp) -> Result<bool> {
                let s = &new.sweep;
                let asset = s.amount.asset();
                let done = sqlx::query(
                    "INSERT INTO sweeps (id, chain_id, asset, deposit_index, invoice_id, amount, fee_asset, status, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                     ON CONFLICT (invoice_id, asset) WHERE status IN ('pending', 'pending_cooldown', 'broadcast') DO NOTHING",
                )
                .bind(s.id.as_uuid())
                .bind(to_i64(asset.chain_id.0, "chain id")?)
                .bind(symbol(asset.symbol))
                .bind(i64::from(s.deposit_index.get()))
                .bind(s.invoice_id.as_uuid())
                .bind(s.amount.units().to_string())
                .bind(symbol(s.fee_asset.symbol))
                .bind(s.status.as_str())
                .bind(at.as_millis())
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                super::payout_writes::insert_outbox(conn, SignerRequest::Sweep(s.id), &new.intent, at).await?;
                Ok(true)
            }

            /// The sweep's new state, only if it is still as `from`.
            pub(super) async fn update_sweep(conn: &mut $conn, from: &Sweep, to: &Sweep, outcome: &str) -> Result<bool> {
                let none: Vec<u8> = Vec::new();
                let wallet = to.to_cold.map(|cold| if cold { "cold" } else { "hot" });
                let done = sqlx::query(
                    "UPDATE sweeps SET status = $2, tx_hash = $3, wallet = $4, moved = $5, network_fee = $6, outcome = $7, \
                     updated_at = $8 WHERE id = $1 AND status = $9 AND COALESCE(tx_hash, $10) = COALESCE($11, $10)",
                )
                .bind(from.id.as_uuid())
                .bind(to.status.as_str())
                .bind(to.tx_hash.map(|h| h.to_vec()))
                .bind(wallet)
                .bind(to.moved.map(|m| m.units().to_string()))
                .bind(to.network_fee.map(|f| f.units().to_string()))
                .bind(outcome)
                .bind(to.updated_at.as_millis())
                .bind(from.status.as_str())
                .bind(none)
                .bind(from.tx_hash.map(|h| h.to_vec()))
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use sweep_writes;

macro_rules! sweep_store {
    ($store:ty, $isolation:expr) => {
        #[async_trait::async_trait]
        impl $crate::SweepStore for $store {
            async fn due_sweeps(
                &self,
                asset: coffer_domain::AssetId,
                minimum: coffer_domain::U256,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::DueSweep>> {
                use futures_util::TryStreamExt as _;
                // A deposit holding a payment screening withholds is left
                // where it is (ADR 0015): tainted money stays apart from
                // the treasury, for a refund or a report.
                // Settled deposits with a booked payment of the asset newer
                // than their last sweep that moved something or may (a
                // refused or failed one moved nothing: it is asked again, a
                // round later; none in flight): those
                // the books may hold something unswept for. Streamed, and
                // dust below the minimum passed over, so that it never
                // crowds out the deposits worth sweeping.
                let chain = $crate::rows::to_i64(asset.chain_id.0, "chain id")?;
                let symbol = $crate::rows::symbol(asset.symbol);
                let mut candidates = sqlx::query_as::<_, (uuid::Uuid, i64)>(
                    "SELECT i.id, i.derivation_index FROM invoices i WHERE i.chain_id = $1 AND i.status = 'settled' \
                     AND EXISTS (SELECT 1 FROM payments p WHERE p.invoice_id = i.id AND p.asset = $2 \
                     AND p.booked_at IS NOT NULL AND p.state IN ('canonical', 'displaced', 'written_off') \
                     AND NOT EXISTS (SELECT 1 FROM sweeps s WHERE s.invoice_id = i.id AND s.asset = $2 \
                     AND s.status NOT IN ('failed', 'refused') AND s.created_at >= p.booked_at)) \
                     AND NOT EXISTS (SELECT 1 FROM sweeps s WHERE s.invoice_id = i.id AND s.asset = $2 \
                     AND s.status IN ('pending', 'pending_cooldown', 'broadcast')) \
                     AND NOT EXISTS (SELECT 1 FROM payments h WHERE h.invoice_id = i.id \
                     AND h.hold_state IN ('held', 'rejected')) ORDER BY i.id",
                )
                .bind(chain)
                .bind(&symbol)
                .fetch(&self.reads);
                let mut due = Vec::new();
                while due.len() < limit as usize
                    && let Some((invoice, index)) = candidates.try_next().await?
                {
                    let unswept = self.unswept(invoice, chain, &symbol).await?;
                    if unswept >= minimum && !unswept.is_zero() {
                        let index = u64::try_from(index)
                            .ok()
                            .and_then(|i| coffer_domain::DerivationIndex::try_from(i).ok())
                            .ok_or_else(|| $crate::StoreError::corrupt("invoices", "derivation index out of range"))?;
                        due.push($crate::DueSweep {
                            invoice_id: coffer_domain::InvoiceId::from_uuid(invoice),
                            deposit_index: index,
                            amount: coffer_domain::Amount::from_units(asset, unswept),
                            claimed: self.claimed(invoice, chain, &symbol).await?,
                        });
                    }
                }
                Ok(due)
            }

            async fn create_sweeps(
                &self,
                sweeps: Vec<$crate::NewSweep>,
                at: coffer_domain::Timestamp,
            ) -> $crate::Result<Vec<coffer_domain::Sweep>> {
                if sweeps.is_empty() {
                    return Ok(Vec::new());
                }
                self.transaction(move |conn| {
                    Box::pin(async move {
                        let mut created = Vec::new();
                        for new in sweeps {
                            if sweep_writes::insert_sweep(&mut *conn, &new, at).await? {
                                created.push(new.sweep);
                            }
                        }
                        Ok(created)
                    })
                })
                .await
            }

            async fn sweep(&self, id: coffer_domain::SweepId) -> $crate::Result<Option<coffer_domain::Sweep>> {
                let sql = format!("SELECT {} FROM sweeps WHERE id = $1", $crate::rows::SWEEP_COLUMNS);
                let row: Option<$crate::rows::SweepRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.as_uuid()).fetch_optional(&self.reads).await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn sweeps_of(&self, invoice_id: coffer_domain::InvoiceId) -> $crate::Result<Vec<coffer_domain::Sweep>> {
                let sql = format!("SELECT {} FROM sweeps WHERE invoice_id = $1 ORDER BY id", $crate::rows::SWEEP_COLUMNS);
                let rows: Vec<$crate::rows::SweepRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(invoice_id.as_uuid()).fetch_all(&self.reads).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn treasury_books(&self) -> $crate::Result<Vec<$crate::TreasuryBooks>> {
                let mut tx = self.reads.begin().await?;
                if let Some(isolation) = $isolation {
                    sqlx::query(isolation).execute(&mut *tx).await?;
                }
                let balances: Vec<$crate::rows::BalanceRow> = sqlx::query_as(
                    "SELECT account, chain_id, asset, debits, credits FROM ledger_balances WHERE account IN \
                     ('deposits', 'hot', 'cold', 'network_fees') OR account LIKE 'reserved:%'",
                )
                .fetch_all(&mut *tx)
                .await?;
                let payouts: Vec<(i64, String, String)> =
                    sqlx::query_as("SELECT chain_id, asset, amount FROM payouts WHERE status = 'broadcast'")
                        .fetch_all(&mut *tx)
                        .await?;
                let sweeps: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT chain_id, asset, amount FROM sweeps WHERE status IN ('pending', 'pending_cooldown', 'broadcast')",
                )
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let balances = balances.into_iter().map(TryInto::try_into).collect::<$crate::Result<Vec<_>>>()?;
                $crate::shared::treasury::books(balances, &payouts, &sweeps)
            }
        }

        impl $store {
            /// What the books hold for an invoice's deposit in an asset, not
            /// yet swept: its booked payments less its sweeps not failed or refused.
            async fn unswept(&self, invoice: uuid::Uuid, chain: i64, symbol: &str) -> $crate::Result<coffer_domain::U256> {
                let paid: Vec<String> = sqlx::query_scalar(
                    "SELECT amount FROM payments WHERE invoice_id = $1 AND chain_id = $2 AND asset = $3 \
                     AND booked_at IS NOT NULL AND state IN ('canonical', 'displaced', 'written_off')",
                )
                .bind(invoice)
                .bind(chain)
                .bind(symbol)
                .fetch_all(&self.reads)
                .await?;
                let swept: Vec<String> = sqlx::query_scalar(
                    "SELECT amount FROM sweeps WHERE invoice_id = $1 AND asset = $2 AND status NOT IN ('failed', 'refused')",
                )
                .bind(invoice)
                .bind(symbol)
                .fetch_all(&self.reads)
                .await?;
                let sum = |texts: &[String]| {
                    texts.iter().try_fold(coffer_domain::U256::ZERO, |sum, t| {
                        Ok::<_, $crate::StoreError>(sum.saturating_add($crate::shared::units(t)?))
                    })
                };
                Ok(sum(&paid)?.saturating_sub(sum(&swept)?))
            }

            /// See `DueSweep::claimed`.
            async fn claimed(&self, invoice: uuid::Uuid, chain: i64, symbol: &str) -> $crate::Result<coffer_domain::U256> {
                let paid: Vec<String> = sqlx::query_scalar(
                    "SELECT amount FROM payments WHERE invoice_id = $1 AND chain_id = $2 AND asset = $3 \
                     AND booked_at IS NOT NULL AND state = 'canonical'",
                )
                .bind(invoice)
                .bind(chain)
                .bind(symbol)
                .fetch_all(&self.reads)
                .await?;
                // A failed sweep of the chain's native coin paid its gas from
                // the deposit; one of a token, from the deposit's native coin.
                let taken: Vec<String> = sqlx::query_scalar(
                    "SELECT amount FROM sweeps WHERE invoice_id = $1 AND asset = $2 AND status NOT IN ('failed', 'refused') \
                     UNION ALL SELECT network_fee FROM sweeps WHERE invoice_id = $1 AND fee_asset = $2 \
                     AND status = 'failed' AND network_fee IS NOT NULL",
                )
                .bind(invoice)
                .bind(symbol)
                .fetch_all(&self.reads)
                .await?;
                let sum = |texts: &[String]| {
                    texts.iter().try_fold(coffer_domain::U256::ZERO, |sum, t| {
                        Ok::<_, $crate::StoreError>(sum.saturating_add($crate::shared::units(t)?))
                    })
                };
                Ok(sum(&paid)?.saturating_sub(sum(&taken)?))
            }
        }
    };
}

pub(crate) use sweep_store;
