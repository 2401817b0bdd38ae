//! A fleet's leases on both backends: one holder at a time on PostgreSQL
//! (always the taker on SQLite, where one gateway owns the file), a new
//! epoch for every new holder, and a write carrying a fence the lease has
//! moved past refused whole, inside its own transaction.

use std::time::Duration;

use coffer_store::testing::Kind;
use coffer_store::{Fence, InvoiceChanges, StoreError, on_both_backends};

use crate::chain::{AT, block, open_invoice, payment, step};
use crate::conformance::fixture;

on_both_backends!(
    a_lease_has_one_holder_and_each_new_holder_a_higher_epoch,
    a_write_whose_fence_the_lease_moved_past_changes_nothing,
    a_lapsed_lease_is_not_renewed_and_a_released_one_is_taken_at_once,
);

const LONG: Duration = Duration::from_secs(60);

async fn a_lease_has_one_holder_and_each_new_holder_a_higher_epoch(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let a = f.store.take_lease("chain:1", "a", LONG).await.unwrap().expect("nobody held it");
    assert_eq!(a, Fence { name: "chain:1".into(), holder: "a".into(), epoch: 1 });
    let other = f.store.take_lease("chain:2", "b", LONG).await.unwrap().unwrap();
    assert_eq!(other.epoch, 1, "epochs are per lease");

    let b = f.store.take_lease("chain:1", "b", LONG).await.unwrap();
    match kind {
        Kind::Postgres => {
            assert_eq!(b, None, "a held lease was taken by another");
            assert!(f.store.extend_lease(&a, LONG).await.unwrap(), "its holder could not renew it");
        }
        Kind::Sqlite => {
            // One gateway per file: whoever takes it now is that gateway.
            assert_eq!(b.unwrap().epoch, 2);
            assert!(!f.store.extend_lease(&a, LONG).await.unwrap(), "the old epoch renewed a taken lease");
        }
    }
    let rows = f.store.leases().await.unwrap();
    assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["chain:1", "chain:2"]);
    let row = &rows[0];
    assert!(row.held() && row.expires_at_ms > row.now_ms + 50_000, "{row:?}");
    assert!(row.acquired_at_ms <= row.now_ms && row.renewed_at_ms >= row.acquired_at_ms);
}

async fn a_write_whose_fence_the_lease_moved_past_changes_nothing(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = open_invoice(&*f.store, 1).await;
    let old = f.store.take_lease("chain:31337", "paused", Duration::from_millis(200)).await.unwrap().unwrap();
    let mut first = step(None, block(10, 1));
    first.fence = Some(old.clone());
    f.store.apply_chain_step(first).await.unwrap();

    // The holder is paused past its lease; another gateway takes over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = f.store.take_lease("chain:31337", "next", LONG).await.unwrap().expect("a lapsed lease was not taken");
    assert_eq!(new.epoch, old.epoch + 1);

    // The paused one resumes and writes on: a payment, then an expiry.
    let mut late = step(Some(block(10, 1)), block(11, 2));
    late.payments.push(payment(&inv, 5, block(11, 2), 0));
    late.fence = Some(old.clone());
    let refused = f.store.apply_chain_step(late.clone()).await;
    assert!(matches!(&refused, Err(StoreError::Fenced { epoch, .. }) if *epoch == old.epoch), "{refused:?}");
    assert_eq!(f.store.chain_cursor(crate::chain::CHAIN).await.unwrap(), Some(block(10, 1)));
    assert!(f.store.payments_of(&[inv.id]).await.unwrap().is_empty(), "a fenced step wrote a payment");
    let expire = coffer_store::InvoiceChange {
        invoice_id: inv.id,
        merchant_id: inv.merchant_id,
        from: coffer_domain::InvoiceStatus::New,
        from_exceptions: coffer_domain::Exceptions::default(),
        status: coffer_domain::InvoiceStatus::Expired,
        exceptions: coffer_domain::Exceptions::default(),
        settlement: None,
        events: Vec::new(),
    };
    let at = coffer_domain::Timestamp::from_millis(AT);
    let changes = InvoiceChanges { fence: Some(old.clone()), changes: vec![expire], at, lease_until: at };
    assert!(matches!(f.store.apply_invoice_changes(changes).await, Err(StoreError::Fenced { .. })));
    let stored = f.store.invoice(inv.merchant_id, inv.id).await.unwrap().unwrap();
    assert_eq!(stored.status, coffer_domain::InvoiceStatus::New, "a fenced expiry expired the invoice");

    // Nor can it halt the chain, or clear the halt a person must look at.
    let halt = coffer_store::ChainHalt {
        chain_id: crate::chain::CHAIN,
        code: coffer_domain::HaltCode::Corrupt,
        reason: "seen by a paused holder".into(),
        block: None,
        halted_at: at,
        resolved: None,
    };
    assert!(matches!(f.store.record_halt(&halt, Some(&old)).await, Err(StoreError::Fenced { .. })));
    assert_eq!(f.store.open_halt(crate::chain::CHAIN).await.unwrap(), None, "a fenced halt was recorded");
    assert!(f.store.record_halt(&halt, Some(&new)).await.unwrap());
    let cleared = f.store.resolve_halt(crate::chain::CHAIN, at, "cleared by a stale holder", Some(&old)).await;
    assert!(matches!(cleared, Err(StoreError::Fenced { .. })), "{cleared:?}");
    assert!(f.store.open_halt(crate::chain::CHAIN).await.unwrap().is_some(), "a fenced holder cleared the halt");
    assert!(f.store.resolve_halt(crate::chain::CHAIN, at, "fixed", Some(&new)).await.unwrap());

    // The new holder's same step goes through.
    late.fence = Some(new.clone());
    f.store.apply_chain_step(late).await.unwrap();
    assert_eq!(f.store.payments_of(&[inv.id]).await.unwrap().len(), 1);
}

async fn a_lapsed_lease_is_not_renewed_and_a_released_one_is_taken_at_once(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let short = f.store.take_lease("chain:1", "a", Duration::from_millis(100)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(!f.store.extend_lease(&short, LONG).await.unwrap(), "a lapsed lease was renewed");
    let again = f.store.take_lease("chain:1", "a", LONG).await.unwrap().unwrap();
    assert_eq!(again.epoch, short.epoch + 1, "taken again after a lapse is a new tenure");
    assert!(!f.store.extend_lease(&short, LONG).await.unwrap(), "the same holder's old epoch renewed its new tenure");
    f.store.release_lease(&short).await.unwrap();
    assert!(f.store.leases().await.unwrap()[0].held(), "the old epoch's release let go of the new tenure");

    f.store.release_lease(&again).await.unwrap();
    assert!(!f.store.leases().await.unwrap()[0].held());
    let b = f.store.take_lease("chain:1", "b", LONG).await.unwrap().expect("a released lease was not free");
    assert_eq!(b.epoch, again.epoch + 1);
    f.store.release_lease(&again).await.unwrap();
    assert!(f.store.leases().await.unwrap()[0].held(), "a stale release let go of another's lease");
}
