//! `coffer dev`'s panel drives the chain while a customer watches the
//! checkout page in Chromium: a staged reorganisation takes a confirming
//! payment away and the page goes back to waiting, without a reload; an
//! invoice expired from the panel shows the expired screen. The chain
//! mines only when the panel says (`--block-time 3600`), so each state
//! lasts as long as the test needs it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, ORIGIN};
use serde_json::json;

use crate::browser::{self, Browser, keep_screenshot};
use crate::checkout::Dev;

/// Posts one of the panel's forms, as its own page would.
async fn panel(dev: &Dev, path: &str, body: &str) -> String {
    let base = dev.info["panel_url"].as_str().unwrap();
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{base}{path}"))
        .header(ORIGIN, base)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    // Redirected back to the panel, which says what it did.
    let html = answer.text().await.unwrap();
    html.split("id=\"flash\">").nth(1).unwrap_or_default().split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_reorganisation_sends_the_page_back_to_waiting_and_an_expired_invoice_says_so() {
    if !browser::available() {
        return;
    }
    let dev = Dev::start_with(&["--block-time", "3600"]);
    let paid = dev.post("/v1/invoices", json!({"amount": "0.01", "asset": "ETH", "order_id": "R-1"})).await;
    let abandoned = dev.post("/v1/invoices", json!({"amount": "0.02", "asset": "ETH", "order_id": "E-1"})).await;
    let id = paid["id"].as_str().unwrap();

    let page = Browser::start(true).await;
    page.client.goto(paid["checkout_url"].as_str().unwrap()).await.unwrap();
    page.wait_for_state("waiting", Duration::from_secs(10)).await;
    page.eval("window.__same_document = 'yes'; return 1").await;

    let said = panel(&dev, "/pay", &format!("invoice={id}&amount=")).await;
    assert!(said.starts_with("Paid 0.01 ETH"), "{said}");
    page.wait_for_state("confirming", Duration::from_secs(20)).await;
    assert!(page.text("#status-body").await.contains("1 of 2 confirmations"));

    let said = panel(&dev, "/reorg", "depth=1").await;
    assert!(said.contains("replaced by empty ones"), "{said}");
    page.wait_for_state("waiting", Duration::from_secs(20)).await;
    assert!(page.text("#status-body").await.contains("0.01 ETH"), "the whole amount is due again");
    assert_eq!(page.eval("return window.__same_document || null").await, json!("yes"), "without a reload");

    // Paid again, and the chain moves on: settled.
    panel(&dev, "/pay", &format!("invoice={id}")).await;
    page.wait_for_state("confirming", Duration::from_secs(20)).await;
    panel(&dev, "/mine", "blocks=1").await;
    page.wait_for_state("settled", Duration::from_secs(20)).await;

    page.client.goto(abandoned["checkout_url"].as_str().unwrap()).await.unwrap();
    page.wait_for_state("waiting", Duration::from_secs(10)).await;
    let said = panel(&dev, "/expire", &format!("invoice={}", abandoned["id"].as_str().unwrap())).await;
    assert!(said.contains("expires now"), "{said}");
    page.wait_for_state("expired", Duration::from_secs(20)).await;
    keep_screenshot("checkout-expired.png", &page.screenshot_page().await);

    // The panel lists both, and takes posts from its own page only.
    let base = dev.info["panel_url"].as_str().unwrap();
    let listing = reqwest::get(base).await.unwrap().text().await.unwrap();
    assert!(listing.contains(id) && listing.contains("settled") && listing.contains("expired"));
    let forged = reqwest::Client::new()
        .post(format!("{base}/mine"))
        .header(ORIGIN, "http://evil.example")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("blocks=100")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}
