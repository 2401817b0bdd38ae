//! The gateway's audit log on both backends: appends chain, concurrent
//! appends (several gateways on PostgreSQL) never fork, and an audited act
//! is kept with its entry or not at all.

use std::str::FromStr;
use std::sync::Arc;

use coffer_audit::{Entry, Head, Record, verify};
use coffer_domain::{ApiKeyId, ApiKeyToken, EventType, MerchantId, Scopes, Timestamp, WebhookId};
use coffer_store::testing::{Kind, TestDatabase};
use coffer_store::{ApiKeyRecord, Merchant, Store, WebhookEndpoint, on_both_backends, open};
use serde_json::json;

use crate::conformance::fixture;

on_both_backends!(
    appends_chain_and_read_back_in_pages,
    concurrent_appends_never_fork,
    an_audited_act_writes_its_entry_only_if_it_took_effect,
    an_act_whose_entry_cannot_be_written_is_not_kept,
    an_operators_decision_on_a_halt_is_logged_with_what_it_applied_to,
);

fn record(action: &str, n: u64) -> Record {
    Record {
        at_ms: 1_700_000_000_000,
        actor: "operator".into(),
        action: action.into(),
        subject: format!("thing_{n}"),
        // A float and keys out of order: the stored text must hash as written.
        detail: json!({ "n": n, "ratio": 0.1 + n as f64, "b": [1, "é"], "a": null }),
    }
}

