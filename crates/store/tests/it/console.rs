//! The console's sessions and reads on both backends: a link opens one
//! session, only for its own role and before it expires; sessions end
//! once; every open and end is on the audit log with its act; the reads
//! never cross merchants. And the merchant's checkout branding.

use coffer_audit::Record;
use coffer_domain::{InvoiceStatus, MerchantId, Timestamp};
use coffer_store::testing::Kind;
use coffer_store::{ConsoleLink, ConsoleRole, ConsoleSession, InvoiceSearch, on_both_backends};
use serde_json::json;

use crate::audit::all_entries;
use crate::conformance::{fixture, invoice, merchant, plain};

on_both_backends!(
    a_link_opens_one_session_for_its_own_role_before_it_expires,
    a_session_ends_once_and_each_open_and_end_is_logged,
    the_search_finds_by_order_id_or_address_and_never_another_merchants,
    expiring_now_moves_only_an_open_invoice_of_the_merchant_and_is_read_back,
    branding_is_replaced_whole_logged_and_checked_again_when_read,
);

fn record(action: &str) -> Record {
    Record { at_ms: 1, actor: "console:abc".into(), action: action.into(), subject: "s".into(), detail: json!({}) }
}

fn link(byte: u8, role: ConsoleRole, expires_at: i64) -> ConsoleLink {
    ConsoleLink {
        digest: [byte; 32],
        role,
        created_at: Timestamp::from_millis(1_000),
        expires_at: Timestamp::from_millis(expires_at),
    }
}

fn session(byte: u8, role: ConsoleRole, at: i64) -> ConsoleSession {
    ConsoleSession {
        digest: [byte; 32],
        role,
        opened_by: "link".into(),
        created_at: Timestamp::from_millis(at),
        expires_at: Timestamp::from_millis(at + 1_000),
        ended_at: None,
    }
}

async fn a_link_opens_one_session_for_its_own_role_before_it_expires(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let (acme, other) = (merchant(&*f.store, "Acme").await, merchant(&*f.store, "Other").await);
    let acme_role = ConsoleRole::Merchant(acme);
    f.store.create_console_link_audited(&link(1, acme_role, 10_000), &record("console.link_created")).await.unwrap();
    let unknown = ConsoleRole::Merchant(MerchantId::new());
    assert!(f.store.create_console_link_audited(&link(9, unknown, 10_000), &record("x")).await.is_err());
    let (found, used) = f.store.console_link([1; 32]).await.unwrap().unwrap();
    assert_eq!((found.role, used), (acme_role, false));

    // Another merchant's session cannot be opened with Acme's link, nor the operator's.
    let signed_in = record("console.signed_in");
    for wrong in [ConsoleRole::Merchant(other), ConsoleRole::Operator] {
        let wrong_session = session(2, wrong, 2_000);
        let opened = f.store.open_console_session_audited(&wrong_session, Some([1; 32]), &signed_in);
        assert!(opened.await.unwrap().is_none(), "{wrong:?}");
    }
    // Expired: nothing.
    let late = session(2, acme_role, 10_000);
    assert!(f.store.open_console_session_audited(&late, Some([1; 32]), &signed_in).await.unwrap().is_none());
    // In time: one session, then never a second.
    let first = session(2, acme_role, 2_000);
    assert!(f.store.open_console_session_audited(&first, Some([1; 32]), &signed_in).await.unwrap().is_some());
    let second = session(3, acme_role, 2_500);
    let again = f.store.open_console_session_audited(&second, Some([1; 32]), &signed_in).await.unwrap();
    assert!(again.is_none(), "a link works once");
    assert!(f.store.console_link([1; 32]).await.unwrap().unwrap().1);
    assert!(f.store.console_session([3; 32]).await.unwrap().is_none());
    assert_eq!(f.store.console_session([2; 32]).await.unwrap(), Some(session(2, acme_role, 2_000)));
    let actions: Vec<String> = all_entries(&*f.store).await.into_iter().map(|e| e.record.action).collect();
    assert_eq!(actions, ["console.link_created", "console.signed_in"], "refusals write nothing");
}

