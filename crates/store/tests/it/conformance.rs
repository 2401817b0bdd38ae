#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use coffer_domain::{
    Address, Amount, ApiKeyToken, AssetId, AssetSymbol, ChainId, DepositAddress, DerivationIndex, Invoice, InvoiceId,
    InvoiceStatus, MerchantId, Scopes, Timestamp, U256,
};
use coffer_store::testing::{Kind, TestDatabase};
use coffer_store::{
    ApiKeyRecord, Idempotency, InsertOutcome, InvoiceQuery, Merchant, NewInvoice, Store, StoreError, open,
};

use coffer_store::on_both_backends;

on_both_backends!(
    merchants_and_api_keys_round_trip,
    api_key_for_a_missing_merchant_is_refused,
    deposit_index_reservations_never_overlap,
    invoices_round_trip_exactly,
    idempotency_replays_the_same_request_and_refuses_a_different_one,
    concurrent_requests_with_one_idempotency_key_create_one_invoice,
    a_reused_deposit_address_is_refused_and_stores_nothing,
    one_failing_write_does_not_undo_its_neighbours,
    pages_run_newest_first_and_filter_by_status,
    a_merchant_cannot_read_another_merchants_invoice,
    a_database_stays_bound_to_one_xpub,
    writes_survive_reopening,
);

pub(crate) struct Fixture {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) db: TestDatabase,
}

pub(crate) async fn fixture(kind: Kind) -> Option<Fixture> {
    let db = TestDatabase::new(kind).await?;
    let store = open(db.backend()).await.unwrap();
    Some(Fixture { store, db })
}

pub(crate) async fn merchant(store: &dyn Store, name: &str) -> MerchantId {
    let m = Merchant { id: MerchantId::new(), name: name.into(), created_at: Timestamp::now() };
    store.create_merchant(&m).await.unwrap();
    m.id
}

pub(crate) fn usdt() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("USDT").unwrap() }
}

pub(crate) fn invoice(merchant_id: MerchantId, index: u32) -> Invoice {
    let mut metadata = serde_json::Map::new();
    metadata.insert("cart".into(), serde_json::json!({"items": [1, 2], "note": "ünïcode"}));
    Invoice {
        id: InvoiceId::new(),
        merchant_id,
        status: InvoiceStatus::New,
        exceptions: Default::default(),
        amount: Amount::from_units(usdt(), U256::from(12_500_000u64)),
        deposit: DepositAddress {
            index: DerivationIndex::try_from(u64::from(index)).unwrap(),
            address: Address::left_padding_from(&index.to_be_bytes()),
        },
        order_id: Some(format!("A-{index}")),
        metadata,
        created_at: Timestamp::from_millis(1_700_000_000_000),
        expires_at: Timestamp::from_millis(1_700_000_900_000),
        checkout: coffer_domain::Checkout::random().unwrap(),
    }
}

pub(crate) fn plain(invoice: Invoice) -> NewInvoice {
    NewInvoice { invoice, idempotency: None }
}

fn keyed(invoice: Invoice, key: &str, fingerprint: u8) -> NewInvoice {
    NewInvoice { invoice, idempotency: Some(Idempotency { key: key.into(), fingerprint: [fingerprint; 32] }) }
}

