//! Payouts on both backends: one transaction that checks the balance and
//! reserves, concurrent payouts that cannot spend one balance twice,
//! idempotency, refunds within their invoice, answers applied once, and the
//! outbox's leases.

use std::str::FromStr;
use std::sync::Arc;

use coffer_domain::{
    Account, Address, Advance, Amount, AssetId, AssetSymbol, ChainId, EventId, EventType, Payout, PayoutId,
    PayoutProgress, PayoutStatus, Refusal, ReserveSource, Timestamp, U256,
};
use coffer_store::testing::{Kind, paid_invoice, test_usdt};
use coffer_store::{
    AnswerChange, CreatedPayout, Idempotency, NewEvent, NewPayout, OutboxNext, OutboxState, SignerAnswer,
    SignerRequest, Store,
};

use crate::conformance::{fixture, merchant};
use coffer_store::on_both_backends;

on_both_backends!(
    a_payout_reserves_and_its_confirmation_books_it_out_once,
    a_payout_over_the_available_balance_stores_nothing,
    concurrent_payouts_cannot_spend_one_balance_twice,
    a_retry_with_the_same_key_returns_the_same_payout,
    concurrent_requests_with_one_key_create_one_payout,
    a_refusal_releases_the_reserve_once,
    refunds_stay_within_what_the_invoice_may_refund,
    the_outbox_leases_claims_and_retries_failures,
    a_payout_and_each_change_that_applies_are_audited_with_it,
);

fn eth() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("ETH").unwrap() }
}

pub(crate) fn usdt(units: u64) -> Amount {
    Amount::from_units(test_usdt(), U256::from(units))
}

