//! Webhook endpoints and the delivery outbox: leases, attempts, redelivery.

use coffer_domain::{EventId, EventType, Exceptions, InvoiceStatus, MerchantId, Timestamp, WebhookId};
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use coffer_store::{
    Attempt, AttemptOutcome, ClaimLimits, DeliveryState, InvoiceChange, InvoiceChanges, MAX_WEBHOOK_ENDPOINTS,
    NewEvent, Redelivery, Store, StoreError, WebhookEndpoint, WebhookRegistration,
};

use crate::conformance::{fixture, invoice, merchant, plain};

on_both_backends!(
    endpoints_are_per_merchant_and_deleted_softly,
    attempts_retry_until_delivered_or_given_up,
    a_batch_of_attempts_records_each_under_its_own_lease,
    redelivery_queues_a_new_delivery_of_the_same_event,
    a_claim_hands_each_due_delivery_to_one_dispatcher,
    registrations_stop_at_the_limit_even_all_at_once,
    concurrent_redeliveries_queue_one_copy,
    a_claim_goes_round_the_merchants_and_their_endpoints,
    a_lease_is_checked_and_renewed_only_while_it_is_ours,
);

const AT: i64 = 1_700_000_100_000;

fn endpoint(merchant_id: MerchantId) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookId::new(),
        merchant_id,
        url: "https://shop.example/hooks".into(),
        events: vec![EventType::InvoiceExpired, EventType::InvoiceSettled],
        secret: "whsec_abc".into(),
        created_at: Timestamp::from_millis(AT),
    }
}