fn created(outcome: InsertOutcome) -> Invoice {
    match outcome {
        InsertOutcome::Created(invoice) => invoice,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn merchants_and_api_keys_round_trip(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let acme = merchant(&*f.store, "Acme").await;
    let _other = merchant(&*f.store, "Other").await;
    assert_eq!(f.store.merchant(acme).await.unwrap().unwrap().name, "Acme");
    assert_eq!(f.store.merchants().await.unwrap().len(), 2);
    assert!(f.store.merchant(MerchantId::new()).await.unwrap().is_none());

    let token = ApiKeyToken::generate().unwrap();
    let record = ApiKeyRecord {
        id: token.id(),
        merchant_id: acme,
        secret_digest: token.digest(),
        scopes: Scopes::from_str("invoices:read,invoices:write").unwrap(),
        label: "shop".into(),
        created_at: Timestamp::from_millis(1),
        revoked_at: None,
    };
    f.store.create_api_key(&record).await.unwrap();
    let stored = f.store.api_key(token.id()).await.unwrap().unwrap();
    assert_eq!(stored, record);
    assert!(token.matches(&stored.secret_digest));
    assert_eq!(f.store.api_keys(acme).await.unwrap(), vec![record]);

    assert!(f.store.revoke_api_key(token.id(), Timestamp::from_millis(5)).await.unwrap());
    assert!(!f.store.revoke_api_key(token.id(), Timestamp::from_millis(6)).await.unwrap(), "already revoked");
    let revoked = f.store.api_key(token.id()).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(Timestamp::from_millis(5)));
}

async fn api_key_for_a_missing_merchant_is_refused(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let token = ApiKeyToken::generate().unwrap();
    let ghost = MerchantId::new();
    let record = ApiKeyRecord {
        id: token.id(),
        merchant_id: ghost,
        secret_digest: token.digest(),
        scopes: Scopes::from_str("invoices:read").unwrap(),
        label: String::new(),
        created_at: Timestamp::now(),
        revoked_at: None,
    };
    let err = f.store.create_api_key(&record).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownMerchant(id) if id == ghost), "{err:?}");
    assert!(f.store.api_key(token.id()).await.unwrap().is_none());
}

async fn deposit_index_reservations_never_overlap(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = f.store.clone();
            tokio::spawn(async move { store.reserve_deposit_indices(7).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        let range = task.await.unwrap();
        assert_eq!(range.len(), 7);
        for i in range {
            assert!(seen.insert(i), "index {i} handed out twice");
        }
    }
    assert_eq!(seen, (0..280).collect(), "reservations are contiguous from 0");
}

async fn invoices_round_trip_exactly(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    let mut big = invoice(m, 1);
    // Larger than any SQL integer: amounts must survive as exact base units.
    big.amount = Amount::from_units(usdt(), U256::MAX - U256::from(1u8));
    big.order_id = None;
    big.metadata.clear();
    for original in [invoice(m, 0), big] {
        let stored = created(f.store.insert_invoice(plain(original.clone())).await.unwrap());
        assert_eq!(stored, original);
        assert_eq!(f.store.invoice(m, original.id).await.unwrap(), Some(original));
    }
}

async fn idempotency_replays_the_same_request_and_refuses_a_different_one(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    let other = merchant(&*f.store, "Other").await;
    let first = created(f.store.insert_invoice(keyed(invoice(m, 0), "k-1", 1)).await.unwrap());

    // A retry arrives with a fresh id and address (the gateway prepared them): the first invoice wins.
    match f.store.insert_invoice(keyed(invoice(m, 1), "k-1", 1)).await.unwrap() {
        InsertOutcome::Replayed(replayed) => assert_eq!(replayed, first),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert!(matches!(
        f.store.insert_invoice(keyed(invoice(m, 2), "k-1", 2)).await.unwrap(),
        InsertOutcome::IdempotencyMismatch
    ));
    // Keys are per merchant.
    created(f.store.insert_invoice(keyed(invoice(other, 3), "k-1", 1)).await.unwrap());
    let page = f.store.invoices(InvoiceQuery { merchant_id: m, status: None, before: None, limit: 100 }).await;
    assert_eq!(page.unwrap(), vec![first], "replays and mismatches store nothing");
}

async fn concurrent_requests_with_one_idempotency_key_create_one_invoice(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move { store.insert_invoice(keyed(invoice(m, i), "same", 9)).await.unwrap() })
        })
        .collect();
    let mut created_ids = Vec::new();
    let mut replayed_ids = HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            InsertOutcome::Created(invoice) => created_ids.push(invoice.id),
            InsertOutcome::Replayed(invoice) => {
                replayed_ids.insert(invoice.id);
            }
            InsertOutcome::IdempotencyMismatch => panic!("same fingerprint must replay"),
        }
    }
    assert_eq!(created_ids.len(), 1);
    assert!(replayed_ids.iter().all(|id| *id == created_ids[0]));
}

