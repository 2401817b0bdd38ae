//! Payouts waiting for approvers, and the signer's controls as last read,
//! on both backends: a round and its approvers stored whole, only a newer
//! round or more approvers applied, a relayed approval audited once with
//! the change it brought; a change of the controls written once, with its
//! audit entries and one event per subscribed merchant.

use coffer_domain::{
    ApprovalRound, EventType, MerchantId, PayoutId, PayoutProgress, PayoutStatus, Timestamp, U256, WebhookId,
};
use coffer_store::testing::{Kind, paid_invoice};
use coffer_store::{
    BroadcastEvent, ControlChange, OutboxNext, SignerAnswer, SignerRequest, Store, WebhookEndpoint, on_both_backends,
};

use crate::conformance::{fixture, merchant};
use crate::payouts::{answer, new_payout};

on_both_backends!(
    a_waiting_payout_keeps_its_round_and_its_approvers_grow_only,
    a_relayed_approval_is_audited_once_with_what_it_changed,
    a_change_of_the_signers_controls_is_written_once_with_its_audit_and_event,
);

fn round(expires_secs: u64, by: &[&str]) -> ApprovalRound {
    ApprovalRound {
        digest: [expires_secs as u8; 32],
        expires_at: Timestamp::from_unix_secs(expires_secs),
        quorum: 2,
        approved_by: by.iter().map(|s| (*s).to_owned()).collect(),
    }
}

async fn waiting(store: &dyn Store, units: u64) -> (MerchantId, PayoutId) {
    let m = merchant(store, "Acme").await;
    paid_invoice(store, m, crate::payouts::usdt(units), U256::from(units), true).await;
    let CreatedPayout::Created(payout, _) = store.create_payout(new_payout(m, units)).await.unwrap() else {
        panic!("created")
    };
    (m, payout.id)
}

use coffer_store::CreatedPayout;

async fn a_waiting_payout_keeps_its_round_and_its_approvers_grow_only(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let (_, id) = waiting(&*f.store, 5).await;
    let poll = OutboxNext::PollAt(Timestamp::now().plus_secs(5));
    assert!(answer(&*f.store, id, PayoutProgress::Approval(round(2_000_000_000, &[])), poll).await);
    let stored = f.store.payout_by_id(id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.approval), (PayoutStatus::PendingApproval, Some(round(2_000_000_000, &[]))));
    assert!(answer(&*f.store, id, PayoutProgress::Approval(round(2_000_000_000, &["ana"])), poll).await);
    assert!(!answer(&*f.store, id, PayoutProgress::Approval(round(2_000_000_000, &[])), poll).await, "older");
    let stored = f.store.payout_by_id(id).await.unwrap().unwrap();
    assert_eq!(stored.approval.unwrap().approved_by, ["ana"]);
    // Still reserved: nothing released while it waits.
    let reserved = f.store.merchant_reserved(stored.merchant_id).await.unwrap();
    assert_eq!(reserved[0].units(), U256::from(5u8));
    let broadcast = PayoutProgress::Broadcast { tx_hash: coffer_domain::B256::repeat_byte(3) };
    assert!(answer(&*f.store, id, broadcast, poll).await);
    let sent = f.store.payout_by_id(id).await.unwrap().unwrap();
    assert_eq!((sent.status, sent.approval.unwrap().approved_by), (PayoutStatus::Broadcast, vec!["ana".to_owned()]));
}

fn record(action: &str, subject: &str) -> coffer_audit::Record {
    coffer_audit::Record {
        at_ms: Timestamp::now().as_millis(),
        actor: "operator".into(),
        action: action.into(),
        subject: subject.into(),
        detail: serde_json::json!({}),
    }
}

async fn actions(store: &dyn Store) -> Vec<String> {
    store.entries(0, 1_000).await.unwrap().into_iter().map(|e| e.record.action).collect()
}

