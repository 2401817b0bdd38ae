//! An open invoice must be watched from its creation, whatever is cut short
//! when: a client that gives up while its invoice waits to be written, then
//! retries with the same Idempotency-Key; an invoice the watcher was never
//! told of (stored by another process that stamped it long before it
//! committed), found by the safety net and its chain read back.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use coffer_domain::{
    Address, Amount, AssetId, AssetSymbol, ChainId, DepositAddress, DerivationIndex, Exceptions, Invoice, InvoiceId,
    InvoiceStatus, Timestamp, U256,
};
use coffer_store::testing::Kind;
use coffer_store::{NewInvoice, on_both_backends};
use serde_json::json;

use crate::rpc_proxy::{Limits, RpcProxy};
use crate::shop::{ChainOptions, shop, shop_with_options};

on_both_backends!(
    a_creation_the_client_gave_up_on_then_retried_is_watched_and_settles,
    an_open_invoice_the_watcher_never_heard_of_is_read_back_from_its_creation,
    a_reorganisation_under_a_read_back_does_not_stall_the_chain,
);

async fn a_creation_the_client_gave_up_on_then_retried_is_watched_and_settles(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let app = &shop.app;
    let body = json!({"amount": "3", "asset": "USDT", "order_id": "A-3"});
    let create = |timeout: Option<Duration>| {
        let request =
            app.client.post(app.url("/v1/invoices")).bearer_auth(&app.key).header("Idempotency-Key", "order-A-3");
        let request = match timeout {
            Some(timeout) => request.timeout(timeout),
            None => request,
        };
        request.json(&body).send()
    };
    // Another process holds the database's write lock: the insert waits
    // there, and the shop gives up on the request meanwhile.
    let lock = app.db.hold_write_lock().await;
    let gave_up = create(Some(Duration::from_millis(500))).await;
    assert!(gave_up.as_ref().is_err_and(reqwest::Error::is_timeout), "the creation waits on the lock: {gave_up:?}");
    // The gateway notices the closed connection and drops the handler; the
    // store commits what was queued once the lock goes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    lock.release().await;

    // The shop retries with the same key, as the docs tell it to: the same invoice.
    let retried = create(None).await.unwrap();
    assert_eq!(retried.status(), 201);
    let replayed = retried.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let invoice: serde_json::Value = retried.json().await.unwrap();
    let id = invoice["id"].as_str().unwrap();
    if kind == Kind::Sqlite {
        // The store's writer carries out what was handed to it; PostgreSQL
        // ends the statement of a connection that went away.
        assert_eq!(replayed.as_deref(), Some("true"), "the first request's invoice was stored");
    }

    // The customer pays: the payment is seen and the invoice settles.
    shop.pay(&invoice, "USDT", 3_000_000).await;
    shop.mine(1).await;
    let settled = shop.until_status(id, "settled").await;
    assert_eq!(settled["paid_units"], "3000000");
    assert_eq!(shop.balance("USDT").await, "3000000");
    shop.assert_books().await;
}