/// Expires a fresh invoice of the merchant, raising `invoice.expired`: the
/// delivery is due at `due` (its lease).
async fn expire_one(store: &dyn Store, merchant_id: MerchantId, index: u32, due: i64) -> EventId {
    let inv = invoice(merchant_id, index);
    store.insert_invoice(plain(inv.clone())).await.unwrap();
    let event = EventId::new();
    let change = InvoiceChange {
        invoice_id: inv.id,
        merchant_id,
        from: InvoiceStatus::New,
        from_exceptions: Exceptions::default(),
        status: InvoiceStatus::Expired,
        exceptions: Exceptions::default(),
        settlement: None,
        events: vec![NewEvent { id: event, kind: EventType::InvoiceExpired, payload: r#"{"n":1}"#.into() }],
    };
    let at = Timestamp::from_millis(AT);
    store
        .apply_invoice_changes(InvoiceChanges {
            fence: None,
            changes: vec![change],
            at,
            lease_until: Timestamp::from_millis(due),
        })
        .await
        .unwrap();
    event
}

async fn endpoints_are_per_merchant_and_deleted_softly(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let (acme, other) = (merchant(&*f.store, "Acme").await, merchant(&*f.store, "Other").await);
    let hook = endpoint(acme);
    f.store.create_webhook(&hook).await.unwrap();
    assert_eq!(f.store.webhooks(acme).await.unwrap(), vec![hook.clone()]);
    assert!(f.store.webhooks(other).await.unwrap().is_empty());
    assert_eq!(f.store.webhook(other, hook.id).await.unwrap(), None, "another merchant's endpoint is invisible");
    assert!(!format!("{hook:?}").contains("whsec_abc"), "Debug hides the secret");
    assert!(matches!(f.store.create_webhook(&endpoint(MerchantId::new())).await, Err(StoreError::UnknownMerchant(_))));

    expire_one(&*f.store, acme, 1, AT).await;
    assert!(!f.store.delete_webhook(other, hook.id, Timestamp::from_millis(AT)).await.unwrap());
    assert!(f.store.delete_webhook(acme, hook.id, Timestamp::from_millis(AT)).await.unwrap());
    assert!(!f.store.delete_webhook(acme, hook.id, Timestamp::from_millis(AT)).await.unwrap(), "already deleted");
    assert!(f.store.webhooks(acme).await.unwrap().is_empty());
    let log = f.store.deliveries(acme, hook.id, None, 10).await.unwrap();
    assert_eq!(log.len(), 1, "the delivery log outlives the endpoint");
    assert_eq!(log[0].state, DeliveryState::Failed, "its pending deliveries fail");
    let now = Timestamp::from_millis(AT + 1);
    assert!(f.store.claim_due_deliveries(now, now, 10).await.unwrap().is_empty());
}

async fn a_batch_of_attempts_records_each_under_its_own_lease(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let acme = merchant(&*f.store, "Acme").await;
    let hook = endpoint(acme);
    f.store.create_webhook(&hook).await.unwrap();
    for index in 1..=3 {
        expire_one(&*f.store, acme, index, AT).await;
    }
    let now = Timestamp::from_millis(AT);
    let due = f.store.claim_due_deliveries(now, Timestamp::from_millis(AT + 10_000), 10).await.unwrap();
    assert_eq!(due.len(), 3);
    let retry_at = Timestamp::from_millis(AT + 1_000);
    let attempt = |i: usize, leased_until, outcome| Attempt { id: due[i].id, leased_until, at: now, outcome };
    let batch = vec![
        attempt(0, due[0].leased_until, AttemptOutcome::Delivered { status: 200 }),
        // Ours ran out and was taken over: not recorded, and it must not stop the others.
        attempt(1, Timestamp::from_millis(AT + 1), AttemptOutcome::Delivered { status: 200 }),
        attempt(
            2,
            due[2].leased_until,
            AttemptOutcome::Failed { status: Some(503), error: "HTTP 503".into(), retry_at: Some(retry_at) },
        ),
    ];
    assert_eq!(f.store.record_attempts(&batch).await.unwrap(), vec![true, false, true]);
    let log = f.store.deliveries(acme, hook.id, None, 10).await.unwrap();
    let state_of = |i: usize| log.iter().find(|d| d.id == due[i].id).map(|d| (d.state, d.attempts, d.last_status));
    assert_eq!(state_of(0), Some((DeliveryState::Delivered, 1, Some(200))));
    assert_eq!(state_of(1), Some((DeliveryState::Pending, 0, None)), "untouched under another lease");
    assert_eq!(state_of(2), Some((DeliveryState::Pending, 1, Some(503))));
    let retried = log.iter().find(|d| d.id == due[2].id).unwrap();
    assert_eq!((retried.next_attempt_at, retried.last_error.as_deref()), (Some(retry_at), Some("HTTP 503")));
    assert_eq!(f.store.record_attempts(&batch).await.unwrap(), vec![false; 3], "recorded once, however often sent");
    assert!(f.store.record_attempts(&[]).await.unwrap().is_empty());
}

async fn attempts_retry_until_delivered_or_given_up(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let acme = merchant(&*f.store, "Acme").await;
    let hook = endpoint(acme);
    f.store.create_webhook(&hook).await.unwrap();
    expire_one(&*f.store, acme, 1, AT).await;
    let now = Timestamp::from_millis(AT);
    let lease = Timestamp::from_millis(AT + 10_000);
    let due = f.store.claim_due_deliveries(now, lease, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].payload.as_str(), due[0].url.as_str()), (r#"{"n":1}"#, "https://shop.example/hooks"));
    let retry_at = Timestamp::from_millis(AT + 1_000);
    let failed = AttemptOutcome::Failed { status: Some(500), error: "HTTP 500".into(), retry_at: Some(retry_at) };
    // A record under someone else's lease (ours ran out and was taken over) is ignored.
    let other_lease = Timestamp::from_millis(AT + 1);
    assert!(!f.store.record_attempt(due[0].id, other_lease, now, failed.clone()).await.unwrap());
    assert!(f.store.record_attempt(due[0].id, due[0].leased_until, now, failed).await.unwrap());
    let log = f.store.deliveries(acme, hook.id, None, 10).await.unwrap();
    assert_eq!((log[0].state, log[0].attempts, log[0].last_status), (DeliveryState::Pending, 1, Some(500)));
    assert_eq!(log[0].next_attempt_at, Some(retry_at));

    let again = f.store.claim_due_deliveries(retry_at, Timestamp::from_millis(AT + 20_000), 10).await.unwrap();
    assert_eq!(again[0].attempts, 1, "the dispatcher knows how many attempts came before");
    assert!(
        f.store
            .record_attempt(again[0].id, again[0].leased_until, retry_at, AttemptOutcome::Delivered { status: 204 })
            .await
            .unwrap()
    );
    let log = f.store.deliveries(acme, hook.id, None, 10).await.unwrap();
    assert_eq!((log[0].state, log[0].attempts, log[0].delivered_at), (DeliveryState::Delivered, 2, Some(retry_at)));
    // A late failure report for an acknowledged delivery changes nothing.
    let late = AttemptOutcome::Failed { status: None, error: "timeout".into(), retry_at: Some(retry_at) };
    assert!(!f.store.record_attempt(again[0].id, again[0].leased_until, retry_at, late).await.unwrap());
    assert_eq!(f.store.deliveries(acme, hook.id, None, 10).await.unwrap()[0].state, DeliveryState::Delivered);

    expire_one(&*f.store, acme, 2, AT).await;
    let due = f.store.claim_due_deliveries(now, lease, 10).await.unwrap();
    let give_up = AttemptOutcome::Failed { status: None, error: "connection refused".into(), retry_at: None };
    f.store.record_attempt(due[0].id, due[0].leased_until, now, give_up).await.unwrap();
    let log = f.store.deliveries(acme, hook.id, None, 10).await.unwrap();
    assert_eq!(log[0].state, DeliveryState::Failed, "newest first");
    assert_eq!(log[0].last_error.as_deref(), Some("connection refused"));
    let page = f.store.deliveries(acme, hook.id, Some(log[0].id), 10).await.unwrap();
    assert_eq!(page.len(), 1, "the cursor pages on");
}

async fn redelivery_queues_a_new_delivery_of_the_same_event(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let (acme, other) = (merchant(&*f.store, "Acme").await, merchant(&*f.store, "Other").await);
    let hook = endpoint(acme);
    f.store.create_webhook(&hook).await.unwrap();
    let event = expire_one(&*f.store, acme, 1, AT).await;
    let original = f.store.deliveries(acme, hook.id, None, 10).await.unwrap().remove(0);
    let at = Timestamp::from_millis(AT + 5);
    assert_eq!(
        f.store.redeliver(other, hook.id, original.id, at).await.unwrap(),
        Redelivery::NotFound,
        "not another merchant's"
    );
    assert_eq!(
        f.store.redeliver(acme, WebhookId::new(), original.id, at).await.unwrap(),
        Redelivery::NotFound,
        "not through another endpoint"
    );
    assert_eq!(
        f.store.redeliver(acme, hook.id, original.id, at).await.unwrap(),
        Redelivery::AlreadyPending(original.id),
        "the original is still pending there"
    );
    deliver_all(&*f.store, AT).await;
    let Redelivery::Queued(copy) = f.store.redeliver(acme, hook.id, original.id, at).await.unwrap() else {
        panic!("a delivered event can be redelivered")
    };
    assert_ne!(copy.id, original.id);
    assert_eq!(
        (copy.event_id, copy.event_type, copy.state, copy.attempts),
        (event, EventType::InvoiceExpired, DeliveryState::Pending, 0)
    );
    assert_eq!(copy.next_attempt_at, Some(at), "due at once");
    assert_eq!(
        f.store.redeliver(acme, hook.id, original.id, at).await.unwrap(),
        Redelivery::AlreadyPending(copy.id),
        "one copy pending at a time"
    );
    assert_eq!(f.store.deliveries(acme, hook.id, None, 10).await.unwrap().len(), 2);
    f.store.delete_webhook(acme, hook.id, at).await.unwrap();
    assert_eq!(f.store.redeliver(acme, hook.id, original.id, at).await.unwrap(), Redelivery::NotFound, "deleted");
}

/// Claims and acknowledges every delivery due at `at`.
async fn deliver_all(store: &dyn Store, at: i64) {
    let now = Timestamp::from_millis(at);
    let due = store.claim_due_deliveries(now, Timestamp::from_millis(at + 10_000), 100).await.unwrap();
    let delivered = AttemptOutcome::Delivered { status: 204 };
    let attempts: Vec<Attempt> = due
        .iter()
        .map(|d| Attempt { id: d.id, leased_until: d.leased_until, at: now, outcome: delivered.clone() })
        .collect();
    assert!(store.record_attempts(&attempts).await.unwrap().iter().all(|r| *r));
}

/// Requests that race queue one copy: the others find it pending.
async fn concurrent_redeliveries_queue_one_copy(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let acme = merchant(&*f.store, "Acme").await;
    let hook = endpoint(acme);
    f.store.create_webhook(&hook).await.unwrap();
    expire_one(&*f.store, acme, 1, AT).await;
    let original = f.store.deliveries(acme, hook.id, None, 10).await.unwrap().remove(0);
    deliver_all(&*f.store, AT).await;
    let at = Timestamp::from_millis(AT + 5);
    let answers =
        futures_util::future::join_all((0..12).map(|_| f.store.redeliver(acme, hook.id, original.id, at))).await;
    let queued = answers.iter().filter(|a| matches!(a, Ok(Redelivery::Queued(_)))).count();
    let pending = answers.iter().filter(|a| matches!(a, Ok(Redelivery::AlreadyPending(_)))).count();
    assert_eq!((queued, pending), (1, 11), "{answers:?}");
    assert_eq!(f.store.deliveries(acme, hook.id, None, 100).await.unwrap().len(), 2);
}

async fn a_claim_hands_each_due_delivery_to_one_dispatcher(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let acme = merchant(&*f.store, "Acme").await;
    f.store.create_webhook(&endpoint(acme)).await.unwrap();
    for i in 0..20 {
        expire_one(&*f.store, acme, i, AT).await;
    }
    let now = Timestamp::from_millis(AT);
    let lease = Timestamp::from_millis(AT + 10_000);
    // Four dispatchers claim at once, round after round. A claim that loses a
    // race for a row skips it, so a round may hand out fewer than asked; what
    // must never happen is one delivery going to two dispatchers.
    let mut ids = Vec::new();
    for _ in 0..10 {
        let claims = futures_util::future::join_all((0..4).map(|_| f.store.claim_due_deliveries(now, lease, 3))).await;
        ids.extend(claims.into_iter().flat_map(|c| c.unwrap()).map(|d| d.id));
    }
    let claimed = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((claimed, ids.len()), (20, 20), "every delivery claimed, none twice");
}

async fn registrations_stop_at_the_limit_even_all_at_once(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let acme = merchant(&*f.store, "Acme").await;
    let hooks: Vec<WebhookEndpoint> = (0..12).map(|_| endpoint(acme)).collect();
    let answers = futures_util::future::join_all(hooks.iter().map(|h| f.store.register_webhook(h, 5))).await;
    let registered = answers.iter().filter(|a| matches!(a, Ok(WebhookRegistration::Registered))).count();
    let refused = answers.iter().filter(|a| matches!(a, Ok(WebhookRegistration::LimitReached))).count();
    assert_eq!((registered, refused), (5, 7), "{answers:?}");
    assert_eq!(f.store.webhooks(acme).await.unwrap().len(), 5);

    // A deleted endpoint no longer counts; another merchant's never did.
    let first = f.store.webhooks(acme).await.unwrap().remove(0);
    f.store.delete_webhook(acme, first.id, Timestamp::from_millis(AT)).await.unwrap();
    assert_eq!(f.store.register_webhook(&endpoint(acme), 5).await.unwrap(), WebhookRegistration::Registered);
    assert_eq!(f.store.register_webhook(&endpoint(acme), 5).await.unwrap(), WebhookRegistration::LimitReached);
    let other = merchant(&*f.store, "Other").await;
    assert_eq!(f.store.register_webhook(&endpoint(other), 5).await.unwrap(), WebhookRegistration::Registered);
    // The plain registration keeps the API's limit.
    for _ in 1..MAX_WEBHOOK_ENDPOINTS {
        f.store.create_webhook(&endpoint(other)).await.unwrap();
    }
    assert!(matches!(f.store.create_webhook(&endpoint(other)).await, Err(StoreError::Conflict(_))));
}

/// A claim is fair: no merchant's backlog fills it, no endpoint gets more
/// than its share, and what the dispatcher has in flight counts.
async fn a_claim_goes_round_the_merchants_and_their_endpoints(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let (acme, other) = (merchant(&*f.store, "Acme").await, merchant(&*f.store, "Other").await);
    let acme_hooks = [endpoint(acme), endpoint(acme), endpoint(acme)];
    for hook in &acme_hooks {
        f.store.create_webhook(hook).await.unwrap();
    }
    let other_hook = endpoint(other);
    f.store.create_webhook(&other_hook).await.unwrap();
    // Acme's backlog is older: 5 events, each to its 3 endpoints; then one for Other.
    for index in 0..5 {
        expire_one(&*f.store, acme, index, AT + i64::from(index)).await;
    }
    expire_one(&*f.store, other, 5, AT + 10).await;
    let (now, lease) = (Timestamp::from_millis(AT + 100), Timestamp::from_millis(AT + 10_000));
    let count = |claimed: &[coffer_store::DueDelivery], endpoint: WebhookId| {
        claimed.iter().filter(|d| d.endpoint_id == endpoint).count()
    };

    let limits = ClaimLimits { total: 10, per_endpoint: 2, per_merchant: 4, ..ClaimLimits::default() };
    let claimed = f.store.claim_deliveries(now, lease, &limits).await.unwrap();
    assert_eq!(count(&claimed, other_hook.id), 1, "the newest, of another merchant, is claimed too");
    assert_eq!(claimed.iter().filter(|d| d.merchant_id == acme).count(), 4, "a merchant's share");
    let per_endpoint: Vec<usize> = acme_hooks.iter().map(|h| count(&claimed, h.id)).collect();
    assert!(per_endpoint.iter().all(|n| (1..=2).contains(n)), "round-robin over its endpoints: {per_endpoint:?}");

    // Again, with deliveries in flight: an endpoint at its share, and a merchant nearly so.
    let limits = ClaimLimits {
        total: 10,
        per_endpoint: 2,
        per_merchant: 3,
        busy_endpoints: vec![(acme_hooks[0].id, 2)],
        busy_merchants: vec![(acme, 2)],
    };
    let claimed = f.store.claim_deliveries(now, lease, &limits).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_ne!(claimed[0].endpoint_id, acme_hooks[0].id, "an endpoint at its share gets nothing");
    let total = ClaimLimits { total: 2, ..limits };
    assert_eq!(f.store.claim_deliveries(now, lease, &total).await.unwrap().len(), 1, "the merchant's last share");
    assert!(f.store.claim_deliveries(now, lease, &ClaimLimits::total(0)).await.unwrap().is_empty());
    let rest = f.store.claim_due_deliveries(now, lease, 100).await.unwrap();
    assert_eq!(rest.len(), 15 + 1 - 5 - 2, "everything else, once");
}

async fn a_lease_is_checked_and_renewed_only_while_it_is_ours(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let acme = merchant(&*f.store, "Acme").await;
    let hook = endpoint(acme);
    f.store.create_webhook(&hook).await.unwrap();
    expire_one(&*f.store, acme, 1, AT).await;
    let now = Timestamp::from_millis(AT);
    let due = f.store.claim_due_deliveries(now, Timestamp::from_millis(AT + 1_000), 10).await.unwrap().remove(0);
    assert!(f.store.holds_lease(due.id, due.leased_until).await.unwrap());
    let stale = Timestamp::from_millis(AT + 1);
    assert!(!f.store.holds_lease(due.id, stale).await.unwrap(), "another lease");
    let renewed = Timestamp::from_millis(AT + 5_000);
    assert!(!f.store.renew_lease(due.id, stale, renewed).await.unwrap(), "not renewed under another lease");
    assert!(f.store.renew_lease(due.id, due.leased_until, renewed).await.unwrap());
    assert!(!f.store.holds_lease(due.id, due.leased_until).await.unwrap(), "the old lease is gone");
    assert!(f.store.holds_lease(due.id, renewed).await.unwrap());
    // Recorded under the renewed lease only.
    let outcome = AttemptOutcome::Delivered { status: 200 };
    assert!(!f.store.record_attempt(due.id, due.leased_until, now, outcome.clone()).await.unwrap());
    expire_one(&*f.store, acme, 2, AT).await;
    let next = f.store.claim_due_deliveries(now, Timestamp::from_millis(AT + 1_000), 10).await.unwrap().remove(0);
    assert!(f.store.delete_webhook(acme, hook.id, now).await.unwrap());
    assert!(!f.store.holds_lease(next.id, next.leased_until).await.unwrap(), "its endpoint was deleted");
    assert!(!f.store.renew_lease(next.id, next.leased_until, renewed).await.unwrap());
}
