//! Deliveries handed over by the watcher keep to the same shares as claimed
//! ones: one merchant's flood to slow endpoints leaves slots to the others.

use std::time::Duration;

use coffer_domain::Timestamp;
use coffer_store::testing::{Kind, TestDatabase, add_endpoint, merchant_with_endpoint, queue_events};
use coffer_webhooks::Dispatcher;

use crate::holding::{Holding, until};
use crate::{config, receiver};

#[tokio::test]
async fn handed_over_deliveries_keep_to_each_merchants_and_endpoints_share() {
    let db = TestDatabase::new(Kind::Sqlite).await.unwrap();
    let store = coffer_store::open(db.backend()).await.unwrap();
    let mut settings = config(true);
    (settings.max_in_flight, settings.max_in_flight_per_merchant, settings.max_in_flight_per_endpoint) = (8, 4, 2);
    let dispatcher = Dispatcher::new(store.clone(), settings).unwrap();
    let lease = Timestamp::now().plus(Duration::from_secs(60));

    // Merchant A: 3 endpoints that hold every request, 4 invoices' events to each.
    let slow = Holding::start().await;
    let first = merchant_with_endpoint(&*store, &slow.url, "whsec_a").await;
    let mut hooks = vec![first.id];
    for _ in 0..2 {
        hooks.push(add_endpoint(&*store, first.merchant_id, &slow.url, "whsec_a").await.id);
    }
    let mut flood = Vec::new();
    for _ in 0..4 {
        flood.extend(queue_events(&*store, first.merchant_id, 1, lease).await);
    }
    assert_eq!(flood.len(), 12);
    dispatcher.dispatch(flood);
    slow.until_held(4).await;

    // Merchant B's delivery, handed over after A's twelve.
    let (url, seen) = receiver("whsec_b", 0).await;
    let other = merchant_with_endpoint(&*store, &url, "whsec_b").await;
    let fresh = queue_events(&*store, other.merchant_id, 1, lease).await;
    dispatcher.dispatch(fresh.clone());
    until("B's webhook received", || async { !seen.lock().unwrap().is_empty() }).await;
    assert_eq!(slow.held(), 4, "A holds its share, no more, while B's webhook goes through");
    assert_eq!(seen.lock().unwrap()[0].0, fresh[0].id.to_string());
    slow.release();
    until("all of A's delivered", || async { slow.seen().len() == 12 }).await;
}

/// The claim loop takes no more than can start at once: a delivery claimed
/// while every slot is taken would wait past its lease. What is leased is
/// what is in flight.
#[tokio::test]
async fn the_claim_loop_claims_no_more_than_can_start() {
    let db = TestDatabase::new(Kind::Sqlite).await.unwrap();
    let store = coffer_store::open(db.backend()).await.unwrap();
    let slow = Holding::start().await;
    let first = merchant_with_endpoint(&*store, &slow.url, "whsec_a").await;
    add_endpoint(&*store, first.merchant_id, &slow.url, "whsec_a").await;
    for _ in 0..4 {
        queue_events(&*store, first.merchant_id, 1, Timestamp::now()).await;
    }
    let mut settings = config(true);
    (settings.max_in_flight, settings.max_in_flight_per_merchant, settings.max_in_flight_per_endpoint) = (2, 2, 2);
    let dispatcher = Dispatcher::new(store.clone(), settings).unwrap();
    let running = tokio::spawn(dispatcher.clone().run(std::future::pending()));
    slow.until_held(2).await;
    // Some polls later (every 20 ms), still only what is in flight is leased.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let now = Timestamp::now();
    let mut leased = 0;
    for endpoint in store.webhooks(first.merchant_id).await.unwrap() {
        let log = store.deliveries(first.merchant_id, endpoint.id, None, 10).await.unwrap();
        leased += log.iter().filter(|d| d.next_attempt_at.is_some_and(|at| at > now)).count();
    }
    assert_eq!((slow.held(), leased), (2, 2), "claimed only what could start");
    slow.release();
    until("all delivered", || async { slow.seen().len() == 8 }).await;
    running.abort();
}
