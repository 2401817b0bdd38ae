//! The chain watcher's writes: cursor compare-and-set, payments recorded
//! once and orphaned by reorganisations, bookings and settlements that
//! credit exactly once, and events fanned out to webhook deliveries.

use coffer_domain::{
    Amount, B256, BlockRef, ChainId, EventId, EventType, Exception, Exceptions, Invoice, InvoiceStatus, LedgerTxId,
    Payment, PaymentId, PaymentState, Timestamp, Transaction, U256, WebhookId,
};
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use coffer_store::{
    Booking, ChainBlock, ChainHalt, ChainStep, DisplacedResolution, InvoiceChange, InvoiceChanges, LedgerPosting,
    NewEvent, Settlement, Store, StoreError, WebhookEndpoint,
};

use crate::conformance::{fixture, invoice, merchant, plain, usdt};

on_both_backends!(
    the_cursor_moves_only_by_compare_and_set,
    payments_are_recorded_once_and_orphaned_by_a_reorganisation,
    a_block_back_on_the_canonical_chain_counts_again,
    bookings_and_settlements_credit_exactly_once,
    a_reorganisation_below_booked_payments_displaces_them_and_the_same_transfer_takes_the_booking,
    displaced_payments_are_written_off_or_awaited_longer_by_an_operator,
    halts_are_recorded_once_and_resolved,
    invoice_changes_apply_only_to_the_status_they_were_computed_from,
    events_fan_out_to_subscribed_endpoints_in_the_same_transaction,
    watch_lists_and_expiry_queries_find_the_right_invoices,
    remembered_blocks_follow_the_step,
);

pub(crate) const CHAIN: ChainId = ChainId(31337);
pub(crate) const AT: i64 = 1_700_000_100_000;

pub(crate) fn block(number: u64, tag: u8) -> BlockRef {
    BlockRef { number, hash: B256::repeat_byte(tag) }
}

pub(crate) fn step(parent: Option<BlockRef>, tip: BlockRef) -> ChainStep {
    ChainStep {
        fence: None,
        chain_id: CHAIN,
        parent,
        tip,
        revert_above: None,
        displace_until: tip.number + 2,
        remember: Vec::new(),
        forget_below: 0,
        payments: Vec::new(),
        bookings: Vec::new(),
        recoveries: Vec::new(),
        changes: Vec::new(),
        at: Timestamp::from_millis(AT),
        lease_until: Timestamp::from_millis(AT + 30_000),
    }
}

pub(crate) fn payment(invoice: &Invoice, units: u64, at: BlockRef, log_index: u64) -> Payment {
    let tx_hash = B256::repeat_byte(0xee);
    Payment {
        id: PaymentId::of(CHAIN, at.hash, tx_hash, Some(log_index)),
        invoice_id: invoice.id,
        amount: Amount::from_units(usdt(), U256::from(units)),
        from: coffer_domain::Address::repeat_byte(0xaa),
        to: invoice.deposit.address,
        tx_hash,
        log_index: Some(log_index),
        block: at,
        block_time: Timestamp::from_millis(AT - 1_000),
        state: PaymentState::Canonical,
        booked_at: None,
        settled_at: None,
        seen_at: Timestamp::from_millis(AT),
        moved_from: None,
        displaced_until: None,
        call_path: None,
        hold: None,
    }
}

fn booking(p: &Payment) -> Booking {
    Booking {
        payment_id: p.id,
        invoice_id: p.invoice_id,
        receipt: LedgerPosting { id: LedgerTxId::new(), transaction: Transaction::receipt(p.amount).unwrap() },
    }
}

