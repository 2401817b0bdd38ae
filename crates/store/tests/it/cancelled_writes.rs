//! Writes whose caller gave up. A client that disconnects drops its
//! handler's future, possibly while the handler's write waits on the
//! database. Whatever that write did, every read must say the same after:
//! SQLite's invoice cache is refreshed by the writer after the commit, never
//! by the caller's future (which may be gone by then).

use coffer_domain::{B256, BlockRef, ChainId, Exceptions, Invoice, InvoiceStatus, Timestamp};
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use coffer_store::{ChainStep, InvoiceChange, InvoiceChanges, InvoiceQuery, Store};
use futures_util::FutureExt as _;

use crate::conformance::{Fixture, fixture, invoice, merchant, plain};

on_both_backends!(
    an_invoice_change_whose_caller_gave_up_is_read_alike_everywhere,
    a_chain_step_whose_caller_gave_up_is_read_alike_everywhere,
    an_insert_whose_caller_gave_up_is_read_as_stored,
);

/// Starts `write` while another connection holds the database's write lock
/// (one poll: it is handed to the store), drops it as a disconnected
/// client's handler is dropped, releases the lock, and waits until the store
/// has finished with it (with SQLite, a later write is answered after every
/// earlier one).
async fn give_up_on<F: Future>(f: &Fixture, write: F) {
    let lock = f.db.hold_write_lock().await;
    assert!(write.now_or_never().is_none(), "the write waits on the lock");
    lock.release().await;
    merchant(&*f.store, "Later").await;
}

/// The invoice as `GET /v1/invoices/{id}` reads it (SQLite: from the cache)
/// and as the list and the watcher read it (from the database), which must agree.
async fn read_alike(store: &dyn Store, invoice: &Invoice) -> Option<Invoice> {
    let one = store.invoice(invoice.merchant_id, invoice.id).await.unwrap();
    let query = InvoiceQuery { merchant_id: invoice.merchant_id, status: None, before: None, limit: 10 };
    let listed = store.invoices(query).await.unwrap().into_iter().find(|i| i.id == invoice.id);
    let by_id = store.invoices_by_ids(&[invoice.id]).await.unwrap().pop();
    let status = |i: &Option<Invoice>| i.as_ref().map(|i| (i.status, i.exceptions));
    assert_eq!(status(&one), status(&listed), "the invoice read alone (cache) and in the list (database) disagree");
    assert_eq!(listed, by_id, "the list and the watcher's read disagree");
    one
}

fn change(invoice: &Invoice, status: InvoiceStatus) -> InvoiceChange {
    InvoiceChange {
        invoice_id: invoice.id,
        merchant_id: invoice.merchant_id,
        from: invoice.status,
        from_exceptions: invoice.exceptions,
        status,
        exceptions: Exceptions::default(),
        settlement: None,
        events: Vec::new(),
    }
}

/// A stored invoice, read once (so that SQLite caches it).
async fn cached_invoice(f: &Fixture) -> Invoice {
    let m = merchant(&*f.store, "Acme").await;
    let inv = invoice(m, 1);
    f.store.insert_invoice(plain(inv.clone())).await.unwrap();
    assert_eq!(read_alike(&*f.store, &inv).await.unwrap().status, InvoiceStatus::New);
    inv
}

async fn an_invoice_change_whose_caller_gave_up_is_read_alike_everywhere(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = cached_invoice(&f).await;
    let at = Timestamp::now();
    let invalidate =
        InvoiceChanges { fence: None, changes: vec![change(&inv, InvoiceStatus::Invalid)], at, lease_until: at };
    give_up_on(&f, f.store.apply_invoice_changes(invalidate)).await;
    let after = read_alike(&*f.store, &inv).await.unwrap();
    if kind == Kind::Sqlite {
        assert_eq!(after.status, InvoiceStatus::Invalid, "a write handed to the writer is carried out");
    }
}

async fn a_chain_step_whose_caller_gave_up_is_read_alike_everywhere(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let inv = cached_invoice(&f).await;
    let at = Timestamp::now();
    let step = ChainStep {
        fence: None,
        chain_id: ChainId(31337),
        parent: None,
        tip: BlockRef { number: 7, hash: B256::repeat_byte(7) },
        revert_above: None,
        displace_until: 9,
        remember: Vec::new(),
        forget_below: 0,
        payments: Vec::new(),
        bookings: Vec::new(),
        recoveries: Vec::new(),
        changes: vec![change(&inv, InvoiceStatus::Expired)],
        at,
        lease_until: at,
    };
    give_up_on(&f, f.store.apply_chain_step(step)).await;
    let after = read_alike(&*f.store, &inv).await.unwrap();
    if kind == Kind::Sqlite {
        assert_eq!(after.status, InvoiceStatus::Expired, "a write handed to the writer is carried out");
    }
}

async fn an_insert_whose_caller_gave_up_is_read_as_stored(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    let inv = invoice(m, 1);
    give_up_on(&f, f.store.insert_invoice(plain(inv.clone()))).await;
    let after = read_alike(&*f.store, &inv).await;
    if kind == Kind::Sqlite {
        assert_eq!(after, Some(inv), "a write handed to the writer is carried out");
    }
}
