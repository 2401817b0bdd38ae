//! Payments end to end against a real anvil: the invoice lifecycle, the
//! ledger and the webhooks, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

use coffer_domain::{
    Address, Amount, AssetId, AssetSymbol, ChainId, DepositAddress, DerivationIndex, Exceptions, Invoice, InvoiceId,
    InvoiceStatus, Timestamp, U256,
};
use coffer_store::NewInvoice;
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::{Value, json};

use crate::shop::shop;

on_both_backends!(
    a_usdt_invoice_settles_after_its_confirmations,
    an_eth_invoice_settles_after_its_confirmations,
    partial_payments_add_up,
    an_overpaid_invoice_settles_in_full,
    an_expired_invoice_paid_late_settles_and_is_flagged,
    a_payment_in_the_wrong_asset_is_recorded_not_credited,
    an_invalidated_invoice_credits_nothing,
);

const USDT_12_50: u64 = 12_500_000;

fn events(list: &[&str]) -> Vec<String> {
    list.iter().map(|e| (*e).to_owned()).collect()
}

async fn a_usdt_invoice_settles_after_its_confirmations(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();
    let tx = shop.pay(&invoice, "USDT", USDT_12_50).await;

    // Seen in one block: processing, not credited.
    let processing = shop.until_status(id, "processing").await;
    let payment = &processing["payments"][0];
    assert_eq!(payment["tx_hash"], tx.to_string());
    assert_eq!((payment["confirmations"].as_u64(), payment["confirmed"].as_bool()), (Some(1), Some(false)));
    assert!(payment["log_index"].is_u64());
    assert_eq!((&processing["paid"], &processing["paid_units"]), (&json!("12.5"), &json!("12500000")));
    assert_eq!(shop.balance("USDT").await, "0");

    // The second confirmation settles it and credits the merchant.
    shop.mine(1).await;
    let settled = shop.until_status(id, "settled").await;
    assert!(settled["payments"][0]["confirmations"].as_u64().unwrap() >= 2);
    assert_eq!(settled["payments"][0]["confirmed"], true);
    assert_eq!(shop.balance("USDT").await, "12500000");
    assert_eq!(shop.until_events(id, 2).await, events(&["invoice.processing", "invoice.settled"]));
    let settled_hook = shop.hooks.received.lock().unwrap().iter().find(|r| r.event_type == "invoice.settled").cloned();
    let body = settled_hook.unwrap().body;
    assert_eq!(body["type"], "invoice.settled");
    assert_eq!(body["data"]["invoice"]["status"], "settled");
    assert_eq!(body["data"]["invoice"]["payments"][0]["tx_hash"], tx.to_string());
    shop.assert_books().await;
}

async fn an_eth_invoice_settles_after_its_confirmations(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let invoice = shop.invoice("ETH", "0.5").await;
    let id = invoice["id"].as_str().unwrap();
    shop.pay(&invoice, "ETH", 500_000_000_000_000_000).await;
    let processing = shop.until_status(id, "processing").await;
    assert_eq!(processing["payments"][0]["log_index"], Value::Null, "a native transfer has no log");
    shop.mine(1).await;
    shop.until_status(id, "settled").await;
    assert_eq!(shop.balance("ETH").await, "500000000000000000");
    shop.assert_books().await;
}

async fn partial_payments_add_up(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();
    shop.pay(&invoice, "USDT", 5_000_000).await;
    let seen = shop.until(id, "seen in part", |i| i["paid"] == "5").await;
    assert_eq!((&seen["status"], &seen["exceptions"]), (&json!("new"), &json!([])), "unconfirmed: no exception yet");
    shop.mine(2).await; // the first part confirms: partial now, still not settled, not credited
    let partial = shop.until(id, "paid_partial", |i| i["exceptions"] == json!(["paid_partial"])).await;
    assert_eq!((&partial["status"], &partial["paid"]), (&json!("new"), &json!("5")));
    assert_eq!(shop.balance("USDT").await, "0");

    shop.pay(&invoice, "USDT", 7_500_000).await;
    let processing = shop.until_status(id, "processing").await;
    assert_eq!(processing["exceptions"], json!([]), "no longer partial");
    shop.mine(1).await;
    let settled = shop.until_status(id, "settled").await;
    assert_eq!(settled["payments"].as_array().unwrap().len(), 2);
    assert_eq!(shop.balance("USDT").await, "12500000");
    assert_eq!(
        shop.until_events(id, 3).await,
        events(&["invoice.paid_partial", "invoice.processing", "invoice.settled"])
    );
    shop.assert_books().await;
}

async fn an_overpaid_invoice_settles_in_full(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();
    shop.pay(&invoice, "USDT", 15_000_000).await;
    shop.until_status(id, "processing").await;
    shop.mine(1).await;
    let settled = shop.until_status(id, "settled").await;
    assert_eq!(settled["exceptions"], json!(["paid_over"]));
    assert_eq!(shop.balance("USDT").await, "15000000", "the merchant is credited what arrived; refunds are theirs");
    let hooks = shop.until_events(id, 3).await;
    // paid_over only once the overpayment is confirmed: acting on it then refunds money that arrived.
    assert_eq!(hooks, events(&["invoice.processing", "invoice.paid_over", "invoice.settled"]));
    shop.assert_books().await;
}