fn settle(invoice: &Invoice, from: InvoiceStatus, paid: &[&Payment]) -> InvoiceChange {
    let total = paid.iter().fold(U256::ZERO, |sum, p| sum + p.amount.units());
    InvoiceChange {
        invoice_id: invoice.id,
        merchant_id: invoice.merchant_id,
        from,
        from_exceptions: Exceptions::default(),
        status: InvoiceStatus::Settled,
        exceptions: Exceptions::default(),
        settlement: Some(Settlement {
            posting: LedgerPosting {
                id: LedgerTxId::new(),
                transaction: Transaction::settlement(invoice.merchant_id, Amount::from_units(usdt(), total)).unwrap(),
            },
            payments: paid.iter().map(|p| p.id).collect(),
        }),
        events: vec![NewEvent { id: EventId::new(), kind: EventType::InvoiceSettled, payload: "{}".into() }],
    }
}

pub(crate) async fn open_invoice(store: &dyn Store, index: u32) -> Invoice {
    let merchant = merchant(store, "Acme").await;
    let invoice = invoice(merchant, index);
    store.insert_invoice(plain(invoice.clone())).await.unwrap();
    invoice
}

async fn the_cursor_moves_only_by_compare_and_set(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = open_invoice(&*f.store, 1).await;
    assert_eq!(f.store.chain_cursor(CHAIN).await.unwrap(), None);
    f.store.apply_chain_step(step(None, block(10, 1))).await.unwrap();
    assert_eq!(f.store.chain_cursor(CHAIN).await.unwrap(), Some(block(10, 1)));

    // A second "first" step, or one on a stale parent, changes nothing at all.
    let mut stale = step(None, block(11, 2));
    stale.payments.push(payment(&inv, 5, block(11, 2), 0));
    assert!(matches!(f.store.apply_chain_step(stale.clone()).await, Err(StoreError::CursorMoved { .. })));
    stale.parent = Some(block(10, 9));
    assert!(matches!(f.store.apply_chain_step(stale.clone()).await, Err(StoreError::CursorMoved { .. })));
    assert!(f.store.payments_of(&[inv.id]).await.unwrap().is_empty(), "a refused step wrote nothing");

    stale.parent = Some(block(10, 1));
    f.store.apply_chain_step(stale.clone()).await.unwrap();
    assert_eq!(f.store.chain_cursor(CHAIN).await.unwrap(), Some(block(11, 2)));
    assert!(
        matches!(f.store.apply_chain_step(stale).await, Err(StoreError::CursorMoved { .. })),
        "the same step twice"
    );
    assert_eq!(f.store.payments_of(&[inv.id]).await.unwrap().len(), 1);
    assert_eq!(f.store.chain_cursor(ChainId(1)).await.unwrap(), None, "cursors are per chain");
}

async fn payments_are_recorded_once_and_orphaned_by_a_reorganisation(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = open_invoice(&*f.store, 1).await;
    let p = payment(&inv, 7_000_000, block(5, 5), 3);
    let mut first = step(None, block(5, 5));
    first.payments.push(p.clone());
    f.store.apply_chain_step(first).await.unwrap();
    // A step that carries a payment stored already was computed on stale
    // data: it is refused whole (the watcher recomputes, knowing the payment).
    let mut again = step(Some(block(5, 5)), block(6, 6));
    again.payments.push(p.clone());
    assert!(matches!(f.store.apply_chain_step(again.clone()).await, Err(StoreError::Stale(_))));
    again.payments.clear();
    f.store.apply_chain_step(again).await.unwrap();
    assert_eq!(f.store.payments_of(&[inv.id]).await.unwrap(), vec![p.clone()], "round trip, once");
    assert_eq!(f.store.invoices_paid_above(CHAIN, 4).await.unwrap(), vec![inv.id]);
    assert_eq!(f.store.invoices_paid_above(CHAIN, 5).await.unwrap(), vec![]);
    assert_eq!(f.store.invoices_awaiting_confirmations(CHAIN).await.unwrap(), vec![inv.id]);

    // Blocks 5 and 6 are replaced; the same transfer is re-mined in block 6'.
    let mut reorg = step(Some(block(6, 6)), block(6, 0x66));
    reorg.revert_above = Some(4);
    let remined = payment(&inv, 7_000_000, block(6, 0x66), 0);
    reorg.payments.push(remined.clone());
    f.store.apply_chain_step(reorg).await.unwrap();
    assert_eq!(f.store.payments_of(&[inv.id]).await.unwrap(), vec![remined], "counted once, in its new block");
    let mut all: Vec<_> = f.store.ledger_snapshot().await.unwrap().payments.iter().map(|p| (p.id, p.state)).collect();
    all.sort_by_key(|(id, _)| *id);
    let mut expected =
        vec![(p.id, PaymentState::Orphaned), (payment(&inv, 1, block(6, 0x66), 0).id, PaymentState::Canonical)];
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(all, expected, "the orphaned payment is kept for the record");
}