pub(crate) fn new_payout(merchant: coffer_domain::MerchantId, units: u64) -> NewPayout {
    let now = Timestamp::now();
    let payout = Payout {
        id: PayoutId::new(),
        merchant_id: merchant,
        amount: usdt(units),
        destination: Address::repeat_byte(0x77),
        status: PayoutStatus::Pending,
        source: ReserveSource::Merchant,
        refund_of: None,
        fee_asset: eth(),
        cooldown_until: None,
        approval: None,
        refusal: None,
        failure: None,
        tx_hash: None,
        network_fee: None,
        created_at: now,
        updated_at: now,
    };
    NewPayout {
        intent: format!(r#"{{"id":"{}"}}"#, payout.id),
        event: NewEvent { id: EventId::new(), kind: EventType::PayoutPending, payload: "{}".into() },
        audit: audit_record("payout.requested", &payout),
        payout,
        idempotency: None,
        refund_limit: None,
        at: now,
        lease_until: now,
    }
}

fn audit_record(action: &str, payout: &Payout) -> coffer_audit::Record {
    let at_ms = Timestamp::now().as_millis();
    let detail = serde_json::json!({ "amount": payout.amount.units().to_string() });
    coffer_audit::Record {
        at_ms,
        actor: "gateway".into(),
        action: action.into(),
        subject: payout.id.to_string(),
        detail,
    }
}

/// A confirmation of `confirmed` computed from `payout` as it was when
/// broadcast with `sent` (a stale answer another gateway raced): the store
/// must apply nothing of it.
fn stale_confirmation(payout: &Payout, sent: coffer_domain::B256, confirmed: coffer_domain::B256) -> SignerAnswer {
    let mut stale = payout.clone();
    stale.status = PayoutStatus::Broadcast;
    stale.tx_hash = Some(sent);
    let progress = PayoutProgress::Confirmed { tx_hash: confirmed, network_fee: U256::from(1u8) };
    let Advance::Changed(change) = stale.advance(&progress, Timestamp::now()).unwrap() else { panic!("a change") };
    let now = Timestamp::now();
    SignerAnswer {
        request: SignerRequest::Payout(payout.id),
        change: Some(AnswerChange::Payout {
            audit: Box::new(audit_record("payout.confirmed", &stale)),
            from: Box::new(stale),
            change: Box::new(change),
            event: None,
        }),
        next: OutboxNext::Done,
        at: now,
        lease_until: now,
        relayed: None,
    }
}

/// The audit log's actions about `payout`, in order.
async fn audited(store: &dyn Store, payout: PayoutId) -> Vec<String> {
    let entries = store.entries(0, 1_000).await.unwrap();
    entries.into_iter().filter(|e| e.record.subject == payout.to_string()).map(|e| e.record.action).collect()
}

fn created(outcome: CreatedPayout) -> Payout {
    match outcome {
        CreatedPayout::Created(payout, _) => payout,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn balance(store: &dyn Store, account: Account) -> U256 {
    let stored = store.stored_balances().await.unwrap();
    let found = stored.iter().find(|b| b.account == account);
    found.map_or(U256::ZERO, |b| account.balance_of(b.debits, b.credits).expect("never below zero"))
}

/// Applies `progress` to the payout as stored now, as the outbox does.
pub(crate) async fn answer(store: &dyn Store, id: PayoutId, progress: PayoutProgress, next: OutboxNext) -> bool {
    let from = store.payout_by_id(id).await.unwrap().unwrap();
    let change = match from.advance(&progress, Timestamp::now()).unwrap() {
        Advance::Changed(change) => Some(AnswerChange::Payout {
            event: change.event.map(|kind| NewEvent { id: EventId::new(), kind, payload: "{}".into() }),
            audit: Box::new(audit_record(&format!("payout.{}", change.payout.status), &change.payout)),
            from: Box::new(from),
            change: Box::new(change),
        }),
        Advance::Unchanged | Advance::Stale(_) => None,
    };
    let now = Timestamp::now();
    let answer =
        SignerAnswer { request: SignerRequest::Payout(id), change, next, at: now, lease_until: now, relayed: None };
    store.record_answer(answer).await.unwrap().applied
}

async fn a_payout_reserves_and_its_confirmation_books_it_out_once(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    paid_invoice(&*f.store, m, usdt(10_000_000), U256::from(10_000_000u64), true).await;
    let endpoint = coffer_store::WebhookEndpoint {
        id: coffer_domain::WebhookId::new(),
        merchant_id: m,
        url: "https://shop.example/hooks".into(),
        events: vec![EventType::PayoutPending, EventType::PayoutConfirmed],
        secret: "s".into(),
        created_at: Timestamp::now(),
    };
    f.store.create_webhook(&endpoint).await.unwrap();

    let new = new_payout(m, 4_000_000);
    let intent = new.intent.clone();
    let CreatedPayout::Created(payout, deliveries) = f.store.create_payout(new).await.unwrap() else {
        panic!("not created")
    };
    assert_eq!(deliveries.len(), 1, "payout.pending, to the one endpoint subscribed");
    assert_eq!(deliveries[0].event_type, EventType::PayoutPending);
    assert_eq!(f.store.merchant_balances(m).await.unwrap(), vec![usdt(6_000_000)], "available less the reserve");
    assert_eq!(f.store.merchant_reserved(m).await.unwrap(), vec![usdt(4_000_000)]);
    assert_eq!(f.store.payout(m, payout.id).await.unwrap(), Some(payout.clone()));
    assert_eq!(f.store.payout(merchant(&*f.store, "Other").await, payout.id).await.unwrap(), None);
    let outbox = f.store.outbox_entry(SignerRequest::Payout(payout.id)).await.unwrap().unwrap();
    assert_eq!((outbox.state, outbox.payload.as_str(), outbox.attempts), (OutboxState::Submit, intent.as_str(), 0));

    let tx_hash = coffer_domain::B256::repeat_byte(9);
    let poll = OutboxNext::PollAt(Timestamp::now().plus_secs(5));
    assert!(answer(&*f.store, payout.id, PayoutProgress::Broadcast { tx_hash }, poll).await);
    assert!(!answer(&*f.store, payout.id, PayoutProgress::Broadcast { tx_hash }, poll).await, "repeated");
    let confirmed = PayoutProgress::Confirmed { tx_hash, network_fee: U256::from(21_000u64) };
    assert!(answer(&*f.store, payout.id, confirmed.clone(), OutboxNext::Done).await);
    assert!(!answer(&*f.store, payout.id, confirmed, OutboxNext::Done).await, "repeated: booked once");

    // A change computed from the payout as it was before (a stale answer
    // another gateway raced) applies nothing.
    let late = stale_confirmation(&payout, tx_hash, tx_hash);
    assert!(!f.store.record_answer(late).await.unwrap().applied);

    let stored = f.store.payout_by_id(payout.id).await.unwrap().unwrap();
    assert_eq!(stored.status, PayoutStatus::Confirmed);
    assert_eq!(stored.network_fee, Some(Amount::from_units(eth(), U256::from(21_000u64))));
    assert_eq!(f.store.merchant_reserved(m).await.unwrap(), vec![usdt(0)]);
    assert_eq!(f.store.merchant_balances(m).await.unwrap(), vec![usdt(6_000_000)]);
    assert_eq!(balance(&*f.store, Account::NetworkFees(eth())).await, U256::from(21_000u64));
    let snapshot = f.store.ledger_snapshot().await.unwrap();
    let kinds = |kind: coffer_store::PostingKind| {
        snapshot.entries.iter().filter(|e| e.kind == kind && e.payout_id == Some(payout.id)).count() / 2
    };
    use coffer_store::PostingKind::*;
    assert_eq!((kinds(Reserve), kinds(Payout), kinds(NetworkFee), kinds(Release)), (1, 1, 1, 0));
    let done = f.store.outbox_entry(SignerRequest::Payout(payout.id)).await.unwrap().unwrap();
    assert_eq!((done.state, done.next_attempt_at), (OutboxState::Done, None));
}

async fn a_payout_over_the_available_balance_stores_nothing(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    paid_invoice(&*f.store, m, usdt(3_000_000), U256::from(3_000_000u64), true).await;
    let new = new_payout(m, 3_000_001);
    let id = new.payout.id;
    assert_eq!(
        f.store.create_payout(new).await.unwrap(),
        CreatedPayout::InsufficientBalance { available: usdt(3_000_000) }
    );
    assert_eq!(f.store.payout_by_id(id).await.unwrap(), None);
    assert_eq!(f.store.outbox_entry(SignerRequest::Payout(id)).await.unwrap(), None);
    assert_eq!(f.store.merchant_reserved(m).await.unwrap(), vec![]);
    let stranger = merchant(&*f.store, "Broke").await;
    assert!(matches!(
        f.store.create_payout(new_payout(stranger, 1)).await.unwrap(),
        CreatedPayout::InsufficientBalance { available } if available.is_zero()
    ));
    created(f.store.create_payout(new_payout(m, 3_000_000)).await.unwrap());
}

async fn concurrent_payouts_cannot_spend_one_balance_twice(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    paid_invoice(&*f.store, m, usdt(10), U256::from(10u8), true).await;
    let store: Arc<dyn Store> = f.store.clone();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create_payout(new_payout(m, 3)).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let won = outcomes.iter().filter(|o| matches!(o, CreatedPayout::Created(..))).count();
    let refused = outcomes.iter().filter(|o| matches!(o, CreatedPayout::InsufficientBalance { .. })).count();
    assert_eq!((won, refused), (3, 9), "10 units pay three payouts of 3, never four");
    assert_eq!(f.store.merchant_balances(m).await.unwrap(), vec![usdt(1)]);
    assert_eq!(f.store.merchant_reserved(m).await.unwrap(), vec![usdt(9)]);
}

async fn a_retry_with_the_same_key_returns_the_same_payout(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    paid_invoice(&*f.store, m, usdt(10), U256::from(10u8), true).await;
    let keyed = |units, fingerprint| NewPayout {
        idempotency: Some(Idempotency { key: "po-1".into(), fingerprint: [fingerprint; 32] }),
        ..new_payout(m, units)
    };
    let first = created(f.store.create_payout(keyed(4, 1)).await.unwrap());
    assert_eq!(f.store.create_payout(keyed(4, 1)).await.unwrap(), CreatedPayout::Replayed(first.clone()));
    assert_eq!(f.store.create_payout(keyed(5, 2)).await.unwrap(), CreatedPayout::IdempotencyMismatch);
    // A retry answers the same even once the balance could not pay it again.
    created(f.store.create_payout(new_payout(m, 6)).await.unwrap());
    assert_eq!(f.store.create_payout(keyed(4, 1)).await.unwrap(), CreatedPayout::Replayed(first));
    assert_eq!(f.store.merchant_reserved(m).await.unwrap(), vec![usdt(10)], "reserved once");
}

async fn concurrent_requests_with_one_key_create_one_payout(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    paid_invoice(&*f.store, m, usdt(100), U256::from(100u8), true).await;
    let store: Arc<dyn Store> = f.store.clone();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            // Half of them a different request under the same key.
            let fingerprint = if i % 2 == 0 { 1 } else { 2 };
            let mut new = new_payout(m, 7);
            new.idempotency = Some(Idempotency { key: "same".into(), fingerprint: [fingerprint; 32] });
            tokio::spawn(async move { store.create_payout(new).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let made = outcomes.iter().filter(|o| matches!(o, CreatedPayout::Created(..))).count();
    assert_eq!(made, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        CreatedPayout::Created(..) | CreatedPayout::Replayed(_) | CreatedPayout::IdempotencyMismatch
    )));
    assert_eq!(f.store.merchant_reserved(m).await.unwrap(), vec![usdt(7)]);
}

async fn a_refusal_releases_the_reserve_once(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    paid_invoice(&*f.store, m, usdt(10), U256::from(10u8), true).await;
    let payout = created(f.store.create_payout(new_payout(m, 8)).await.unwrap());
    let refused = PayoutProgress::Refused(Refusal { rule: "limit.per_payout".into(), message: "too much".into() });
    assert!(answer(&*f.store, payout.id, refused.clone(), OutboxNext::Done).await);
    assert!(!answer(&*f.store, payout.id, refused, OutboxNext::Done).await);
    let stored = f.store.payout(m, payout.id).await.unwrap().unwrap();
    assert_eq!(stored.status, PayoutStatus::Refused);
    assert_eq!(stored.refusal.map(|r| r.rule), Some("limit.per_payout".to_owned()));
    assert_eq!(f.store.merchant_balances(m).await.unwrap(), vec![usdt(10)], "released");
    assert_eq!(f.store.merchant_reserved(m).await.unwrap(), vec![usdt(0)]);
    // An answer the lifecycle cannot follow after a final one changes nothing.
    let late = PayoutProgress::Broadcast { tx_hash: coffer_domain::B256::repeat_byte(1) };
    assert!(!answer(&*f.store, payout.id, late, OutboxNext::Done).await);
}

async fn refunds_stay_within_what_the_invoice_may_refund(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    // Never settled: its 5 units wait in suspense; a refund reserves from there.
    let (invoice, _) = paid_invoice(&*f.store, m, usdt(10), U256::from(5u8), false).await;
    let refund = |units| NewPayout {
        refund_limit: Some(usdt(5)),
        payout: Payout { refund_of: Some(invoice.id), source: ReserveSource::Suspense, ..new_payout(m, units).payout },
        ..new_payout(m, units)
    };
    let first = created(f.store.create_payout(refund(3)).await.unwrap());
    assert_eq!(f.store.create_payout(refund(3)).await.unwrap(), CreatedPayout::RefundExceeded { refundable: usdt(2) });
    created(f.store.create_payout(refund(2)).await.unwrap());
    assert_eq!(balance(&*f.store, Account::Suspense(test_usdt())).await, U256::ZERO);
    assert_eq!(f.store.merchant_balances(m).await.unwrap(), vec![], "the merchant was never credited");
    // A refused refund gives its share back, to suspense.
    let refused = PayoutProgress::Refused(Refusal { rule: "destination.denylisted".into(), message: "no".into() });
    assert!(answer(&*f.store, first.id, refused, OutboxNext::Done).await);
    assert_eq!(balance(&*f.store, Account::Suspense(test_usdt())).await, U256::from(3u8));
    created(f.store.create_payout(refund(3)).await.unwrap());
}

async fn the_outbox_leases_claims_and_retries_failures(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    paid_invoice(&*f.store, m, usdt(10), U256::from(10u8), true).await;
    let payout = created(f.store.create_payout(new_payout(m, 1)).await.unwrap());
    let request = SignerRequest::Payout(payout.id);
    let now = Timestamp::now();
    let lease = now.plus_secs(30);
    let claimed = f.store.claim_outbox(now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].request, claimed[0].attempts, claimed[0].next_attempt_at), (request, 1, Some(lease)));
    assert!(f.store.claim_outbox(now, lease, 10).await.unwrap().is_empty(), "leased");
    let retry = now.plus_secs(1);
    assert!(!f.store.outbox_failed(request, now, OutboxState::Submit, "x", retry).await.unwrap(), "not our lease");
    assert!(f.store.outbox_failed(request, lease, OutboxState::Submit, "connection refused", retry).await.unwrap());
    assert!(f.store.claim_outbox(now, lease, 10).await.unwrap().is_empty(), "not due yet");
    let again = f.store.claim_outbox(retry, retry.plus_secs(30), 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].attempts, again[0].last_error.as_deref()), (2, Some("connection refused")));
    assert!(f.store.outbox_failed(request, retry.plus_secs(30), OutboxState::Held, "conflict", retry).await.unwrap());
    let held = f.store.outbox_entry(request).await.unwrap().unwrap();
    assert_eq!((held.state, held.next_attempt_at), (OutboxState::Held, None));
    assert!(f.store.claim_outbox(retry.plus_secs(3600), retry.plus_secs(3700), 10).await.unwrap().is_empty());
}

