//! `/v1/webhooks`: registration, the private-address guard, retries after
//! failures, the delivery log and redelivery.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};
use crate::shop::shop;

on_both_backends!(
    a_receiver_answering_500_gets_signed_retries_then_redelivery,
    webhook_urls_on_private_addresses_are_refused,
    endpoints_are_listed_without_secrets_and_deleted,
    bad_webhook_requests_get_4xx_and_store_nothing,
    registering_a_webhook_needs_invoices_read_too,
    the_endpoint_cap_holds_under_a_burst_of_registrations,
    a_redelivery_is_refused_while_the_event_is_pending_there,
    redeliveries_are_rate_limited_per_merchant,
);

async fn a_receiver_answering_500_gets_signed_retries_then_redelivery(kind: Kind) {
    let Some(shop) = shop(kind, 1).await else { return };
    shop.hooks.fail_first.store(2, Ordering::SeqCst);
    let invoice = shop.invoice("USDT", "1").await;
    let id = invoice["id"].as_str().unwrap();
    shop.pay(&invoice, "USDT", 1_000_000).await;
    shop.until_status(id, "settled").await;
    assert_eq!(shop.until_events(id, 1).await, vec!["invoice.settled".to_owned()], "delivered after two 500s");

    let log_path = format!("/v1/webhooks/{}/deliveries", shop.webhook_id);
    let mut log = Value::Null;
    for _ in 0..300 {
        log = shop.app.get_as(&shop.app.key, &log_path).await.json().await.unwrap();
        if log["data"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delivery = &log["data"][0];
    assert_eq!(
        (&delivery["status"], &delivery["attempts"], &delivery["last_status"]),
        (&json!("delivered"), &json!(3), &json!(200)),
        "{log:#}"
    );
    assert_eq!(delivery["event_type"], "invoice.settled");
    assert_eq!(delivery["invoice_id"], id);
    let received = shop.hooks.received.lock().unwrap().clone();
    assert_eq!(received[0].delivery_id, delivery["id"].as_str().unwrap(), "the delivery id in the header");

    // Redelivery: a new delivery of the same event (receivers deduplicate on the event id).
    let redeliver = format!("{log_path}/{}/redeliver", delivery["id"].as_str().unwrap());
    let response = shop.app.post(&redeliver, json!({})).await;
    assert_eq!(response.status(), 202);
    let queued: Value = response.json().await.unwrap();
    assert_ne!(queued["id"], delivery["id"]);
    assert_eq!(queued["event_id"], delivery["event_id"]);
    for _ in 0..300 {
        if shop.hooks.received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let received = shop.hooks.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].event_id, received[0].event_id);
    assert_eq!(received[1].delivery_id, queued["id"].as_str().unwrap());
    assert_eq!(shop.hooks.events_for(id), vec!["invoice.settled".to_owned()], "one event, delivered twice");
    let unknown = shop.app.post(&format!("{log_path}/whd_0195f3a0c1b27c3e9a4d5e6f70812345/redeliver"), json!({})).await;
    assert_error(unknown, 404, "not_found").await;
    shop.assert_books().await;
}

async fn webhook_urls_on_private_addresses_are_refused(kind: Kind) {
    // The default configuration: private addresses are not allowed.
    let Some(app) = spawn_app(kind).await else { return };
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://10.0.0.7/hooks",
        "http://192.168.1.1/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        // IPv4-translated: 127.0.0.1 and 10.0.0.7 written another way.
        "http://[::ffff:0:7f00:1]/hooks",
        "http://[::ffff:0:10.0.0.7]/hooks",
        "http://0.0.0.0/hooks",
    ] {
        let response = app.post("/v1/webhooks", json!({"url": url, "events": ["invoice.settled"]})).await;
        let message = assert_error(response, 422, "invalid_webhook_url").await;
        assert!(message.contains("is not a public address"), "{url}: {message}");
    }
    // A name's addresses are not the merchant's to learn: the message names the host only.
    let response =
        app.post("/v1/webhooks", json!({"url": "http://localhost/hooks", "events": ["invoice.settled"]})).await;
    let message = assert_error(response, 422, "invalid_webhook_url").await;
    assert!(!message.contains("127.0.0.1") && !message.contains("::1"), "{message}");
    let listed: Value = app.get_as(&app.key, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]), "nothing stored");
}