async fn a_block_back_on_the_canonical_chain_counts_again(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = open_invoice(&*f.store, 1).await;
    let p = payment(&inv, 1_000, block(5, 5), 0);
    let mut first = step(None, block(5, 5));
    first.payments.push(p.clone());
    f.store.apply_chain_step(first).await.unwrap();
    let mut away = step(Some(block(5, 5)), block(5, 0x55));
    away.revert_above = Some(4);
    f.store.apply_chain_step(away).await.unwrap();
    assert!(f.store.payments_of(&[inv.id]).await.unwrap().is_empty());
    let mut back = step(Some(block(5, 0x55)), block(5, 5));
    back.revert_above = Some(4);
    back.payments.push(p.clone());
    f.store.apply_chain_step(back).await.unwrap();
    assert_eq!(f.store.payments_of(&[inv.id]).await.unwrap(), vec![p]);
}

async fn bookings_and_settlements_credit_exactly_once(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = open_invoice(&*f.store, 1).await;
    let (a, b) = (payment(&inv, 5_000_000, block(5, 5), 0), payment(&inv, 7_500_000, block(6, 6), 1));
    let mut seen = step(None, block(6, 6));
    seen.payments = vec![a.clone(), b.clone()];
    seen.bookings.push(booking(&a));
    f.store.apply_chain_step(seen).await.unwrap();
    assert_eq!(f.store.merchant_balances(inv.merchant_id).await.unwrap(), vec![], "suspense, not the merchant");
    assert_eq!(f.store.invoices_awaiting_confirmations(CHAIN).await.unwrap(), vec![inv.id], "b still waits");

    // Booking a payment twice is refused, and takes the whole step with it.
    let mut twice = step(Some(block(6, 6)), block(7, 7));
    twice.bookings = vec![booking(&b), booking(&a)];
    assert!(matches!(f.store.apply_chain_step(twice).await, Err(StoreError::Stale(_))));
    assert_eq!(f.store.chain_cursor(CHAIN).await.unwrap(), Some(block(6, 6)));

    let mut settled = step(Some(block(6, 6)), block(7, 7));
    settled.bookings.push(booking(&b));
    settled.changes.push(settle(&inv, InvoiceStatus::New, &[&a, &b]));
    f.store.apply_chain_step(settled).await.unwrap();
    let credited = Amount::from_units(usdt(), U256::from(12_500_000u64));
    assert_eq!(f.store.merchant_balances(inv.merchant_id).await.unwrap(), vec![credited]);
    let stored = f.store.invoice(inv.merchant_id, inv.id).await.unwrap().unwrap();
    assert_eq!(stored.status, InvoiceStatus::Settled, "the API sees the change at once (SQLite's cache too)");
    assert!(
        f.store.payments_of(&[inv.id]).await.unwrap().iter().all(|p| p.booked_at.is_some() && p.settled_at.is_some())
    );

    // The same settlement computed again (a retry, another gateway): refused, nothing credited twice.
    let mut replay = step(Some(block(7, 7)), block(8, 8));
    replay.changes.push(settle(&inv, InvoiceStatus::New, &[&a, &b]));
    assert!(matches!(f.store.apply_chain_step(replay).await, Err(StoreError::Stale(_))));
    let mut replay = step(Some(block(7, 7)), block(8, 8));
    replay.changes.push(settle(&inv, InvoiceStatus::Processing, &[&a]));
    assert!(matches!(f.store.apply_chain_step(replay).await, Err(StoreError::Stale(_))));
    assert_eq!(f.store.merchant_balances(inv.merchant_id).await.unwrap(), vec![credited]);

    // The running totals: deposits 12.5 debit, suspense in and out, merchant 12.5 credit.
    let entries = f.store.ledger_snapshot().await.unwrap().entries.len();
    assert_eq!(entries, 6, "two receipts and one settlement, two entries each");
    let balances = f.store.stored_balances().await.unwrap();
    assert_eq!(balances.len(), 3);
    for balance in balances {
        match balance.account {
            coffer_domain::Account::Deposits(_) => {
                assert_eq!((balance.debits, balance.credits), (credited.units(), U256::ZERO))
            }
            coffer_domain::Account::Suspense(_) => {
                assert_eq!((balance.debits, balance.credits), (credited.units(), credited.units()))
            }
            coffer_domain::Account::Merchant(..) => {
                assert_eq!((balance.debits, balance.credits), (U256::ZERO, credited.units()))
            }
            other => panic!("nothing else was booked: {other:?}"),
        }
    }
}

