//! Deliveries handed to the dispatcher that wait for their turn: when it
//! comes, they are sent only if still theirs to send.

use std::sync::Arc;
use std::time::Duration;

use coffer_domain::Timestamp;
use coffer_store::testing::{Kind, TestDatabase, merchant_with_endpoint, queue_events};
use coffer_store::{DeliveryState, DueDelivery, Store, WebhookEndpoint};
use coffer_webhooks::Dispatcher;

use crate::config;
use crate::holding::{Holding, until};

/// Two deliveries about one invoice to one endpoint, handed over as a chain
/// step hands them (leased until `lease`): the second waits for the first.
struct Queued {
    store: Arc<dyn Store>,
    hooks: Holding,
    endpoint: WebhookEndpoint,
    deliveries: Vec<DueDelivery>,
    dispatcher: Arc<Dispatcher>,
    _db: TestDatabase,
}

async fn two_in_a_row(lease: Duration) -> Queued {
    let db = TestDatabase::new(Kind::Sqlite).await.unwrap();
    let store = coffer_store::open(db.backend()).await.unwrap();
    let hooks = Holding::start().await;
    let endpoint = merchant_with_endpoint(&*store, &hooks.url, "whsec_shop").await;
    let deliveries = queue_events(&*store, endpoint.merchant_id, 2, Timestamp::now().plus(lease)).await;
    let dispatcher = Dispatcher::new(store.clone(), config(true)).unwrap();
    dispatcher.dispatch(deliveries.clone());
    // The first is being sent (and held); the second waits behind it.
    hooks.until_held(1).await;
    Queued { store, hooks, endpoint, deliveries, dispatcher, _db: db }
}

impl Queued {
    fn id(&self, which: usize) -> String {
        self.deliveries[which].id.to_string()
    }

    /// Waits until the dispatcher is done with the second delivery: sent, or left alone.
    async fn until_second_settled(&self) {
        let second = self.id(1);
        let skipped = self.dispatcher.stats();
        until("the second delivery sent or skipped", || async {
            self.hooks.seen().contains(&second) || skipped.skipped.load(std::sync::atomic::Ordering::SeqCst) > 0
        })
        .await;
    }
}

#[tokio::test]
async fn a_delivery_waiting_its_turn_is_not_sent_once_its_endpoint_is_deleted() {
    let q = two_in_a_row(Duration::from_secs(60)).await;
    assert!(q.store.delete_webhook(q.endpoint.merchant_id, q.endpoint.id, Timestamp::now()).await.unwrap());
    q.hooks.release();
    q.until_second_settled().await;
    assert_eq!(q.hooks.seen(), vec![q.id(0)], "nothing more goes to a deleted endpoint");
}

#[tokio::test]
async fn a_delivery_whose_lease_ran_out_while_it_waited_is_not_sent_twice() {
    let q = two_in_a_row(Duration::from_millis(300)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Another dispatcher finds both due and takes them over (it would send them).
    let now = Timestamp::now();
    let taken = q.store.claim_due_deliveries(now, now.plus_secs(60), 10).await.unwrap();
    assert!(taken.iter().any(|d| d.id == q.deliveries[1].id), "{taken:?}");
    q.hooks.release();
    q.until_second_settled().await;
    assert_eq!(q.hooks.seen(), vec![q.id(0)], "the second is the other dispatcher's to send now");
}

#[tokio::test]
async fn a_delivery_whose_lease_ran_out_unclaimed_is_renewed_then_sent_once() {
    let q = two_in_a_row(Duration::from_millis(300)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    q.hooks.release();
    q.until_second_settled().await;
    assert_eq!(q.hooks.seen(), vec![q.id(0), q.id(1)]);
    let second = q.deliveries[1].id;
    until("the second delivery recorded as delivered, under its renewed lease", || async {
        let log = q.store.deliveries(q.endpoint.merchant_id, q.endpoint.id, None, 10).await.unwrap();
        log.iter().any(|d| d.id == second && d.state == DeliveryState::Delivered)
    })
    .await;
}
