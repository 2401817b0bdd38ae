//! Clients that give up mid-request. A disconnected client's handler is
//! dropped wherever it was waiting; a write it had handed to the store may
//! still commit. Whatever happened, every read must agree afterwards and a
//! retry must get the answer the first request would have had.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use coffer_gateway::admin;
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

on_both_backends!(a_client_that_gives_up_during_invalidate_gets_the_invalid_invoice_on_retry);

/// The invoice's status as `GET /v1/invoices/{id}` and as the list say it, which must agree.
async fn status_read_alike(app: &TestApp, id: &str) -> Value {
    let one: Value = app.get_as(&app.key, &format!("/v1/invoices/{id}")).await.json().await.unwrap();
    let listed = app.all_invoices().await.into_iter().find(|i| i["id"] == id).unwrap();
    assert_eq!(one["status"], listed["status"], "GET and the list disagree about {id}");
    one["status"].clone()
}

async fn a_client_that_gives_up_during_invalidate_gets_the_invalid_invoice_on_retry(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let id = app.create_ok(json!({"amount": "3", "asset": "USDT"})).await["id"].as_str().unwrap().to_owned();
    assert_eq!(status_read_alike(&app, &id).await, "new");

    // Another process holds the database's write lock: the invalidation
    // reaches the store and waits there until the client gives up.
    let lock = app.db.hold_write_lock().await;
    let gave_up = app
        .client
        .post(app.url(&format!("/v1/invoices/{id}/invalidate")))
        .bearer_auth(&app.key)
        .json(&json!({}))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(gave_up.as_ref().is_err_and(reqwest::Error::is_timeout), "the invalidation waits on the lock: {gave_up:?}");
    lock.release().await;
    // With SQLite, a later write is answered only after every earlier one is done.
    admin::create_merchant(&*app.store, "Later").await.unwrap();
    let after = status_read_alike(&app, &id).await;
    assert!(after == "new" || after == "invalid", "{after}");

    let retry = app.post(&format!("/v1/invoices/{id}/invalidate"), json!({})).await;
    let status = retry.status();
    let body: Value = retry.json().await.unwrap();
    assert_eq!(status, 200, "the retry answers the invalid invoice: {body}");
    assert_eq!(body["status"], "invalid");
    assert_eq!(status_read_alike(&app, &id).await, "invalid");
}
