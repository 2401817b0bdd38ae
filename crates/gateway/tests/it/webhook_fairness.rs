//! One merchant's webhooks cannot hold up another's: merchant A floods
//! redeliveries to endpoints that hold every request; merchant B's fresh
//! webhooks (one handed over by the chain watcher, one claimed from the
//! outbox) must still arrive while A's requests are being held.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy_primitives::U256;
use coffer_devnet::{Anvil, AnvilOptions, deploy_test_usdt};
use coffer_store::on_both_backends;
use coffer_store::testing::{Kind, TestDatabase};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::helpers::spawn_app_with;
use crate::shop::{Hooks, Shop, shop_config};

on_both_backends!(one_merchants_flood_of_redeliveries_does_not_hold_up_anothers_webhooks);

/// A receiver that answers at once, or, once told to hold, holds every
/// request until told to let go.
#[derive(Clone)]
struct Holding {
    url: String,
    received: Arc<AtomicUsize>,
    held: Arc<AtomicUsize>,
    hold: watch::Sender<bool>,
}

impl Holding {
    async fn start() -> Self {
        let (hold, _) = watch::channel(false);
        let holding = Self { url: String::new(), received: Arc::default(), held: Arc::default(), hold };
        let state = holding.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move || {
                let state = state.clone();
                async move {
                    state.received.fetch_add(1, Ordering::SeqCst);
                    let mut holding = state.hold.subscribe();
                    if *holding.borrow_and_update() {
                        state.held.fetch_add(1, Ordering::SeqCst);
                        let _ = holding.wait_for(|hold| !*hold).await;
                        state.held.fetch_sub(1, Ordering::SeqCst);
                    }
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, ..holding }
    }
}

/// A shop (merchant B) whose attempts may take 30 s: A's held requests
/// stay in flight for as long as the test holds them.
async fn patient_shop(kind: Kind) -> Option<Shop> {
    let db = Arc::new(TestDatabase::new(kind).await?);
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await.unwrap();
    let payer = rpc.accounts().await.unwrap()[1];
    token.mint(rpc, payer, U256::from(1_000_000_000_000u64)).await.unwrap();
    let mut config = shop_config(&db, &anvil.http_url(), token.address, 1);
    config.webhooks.timeout_secs = 30;
    let app = spawn_app_with(db, &config).await;
    let hooks = Hooks::start().await;
    let all = coffer_domain::EventType::ALL.map(|e| e.as_str());
    let created = app.post_ok("/v1/webhooks", json!({"url": hooks.url, "events": all})).await;
    *hooks.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();
    let webhook_id = created["id"].as_str().unwrap().to_owned();
    let shop = Shop { app, anvil, token, payer, hooks, webhook_id };
    shop.until_following().await;
    Some(shop)
}

async fn one_merchants_flood_of_redeliveries_does_not_hold_up_anothers_webhooks(kind: Kind) {
    let Some(shop) = patient_shop(kind).await else { return };
    let app = &shop.app;
    let (_, a_key) = app.other_merchant().await;
    let a_post = |path: String, body: Value| {
        let request = app.client.post(app.url(&path)).bearer_auth(&a_key).json(&body);
        async move { request.send().await.unwrap() }
    };

    // Merchant A: 16 endpoints, and 4 invalidated invoices: 64 deliveries, acknowledged at once.
    let a_hooks = Holding::start().await;
    let mut endpoints = Vec::new();
    for _ in 0..16 {
        let created: Value = a_post("/v1/webhooks".into(), json!({"url": a_hooks.url, "events": ["invoice.invalid"]}))
            .await
            .json()
            .await
            .unwrap();
        endpoints.push(created["id"].as_str().unwrap().to_owned());
    }
    for _ in 0..4 {
        let invoice: Value =
            a_post("/v1/invoices".into(), json!({"amount": "1", "asset": "USDT"})).await.json().await.unwrap();
        let invalidated =
            a_post(format!("/v1/invoices/{}/invalidate", invoice["id"].as_str().unwrap()), json!({})).await;
        assert_eq!(invalidated.status(), 200);
    }
    let mut deliveries = Vec::new();
    for _ in 0..1000 {
        deliveries.clear();
        for endpoint in &endpoints {
            let log: Value =
                app.get_as(&a_key, &format!("/v1/webhooks/{endpoint}/deliveries")).await.json().await.unwrap();
            for d in log["data"].as_array().unwrap() {
                deliveries.push((endpoint.clone(), d["id"].as_str().unwrap().to_owned(), d["status"] == "delivered"));
            }
        }
        if deliveries.len() == 64 && deliveries.iter().all(|d| d.2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(deliveries.len() == 64 && deliveries.iter().all(|d| d.2), "A's deliveries: {deliveries:?}");

    // A's endpoints now hold every request, and A redelivers everything.
    a_hooks.hold.send_replace(true);
    let mut accepted = 0;
    for (endpoint, delivery, _) in &deliveries {
        let response = a_post(format!("/v1/webhooks/{endpoint}/deliveries/{delivery}/redeliver"), json!({})).await;
        match response.status().as_u16() {
            202 => accepted += 1,
            429 => {}
            other => panic!("redelivery answered {other}: {}", response.text().await.unwrap()),
        }
    }
    assert!(accepted >= 16, "{accepted} redeliveries accepted");
    for _ in 0..500 {
        if a_hooks.held.load(Ordering::SeqCst) >= 16 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(a_hooks.held.load(Ordering::SeqCst) >= 16, "A's flood is in flight");

    // Merchant B: one invoice settles (handed over by the watcher), one is invalidated (claimed).
    let paid = shop.invoice("USDT", "1").await;
    let refused = shop.invoice("USDT", "1").await;
    shop.pay(&paid, "USDT", 1_000_000).await;
    let invalidated =
        app.post(&format!("/v1/invoices/{}/invalidate", refused["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(invalidated.status(), 200);
    let (paid, refused) = (paid["id"].as_str().unwrap(), refused["id"].as_str().unwrap());
    let arrived = || {
        shop.hooks.events_for(paid).contains(&"invoice.settled".to_owned())
            && shop.hooks.events_for(refused).contains(&"invoice.invalid".to_owned())
    };
    // A bound on the wait, not a timing: what is asserted is the order.
    let mut held_when_b_arrived = None;
    for _ in 0..1000 {
        if arrived() {
            held_when_b_arrived = Some(a_hooks.held.load(Ordering::SeqCst));
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a_hooks.hold.send_replace(false);
    for _ in 0..3000 {
        if arrived() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(arrived(), "B's webhooks never arrived: {:?}", shop.hooks.received.lock().unwrap());
    let held = held_when_b_arrived.expect("B's webhooks arrived only once A's held requests were let go");
    assert!(held >= 16, "B's webhooks arrived while {held} of A's requests were held");
    shop.assert_books().await;
}
