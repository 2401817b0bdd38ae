//! The writes of a chain step, for both backends.
//!
//! Catching up on a backlog applies thousands of payments in one step, and
//! with sqlx each statement costs tens of microseconds before SQLite does
//! any work; so rows of a kind go in multi-row statements ([`MAX_IN`] rows
//! each), and updates that must each hit exactly one row are grouped and
//! checked by their count: a step that expected to change N rows and
//! changed fewer fails as a whole (stale data), and nothing of it is kept.

macro_rules! chain_writes {
    ($conn:ty, $db:ty, $leases:expr) => {
        mod chain_writes {
            use std::collections::HashMap;

            use coffer_domain::{EventType, Exceptions, InvoiceId, InvoiceStatus, MerchantId, PaymentId, Timestamp, WebhookId};

            use $crate::rows::{payment_params, side_text, to_i64};
            use $crate::shared::{Balances, MAX_IN};
            use $crate::webhooks::DueDelivery;
            use $crate::{Applied, ChainStep, InvoiceChange, LedgerPosting, Result, StoreError};

            /// Subscribed endpoints of one merchant: (id, url, secret, events).
            pub(super) type Endpoints = Vec<(WebhookId, String, String, Vec<EventType>)>;

            /// A posting to book: the transaction, its kind, and what it books
            /// for (an invoice and payment, or a payout, or a sweep).
            pub(super) struct Posting<'a> {
                pub(super) posting: &'a LedgerPosting,
                pub(super) kind: &'static str,
                pub(super) invoice: Option<InvoiceId>,
                pub(super) payment: Option<PaymentId>,
                pub(super) payout: Option<coffer_domain::PayoutId>,
                pub(super) sweep: Option<coffer_domain::SweepId>,
            }

            impl<'a> Posting<'a> {
                /// A posting of an invoice's (and maybe a payment's).
                fn of_invoice(posting: &'a LedgerPosting, kind: &'static str, invoice: InvoiceId, payment: Option<PaymentId>) -> Self {
                    Self { posting, kind, invoice: Some(invoice), payment, payout: None, sweep: None }
                }
            }

            /// A payment a plain receipt may book: canonical, unbooked, not withheld.
            const BOOKABLE_PLAIN: &str =
                "state = 'canonical' AND booked_at IS NULL AND (hold_state IS NULL OR hold_state = 'released')";
            /// A payment a held receipt may book: canonical, unbooked, held or rejected.
            const BOOKABLE_HELD: &str =
                "state = 'canonical' AND booked_at IS NULL AND hold_state IN ('held', 'rejected')";

            /// Refuses the write unless `fence` still holds its lease: first in
            /// the transaction, and on PostgreSQL the lease row stays share-locked
            /// until the commit, so a takeover waits for this write to finish.
            pub(super) async fn check_fence(conn: &mut $conn, fence: Option<&$crate::Fence>) -> Result<()> {
                let Some(fence) = fence else { return Ok(()) };
                if let Some(guard) = $leases.guard {
                    sqlx::query(guard).execute(&mut *conn).await?;
                }
                let held: Option<i64> = sqlx::query_scalar($leases.fence)
                    .bind(&fence.name)
                    .bind(&fence.holder)
                    .bind(fence.epoch)
                    .fetch_optional(&mut *conn)
                    .await?;
                match held {
                    Some(_) => Ok(()),
                    None => Err(StoreError::Fenced { name: fence.name.clone(), epoch: fence.epoch }),
                }
            }

            pub(super) async fn apply_step(conn: &mut $conn, step: &ChainStep) -> Result<Applied> {
                check_fence(conn, step.fence.as_ref()).await?;
                let chain = to_i64(step.chain_id.0, "chain id")?;
                move_cursor(conn, step, chain).await?;
                if let Some(height) = step.revert_above {
                    revert(conn, step, chain, height).await?;
                }
                remember_blocks(conn, step, chain).await?;
                // First, so that a booking moved already (a stale step) fails as stale.
                move_bookings(conn, step).await?;
                insert_payments(conn, step).await?;
                // A receipt books to suspense, or to held for a payment
                // screening holds: each only if the payment's hold is still
                // what the step saw (an operator may have decided meanwhile).
                let held = |b: &&$crate::Booking| {
                    $crate::PostingKind::of(&b.receipt.transaction) == Some($crate::PostingKind::HeldReceipt)
                };
                let (held_bookings, plain): (Vec<&$crate::Booking>, Vec<&$crate::Booking>) =
                    step.bookings.iter().partition(held);
                let ids = |list: Vec<&$crate::Booking>| list.iter().map(|b| b.payment_id).collect::<Vec<_>>();
                mark_payments(conn, &ids(plain), "booked_at", BOOKABLE_PLAIN, step.at).await?;
                mark_payments(conn, &ids(held_bookings), "booked_at", BOOKABLE_HELD, step.at).await?;
                let mut postings: Vec<Posting<'_>> = step
                    .bookings
                    .iter()
                    .map(|b| {
                        let kind = if held(&b) { "held_receipt" } else { "receipt" };
                        Posting::of_invoice(&b.receipt, kind, b.invoice_id, Some(b.payment_id))
                    })
                    .collect();
                postings.extend(
                    step.recoveries.iter().map(|r| Posting::of_invoice(&r.posting, "recovery", r.invoice_id, Some(r.payment_id))),
                );
                let deliveries = apply_changes(conn, &step.changes, step.at, step.lease_until, &mut postings).await?;
                post(conn, &postings, step.at).await?;
                announce(conn, &step.chain_id.0.to_string(), step.fence.as_ref()).await?;
                Ok(Applied { deliveries })
            }

            /// Tells the fleet, at the commit, that `chain`'s invoices may have
            /// changed (`*`: any chain's), and which holder wrote it.
            pub(super) async fn announce(conn: &mut $conn, chain: &str, fence: Option<&$crate::Fence>) -> Result<()> {
                if let Some(announce) = $leases.announce {
                    let payload = $crate::Announced::payload(chain, fence.map(|f| f.holder.as_str()));
                    sqlx::query(announce).bind(payload).execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Moves the cursor by compare-and-set. First: a concurrent step on the
            /// same chain waits here (PostgreSQL's row lock) and then finds it moved.
            async fn move_cursor(conn: &mut $conn, step: &ChainStep, chain: i64) -> Result<()> {
                let tip = to_i64(step.tip.number, "block number")?;
                let at = step.at.as_millis();
                let done = match step.parent {
                    Some(parent) => sqlx::query(
                        "UPDATE chain_cursors SET number = $2, hash = $3, updated_at = $4 \
                         WHERE chain_id = $1 AND number = $5 AND hash = $6",
                    )
                    .bind(chain)
                    .bind(tip)
                    .bind(step.tip.hash.to_vec())
                    .bind(at)
                    .bind(to_i64(parent.number, "block number")?)
                    .bind(parent.hash.to_vec())
                    .execute(&mut *conn)
                    .await?,
                    None => sqlx::query(
                        "INSERT INTO chain_cursors (chain_id, number, hash, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (chain_id) DO NOTHING",
                    )
                    .bind(chain)
                    .bind(tip)
                    .bind(step.tip.hash.to_vec())
                    .bind(at)
                    .execute(&mut *conn)
                    .await?,
                };
                if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::CursorMoved { chain_id: step.chain_id }) }
            }

            /// Blocks above `height` left the chain: their unbooked payments are
            /// orphaned; booked ones (a reorganisation deeper than the
            /// confirmations) are displaced: they keep counting while the
            /// watcher looks for the same transfer on the new chain.
            async fn revert(conn: &mut $conn, step: &ChainStep, chain: i64, height: u64) -> Result<()> {
                let height_i64 = to_i64(height, "block number")?;
                sqlx::query(
                    "UPDATE payments SET state = 'displaced', displaced_until = $3 WHERE chain_id = $1 \
                     AND block_number > $2 AND state = 'canonical' AND booked_at IS NOT NULL",
                )
                .bind(chain)
                .bind(height_i64)
                .bind(to_i64(step.displace_until, "block number")?)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE payments SET state = 'orphaned' WHERE chain_id = $1 AND block_number > $2 AND state = 'canonical'",
                )
                .bind(chain)
                .bind(height_i64)
                .execute(&mut *conn)
                .await?;
                sqlx::query("DELETE FROM chain_blocks WHERE chain_id = $1 AND number > $2")
                    .bind(chain)
                    .bind(height_i64)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn remember_blocks(conn: &mut $conn, step: &ChainStep, chain: i64) -> Result<()> {
                for chunk in step.remember.chunks(MAX_IN) {
                    let rows = chunk
                        .iter()
                        .map(|b| Ok((to_i64(b.number, "block number")?, b.hash.to_vec(), b.parent_hash.to_vec(), to_i64(b.timestamp, "block timestamp")?)))
                        .collect::<Result<Vec<_>>>()?;
                    let mut query = sqlx::QueryBuilder::<$db>::new("INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp) ");
                    query.push_values(rows, |mut row, (number, hash, parent, timestamp)| {
                        row.push_bind(chain).push_bind(number).push_bind(hash).push_bind(parent).push_bind(timestamp);
                    });
                    query.push(
                        " ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash, \
                         parent_hash = excluded.parent_hash, timestamp = excluded.timestamp",
                    );
                    query.build().execute(&mut *conn).await?;
                }
                sqlx::query("DELETE FROM chain_blocks WHERE chain_id = $1 AND number < $2")
                    .bind(chain)
                    .bind(to_i64(step.forget_below, "block number")?)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn insert_payments(conn: &mut $conn, step: &ChainStep) -> Result<()> {
                for chunk in step.payments.chunks(MAX_IN) {
                    let mut query = sqlx::QueryBuilder::<$db>::new("INSERT INTO payments (");
                    query.push($crate::rows::PAYMENT_COLUMNS).push(") ");
                    let params = chunk.iter().map(payment_params).collect::<Result<Vec<_>>>()?;
                    query.push_values(params, |mut row, p| {
                        row.push_bind(p.id)
                            .push_bind(p.invoice_id)
                            .push_bind(p.chain_id)
                            .push_bind(p.asset)
                            .push_bind(p.amount)
                            .push_bind(p.from_address)
                            .push_bind(p.to_address)
                            .push_bind(p.tx_hash)
                            .push_bind(p.log_index)
                            .push_bind(p.block_number)
                            .push_bind(p.block_hash)
                            .push_bind(p.block_time)
                            .push_bind(p.state)
                            .push_bind(p.booked_at)
                            .push_bind(p.settled_at)
                            .push_bind(p.seen_at)
                            .push_bind(p.moved_from)
                            .push_bind(p.displaced_until)
                            .push_bind(p.call_path)
                            .push_bind(p.hold_state)
                            .push_bind(p.hold_reason)
                            .push_bind(p.hold_decided_at)
                            .push_bind(p.hold_note);
                    });
                    // The same block back on the canonical chain (A -> B -> A)
                    // makes a payment count again, with the booking the step
                    // gives it (its own, or one it takes back with `moved_from`;
                    // a written-off one's recovery is in the step). A payment
                    // recorded before and still canonical is the step being
                    // stale: every row must be inserted or revived.
                    query.push(
                        " ON CONFLICT (id) DO UPDATE SET state = 'canonical', displaced_until = NULL, \
                         booked_at = excluded.booked_at, settled_at = excluded.settled_at, \
                         moved_from = COALESCE(excluded.moved_from, payments.moved_from) \
                         WHERE payments.state IN ('orphaned', 'displaced', 'written_off', 'moved')",
                    );
                    let done = query.build().execute(&mut *conn).await?;
                    if done.rows_affected() != chunk.len() as u64 {
                        return Err(StoreError::Stale(format!(
                            "{} of {} payments were stored already as the step did not expect",
                            chunk.len() as u64 - done.rows_affected(),
                            chunk.len()
                        )));
                    }
                }
                Ok(())
            }

            /// The payments this step stored with `moved_from` take those
            /// payments' bookings: each must still be exactly as the step saw
            /// it (written off where the step recovers it, displaced
            /// otherwise), and becomes moved. The books do not change.
            async fn move_bookings(conn: &mut $conn, step: &ChainStep) -> Result<()> {
                let recovered: std::collections::HashSet<PaymentId> =
                    step.recoveries.iter().map(|r| r.payment_id).collect();
                let from: Vec<PaymentId> = step.payments.iter().filter_map(|p| p.moved_from).collect();
                let (written_off, displaced): (Vec<PaymentId>, Vec<PaymentId>) =
                    from.into_iter().partition(|id| recovered.contains(id));
                for (ids, expected) in [(displaced, "displaced"), (written_off, "written_off")] {
                    let head = |query: &mut sqlx::QueryBuilder<$db>| {
                        query.push("UPDATE payments SET state = 'moved', displaced_until = NULL WHERE state = ");
                        query.push_bind(expected);
                    };
                    update_every(conn, &ids, head, &format!("bookings to move were no longer {expected}")).await?;
                }
                Ok(())
            }

            /// Sets `column` to `at` on the payments with these ids that meet
            /// `condition`; fails unless every one of them did.
            async fn mark_payments(
                conn: &mut $conn,
                ids: &[PaymentId],
                column: &'static str,
                condition: &'static str,
                at: Timestamp,
            ) -> Result<()> {
                let head = |query: &mut sqlx::QueryBuilder<$db>| {
                    query.push("UPDATE payments SET ").push(column).push(" = ").push_bind(at.as_millis());
                    query.push(" WHERE ").push(condition);
                };
                update_every(conn, ids, head, &format!("payments were not as {condition}")).await
            }

            /// `UPDATE payments …` (as `head` writes it, up to its WHERE
            /// conditions) for these ids, in chunks; a step that expected
            /// each to be updated fails as stale, saying `what` the others were.
            async fn update_every(
                conn: &mut $conn,
                ids: &[PaymentId],
                head: impl Fn(&mut sqlx::QueryBuilder<$db>),
                what: &str,
            ) -> Result<()> {
                for chunk in ids.chunks(MAX_IN) {
                    let mut query = sqlx::QueryBuilder::<$db>::new("");
                    head(&mut query);
                    query.push(" AND id IN (");
                    let mut list = query.separated(", ");
                    for id in chunk {
                        list.push_bind(id.0.to_vec());
                    }
                    query.push(")");
                    let done = query.build().execute(&mut *conn).await?;
                    if done.rows_affected() != chunk.len() as u64 {
                        return Err(StoreError::Stale(format!(
                            "{} of {} {what}",
                            chunk.len() as u64 - done.rows_affected(),
                            chunk.len()
                        )));
                    }
                }
                Ok(())
            }

            /// Applies invoice changes; returns the deliveries of their events.
            pub(super) async fn apply_changes<'a>(
                conn: &mut $conn,
                changes: &'a [InvoiceChange],
                at: Timestamp,
                lease_until: Timestamp,
                postings: &mut Vec<Posting<'a>>,
            ) -> Result<Vec<DueDelivery>> {
                // Status changes, grouped by (from, to, exceptions): each group
                // is one compare-and-set over its ids.
                type Key = (InvoiceStatus, Exceptions, InvoiceStatus, Exceptions);
                let mut groups: HashMap<Key, Vec<InvoiceId>> = HashMap::new();
                for change in changes {
                    let key = (change.from, change.from_exceptions, change.status, change.exceptions);
                    groups.entry(key).or_default().push(change.invoice_id);
                }
                for ((from, from_exceptions, to, exceptions), ids) in &groups {
                    for chunk in ids.chunks(MAX_IN) {
                        let mut query = sqlx::QueryBuilder::<$db>::new("UPDATE invoices SET status = ");
                        query.push_bind(to.as_str()).push(", exceptions = ").push_bind(exceptions.to_string());
                        query.push(" WHERE status = ").push_bind(from.as_str());
                        query.push(" AND exceptions = ").push_bind(from_exceptions.to_string()).push(" AND id IN (");
                        let mut list = query.separated(", ");
                        for id in chunk {
                            list.push_bind(id.as_uuid());
                        }
                        query.push(")");
                        let done = query.build().execute(&mut *conn).await?;
                        if done.rows_affected() != chunk.len() as u64 {
                            return Err(StoreError::Stale(format!("an invoice is no longer {from} with [{from_exceptions}]")));
                        }
                    }
                }
                let settled: Vec<PaymentId> =
                    changes.iter().filter_map(|c| c.settlement.as_ref()).flat_map(|s| s.payments.iter().copied()).collect();
                // A displaced (or written-off) payment is booked and still counts: it can settle.
                mark_payments(
                    conn,
                    &settled,
                    "settled_at",
                    "state IN ('canonical', 'displaced', 'written_off') AND booked_at IS NOT NULL AND settled_at IS NULL \
                     AND (hold_state IS NULL OR hold_state = 'released')",
                    at,
                )
                .await?;
                postings.extend(changes.iter().filter_map(|c| {
                    let s = c.settlement.as_ref()?;
                    Some(Posting::of_invoice(&s.posting, "settlement", c.invoice_id, None))
                }));
                record_events(conn, changes, at, lease_until).await
            }

            /// Inserts the changes' events and a delivery for each endpoint subscribed to one.
            async fn record_events(
                conn: &mut $conn,
                changes: &[InvoiceChange],
                at: Timestamp,
                lease_until: Timestamp,
            ) -> Result<Vec<DueDelivery>> {
                let events: Vec<(&InvoiceChange, &$crate::NewEvent)> =
                    changes.iter().flat_map(|c| c.events.iter().map(move |e| (c, e))).collect();
                for chunk in events.chunks(MAX_IN) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO events (id, merchant_id, type, invoice_id, payload, created_at) ",
                    );
                    query.push_values(chunk, |mut row, (change, event)| {
                        row.push_bind(event.id.as_uuid())
                            .push_bind(change.merchant_id.as_uuid())
                            .push_bind(event.kind.as_str())
                            .push_bind(change.invoice_id.as_uuid())
                            .push_bind(event.payload.clone())
                            .push_bind(at.as_millis());
                    });
                    query.build().execute(&mut *conn).await?;
                }
                let mut endpoints: HashMap<MerchantId, Endpoints> = HashMap::new();
                // Each delivery with the merchant it is for (its row's owner).
                let mut owned: Vec<(MerchantId, DueDelivery)> = Vec::new();
                for (change, event) in &events {
                    if !endpoints.contains_key(&change.merchant_id) {
                        let list = merchant_endpoints(&mut *conn, change.merchant_id).await?;
                        endpoints.insert(change.merchant_id, list);
                    }
                    let subscribed = endpoints.get(&change.merchant_id).into_iter().flatten();
                    for (endpoint_id, url, secret, _) in subscribed.filter(|e| e.3.contains(&event.kind)) {
                        owned.push((change.merchant_id, DueDelivery {
                            id: coffer_domain::DeliveryId::new(),
                            endpoint_id: *endpoint_id,
                            merchant_id: change.merchant_id,
                            url: url.clone(),
                            secret: secret.clone(),
                            event_id: event.id,
                            event_type: event.kind,
                            invoice_id: Some(change.invoice_id),
                            payload: event.payload.clone(),
                            attempts: 0,
                            leased_until: lease_until,
                        }));
                    }
                }
                for chunk in owned.chunks(MAX_IN) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, state, attempts, \
                         next_attempt_at, created_at) ",
                    );
                    query.push_values(chunk, |mut row, (merchant, d)| {
                        row.push_bind(d.id.as_uuid())
                            .push_bind(d.endpoint_id.as_uuid())
                            .push_bind(d.event_id.as_uuid())
                            .push_bind(merchant.as_uuid())
                            .push_bind("pending")
                            .push_bind(0_i64)
                            .push_bind(lease_until.as_millis())
                            .push_bind(at.as_millis());
                    });
                    query.build().execute(&mut *conn).await?;
                }
                Ok(owned.into_iter().map(|(_, delivery)| delivery).collect())
            }

            pub(super) async fn merchant_endpoints(conn: &mut $conn, merchant: MerchantId) -> Result<Endpoints> {
                let rows: Vec<(uuid::Uuid, String, String, String)> = sqlx::query_as(
                    "SELECT id, url, secret, events FROM webhook_endpoints WHERE merchant_id = $1 AND deleted_at IS NULL",
                )
                .bind(merchant.as_uuid())
                .fetch_all(&mut *conn)
                .await?;
                rows.into_iter()
                    .map(|(id, url, secret, events)| {
                        Ok((WebhookId::from_uuid(id), url, secret, $crate::rows::parse_events(&events)?))
                    })
                    .collect()
            }

            pub(super) async fn record_halt(conn: &mut $conn, halt: &$crate::ChainHalt) -> Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO chain_halts (id, chain_id, code, reason, block, halted_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (chain_id) WHERE resolved_at IS NULL DO NOTHING",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(to_i64(halt.chain_id.0, "chain id")?)
                .bind(halt.code.as_str())
                .bind(&halt.reason)
                .bind(halt.block.map(|b| to_i64(b, "block number")).transpose()?)
                .bind(halt.halted_at.as_millis())
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(super) async fn resolve_halt(
                conn: &mut $conn,
                chain_id: coffer_domain::ChainId,
                at: Timestamp,
                resolution: &str,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE chain_halts SET resolved_at = $2, resolution = $3 WHERE chain_id = $1 AND resolved_at IS NULL",
                )
                .bind(to_i64(chain_id.0, "chain id")?)
                .bind(at.as_millis())
                .bind(resolution)
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// An operator's decision on every displaced payment of the chain,
            /// and the chain's open halt closed with it.
            pub(super) async fn resolve_displaced(
                conn: &mut $conn,
                chain_id: coffer_domain::ChainId,
                resolution: &$crate::DisplacedResolution,
                at: Timestamp,
                note: &str,
            ) -> Result<Vec<PaymentId>> {
                let chain = to_i64(chain_id.0, "chain id")?;
                // Only a chain its watcher found a transfer gone on: a decision
                // taken while the watcher may still move the booking is a race.
                let halted: Option<String> = sqlx::query_scalar(
                    "SELECT code FROM chain_halts WHERE chain_id = $1 AND resolved_at IS NULL",
                )
                .bind(chain)
                .fetch_optional(&mut *conn)
                .await?;
                if halted.as_deref() != Some(coffer_domain::HaltCode::TransferGone.as_str()) {
                    return Err(StoreError::Stale(format!(
                        "chain {chain_id} is not halted for a transfer gone; its watcher may still find it"
                    )));
                }
                let rows: Vec<$crate::rows::PaymentRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(displaced_select())).bind(chain).fetch_all(&mut *conn).await?;
                let displaced = rows.into_iter().map(TryInto::try_into).collect::<Result<Vec<coffer_domain::Payment>>>()?;
                let ids: Vec<PaymentId> = displaced.iter().map(|p| p.id).collect();
                let listed = ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                let text = match resolution {
                    $crate::DisplacedResolution::WaitUntil(height) => {
                        let done = sqlx::query(
                            "UPDATE payments SET displaced_until = $2 WHERE chain_id = $1 AND state = 'displaced'",
                        )
                        .bind(chain)
                        .bind(to_i64(*height, "block number")?)
                        .execute(&mut *conn)
                        .await?;
                        unchanged_meanwhile(done.rows_affected(), ids.len())?;
                        format!("waiting until block {height} for {} displaced payment(s) [{listed}]: {note}", ids.len())
                    }
                    $crate::DisplacedResolution::WriteOff => {
                        let postings = displaced
                            .iter()
                            .map(|p| {
                                let transaction = coffer_domain::Transaction::write_off(p.amount)
                                    .map_err(|e| StoreError::Conflict(e.to_string()))?;
                                Ok((p, LedgerPosting { id: coffer_domain::LedgerTxId::new(), transaction }))
                            })
                            .collect::<Result<Vec<_>>>()?;
                        let postings: Vec<Posting<'_>> = postings
                            .iter()
                            .map(|(p, posting)| Posting::of_invoice(posting, "write_off", p.invoice_id, Some(p.id)))
                            .collect();
                        let done = sqlx::query(
                            "UPDATE payments SET state = 'written_off', displaced_until = NULL \
                             WHERE chain_id = $1 AND state = 'displaced'",
                        )
                        .bind(chain)
                        .execute(&mut *conn)
                        .await?;
                        unchanged_meanwhile(done.rows_affected(), ids.len())?;
                        post(&mut *conn, &postings, at).await?;
                        format!("wrote off {} displaced payment(s) [{listed}]: {note}", ids.len())
                    }
                };
                resolve_halt(conn, chain_id, at, &text).await?;
                Ok(ids)
            }

            /// The displaced payments of chain `$1`, oldest block first.
            pub(super) fn displaced_select() -> String {
                format!(
                    "SELECT {} FROM payments WHERE chain_id = $1 AND state = 'displaced' ORDER BY block_number, log_index",
                    $crate::rows::PAYMENT_COLUMNS
                )
            }

            /// The rows an operator's decision changed must be the ones it read
            /// (PostgreSQL re-checks a row a concurrent step changed meanwhile).
            fn unchanged_meanwhile(changed: u64, read: usize) -> Result<()> {
                if changed == read as u64 {
                    Ok(())
                } else {
                    Err(StoreError::Stale(format!("{read} displaced payments were read, {changed} were still displaced")))
                }
            }

            /// Books postings: their headers, their entries, and their effect
            /// on the running totals (added to the stored ones once, at the end).
            pub(super) async fn post(conn: &mut $conn, postings: &[Posting<'_>], at: Timestamp) -> Result<()> {
                let mut balances = Balances::default();
                for chunk in postings.chunks(MAX_IN) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO ledger_transactions (id, kind, invoice_id, payment_id, payout_id, sweep_id, created_at) ",
                    );
                    query.push_values(chunk, |mut row, p| {
                        row.push_bind(p.posting.id.as_uuid())
                            .push_bind(p.kind)
                            .push_bind(p.invoice.map(|id| id.as_uuid()))
                            .push_bind(p.payment.map(|id| id.0.to_vec()))
                            .push_bind(p.payout.map(|id| id.as_uuid()))
                            .push_bind(p.sweep.map(|id| id.as_uuid()))
                            .push_bind(at.as_millis());
                    });
                    query.build().execute(&mut *conn).await?;
                }
                let mut entries = Vec::new();
                for p in postings {
                    balances.add(&p.posting.transaction)?;
                    for (position, entry) in p.posting.transaction.entries().iter().enumerate() {
                        entries.push((p.posting.id, position, entry));
                    }
                }
                for chunk in entries.chunks(MAX_IN) {
                    let rows = chunk
                        .iter()
                        .map(|(id, position, e)| {
                            let asset = e.amount.asset();
                            Ok((
                                id.as_uuid(),
                                *position as i64,
                                $crate::ledger::account_key(&e.account),
                                to_i64(asset.chain_id.0, "chain id")?,
                                asset.symbol.as_str().to_owned(),
                                side_text(e.side),
                                e.amount.units().to_string(),
                            ))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO ledger_entries (transaction_id, position, account, chain_id, asset, side, amount) ",
                    );
                    query.push_values(rows, |mut row, r| {
                        row.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3).push_bind(r.4).push_bind(r.5).push_bind(r.6);
                    });
                    query.build().execute(&mut *conn).await?;
                }
                write_balances(conn, balances).await
            }

            /// Adds a step's totals to the stored running totals. The no-op
            /// UPDATE takes PostgreSQL's row lock while it reads the totals, so
            /// it sees the last committed ones and no concurrent transaction
            /// can add to the same row in between.
            async fn write_balances(conn: &mut $conn, balances: Balances) -> Result<()> {
                // In one order, the accounts' own: two transactions that touch
                // the same accounts take their row locks in the same order, so
                // neither waits for the other in a cycle (PostgreSQL would
                // abort one as a deadlock). A payout's lock on its source
                // (merchant or suspense) comes first and sorts first too.
                let mut totals: Vec<_> = balances.into_totals().collect();
                totals.sort_by_key(|(account, _)| *account);
                for (account, (debits, credits)) in totals {
                    let asset = account.asset();
                    let key = $crate::ledger::account_key(&account);
                    let chain = to_i64(asset.chain_id.0, "chain id")?;
                    let stored: Option<(String, String)> = sqlx::query_as(
                        "UPDATE ledger_balances SET debits = debits WHERE account = $1 AND chain_id = $2 AND asset = $3 \
                         RETURNING debits, credits",
                    )
                    .bind(&key)
                    .bind(chain)
                    .bind(asset.symbol.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
                    let (old_debits, old_credits) = match stored {
                        Some((d, c)) => ($crate::shared::units(&d)?, $crate::shared::units(&c)?),
                        None => Default::default(),
                    };
                    let overflow = || StoreError::Conflict(format!("ledger totals of {key} overflow"));
                    let debits = old_debits.checked_add(debits).ok_or_else(overflow)?;
                    let credits = old_credits.checked_add(credits).ok_or_else(overflow)?;
                    sqlx::query(
                        "INSERT INTO ledger_balances (account, chain_id, asset, debits, credits) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (account, chain_id, asset) DO UPDATE SET debits = excluded.debits, credits = excluded.credits",
                    )
                    .bind(&key)
                    .bind(chain)
                    .bind(asset.symbol.as_str())
                    .bind(debits.to_string())
                    .bind(credits.to_string())
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use chain_writes;