/// The audit entries are written by the transactions that make the acts:
/// a payout refused for its balance, a repeated answer and a stale one
/// leave no entry; each act that lands leaves exactly one.
async fn a_payout_and_each_change_that_applies_are_audited_with_it(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    paid_invoice(&*f.store, m, usdt(10_000_000), U256::from(10_000_000u64), true).await;
    let too_much = new_payout(m, 20_000_000);
    let refused_id = too_much.payout.id;
    assert!(matches!(f.store.create_payout(too_much).await.unwrap(), CreatedPayout::InsufficientBalance { .. }));
    assert_eq!(audited(&*f.store, refused_id).await, Vec::<String>::new(), "nothing stored, nothing audited");

    let payout = created(f.store.create_payout(new_payout(m, 4_000_000)).await.unwrap());
    assert_eq!(audited(&*f.store, payout.id).await, ["payout.requested"]);
    let tx_hash = coffer_domain::B256::repeat_byte(9);
    let poll = OutboxNext::PollAt(Timestamp::now().plus_secs(5));
    assert!(answer(&*f.store, payout.id, PayoutProgress::Broadcast { tx_hash }, poll).await);
    assert!(!answer(&*f.store, payout.id, PayoutProgress::Broadcast { tx_hash }, poll).await, "repeated");
    assert_eq!(audited(&*f.store, payout.id).await, ["payout.requested", "payout.broadcast"]);

    let late = stale_confirmation(&payout, coffer_domain::B256::repeat_byte(8), tx_hash);
    assert!(!f.store.record_answer(late).await.unwrap().applied);
    assert_eq!(audited(&*f.store, payout.id).await, ["payout.requested", "payout.broadcast"], "stale: not applied");
    let confirmed = PayoutProgress::Confirmed { tx_hash, network_fee: U256::from(21_000u64) };
    assert!(answer(&*f.store, payout.id, confirmed, OutboxNext::Done).await);
    assert_eq!(audited(&*f.store, payout.id).await, ["payout.requested", "payout.broadcast", "payout.confirmed"]);
    let head = f.store.head().await.unwrap();
    let all = f.store.entries(0, 1_000).await.unwrap();
    assert_eq!(coffer_audit::verify(&all).map(|h| h.seq), Ok(head.seq), "one unbroken chain");
}