/// A booked payment in block 5, then a reorganisation from block 4 whose
/// new chain does not carry it (yet): it is displaced, still counted.
async fn booked_then_displaced(store: &dyn Store, inv: &Invoice) -> Payment {
    let p = payment(inv, 1_000, block(5, 5), 0);
    let mut first = step(None, block(9, 9));
    first.payments.push(p.clone());
    first.bookings.push(booking(&p));
    store.apply_chain_step(first).await.unwrap();
    let mut deep = step(Some(block(9, 9)), block(9, 0x99));
    deep.revert_above = Some(4);
    deep.displace_until = 11;
    store.apply_chain_step(deep).await.unwrap();
    p
}

async fn a_reorganisation_below_booked_payments_displaces_them_and_the_same_transfer_takes_the_booking(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = open_invoice(&*f.store, 1).await;
    let p = booked_then_displaced(&*f.store, &inv).await;
    let counted = f.store.payments_of(&[inv.id]).await.unwrap();
    assert_eq!(counted.len(), 1, "still counted");
    assert_eq!((counted[0].state, counted[0].displaced_until), (PaymentState::Displaced, Some(11)));
    assert!(counted[0].booked_at.is_some());
    assert_eq!(f.store.displaced_payments(CHAIN).await.unwrap(), counted);
    assert_eq!(f.store.invoices_awaiting_confirmations(CHAIN).await.unwrap(), vec![inv.id], "looked at every step");
    // Its transfer may come back whenever: its address stays watched past the late window.
    let long_after = Timestamp::from_millis(i64::MAX / 4);
    let mut watched = Vec::new();
    f.store.watched_invoices(CHAIN, long_after, &mut |_, id| watched.push(id)).await.unwrap();
    assert_eq!(watched, vec![inv.id]);
    let aged = f.store.aged_out_between(CHAIN, Timestamp::from_millis(0), long_after).await.unwrap();
    assert!(aged.is_empty(), "never pruned while displaced: {aged:?}");

    // The same transaction in block 6 of the new chain: the booking moves there.
    let entries = f.store.ledger_snapshot().await.unwrap().entries.len();
    let mut found = step(Some(block(9, 0x99)), block(10, 0x10));
    let mut moved = payment(&inv, 1_000, block(6, 0x66), 3);
    moved.booked_at = counted[0].booked_at;
    moved.moved_from = Some(p.id);
    found.payments.push(moved.clone());
    f.store.apply_chain_step(found).await.unwrap();
    let counted = f.store.payments_of(&[inv.id]).await.unwrap();
    assert_eq!(counted.iter().map(|p| (p.id, p.state)).collect::<Vec<_>>(), vec![(moved.id, PaymentState::Canonical)]);
    assert!(counted[0].booked_at.is_some() && counted[0].moved_from == Some(p.id));
    assert_eq!(f.store.ledger_snapshot().await.unwrap().entries.len(), entries, "no posting: the books are unchanged");
    assert!(f.store.displaced_payments(CHAIN).await.unwrap().is_empty());
    let all = f.store.ledger_snapshot().await.unwrap().payments;
    assert_eq!(all.iter().find(|q| q.id == p.id).unwrap().state, PaymentState::Moved);

    // Moving it again (a retried step, another gateway) is refused whole.
    let mut again = step(Some(block(10, 0x10)), block(11, 0x11));
    let mut twice = payment(&inv, 1_000, block(11, 0x11), 0);
    twice.booked_at = counted[0].booked_at;
    twice.moved_from = Some(p.id);
    again.payments.push(twice);
    assert!(matches!(f.store.apply_chain_step(again).await, Err(StoreError::Stale(_))));
}