async fn a_relayed_approval_is_audited_once_with_what_it_changed(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let (_, id) = waiting(&*f.store, 5).await;
    let poll = OutboxNext::PollAt(Timestamp::now().plus_secs(5));
    assert!(answer(&*f.store, id, PayoutProgress::Approval(round(2_000_000_000, &[])), poll).await);
    let from = f.store.payout_by_id(id).await.unwrap().unwrap();
    let now = Timestamp::now();
    let relay = |change| SignerAnswer {
        request: SignerRequest::Payout(id),
        change,
        next: poll,
        at: now,
        lease_until: now,
        relayed: Some(Box::new(record("payout.approval_relayed", &id.to_string()))),
    };
    let change = |from: &coffer_domain::Payout| {
        let coffer_domain::Advance::Changed(change) =
            from.advance(&PayoutProgress::Approval(round(2_000_000_000, &["ana"])), now).unwrap()
        else {
            panic!("a change")
        };
        Some(coffer_store::AnswerChange::Payout {
            from: Box::new(from.clone()),
            audit: Box::new(record("payout.pending_approval", &id.to_string())),
            event: None,
            change: Box::new(change),
        })
    };
    assert!(f.store.record_answer(relay(change(&from))).await.unwrap().applied);
    let before = actions(&*f.store).await;
    // The same change computed from the payout as it was: it no longer
    // applies, and its relay is not logged (the caller reads and retries).
    assert!(!f.store.record_answer(relay(change(&from))).await.unwrap().applied);
    assert_eq!(actions(&*f.store).await, before);
    // An answer that changes nothing is still a relayed approval.
    f.store.record_answer(relay(None)).await.unwrap();
    let after = actions(&*f.store).await;
    assert_eq!(after.iter().filter(|a| *a == "payout.approval_relayed").count(), 2, "{after:?}");
    assert_eq!(after.iter().filter(|a| *a == "payout.pending_approval").count(), 2, "{after:?}");
}

async fn a_change_of_the_signers_controls_is_written_once_with_its_audit_and_event(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let acme = merchant(&*f.store, "Acme").await;
    let other = merchant(&*f.store, "Other").await;
    let quiet = merchant(&*f.store, "Quiet").await;
    for (m, events) in [
        (acme, vec![EventType::OperatorFreeze, EventType::PayoutFailed]),
        (acme, vec![EventType::OperatorFreeze]),
        (other, vec![EventType::OperatorFreeze]),
        (quiet, vec![EventType::InvoiceSettled]),
    ] {
        let endpoint = WebhookEndpoint {
            id: WebhookId::new(),
            merchant_id: m,
            url: "https://ops.example/hooks".into(),
            events,
            secret: "whsec_x".into(),
            created_at: Timestamp::now(),
        };
        assert_eq!(
            f.store.register_webhook(&endpoint, 16).await.unwrap(),
            coffer_store::WebhookRegistration::Registered
        );
    }
    assert_eq!(f.store.signer_control().await.unwrap(), None);
    let now = Timestamp::now();
    let change = |previous: Option<&str>, state: &str, event: bool| ControlChange {
        previous: previous.map(str::to_owned),
        state: state.to_owned(),
        read_at: now,
        audit: vec![record("signer.frozen", "signer")],
        event: event.then(|| BroadcastEvent {
            kind: EventType::OperatorFreeze,
            payload: Box::new(|id| serde_json::json!({ "id": id.to_string() }).to_string()),
        }),
        lease_until: now,
    };
    let first = f.store.record_signer_control(change(None, r#"{"v":1}"#, true)).await.unwrap();
    assert!(first.applied);
    let mut merchants: Vec<_> = first.deliveries.iter().map(|d| d.merchant_id).collect();
    merchants.sort();
    let mut expected = vec![acme, acme, other];
    expected.sort();
    assert_eq!(merchants, expected, "every subscribed endpoint, none other");
    let acme_events: std::collections::HashSet<_> =
        first.deliveries.iter().filter(|d| d.merchant_id == acme).map(|d| d.event_id).collect();
    assert_eq!(acme_events.len(), 1, "one event per merchant");
    assert!(first.deliveries.iter().all(|d| d.payload.contains(&d.event_id.to_string())), "its own id");
    // A second gateway that read nothing before, or the same old state: not written again.
    assert!(!f.store.record_signer_control(change(None, r#"{"v":1}"#, true)).await.unwrap().applied);
    assert!(!f.store.record_signer_control(change(Some(r#"{"v":0}"#), r#"{"v":2}"#, true)).await.unwrap().applied);
    assert_eq!(actions(&*f.store).await, ["signer.frozen"]);
    let next = f.store.record_signer_control(change(Some(r#"{"v":1}"#), r#"{"v":2}"#, false)).await.unwrap();
    assert!(next.applied && next.deliveries.is_empty());
    let stored = f.store.signer_control().await.unwrap().unwrap();
    assert_eq!(stored.state, r#"{"v":2}"#);
    assert_eq!(actions(&*f.store).await, ["signer.frozen", "signer.frozen"]);
}