async fn a_session_ends_once_and_each_open_and_end_is_logged(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let operator = session(4, ConsoleRole::Operator, 5_000);
    assert!(
        f.store.open_console_session_audited(&operator, None, &record("console.signed_in")).await.unwrap().is_some()
    );
    let stored = f.store.console_session([4; 32]).await.unwrap().unwrap();
    assert!(stored.is_live(Timestamp::from_millis(5_500)) && !stored.is_live(Timestamp::from_millis(6_000)));
    let at = Timestamp::from_millis(5_100);
    assert!(f.store.end_console_session_audited([4; 32], at, &record("console.signed_out")).await.unwrap().is_some());
    assert!(f.store.end_console_session_audited([4; 32], at, &record("console.signed_out")).await.unwrap().is_none());
    let ended = f.store.console_session([4; 32]).await.unwrap().unwrap();
    assert_eq!(ended.ended_at, Some(at));
    assert!(!ended.is_live(Timestamp::from_millis(5_200)));
    let actions: Vec<String> = all_entries(&*f.store).await.into_iter().map(|e| e.record.action).collect();
    assert_eq!(actions, ["console.signed_in", "console.signed_out"]);

    // The operator ends a merchant's sessions from the host: only those.
    let (acme, other) = (merchant(&*f.store, "Acme").await, merchant(&*f.store, "Other").await);
    for (byte, role) in
        [(5, ConsoleRole::Merchant(acme)), (6, ConsoleRole::Merchant(other)), (7, ConsoleRole::Operator)]
    {
        let live = session(byte, role, 5_000);
        f.store.open_console_session_audited(&live, None, &record("console.signed_in")).await.unwrap().unwrap();
    }
    let ended_record = record("console.ended");
    let ended = f.store.end_console_sessions_audited(Some(ConsoleRole::Merchant(acme)), at, &ended_record);
    assert_eq!(ended.await.unwrap().0, 1);
    let mut live = Vec::new();
    for byte in [5u8, 6, 7] {
        live.push(f.store.console_session([byte; 32]).await.unwrap().unwrap().ended_at.is_none());
    }
    assert_eq!(live, [false, true, true]);
    let all = f.store.end_console_sessions_audited(None, at, &record("console.ended")).await.unwrap();
    assert_eq!(all.0, 2);
}

async fn the_search_finds_by_order_id_or_address_and_never_another_merchants(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let (acme, other) = (merchant(&*f.store, "Acme").await, merchant(&*f.store, "Other").await);
    let mine = invoice(acme, 1);
    let theirs = invoice(other, 2);
    let mut same_order = invoice(other, 3);
    same_order.order_id = mine.order_id.clone();
    for i in [&mine, &theirs, &same_order] {
        f.store.insert_invoice(plain(i.clone())).await.unwrap();
    }
    let search = |merchant_id, text: Option<String>, status| InvoiceSearch { merchant_id, status, text, limit: 10 };
    let ids = |found: Vec<coffer_domain::Invoice>| found.into_iter().map(|i| i.id).collect::<Vec<_>>();
    let by_order = f.store.search_invoices(&search(acme, mine.order_id.clone(), None)).await.unwrap();
    assert_eq!(ids(by_order), [mine.id], "only Acme's, though Other has the same order id");
    let address = mine.deposit.address.to_checksum(None).to_lowercase();
    assert_eq!(ids(f.store.search_invoices(&search(acme, Some(address), None)).await.unwrap()), [mine.id]);
    let their_address = theirs.deposit.address.to_string();
    assert!(f.store.search_invoices(&search(acme, Some(their_address), None)).await.unwrap().is_empty());
    assert!(f.store.search_invoices(&search(acme, None, Some(InvoiceStatus::Settled))).await.unwrap().is_empty());
    assert_eq!(f.store.search_invoices(&search(other, None, Some(InvoiceStatus::New))).await.unwrap().len(), 2);
    // Nothing booked or delivered yet; another merchant reads nothing of Acme's.
    assert!(f.store.invoice_entries(acme, mine.id).await.unwrap().is_empty());
    assert!(f.store.invoice_deliveries(other, mine.id).await.unwrap().is_empty());
}