async fn displaced_payments_are_written_off_or_awaited_longer_by_an_operator(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = open_invoice(&*f.store, 1).await;
    let p = booked_then_displaced(&*f.store, &inv).await;
    let halt = ChainHalt {
        chain_id: CHAIN,
        code: coffer_domain::HaltCode::TransferGone,
        reason: "gone".into(),
        block: Some(11),
        halted_at: Timestamp::from_millis(AT),
        resolved: None,
    };
    assert!(f.store.record_halt(&halt, None).await.unwrap());
    let at = Timestamp::from_millis(AT + 1);
    let waited = f.store.resolve_displaced(CHAIN, DisplacedResolution::WaitUntil(40), at, "rebroadcast").await.unwrap();
    assert_eq!(waited, vec![p.id]);
    assert_eq!(f.store.displaced_payments(CHAIN).await.unwrap()[0].displaced_until, Some(40));
    assert_eq!(f.store.open_halt(CHAIN).await.unwrap(), None, "the decision closes the halt");

    assert!(f.store.record_halt(&halt, None).await.unwrap());
    let entries = f.store.ledger_snapshot().await.unwrap().entries.len();
    let later = Timestamp::from_millis(AT + 2);
    let written = f.store.resolve_displaced(CHAIN, DisplacedResolution::WriteOff, later, "double spend").await.unwrap();
    assert_eq!(written, vec![p.id]);
    let snapshot = f.store.ledger_snapshot().await.unwrap();
    assert_eq!(snapshot.entries.len(), entries + 2, "one write-off, two entries");
    assert_eq!(snapshot.payments.iter().find(|q| q.id == p.id).unwrap().state, PaymentState::WrittenOff);
    let losses = f.store.stored_balances().await.unwrap();
    assert!(
        losses
            .iter()
            .any(|b| matches!(b.account, coffer_domain::Account::Losses(_)) && b.debits == U256::from(1_000u64))
    );
    let halts = f.store.halts(10).await.unwrap();
    assert!(halts[0].resolved.as_ref().unwrap().1.contains("wrote off 1 displaced payment(s)"), "{halts:?}");
    assert_eq!(f.store.payments_of(&[inv.id]).await.unwrap()[0].state, PaymentState::WrittenOff, "still counted");
}