async fn an_open_invoice_the_watcher_never_heard_of_is_read_back_from_its_creation(kind: Kind) {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let url = anvil.http_url();
    let options = ChainOptions { extra: "unwatched_check_secs = 1".into(), ..ChainOptions::default() };
    let Some(shop) = shop_with_options(kind, 2, anvil, url, &options).await else { return };
    // Stored by "another process" and stamped half a minute before it
    // committed: past the overlap other gateways' invoices are looked for
    // with, and never handed to this gateway's watcher.
    let usdt = AssetId { chain_id: ChainId(31337), symbol: "USDT".parse::<AssetSymbol>().unwrap() };
    let address = Address::repeat_byte(0x5f);
    let created_at = Timestamp::now().minus(Duration::from_secs(30));
    let invoice = Invoice {
        id: InvoiceId::new(),
        merchant_id: shop.app.merchant,
        status: InvoiceStatus::New,
        exceptions: Exceptions::default(),
        amount: Amount::from_units(usdt, U256::from(10_000_000u64)),
        deposit: DepositAddress { index: DerivationIndex::try_from(2_000_000_001u64).unwrap(), address },
        order_id: None,
        metadata: serde_json::Map::new(),
        created_at,
        expires_at: created_at.plus_secs(900),
        checkout: coffer_domain::Checkout::random().unwrap(),
    };
    // Paid, and confirmed, and the watcher past those blocks, before the
    // invoice's row commits: only reading the chain back can find the payment.
    let view = json!({"address": address.to_checksum(None)});
    shop.pay(&view, "USDT", 10_000_000).await;
    shop.mine(1).await;
    let head = shop.anvil.rpc().block_number().await.unwrap();
    for _ in 0..500 {
        if shop.chain_health().await["cursor"].as_u64().is_some_and(|cursor| cursor >= head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(shop.chain_health().await["cursor"].as_u64().unwrap() >= head);
    shop.app.store.insert_invoice(NewInvoice { invoice: invoice.clone(), idempotency: None }).await.unwrap();
    let settled = shop.until_status(&invoice.id.to_string(), "settled").await;
    assert_eq!(settled["payments"].as_array().unwrap().len(), 1);
    assert_eq!(shop.balance("USDT").await, "10000000");
    shop.assert_books().await;
}

/// An open invoice the watcher does not know, then at once a one-block
/// reorganisation of the tip the follower has not noticed yet (it polls a
/// slow provider every five seconds): the read-back meets a chain that moved
/// under it. It must not stand in the follower's way: the follower takes in
/// the reorganisation, the read-back is tried again, and an honest payment
/// settles. (Found by review: the read-back was retried for ever, ahead of
/// the follower, and the chain stood still.)
async fn a_reorganisation_under_a_read_back_does_not_stall_the_chain(kind: Kind) {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let proxy =
        RpcProxy::start(anvil.http_url(), Limits { latency: Duration::from_millis(30), ..Limits::default() }).await;
    let options = ChainOptions {
        http_only: true,
        poll_ms: Some(5000),
        extra: "unwatched_check_secs = 1\nlog_range = 50".into(),
        ..ChainOptions::default()
    };
    let Some(shop) = shop_with_options(kind, 2, anvil, proxy.url.clone(), &options).await else { return };
    let rpc = shop.anvil.rpc();
    let before = rpc.snapshot().await.unwrap();
    shop.mine(1).await;
    let head = rpc.block_number().await.unwrap();
    for _ in 0..1000 {
        if shop.chain_health().await["cursor"].as_u64().is_some_and(|c| c >= head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let usdt = AssetId { chain_id: ChainId(31337), symbol: "USDT".parse::<AssetSymbol>().unwrap() };
    let created_at = Timestamp::now().minus(Duration::from_secs(30));
    let stray = Invoice {
        id: InvoiceId::new(),
        merchant_id: shop.app.merchant,
        status: InvoiceStatus::New,
        exceptions: Exceptions::default(),
        amount: Amount::from_units(usdt, U256::from(10_000_000u64)),
        deposit: DepositAddress {
            index: DerivationIndex::try_from(2_000_000_002u64).unwrap(),
            address: Address::repeat_byte(0x5e),
        },
        order_id: None,
        metadata: serde_json::Map::new(),
        created_at,
        expires_at: created_at.plus_secs(900),
        checkout: coffer_domain::Checkout::random().unwrap(),
    };
    shop.app.store.insert_invoice(NewInvoice { invoice: stray, idempotency: None }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    rpc.revert(&before).await.unwrap();
    let from = rpc.accounts().await.unwrap()[0];
    rpc.send_eth(from, Address::repeat_byte(0x42), U256::from(1u64)).await.unwrap();
    shop.mine(1).await;

    let invoice = shop.invoice("USDT", "1").await;
    shop.pay(&invoice, "USDT", 1_000_000).await;
    shop.mine(2).await;
    let id = invoice["id"].as_str().unwrap();
    for _ in 0..60 {
        if shop.get(id).await["status"] == "settled" {
            shop.assert_books().await;
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("the chain never moved past the reorganisation: {}", shop.chain_health().await);
}
