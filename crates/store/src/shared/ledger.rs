//! [`crate::LedgerStore`] for both backends: reads only. The audit's
//! snapshot reads everything in one transaction (repeatable read), so the
//! check sees one consistent state even while a gateway writes.

macro_rules! ledger_store {
    ($store:ty, $isolation:expr) => {
        #[async_trait::async_trait]
        impl $crate::LedgerStore for $store {
            async fn merchant_balances(
                &self,
                merchant_id: coffer_domain::MerchantId,
            ) -> $crate::Result<Vec<coffer_domain::Amount>> {
                let account = $crate::ledger::merchant_key(merchant_id);
                let rows: Vec<$crate::rows::BalanceRow> = sqlx::query_as(
                    "SELECT account, chain_id, asset, debits, credits FROM ledger_balances WHERE account = $1 \
                     ORDER BY chain_id, asset",
                )
                .bind(account)
                .fetch_all(&self.reads)
                .await?;
                let mut balances = Vec::new();
                for row in rows {
                    let stored: $crate::StoredBalance = row.try_into()?;
                    let units = stored.credits.checked_sub(stored.debits).ok_or_else(|| {
                        $crate::StoreError::corrupt("ledger_balances", format!("{:?} is below zero", stored.account))
                    })?;
                    if !units.is_zero() {
                        balances.push(coffer_domain::Amount::from_units(stored.account.asset(), units));
                    }
                }
                Ok(balances)
            }

            async fn stored_balances(&self) -> $crate::Result<Vec<$crate::StoredBalance>> {
                let rows: Vec<$crate::rows::BalanceRow> =
                    sqlx::query_as("SELECT account, chain_id, asset, debits, credits FROM ledger_balances")
                        .fetch_all(&self.reads)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn ledger_snapshot(&self) -> $crate::Result<$crate::LedgerSnapshot> {
                // One read transaction: a step committing meanwhile must not make
                // the entries, payments and totals disagree.
                let mut tx = self.reads.begin().await?;
                if let Some(isolation) = $isolation {
                    sqlx::query(isolation).execute(&mut *tx).await?;
                }
                let entries: Vec<$crate::rows::EntryRow> = sqlx::query_as(
                    "SELECT e.transaction_id, t.kind, t.invoice_id, t.payment_id, t.payout_id, t.sweep_id, e.account, \
                     e.chain_id, e.asset, e.side, e.amount FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
                     ORDER BY e.transaction_id, e.position",
                )
                .fetch_all(&mut *tx)
                .await?;
                let balances: Vec<$crate::rows::BalanceRow> =
                    sqlx::query_as("SELECT account, chain_id, asset, debits, credits FROM ledger_balances")
                        .fetch_all(&mut *tx)
                        .await?;
                let sql = format!("SELECT {} FROM payments", $crate::rows::PAYMENT_COLUMNS);
                let payments: Vec<$crate::rows::PaymentRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
                let invoices: Vec<(uuid::Uuid, uuid::Uuid, i64, String, String)> =
                    sqlx::query_as("SELECT id, merchant_id, chain_id, asset, status FROM invoices")
                        .fetch_all(&mut *tx)
                        .await?;
                tx.commit().await?;
                let invoices = invoices
                    .into_iter()
                    .map(|(id, merchant, chain_id, asset, status)| {
                        let asset = $crate::rows::asset("invoices", chain_id, &asset)?;
                        let status = status.parse().map_err(|e| $crate::StoreError::corrupt("invoices", e))?;
                        Ok((coffer_domain::InvoiceId::from_uuid(id), coffer_domain::MerchantId::from_uuid(merchant), asset, status))
                    })
                    .collect::<$crate::Result<Vec<_>>>()?;
                Ok($crate::LedgerSnapshot {
                    entries: entries.into_iter().map(TryInto::try_into).collect::<$crate::Result<_>>()?,
                    balances: balances.into_iter().map(TryInto::try_into).collect::<$crate::Result<_>>()?,
                    payments: payments.into_iter().map(TryInto::try_into).collect::<$crate::Result<_>>()?,
                    invoices,
                })
            }
        }
    };
}

pub(crate) use ledger_store;