async fn a_reused_deposit_address_is_refused_and_stores_nothing(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    created(f.store.insert_invoice(plain(invoice(m, 5))).await.unwrap());
    let clash = invoice(m, 5);
    let err = f.store.insert_invoice(plain(clash.clone())).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(f.store.invoice(m, clash.id).await.unwrap().is_none());
}

async fn one_failing_write_does_not_undo_its_neighbours(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    created(f.store.insert_invoice(plain(invoice(m, 0))).await.unwrap());
    // Submitted together, so SQLite's writer commits them in one batch.
    let tasks: Vec<_> = (0..50u32)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move { store.insert_invoice(plain(invoice(m, i))).await })
        })
        .collect();
    let mut failures = 0;
    for task in tasks {
        if task.await.unwrap().is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 1, "only the clash with index 0 fails");
    let all = f.store.invoices(InvoiceQuery { merchant_id: m, status: None, before: None, limit: 500 }).await.unwrap();
    assert_eq!(all.len(), 50);
}

async fn pages_run_newest_first_and_filter_by_status(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let mut inv = invoice(m, i);
        if i % 5 == 0 {
            inv.status = InvoiceStatus::Expired;
        }
        ids.push(created(f.store.insert_invoice(plain(inv)).await.unwrap()).id);
    }
    ids.reverse(); // newest first
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = f.store.invoices(InvoiceQuery { merchant_id: m, status: None, before, limit: 10 }).await.unwrap();
        before = page.last().map(|inv| inv.id);
        let done = page.len() < 10;
        pages.push(page.into_iter().map(|inv| inv.id).collect::<Vec<_>>());
        if done {
            break;
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    assert_eq!(pages.concat(), ids);

    let q = |status, before, limit| InvoiceQuery { merchant_id: m, status: Some(status), before, limit };
    let expired = f.store.invoices(q(InvoiceStatus::Expired, None, 100)).await.unwrap();
    assert_eq!(expired.len(), 5);
    assert!(expired.iter().all(|inv| inv.status == InvoiceStatus::Expired));
    let rest = f.store.invoices(q(InvoiceStatus::Expired, Some(expired[1].id), 100)).await.unwrap();
    assert_eq!(rest, expired[2..]);
    assert!(f.store.invoices(q(InvoiceStatus::Settled, None, 100)).await.unwrap().is_empty());
}

async fn a_merchant_cannot_read_another_merchants_invoice(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let a = merchant(&*f.store, "A").await;
    let b = merchant(&*f.store, "B").await;
    let inv = created(f.store.insert_invoice(plain(invoice(a, 0))).await.unwrap());
    assert!(f.store.invoice(b, inv.id).await.unwrap().is_none());
    let b_page = f.store.invoices(InvoiceQuery { merchant_id: b, status: None, before: None, limit: 10 }).await;
    assert!(b_page.unwrap().is_empty());
}

async fn a_database_stays_bound_to_one_xpub(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    f.store.bind_xpub("aaaa").await.unwrap();
    f.store.bind_xpub("aaaa").await.unwrap();
    let err = f.store.bind_xpub("bbbb").await.unwrap_err();
    assert!(matches!(err, StoreError::XpubMismatch { ref recorded, .. } if recorded == "aaaa"), "{err:?}");
}

async fn writes_survive_reopening(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    let inv = created(f.store.insert_invoice(plain(invoice(m, 0))).await.unwrap());
    let reserved = f.store.reserve_deposit_indices(3).await.unwrap();
    drop(f.store);
    let store = open(f.db.backend()).await.unwrap();
    assert_eq!(store.invoice(m, inv.id).await.unwrap(), Some(inv));
    let next = store.reserve_deposit_indices(1).await.unwrap();
    assert_eq!(next.start, reserved.end, "the counter is durable too");
}
