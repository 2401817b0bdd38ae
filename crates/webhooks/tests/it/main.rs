//! The dispatcher against a real HTTP receiver and a real store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use coffer_domain::{EventId, Timestamp};
use coffer_store::testing::{Kind, TestDatabase, queue_event};
use coffer_store::{DeliveryState, Store, WebhookEndpoint};
use coffer_webhooks::signature::{DELIVERY_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, verify};
use coffer_webhooks::{DispatchConfig, Dispatcher, UrlPolicy};

mod fairness;
mod handover;
mod holding;

/// What the receiver saw: (delivery id, event id, signature valid).
pub(crate) type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// A shop's webhook receiver on loopback that answers 500 to the first
/// `failures` requests, then 204, and checks every signature.
pub(crate) async fn receiver(secret: &'static str, failures: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let log = log.clone();
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let now = Timestamp::now().as_millis() / 1000;
                let valid = verify(secret, &header(SIGNATURE_HEADER), &body, now, 300).is_ok();
                let mut log = log.lock().unwrap();
                log.push((header(DELIVERY_HEADER), header(EVENT_ID_HEADER), valid));
                if log.len() <= failures { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::NO_CONTENT }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

pub(crate) fn config(allow_private: bool) -> DispatchConfig {
    DispatchConfig {
        policy: UrlPolicy { allow_private },
        timeout: Duration::from_secs(2),
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        max_attempts: 5,
        poll_interval: Duration::from_millis(20),
        max_in_flight: 64,
        max_in_flight_per_merchant: 16,
        max_in_flight_per_endpoint: 4,
        redeliveries_per_minute: 60,
    }
}

/// A store with one `invoice.expired` event queued for an endpoint at `url`.
async fn queued(db: &TestDatabase, url: &str, secret: &str) -> (Arc<dyn Store>, WebhookEndpoint, EventId) {
    let store = coffer_store::open(db.backend()).await.unwrap();
    let (endpoint, event) = queue_event(&*store, url, secret).await;
    (store, endpoint, event)
}

#[tokio::test]
async fn a_failing_receiver_gets_signed_retries_until_it_acknowledges() {
    let db = TestDatabase::new(Kind::Sqlite).await.unwrap();
    let (url, seen) = receiver("whsec_shop", 2).await;
    let (store, endpoint, event) = queued(&db, &url, "whsec_shop").await;
    let dispatcher = Dispatcher::new(store.clone(), config(true)).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(dispatcher.clone().run(async move {
        let _ = stopped.await;
    }));
    let mut log = Vec::new();
    for _ in 0..500 {
        log = store.deliveries(endpoint.merchant_id, endpoint.id, None, 10).await.unwrap();
        if log[0].state == DeliveryState::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!((log[0].state, log[0].attempts, log[0].last_status), (DeliveryState::Delivered, 3, Some(204)));
    let attempts = seen.lock().unwrap().clone();
    assert_eq!(attempts.len(), 3, "500, 500, then 204: no more");
    assert!(attempts.iter().all(|(_, _, valid)| *valid), "every attempt is signed: {attempts:?}");
    let same_ids = attempts.iter().all(|(d, e, _)| *d == log[0].id.to_string() && *e == event.to_string());
    assert!(same_ids, "one delivery id and event id across retries: {attempts:?}");
    assert_eq!(dispatcher.stats().delivered.load(std::sync::atomic::Ordering::Relaxed), 1);
    stop.send(()).unwrap();
    running.await.unwrap();
}

#[tokio::test]
async fn a_private_address_is_refused_at_delivery_time_too() {
    let db = TestDatabase::new(Kind::Sqlite).await.unwrap();
    let (url, seen) = receiver("whsec_shop", 0).await;
    // Registered while private URLs were allowed (or its DNS changed since): the
    // dispatcher's own resolver still refuses to connect. "localhost" goes
    // through DNS, as a rebinding name would.
    let url = url.replace("127.0.0.1", "localhost");
    let (store, endpoint, _) = queued(&db, &url, "whsec_shop").await;
    let mut strict = config(false);
    strict.max_attempts = 1;
    let dispatcher = Dispatcher::new(store.clone(), strict).unwrap();
    let running = tokio::spawn(dispatcher.clone().run(tokio::time::sleep(Duration::from_millis(500))));
    running.await.unwrap();
    assert!(seen.lock().unwrap().is_empty(), "nothing reached the private address");
    let log = store.deliveries(endpoint.merchant_id, endpoint.id, None, 10).await.unwrap();
    assert_eq!(log[0].state, DeliveryState::Failed);
    let error = log[0].last_error.clone().unwrap();
    assert!(error.contains("localhost is not a public address"), "{error}");
    assert!(!error.contains("127.0.0.1"), "the delivery log does not say what the name resolved to: {error}");
}