/// Every entry, paging as a verifier does.
pub(crate) async fn all_entries(store: &dyn Store) -> Vec<Entry> {
    let mut all: Vec<Entry> = Vec::new();
    loop {
        let page = store.entries(all.last().map_or(0, |e| e.seq), 7).await.unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

async fn appends_chain_and_read_back_in_pages(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    assert_eq!(f.store.head().await.unwrap(), Head::EMPTY);
    assert!(f.store.entries(0, 10).await.unwrap().is_empty());
    let mut appended = Vec::new();
    for n in 0..20 {
        let action = if n % 3 == 0 { "config.loaded" } else { "merchant.created" };
        appended.push(f.store.append(&record(action, n)).await.unwrap());
    }
    assert_eq!(appended.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
    let stored = all_entries(&*f.store).await;
    assert_eq!(stored, appended, "read back exactly as appended, detail included");
    let head = f.store.head().await.unwrap();
    assert_eq!(verify(&stored), Ok(head));
    assert_eq!(head, appended[19].head());
    assert_eq!(f.store.last_entry_of("config.loaded").await.unwrap().map(|e| e.seq), Some(19));
    assert_eq!(f.store.last_entry_of("nothing.such").await.unwrap(), None);
    assert_eq!(f.store.entries(18, 10).await.unwrap().len(), 2);
}

async fn concurrent_appends_never_fork(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    // PostgreSQL: three gateways' stores on one database. SQLite: one
    // gateway per file (ADR 0002), many tasks.
    let stores: Vec<Arc<dyn Store>> = match kind {
        Kind::Postgres => {
            vec![f.store.clone(), open(f.db.backend()).await.unwrap(), open(f.db.backend()).await.unwrap()]
        }
        Kind::Sqlite => vec![f.store.clone()],
    };
    let tasks: Vec<_> = (0..12u64)
        .map(|task| {
            let store = stores[task as usize % stores.len()].clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for n in 0..10 {
                    seqs.push(store.append(&record("api_key.created", task * 100 + n)).await.unwrap().seq);
                }
                seqs
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=120).collect::<Vec<_>>(), "every append got its own seq, none skipped");
    let stored = all_entries(&*f.store).await;
    assert_eq!(verify(&stored), Ok(f.store.head().await.unwrap()), "one chain, no fork");
}

fn api_key(merchant_id: MerchantId) -> ApiKeyRecord {
    let token = ApiKeyToken::generate().unwrap();
    ApiKeyRecord {
        id: token.id(),
        merchant_id,
        secret_digest: token.digest(),
        scopes: Scopes::from_str("invoices:read").unwrap(),
        label: String::new(),
        created_at: Timestamp::now(),
        revoked_at: None,
    }
}

fn endpoint(merchant_id: MerchantId) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookId::new(),
        merchant_id,
        url: "https://shop.example/hooks".into(),
        events: vec![EventType::InvoiceSettled],
        secret: "whsec_test".into(),
        created_at: Timestamp::now(),
    }
}

async fn an_audited_act_writes_its_entry_only_if_it_took_effect(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let s = &*f.store;
    let merchant = Merchant { id: MerchantId::new(), name: "Acme".into(), created_at: Timestamp::now() };
    let entry = s.create_merchant_audited(&merchant, &record("merchant.created", 1)).await.unwrap();
    assert_eq!((entry.seq, s.merchant(merchant.id).await.unwrap()), (1, Some(merchant.clone())));

    let key = api_key(merchant.id);
    assert_eq!(s.create_api_key_audited(&key, &record("api_key.created", 2)).await.unwrap().seq, 2);
    assert!(s.api_key(key.id).await.unwrap().is_some());
    let ghost = api_key(MerchantId::new());
    assert!(s.create_api_key_audited(&ghost, &record("api_key.created", 3)).await.is_err());
    assert!(s.revoke_api_key_audited(ApiKeyId::new(), Timestamp::now(), &record("x", 0)).await.unwrap().is_none());
    let revoked = s.revoke_api_key_audited(key.id, Timestamp::now(), &record("api_key.revoked", 4)).await.unwrap();
    assert_eq!(revoked.map(|e| e.seq), Some(3), "refused acts left no entry");

    let hook = endpoint(merchant.id);
    assert!(s.register_webhook_audited(&hook, 0, &record("webhook.registered", 5)).await.unwrap().is_none(), "limit");
    assert!(s.webhooks(merchant.id).await.unwrap().is_empty());
    assert!(s.register_webhook_audited(&hook, 16, &record("webhook.registered", 6)).await.unwrap().is_some());
    let deletion = record("webhook.deleted", 7);
    let deleted = s.delete_webhook_audited(merchant.id, hook.id, Timestamp::now(), &deletion).await.unwrap();
    assert_eq!(deleted.map(|e| e.seq), Some(5));
    let again = s.delete_webhook_audited(merchant.id, hook.id, Timestamp::now(), &deletion).await.unwrap();
    assert!(again.is_none());

    let actions: Vec<String> = all_entries(s).await.into_iter().map(|e| e.record.action).collect();
    assert_eq!(
        actions,
        ["merchant.created", "api_key.created", "api_key.revoked", "webhook.registered", "webhook.deleted"]
    );
}

/// Plants an entry behind the store's back that takes the chain's first
/// `prev` (unique), so the store's next append fails on the constraint.
async fn block_the_next_append(kind: Kind, db: &TestDatabase) {
    let zeros = "00".repeat(32);
    let blob = |hex: &str| match kind {
        Kind::Sqlite => format!("X'{hex}'"),
        Kind::Postgres => format!("decode('{hex}', 'hex')"),
    };
    db.execute_raw(&format!(
        "INSERT INTO audit_log (seq, at_ms, actor, action, subject, detail, prev, hash) \
         VALUES (99, 0, 'x', 'x', '', '{{}}', {}, {})",
        blob(&zeros),
        blob(&"11".repeat(32))
    ))
    .await;
}

async fn an_act_whose_entry_cannot_be_written_is_not_kept(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let s = &*f.store;
    let acme = Merchant { id: MerchantId::new(), name: "Acme".into(), created_at: Timestamp::now() };
    s.create_merchant(&acme).await.unwrap();
    block_the_next_append(kind, &f.db).await;

    let merchant = Merchant { id: MerchantId::new(), name: "Unlogged".into(), created_at: Timestamp::now() };
    assert!(s.create_merchant_audited(&merchant, &record("merchant.created", 1)).await.is_err());
    assert_eq!(s.merchant(merchant.id).await.unwrap(), None, "no act without its entry");
    let key = api_key(acme.id);
    assert!(s.create_api_key_audited(&key, &record("api_key.created", 2)).await.is_err());
    assert_eq!(s.api_key(key.id).await.unwrap(), None);
    assert!(s.register_webhook_audited(&endpoint(acme.id), 16, &record("webhook.registered", 3)).await.is_err());
    assert!(s.webhooks(acme.id).await.unwrap().is_empty());
    assert_eq!(s.head().await.unwrap(), Head::EMPTY, "nor a head moved");
}

async fn an_operators_decision_on_a_halt_is_logged_with_what_it_applied_to(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let s = &*f.store;
    let chain = coffer_domain::ChainId(31337);
    let cleared = record("chain.halt_resolved", 0);
    let none = s.resolve_halt_audited(chain, Timestamp::now(), "cleared", &cleared).await.unwrap();
    assert!(none.is_none(), "no halt open: nothing logged");
    let (_, payment) = coffer_store::testing::displaced_payment(s, chain).await;
    let mut decision = record("chain.halt_resolved", 1);
    decision.detail = json!({ "decision": "write_off" });
    let (ids, entry) = s
        .resolve_displaced_audited(
            chain,
            coffer_store::DisplacedResolution::WriteOff,
            Timestamp::now(),
            "gone",
            &decision,
        )
        .await
        .unwrap();
    assert_eq!(ids, [payment.id]);
    assert_eq!(entry.record.detail, json!({ "decision": "write_off", "payments": [payment.id.to_string()] }));
    assert_eq!(all_entries(s).await, [entry]);
}