async fn endpoints_are_listed_without_secrets_and_deleted(kind: Kind) {
    let Some(shop) = shop(kind, 1).await else { return };
    let listed: Value = shop.app.get_as(&shop.app.key, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(listed["data"][0].get("secret").is_none(), "the secret is shown once, at creation");
    let path = format!("/v1/webhooks/{}", shop.webhook_id);
    let one: Value = shop.app.get_as(&shop.app.key, &path).await.json().await.unwrap();
    assert_eq!(one["url"], shop.hooks.url);
    let (_, other_key) = shop.app.other_merchant().await;
    assert_error(shop.app.get_as(&other_key, &path).await, 404, "not_found").await;
    let read_only = shop.app.key_for(shop.app.merchant, "webhooks:read").await;
    let refused = shop.app.client.delete(shop.app.url(&path)).bearer_auth(&read_only).send().await.unwrap();
    assert_error(refused, 403, "insufficient_scope").await;
    let deleted = shop.app.client.delete(shop.app.url(&path)).bearer_auth(&shop.app.key).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let again = shop.app.client.delete(shop.app.url(&path)).bearer_auth(&shop.app.key).send().await.unwrap();
    assert_error(again, 404, "not_found").await;

    // Without an endpoint, a settlement is recorded and delivered to no one.
    let invoice = shop.invoice("USDT", "1").await;
    shop.pay(&invoice, "USDT", 1_000_000).await;
    shop.until_status(invoice["id"].as_str().unwrap(), "settled").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(shop.hooks.received.lock().unwrap().is_empty());
}

async fn bad_webhook_requests_get_4xx_and_store_nothing(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    for (body, status, code) in [
        (json!({"url": "https://shop.example/h", "events": []}), 422, "invalid_request"),
        (json!({"url": "https://shop.example/h", "events": ["invoice.stolen"]}), 422, "invalid_request"),
        (json!({"url": "ftp://shop.example/h", "events": ["invoice.settled"]}), 422, "invalid_webhook_url"),
        (json!({"url": "https://user:pw@shop.example/h", "events": ["invoice.settled"]}), 422, "invalid_webhook_url"),
        (json!({"url": "not a url", "events": ["invoice.settled"]}), 422, "invalid_webhook_url"),
        (json!({"events": ["invoice.settled"]}), 422, "invalid_request"),
        (
            json!({"url": "https://shop.example/h", "events": ["invoice.settled"], "secret": "mine"}),
            422,
            "invalid_request",
        ),
    ] {
        assert_error(app.post("/v1/webhooks", body.clone()).await, status, code).await;
    }
    let invoices_only = app.key_for(app.merchant, "invoices:read,invoices:write").await;
    let response = app
        .client
        .post(app.url("/v1/webhooks"))
        .bearer_auth(&invoices_only)
        .json(&json!({"url": "https://shop.example/h", "events": ["invoice.settled"]}))
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "insufficient_scope").await;
    assert_error(app.get_as(&invoices_only, "/v1/balances").await, 403, "insufficient_scope").await;
    let listed: Value = app.get_as(&app.key, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]));
    let log = app.get_as(&app.key, "/v1/webhooks/wh_0195f3a0c1b27c3e9a4d5e6f70812345/deliveries").await;
    assert_error(log, 404, "not_found").await;
}

/// Deliveries carry whole invoices (order id, metadata): a key that may not
/// read invoices must not route them to a URL of its choice.
async fn registering_a_webhook_needs_invoices_read_too(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let register = |key: String| {
        let request = app.client.post(app.url("/v1/webhooks")).bearer_auth(key);
        request.json(&json!({"url": "https://93.184.215.14/hooks", "events": ["invoice.settled"]})).send()
    };
    let webhooks_only = app.key_for(app.merchant, "webhooks:read,webhooks:write").await;
    let message = assert_error(register(webhooks_only).await.unwrap(), 403, "insufficient_scope").await;
    assert!(message.contains("invoices:read"), "{message}");
    let listed: Value = app.get_as(&app.key, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]), "nothing stored");
    let enough = app.key_for(app.merchant, "webhooks:write,invoices:read").await;
    assert_eq!(register(enough).await.unwrap().status(), 201);
}