async fn expiring_now_moves_only_an_open_invoice_of_the_merchant_and_is_read_back(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let (acme, other) = (merchant(&*f.store, "Acme").await, merchant(&*f.store, "Other").await);
    let open = invoice(acme, 1);
    f.store.insert_invoice(plain(open.clone())).await.unwrap();
    let now = Timestamp::from_millis(open.expires_at.as_millis() - 60_000);
    assert!(f.store.expire_invoice(other, open.id, now).await.unwrap().is_none(), "not another merchant's");
    let moved = f.store.expire_invoice(acme, open.id, now).await.unwrap().unwrap();
    assert_eq!((moved.id, moved.expires_at, moved.status), (open.id, now, InvoiceStatus::New));
    // Read back (through the SQLite store's cache too) as changed.
    assert_eq!(f.store.invoice(acme, open.id).await.unwrap().unwrap().expires_at, now);
    let later = Timestamp::from_millis(now.as_millis() + 1);
    assert!(f.store.expire_invoice(acme, open.id, later).await.unwrap().is_none(), "never later than it was");
    let mut settled = invoice(acme, 2);
    settled.status = InvoiceStatus::Settled;
    f.store.insert_invoice(plain(settled.clone())).await.unwrap();
    assert!(f.store.expire_invoice(acme, settled.id, now).await.unwrap().is_none(), "a settled invoice stays");
    let mut part_paid = invoice(acme, 3);
    part_paid.status = InvoiceStatus::Processing;
    f.store.insert_invoice(plain(part_paid.clone())).await.unwrap();
    assert!(
        f.store.expire_invoice(acme, part_paid.id, now).await.unwrap().is_none(),
        "a part-paid one keeps its window"
    );
}

async fn branding_is_replaced_whole_logged_and_checked_again_when_read(kind: Kind) {
    use coffer_domain::{BrandColor, Branding, Logo};
    let Some(f) = fixture(kind).await else { return };
    let acme = merchant(&*f.store, "Acme").await;
    assert_eq!(f.store.branding(acme).await.unwrap(), Branding::default());
    let png = b"\x89PNG\r\n\x1a\n-a-logo".to_vec();
    let branded =
        Branding { color: Some("#ffd400".parse::<BrandColor>().unwrap()), logo: Some(Logo::new(png).unwrap()) };
    let at = Timestamp::from_millis(7);
    f.store.set_branding_audited(acme, &branded, at, &record("merchant.branding_changed")).await.unwrap();
    assert_eq!(f.store.branding(acme).await.unwrap(), branded);
    let plain = Branding { color: branded.color, logo: None };
    f.store.set_branding_audited(acme, &plain, at, &record("merchant.branding_changed")).await.unwrap();
    assert_eq!(f.store.branding(acme).await.unwrap(), plain, "replaced whole: the logo is gone");
    let unknown = f.store.set_branding_audited(MerchantId::new(), &plain, at, &record("x")).await;
    assert!(unknown.is_err());
    assert_eq!(all_entries(&*f.store).await.len(), 2, "one record per change, none for the refusal");

    // An SVG written into the row behind the gateway's back is not served.
    let hex: String = b"<svg onload=alert(1)>".iter().map(|b| format!("{b:02x}")).collect();
    let literal = match kind {
        Kind::Sqlite => format!("x'{hex}'"),
        Kind::Postgres => format!("'\\x{hex}'::bytea"),
    };
    f.db.execute_raw(&format!("UPDATE merchant_branding SET logo = {literal}, logo_type = 'image/png'")).await;
    assert!(f.store.branding(acme).await.is_err());
}