async fn an_expired_invoice_paid_late_settles_and_is_flagged(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    // The API's shortest lifetime is a minute; this one, written straight to
    // the store, expires in one second.
    let usdt = AssetId { chain_id: ChainId(31337), symbol: "USDT".parse::<AssetSymbol>().unwrap() };
    let address = Address::repeat_byte(0x5e);
    let invoice = Invoice {
        id: InvoiceId::new(),
        merchant_id: shop.app.merchant,
        status: InvoiceStatus::New,
        exceptions: Exceptions::default(),
        amount: Amount::from_units(usdt, U256::from(USDT_12_50)),
        deposit: DepositAddress { index: DerivationIndex::try_from(2_000_000_000u64).unwrap(), address },
        order_id: None,
        metadata: serde_json::Map::new(),
        created_at: Timestamp::now(),
        // On a whole second: block timestamps are whole seconds, and lateness
        // is judged by the block's time, not the watcher's.
        expires_at: Timestamp::from_millis((Timestamp::now().as_millis() / 1000 + 2) * 1000),
        checkout: coffer_domain::Checkout::random().unwrap(),
    };
    shop.app.store.insert_invoice(NewInvoice { invoice: invoice.clone(), idempotency: None }).await.unwrap();
    shop.app.watchers.watch(&invoice);
    let id = invoice.id.to_string();
    // Expiry follows the chain: the invoice expires once a block stamped at
    // or after its expiry has been read, not when the wall clock passes it.
    // Past the expiry by more than the expiry task's one-second tick.
    let wait = invoice.expires_at.as_millis() - Timestamp::now().as_millis() + 1_500;
    tokio::time::sleep(std::time::Duration::from_millis(wait.max(0) as u64)).await;
    assert_eq!(shop.get(&id).await["status"], "new", "no block after the expiry has been read yet");
    shop.mine(1).await;
    shop.until_status(&id, "expired").await;
    assert_eq!(shop.until_events(&id, 1).await, events(&["invoice.expired"]));

    let view = json!({"address": address.to_checksum(None)});
    shop.pay(&view, "USDT", USDT_12_50).await;
    // Seen before it confirms, so the webhooks below are deterministic (a
    // watcher that read both blocks at once would go straight to settled).
    shop.until_status(&id, "processing").await;
    shop.mine(1).await;
    let settled = shop.until_status(&id, "settled").await;
    assert_eq!(settled["exceptions"], json!(["paid_late"]));
    assert_eq!(settled["payments"][0]["late"], true);
    assert_eq!(
        shop.until_events(&id, 4).await,
        events(&["invoice.expired", "invoice.processing", "invoice.paid_late", "invoice.settled"])
    );
    shop.assert_books().await;
}

async fn a_payment_in_the_wrong_asset_is_recorded_not_credited(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();
    shop.pay(&invoice, "ETH", 12_500_000).await;
    shop.mine(2).await;
    let seen = shop
        .until(id, "wrong_asset and confirmed", |i| {
            i["exceptions"] == json!(["wrong_asset"]) && i["payments"][0]["confirmed"] == true
        })
        .await;
    assert_eq!(seen["status"], "new");
    let payment = &seen["payments"][0];
    assert_eq!(
        (&payment["asset"], &payment["credited"], &seen["paid_units"]),
        (&json!("ETH"), &json!(false), &json!("0"))
    );
    assert_eq!(shop.balance("ETH").await, "0");
    assert_eq!(shop.balance("USDT").await, "0");
    assert_eq!(shop.until_events(id, 1).await, events(&["invoice.wrong_asset"]));
    shop.assert_books().await;
    // The books hold it, in suspense, for a person to refund.
    let report = coffer_watcher::audit::check_ledger(&*shop.app.store).await.unwrap();
    let suspense = report.balances.iter().find(|(a, _)| matches!(a, coffer_domain::Account::Suspense(_)));
    assert_eq!(suspense.map(|(_, b)| b.units()), Some(U256::from(12_500_000u64)));
}

async fn an_invalidated_invoice_credits_nothing(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();
    let invalid = shop.app.post_ok(&format!("/v1/invoices/{id}/invalidate"), json!({})).await;
    assert_eq!(invalid["status"], "invalid");
    let again = shop.app.post_ok(&format!("/v1/invoices/{id}/invalidate"), json!({})).await;
    assert_eq!(again["status"], "invalid", "retrying is safe");
    assert_eq!(shop.until_events(id, 1).await, events(&["invoice.invalid"]));
    shop.pay(&invoice, "USDT", USDT_12_50).await;
    shop.mine(2).await;
    // Recorded and booked (the money is on our address), held in suspense, never credited.
    let held = shop.until(id, "paid and confirmed", |i| i["payments"][0]["confirmed"] == true).await;
    assert_eq!(held["status"], "invalid");
    assert_eq!(shop.balance("USDT").await, "0");
    let report = coffer_watcher::audit::check_ledger(&*shop.app.store).await.unwrap();
    let suspense = report.balances.iter().find(|(a, _)| matches!(a, coffer_domain::Account::Suspense(_)));
    assert_eq!(suspense.map(|(_, b)| b.units()), Some(U256::from(USDT_12_50)));

    // A settled invoice cannot be invalidated.
    let other = shop.invoice("USDT", "1").await;
    let other_id = other["id"].as_str().unwrap();
    shop.pay(&other, "USDT", 1_000_000).await;
    shop.mine(1).await;
    shop.until_status(other_id, "settled").await;
    let refused = shop.app.post(&format!("/v1/invoices/{other_id}/invalidate"), json!({})).await;
    crate::helpers::assert_error(refused, 409, "invalid_state").await;
    shop.assert_books().await;
}