async fn halts_are_recorded_once_and_resolved(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let halt = |reason: &str| ChainHalt {
        chain_id: CHAIN,
        code: coffer_domain::HaltCode::Config,
        reason: reason.into(),
        block: None,
        halted_at: Timestamp::from_millis(AT),
        resolved: None,
    };
    assert!(f.store.record_halt(&halt("first"), None).await.unwrap());
    assert!(!f.store.record_halt(&halt("second"), None).await.unwrap(), "one open halt per chain");
    assert_eq!(f.store.open_halt(CHAIN).await.unwrap().unwrap().reason, "first");
    assert!(f.store.resolve_halt(CHAIN, Timestamp::from_millis(AT + 5), "fixed", None).await.unwrap());
    assert!(!f.store.resolve_halt(CHAIN, Timestamp::from_millis(AT + 6), "again", None).await.unwrap());
    assert_eq!(f.store.open_halt(CHAIN).await.unwrap(), None);
    let halts = f.store.halts(5).await.unwrap();
    assert_eq!(halts[0].resolved, Some((Timestamp::from_millis(AT + 5), "fixed".to_owned())));
    assert!(f.store.record_halt(&halt("third"), None).await.unwrap(), "a new halt after the last was resolved");
}

async fn invoice_changes_apply_only_to_the_status_they_were_computed_from(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = open_invoice(&*f.store, 1).await;
    let partial: Exceptions = [Exception::PaidPartial].into_iter().collect();
    let change = |from, status| InvoiceChange {
        invoice_id: inv.id,
        merchant_id: inv.merchant_id,
        from,
        from_exceptions: Exceptions::default(),
        status,
        exceptions: partial,
        settlement: None,
        events: Vec::new(),
    };
    let at = Timestamp::from_millis(AT);
    let batch = |changes| InvoiceChanges { fence: None, changes, at, lease_until: at };
    f.store.apply_invoice_changes(batch(vec![change(InvoiceStatus::New, InvoiceStatus::Expired)])).await.unwrap();
    let stored = f.store.invoice(inv.merchant_id, inv.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.exceptions), (InvoiceStatus::Expired, partial));
    let reread = f.store.invoices_by_ids(&[inv.id]).await.unwrap();
    assert_eq!(reread, vec![stored], "by id, as the watcher reads it");
    let stale = f.store.apply_invoice_changes(batch(vec![change(InvoiceStatus::New, InvoiceStatus::Invalid)])).await;
    assert!(matches!(stale, Err(StoreError::Stale(_))));
    assert_eq!(f.store.invoice(inv.merchant_id, inv.id).await.unwrap().unwrap().status, InvoiceStatus::Expired);
}

async fn events_fan_out_to_subscribed_endpoints_in_the_same_transaction(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = open_invoice(&*f.store, 1).await;
    let endpoint = |events: Vec<EventType>| WebhookEndpoint {
        id: WebhookId::new(),
        merchant_id: inv.merchant_id,
        url: "https://shop.example/hooks".into(),
        events,
        secret: "whsec_test".into(),
        created_at: Timestamp::from_millis(AT),
    };
    let all = endpoint(EventType::ALL.to_vec());
    let expiries = endpoint(vec![EventType::InvoiceExpired]);
    f.store.create_webhook(&all).await.unwrap();
    f.store.create_webhook(&expiries).await.unwrap();
    let p = payment(&inv, 12_500_000, block(5, 5), 0);
    let mut settled = step(None, block(5, 5));
    settled.payments.push(p.clone());
    settled.bookings.push(booking(&p));
    settled.changes.push(settle(&inv, InvoiceStatus::New, &[&p]));
    let applied = f.store.apply_chain_step(settled).await.unwrap();
    assert_eq!(applied.deliveries.len(), 1, "only the endpoint subscribed to invoice.settled");
    let delivery = &applied.deliveries[0];
    assert_eq!((delivery.endpoint_id, delivery.event_type, delivery.attempts), (all.id, EventType::InvoiceSettled, 0));
    assert_eq!(delivery.secret, "whsec_test");
    // Leased to the step's caller: no dispatcher may claim it before the lease ends.
    let now = Timestamp::from_millis(AT + 1);
    assert!(f.store.claim_due_deliveries(now, Timestamp::from_millis(AT + 60_000), 10).await.unwrap().is_empty());
    let after_lease = Timestamp::from_millis(AT + 30_000);
    let claimed = f.store.claim_due_deliveries(after_lease, Timestamp::from_millis(AT + 60_000), 10).await.unwrap();
    assert_eq!(claimed.iter().map(|d| d.id).collect::<Vec<_>>(), vec![delivery.id]);
    let events = f.store.invoice_events(inv.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, EventType::InvoiceSettled);
}

