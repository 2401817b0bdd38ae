//! The writes of payouts, sweeps and the signer outbox, for both backends
//! (a module per backend, as `chain_writes` is: only the connection differs).
//! Every write here runs inside one transaction (`transaction` on both
//! stores: a savepoint in SQLite's writer), except the outbox's
//! single-statement claims and failures.

macro_rules! payout_writes {
    ($conn:ty, $db:ty) => {
        mod payout_writes {
            use coffer_domain::{Account, Amount, LedgerTxId, MerchantId, Payout, Timestamp, Transaction, U256};

            use super::chain_writes::{self, Posting};
            use $crate::rows::{PAYOUT_COLUMNS, PayoutRow, PayoutState, symbol, to_i64};
            use $crate::webhooks::DueDelivery;
            use $crate::{
                AnswerChange, CreatedPayout, Idempotency, LedgerPosting, NewEvent, NewPayout, OutboxNext,
                PostingKind, RecordedAnswer, Result, SignerAnswer, SignerRequest, StoreError,
            };

            /// Reads an account's running totals, taking PostgreSQL's row lock
            /// on them until the transaction ends: a concurrent payout from the
            /// same account waits here, then reads what this one left.
            pub(super) async fn lock_totals(conn: &mut $conn, account: &Account) -> Result<(U256, U256)> {
                let asset = account.asset();
                let stored: Option<(String, String)> = sqlx::query_as(
                    "UPDATE ledger_balances SET debits = debits WHERE account = $1 AND chain_id = $2 AND asset = $3 \
                     RETURNING debits, credits",
                )
                .bind($crate::ledger::account_key(account))
                .bind(to_i64(asset.chain_id.0, "chain id")?)
                .bind(asset.symbol.as_str())
                .fetch_optional(&mut *conn)
                .await?;
                match stored {
                    Some((d, c)) => Ok(($crate::shared::units(&d)?, $crate::shared::units(&c)?)),
                    None => Ok((U256::ZERO, U256::ZERO)),
                }
            }

            /// The payout an idempotency key names already, as the answer to a retry.
            pub(super) async fn idempotent(
                conn: &mut $conn,
                merchant: MerchantId,
                idem: &Idempotency,
            ) -> Result<Option<CreatedPayout>> {
                let fingerprint: Option<Option<Vec<u8>>> = sqlx::query_scalar(
                    "SELECT request_fingerprint FROM payouts WHERE merchant_id = $1 AND idempotency_key = $2",
                )
                .bind(merchant.as_uuid())
                .bind(&idem.key)
                .fetch_optional(&mut *conn)
                .await?;
                match fingerprint {
                    None => Ok(None),
                    Some(stored) if stored.as_deref() != Some(idem.fingerprint.as_slice()) => {
                        Ok(Some(CreatedPayout::IdempotencyMismatch))
                    }
                    Some(_) => {
                        let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE merchant_id = $1 AND idempotency_key = $2");
                        let row: PayoutRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                            .bind(merchant.as_uuid())
                            .bind(&idem.key)
                            .fetch_one(&mut *conn)
                            .await?;
                        Ok(Some(CreatedPayout::Replayed(row.try_into()?)))
                    }
                }
            }

            /// What the invoice's refunds not refused or failed add up to.
            async fn refunded(conn: &mut $conn, invoice: coffer_domain::InvoiceId) -> Result<U256> {
                let amounts: Vec<String> = sqlx::query_scalar(
                    "SELECT amount FROM payouts WHERE refund_of = $1 AND status NOT IN ('refused', 'failed')",
                )
                .bind(invoice.as_uuid())
                .fetch_all(&mut *conn)
                .await?;
                amounts.iter().try_fold(U256::ZERO, |sum, text| {
                    let units = $crate::shared::units(text)?;
                    sum.checked_add(units).ok_or_else(|| StoreError::corrupt("payouts", "refunds overflow"))
                })
            }

            pub(super) async fn create_payout(conn: &mut $conn, new: &NewPayout) -> Result<CreatedPayout> {
                let p = &new.payout;
                let asset = p.amount.asset();
                let source = p.source.account(p.merchant_id, asset);
                let (debits, credits) = lock_totals(conn, &source).await?;
                if let Some(idem) = &new.idempotency
                    && let Some(earlier) = idempotent(conn, p.merchant_id, idem).await?
                {
                    return Ok(earlier);
                }
                if let (Some(invoice), Some(limit)) = (p.refund_of, new.refund_limit) {
                    let left = limit.units().saturating_sub(refunded(conn, invoice).await?);
                    if p.amount.units() > left {
                        return Ok(CreatedPayout::RefundExceeded { refundable: Amount::from_units(asset, left) });
                    }
                }
                if !source.can_draw(debits, credits, p.amount.units()) {
                    let available = source.balance_of(debits, credits).unwrap_or_default();
                    return Ok(CreatedPayout::InsufficientBalance { available: Amount::from_units(asset, available) });
                }
                insert_payout(conn, new).await?;
                let reserve = LedgerPosting {
                    id: LedgerTxId::new(),
                    transaction: p.reserve().map_err(|e| StoreError::Conflict(e.to_string()))?,
                };
                chain_writes::post(conn, &[for_payout(&reserve, p)?], new.at).await?;
                insert_outbox(conn, SignerRequest::Payout(p.id), &new.intent, new.at).await?;
                let deliveries = record_events(conn, p.merchant_id, std::slice::from_ref(&new.event), new.at, new.lease_until).await?;
                // Last: the audit head is locked for as short a time as can be.
                super::audit_writes::append(conn, &new.audit).await?;
                Ok(CreatedPayout::Created(p.clone(), deliveries))
            }

            async fn insert_payout(conn: &mut $conn, new: &NewPayout) -> Result<()> {
                let p = &new.payout;
                let asset = p.amount.asset();
                let state = PayoutState::of(p);
                sqlx::query(
                    "INSERT INTO payouts (id, merchant_id, chain_id, asset, amount, destination, status, source, \
                     refund_of, fee_asset, cooldown_until, refusal_rule, refusal_message, failure_reason, tx_hash, \
                     network_fee, idempotency_key, request_fingerprint, created_at, updated_at, approval_digest, \
                     approval_expires_at, approval_quorum, approval_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
                     $21, $22, $23, $24)",
                )
                .bind(p.id.as_uuid())
                .bind(p.merchant_id.as_uuid())
                .bind(to_i64(asset.chain_id.0, "chain id")?)
                .bind(symbol(asset.symbol))
                .bind(p.amount.units().to_string())
                .bind(p.destination.as_slice().to_vec())
                .bind(state.status)
                .bind(p.source.as_str())
                .bind(p.refund_of.map(|i| i.as_uuid()))
                .bind(symbol(p.fee_asset.symbol))
                .bind(state.cooldown_until)
                .bind(state.refusal_rule)
                .bind(state.refusal_message)
                .bind(state.failure_reason)
                .bind(state.tx_hash)
                .bind(state.network_fee)
                .bind(new.idempotency.as_ref().map(|i| i.key.clone()))
                .bind(new.idempotency.as_ref().map(|i| i.fingerprint.to_vec()))
                .bind(p.created_at.as_millis())
                .bind(state.updated_at)
                .bind(state.approval_digest)
                .bind(state.approval_expires_at)
                .bind(state.approval_quorum)
                .bind(state.approval_by)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// A payout's posting, its kind read from its shape.
            fn for_payout<'a>(posting: &'a LedgerPosting, payout: &Payout) -> Result<Posting<'a>> {
                Ok(Posting { posting, kind: kind(&posting.transaction)?, invoice: None, payment: None, payout: Some(payout.id), sweep: None })
            }

            pub(super) fn kind(transaction: &Transaction) -> Result<&'static str> {
                PostingKind::of(transaction)
                    .map(PostingKind::as_str)
                    .ok_or_else(|| StoreError::Conflict("a posting of no known kind".to_owned()))
            }

            pub(super) async fn insert_outbox(conn: &mut $conn, request: SignerRequest, payload: &str, at: Timestamp) -> Result<()> {
                sqlx::query(
                    "INSERT INTO signer_outbox (request_id, kind, payload, state, attempts, next_attempt_at, created_at, \
                     updated_at) VALUES ($1, $2, $3, 'submit', 0, $4, $4, $4)",
                )
                .bind(request.uuid())
                .bind(request.kind())
                .bind(payload)
                .bind(at.as_millis())
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Records payout events (no invoice) and a delivery for each
            /// endpoint of the merchant subscribed to one.
            async fn record_events(
                conn: &mut $conn,
                merchant: MerchantId,
                events: &[NewEvent],
                at: Timestamp,
                lease_until: Timestamp,
            ) -> Result<Vec<DueDelivery>> {
                let endpoints = chain_writes::merchant_endpoints(&mut *conn, merchant).await?;
                let mut deliveries = Vec::new();
                for event in events {
                    debug_assert!(event.kind.is_payout(), "a payout's events are payout.*");
                    sqlx::query(
                        "INSERT INTO events (id, merchant_id, type, invoice_id, payload, created_at) VALUES ($1, $2, $3, NULL, $4, $5)",
                    )
                    .bind(event.id.as_uuid())
                    .bind(merchant.as_uuid())
                    .bind(event.kind.as_str())
                    .bind(&event.payload)
                    .bind(at.as_millis())
                    .execute(&mut *conn)
                    .await?;
                    for (endpoint_id, url, secret, _) in endpoints.iter().filter(|e| e.3.contains(&event.kind)) {
                        let delivery = DueDelivery {
                            id: coffer_domain::DeliveryId::new(),
                            endpoint_id: *endpoint_id,
                            merchant_id: merchant,
                            url: url.clone(),
                            secret: secret.clone(),
                            event_id: event.id,
                            event_type: event.kind,
                            invoice_id: None,
                            payload: event.payload.clone(),
                            attempts: 0,
                            leased_until: lease_until,
                        };
                        sqlx::query(
                            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, state, attempts, \
                             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6)",
                        )
                        .bind(delivery.id.as_uuid())
                        .bind(endpoint_id.as_uuid())
                        .bind(event.id.as_uuid())
                        .bind(merchant.as_uuid())
                        .bind(lease_until.as_millis())
                        .bind(at.as_millis())
                        .execute(&mut *conn)
                        .await?;
                        deliveries.push(delivery);
                    }
                }
                Ok(deliveries)
            }

            pub(super) async fn record_answer(conn: &mut $conn, answer: &SignerAnswer) -> Result<RecordedAnswer> {
                let recorded = record_change(conn, answer).await?;
                if let Some(relayed) = &answer.relayed {
                    if answer.change.is_some() && !recorded.applied {
                        // Computed from a payout that changed meanwhile: nothing
                        // is written, the caller retries on what it reads now.
                        return Ok(recorded);
                    }
                    super::audit_writes::append(conn, relayed).await?;
                }
                next_step(conn, answer.request, answer.next, answer.at).await?;
                Ok(recorded)
            }

            async fn record_change(conn: &mut $conn, answer: &SignerAnswer) -> Result<RecordedAnswer> {
                let recorded = match &answer.change {
                    Some(AnswerChange::Payout { from, change, event, audit }) => {
                        let recorded = apply_payout(conn, from, change, event.as_ref(), answer).await?;
                        if recorded.applied {
                            super::audit_writes::append(conn, audit).await?;
                        }
                        recorded
                    }
                    Some(AnswerChange::Sweep { from, change, outcome }) => {
                        apply_sweep(conn, from, change, outcome, answer.at).await?
                    }
                    None => RecordedAnswer::default(),
                };
                Ok(recorded)
            }

            /// The signer's controls, by compare-and-set on the state read
            /// before, with their audit entries and event (`ControlStore`).
            pub(super) async fn record_control(
                conn: &mut $conn,
                change: &$crate::ControlChange,
            ) -> Result<RecordedAnswer> {
                let written = match &change.previous {
                    None => sqlx::query(
                        "INSERT INTO signer_control (id, state, read_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(&change.state)
                    .bind(change.read_at.as_millis())
                    .execute(&mut *conn)
                    .await?,
                    Some(previous) => sqlx::query(
                        "UPDATE signer_control SET state = $1, read_at = $2 WHERE id = 1 AND state = $3",
                    )
                    .bind(&change.state)
                    .bind(change.read_at.as_millis())
                    .bind(previous)
                    .execute(&mut *conn)
                    .await?,
                };
                if written.rows_affected() != 1 {
                    return Ok(RecordedAnswer::default());
                }
                let deliveries = match &change.event {
                    Some(event) => broadcast(conn, event, change.read_at, change.lease_until).await?,
                    None => Vec::new(),
                };
                for record in &change.audit {
                    super::audit_writes::append(conn, record).await?;
                }
                Ok(RecordedAnswer { applied: true, deliveries })
            }

            /// One event per merchant with an endpoint subscribed to its type,
            /// and a delivery to each such endpoint.
            async fn broadcast(
                conn: &mut $conn,
                event: &$crate::BroadcastEvent,
                at: Timestamp,
                lease_until: Timestamp,
            ) -> Result<Vec<DueDelivery>> {
                let rows: Vec<(uuid::Uuid, uuid::Uuid, String, String, String)> = sqlx::query_as(
                    "SELECT id, merchant_id, url, secret, events FROM webhook_endpoints WHERE deleted_at IS NULL \
                     ORDER BY merchant_id, id",
                )
                .fetch_all(&mut *conn)
                .await?;
                let mut deliveries = Vec::new();
                let mut current: Option<(MerchantId, coffer_domain::EventId, String)> = None;
                for (endpoint, merchant, url, secret, events) in rows {
                    if !$crate::rows::parse_events(&events)?.contains(&event.kind) {
                        continue;
                    }
                    let merchant = MerchantId::from_uuid(merchant);
                    if current.as_ref().is_none_or(|(m, _, _)| *m != merchant) {
                        let id = coffer_domain::EventId::new();
                        let payload = (event.payload)(id);
                        sqlx::query(
                            "INSERT INTO events (id, merchant_id, type, invoice_id, payload, created_at) \
                             VALUES ($1, $2, $3, NULL, $4, $5)",
                        )
                        .bind(id.as_uuid())
                        .bind(merchant.as_uuid())
                        .bind(event.kind.as_str())
                        .bind(&payload)
                        .bind(at.as_millis())
                        .execute(&mut *conn)
                        .await?;
                        current = Some((merchant, id, payload));
                    }
                    let Some((_, event_id, payload)) = &current else { continue };
                    let delivery = DueDelivery {
                        id: coffer_domain::DeliveryId::new(),
                        endpoint_id: coffer_domain::WebhookId::from_uuid(endpoint),
                        merchant_id: merchant,
                        url,
                        secret,
                        event_id: *event_id,
                        event_type: event.kind,
                        invoice_id: None,
                        payload: payload.clone(),
                        attempts: 0,
                        leased_until: lease_until,
                    };
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, state, attempts, \
                         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6)",
                    )
                    .bind(delivery.id.as_uuid())
                    .bind(endpoint)
                    .bind(event_id.as_uuid())
                    .bind(merchant.as_uuid())
                    .bind(lease_until.as_millis())
                    .bind(at.as_millis())
                    .execute(&mut *conn)
                    .await?;
                    deliveries.push(delivery);
                }
                Ok(deliveries)
            }

            async fn apply_payout(
                conn: &mut $conn,
                from: &Payout,
                change: &coffer_domain::PayoutChange,
                event: Option<&NewEvent>,
                answer: &SignerAnswer,
            ) -> Result<RecordedAnswer> {
                if !update_payout(conn, from, &change.payout).await? {
                    return Ok(RecordedAnswer::default());
                }
                let postings = with_ids(&change.postings);
                let list = postings.iter().map(|p| for_payout(p, from)).collect::<Result<Vec<_>>>()?;
                chain_writes::post(conn, &list, answer.at).await?;
                let deliveries = match event {
                    Some(event) => {
                        record_events(conn, from.merchant_id, std::slice::from_ref(event), answer.at, answer.lease_until)
                            .await?
                    }
                    None => Vec::new(),
                };
                Ok(RecordedAnswer { applied: true, deliveries })
            }

            async fn apply_sweep(
                conn: &mut $conn,
                from: &coffer_domain::Sweep,
                change: &coffer_domain::SweepChange,
                outcome: &str,
                at: Timestamp,
            ) -> Result<RecordedAnswer> {
                if !super::sweep_writes::update_sweep(conn, from, &change.sweep, outcome).await? {
                    return Ok(RecordedAnswer::default());
                }
                let postings = with_ids(&change.postings);
                let list = postings
                    .iter()
                    .map(|p| {
                        let kind = kind(&p.transaction)?;
                        Ok(Posting { posting: p, kind, invoice: None, payment: None, payout: None, sweep: Some(from.id) })
                    })
                    .collect::<Result<Vec<_>>>()?;
                chain_writes::post(conn, &list, at).await?;
                Ok(RecordedAnswer { applied: true, deliveries: Vec::new() })
            }

            fn with_ids(transactions: &[Transaction]) -> Vec<LedgerPosting> {
                transactions.iter().map(|t| LedgerPosting { id: LedgerTxId::new(), transaction: t.clone() }).collect()
            }

            /// The payout's new state, only if it is still as `from` (the
            /// fields an answer changes: status, transaction, cool-down,
            /// round of approvals and its approvers).
            async fn update_payout(conn: &mut $conn, from: &Payout, to: &Payout) -> Result<bool> {
                let state = PayoutState::of(to);
                let was = PayoutState::of(from);
                let none: Vec<u8> = Vec::new();
                let done = sqlx::query(
                    "UPDATE payouts SET status = $2, cooldown_until = $3, refusal_rule = $4, refusal_message = $5, \
                     failure_reason = $6, tx_hash = $7, network_fee = $8, updated_at = $9, approval_digest = $14, \
                     approval_expires_at = $15, approval_quorum = $16, approval_by = $17 \
                     WHERE id = $1 AND status = $10 AND COALESCE(tx_hash, $11) = COALESCE($12, $11) \
                     AND COALESCE(cooldown_until, -1) = COALESCE($13, -1) \
                     AND COALESCE(approval_expires_at, -1) = COALESCE($18, -1) \
                     AND COALESCE(approval_by, '') = COALESCE($19, '')",
                )
                .bind(from.id.as_uuid())
                .bind(state.status)
                .bind(state.cooldown_until)
                .bind(state.refusal_rule)
                .bind(state.refusal_message)
                .bind(state.failure_reason)
                .bind(state.tx_hash)
                .bind(state.network_fee)
                .bind(state.updated_at)
                .bind(from.status.as_str())
                .bind(none)
                .bind(from.tx_hash.map(|h| h.to_vec()))
                .bind(from.cooldown_until.map(Timestamp::as_millis))
                .bind(state.approval_digest)
                .bind(state.approval_expires_at)
                .bind(state.approval_quorum)
                .bind(state.approval_by)
                .bind(was.approval_expires_at)
                .bind(was.approval_by)
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// The outbox row's next step after an answer (a held row stays held);
            /// its failures count from nought again, so backoff starts over.
            async fn next_step(conn: &mut $conn, request: SignerRequest, next: OutboxNext, at: Timestamp) -> Result<()> {
                let (state, due) = match next {
                    OutboxNext::PollAt(due) => ("poll", Some(due.as_millis())),
                    OutboxNext::Done => ("done", None),
                };
                sqlx::query(
                    "UPDATE signer_outbox SET state = $2, next_attempt_at = $3, attempts = 0, last_error = NULL, \
                     updated_at = $4 WHERE request_id = $1 AND state IN ('submit', 'poll')",
                )
                .bind(request.uuid())
                .bind(state)
                .bind(due)
                .bind(at.as_millis())
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use payout_writes;