/// The cap of 16 endpoints is kept by the write itself: 60 registrations
/// at once, each checking the count before it inserts, made 60 endpoints.
async fn the_endpoint_cap_holds_under_a_burst_of_registrations(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let body = json!({"url": "https://93.184.215.14/hooks", "events": ["invoice.settled"]});
    let answers = futures_util::future::join_all((0..60).map(|_| async {
        let response = app.post("/v1/webhooks", body.clone()).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (status, body["error"]["code"].as_str().map(str::to_owned))
    }))
    .await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    let refused = answers.iter().filter(|a| **a == (409, Some("invalid_state".to_owned()))).count();
    assert_eq!((created, refused), (16, 44), "{answers:?}");
    let listed: Value = app.get_as(&app.key, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 16);
}

/// Redelivering an event that is still pending to that endpoint would only
/// pile up copies (one merchant asked for 192 at once): refused with 409.
async fn a_redelivery_is_refused_while_the_event_is_pending_there(kind: Kind) {
    let Some(shop) = shop(kind, 1).await else { return };
    // The receiver fails for a while: the delivery stays pending, retried.
    shop.hooks.fail_first.store(usize::MAX, Ordering::SeqCst);
    let invoice = shop.invoice("USDT", "1").await;
    let id = invoice["id"].as_str().unwrap();
    assert_eq!(shop.app.post(&format!("/v1/invoices/{id}/invalidate"), json!({})).await.status(), 200);
    let log_path = format!("/v1/webhooks/{}/deliveries", shop.webhook_id);
    let mut log = Value::Null;
    for _ in 0..300 {
        log = shop.app.get_as(&shop.app.key, &log_path).await.json().await.unwrap();
        if log["data"][0]["attempts"].as_u64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pending = log["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(log["data"][0]["status"], "pending", "{log:#}");
    let redeliver = format!("{log_path}/{pending}/redeliver");
    let message = assert_error(shop.app.post(&redeliver, json!({})).await, 409, "redelivery_pending").await;
    assert!(message.contains(&pending), "the message names the pending delivery: {message}");

    // Once it is delivered, it can be sent again.
    shop.hooks.fail_first.store(0, Ordering::SeqCst);
    for _ in 0..500 {
        log = shop.app.get_as(&shop.app.key, &log_path).await.json().await.unwrap();
        if log["data"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(log["data"][0]["status"], "delivered", "{log:#}");
    assert_eq!(shop.app.post(&redeliver, json!({})).await.status(), 202);
    let listed: Value = shop.app.get_as(&shop.app.key, &log_path).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "one redelivery queued, no more: {listed:#}");
}

/// Redelivery requests are limited per merchant (60 a minute by default),
/// whatever they ask for: the 61st is answered 429 with a Retry-After, and
/// another merchant is not affected.
async fn redeliveries_are_rate_limited_per_merchant(kind: Kind) {
    let Some(app) = spawn_app(kind).await else { return };
    let path =
        "/v1/webhooks/wh_0195f3a0c1b27c3e9a4d5e6f70812345/deliveries/whd_0195f3a0c1b27c3e9a4d5e6f70812345/redeliver";
    for n in 0..60 {
        let response = app.post(path, json!({})).await;
        assert_eq!(response.status(), 404, "request {n}");
    }
    let limited = app.post(path, json!({})).await;
    let retry_after = limited.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let message = assert_error(limited, 429, "rate_limited").await;
    assert!(message.contains("redeliver"), "{message}");
    let seconds: u64 = retry_after.expect("a Retry-After header").parse().unwrap();
    assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
    let (_, other_key) = app.other_merchant().await;
    let other = app.client.post(app.url(path)).bearer_auth(&other_key).json(&json!({})).send().await.unwrap();
    assert_error(other, 404, "not_found").await;

    // Both refusals are in the API's description.
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    assert!(codes.as_array().unwrap().contains(&json!("redelivery_pending")), "{codes}");
    assert!(codes.as_array().unwrap().contains(&json!("rate_limited")), "{codes}");
    let answers = &doc["paths"]["/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver"]["post"]["responses"];
    assert!(answers["409"].is_object() && answers["429"]["headers"]["Retry-After"].is_object(), "{answers:#}");
}