async fn watch_lists_and_expiry_queries_find_the_right_invoices(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let open = open_invoice(&*f.store, 1).await;
    let expired = open_invoice(&*f.store, 2).await;
    let invalid = open_invoice(&*f.store, 3).await;
    let at = Timestamp::from_millis(AT);
    let to = |inv: &Invoice, status| InvoiceChange {
        invoice_id: inv.id,
        merchant_id: inv.merchant_id,
        from: InvoiceStatus::New,
        from_exceptions: Exceptions::default(),
        status,
        exceptions: Exceptions::default(),
        settlement: None,
        events: Vec::new(),
    };
    let changes = vec![to(&expired, InvoiceStatus::Expired), to(&invalid, InvoiceStatus::Invalid)];
    f.store.apply_invoice_changes(InvoiceChanges { fence: None, changes, at, lease_until: at }).await.unwrap();

    let mut watched = Vec::new();
    let count = f.store.watched_invoices(CHAIN, expired.expires_at, &mut |a, id| watched.push((a, id))).await.unwrap();
    watched.sort_by_key(|(_, id)| *id);
    assert_eq!(count, 3, "final invoices too, within the late window: what they receive is recorded");
    let expected = [&open, &expired, &invalid].map(|i| (i.deposit.address, i.id));
    assert_eq!(watched, expected.to_vec());
    let mut late = Vec::new();
    let after = expired.expires_at.plus_secs(1);
    f.store.watched_invoices(CHAIN, after, &mut |_, id| late.push(id)).await.unwrap();
    assert_eq!(late, vec![open.id], "after the late-payment window only open invoices are watched");
    let aged = f.store.aged_out_between(CHAIN, expired.expires_at, after).await.unwrap();
    let mut aged_expected = vec![expired.deposit.address, invalid.deposit.address];
    let mut aged = aged;
    aged.sort();
    aged_expected.sort();
    assert_eq!(aged, aged_expected, "what pruning drops: final invoices, never open ones");
    assert_eq!(f.store.watched_invoices(ChainId(1), after, &mut |_, _| ()).await.unwrap(), 0);

    let due = f.store.invoices_due_to_expire(CHAIN, open.expires_at, 10).await.unwrap();
    assert_eq!(due.iter().map(|i| i.id).collect::<Vec<_>>(), vec![open.id]);
    assert!(
        f.store
            .invoices_due_to_expire(CHAIN, Timestamp::from_millis(open.expires_at.as_millis() - 1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let recent = f.store.invoices_created_since(CHAIN, open.created_at).await.unwrap();
    assert_eq!(recent.len(), 3);
    assert!(f.store.invoices_created_since(CHAIN, open.created_at.plus_secs(1)).await.unwrap().is_empty());
}

async fn remembered_blocks_follow_the_step(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let header = |number: u64, tag: u8, parent: u8| ChainBlock {
        number,
        hash: B256::repeat_byte(tag),
        parent_hash: B256::repeat_byte(parent),
        timestamp: 1_700_000_000 + number,
    };
    let mut first = step(None, block(3, 3));
    first.remember = vec![header(1, 1, 0), header(2, 2, 1), header(3, 3, 2)];
    f.store.apply_chain_step(first).await.unwrap();
    assert_eq!(f.store.chain_blocks(CHAIN).await.unwrap().len(), 3);
    let mut next = step(Some(block(3, 3)), block(3, 0x33));
    next.revert_above = Some(2);
    next.remember = vec![header(3, 0x33, 2)];
    next.forget_below = 2;
    f.store.apply_chain_step(next).await.unwrap();
    assert_eq!(f.store.chain_blocks(CHAIN).await.unwrap(), vec![header(2, 2, 1), header(3, 0x33, 2)]);
}
