//! Screening end to end on a real anvil (ADR 0015): a deposit whose sender
//! is on a shipped sanctions list is held off the merchant's books until the
//! operator decides, and a payout to a listed address never leaves the
//! gateway. anvil sends from the sanctioned address by impersonating it;
//! the lists are the ones the gateway ships, not a test fixture.

#![allow(clippy::unwrap_used)]

use alloy_primitives::{Address, U256};
use coffer_store::on_both_backends;
use coffer_store::testing::Kind;
use serde_json::{Value, json};

use crate::helpers::{assert_error, fund};
use crate::shop::{ChainOptions, Shop, unfollowed_shop_configured};

on_both_backends!(
    a_sanctioned_usdt_deposit_is_held_then_released_and_credited_once,
    a_sanctioned_eth_deposit_rejected_is_never_credited,
    a_payout_to_a_listed_address_is_refused_before_the_signer,
    the_operator_traces_a_deposit_back_to_a_sanctioned_source,
);

/// The Ronin bridge exploiter (Lazarus), on OFAC's SDN list: in the shipped
/// `ultrasoundmoney_ofac_ethereum_addresses.csv` and the 0xB10C ETH list.
const SANCTIONED: &str = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96";
const USDT_12_50: u64 = 12_500_000;

/// A shop whose gateway serves the operator's routes, and their token.
async fn screened_shop(kind: Kind) -> Option<(Shop, String)> {
    let anvil = coffer_devnet::Anvil::spawn(coffer_devnet::AnvilOptions::default()).await.unwrap();
    let url = anvil.http_url();
    let (token, digest) = coffer_gateway::admin::operator_token().unwrap();
    let shop = unfollowed_shop_configured(kind, 2, anvil, url, &ChainOptions::default(), |config| {
        config.operator_token_sha256 = Some(digest);
        config.operator_listen_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await?;
    shop.until_following().await;
    Some((shop, token))
}

async fn operator(shop: &Shop, token: &str, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    let url = format!("{}{path}", shop.app.operator.as_deref().unwrap());
    let request = match method {
        "GET" => shop.app.client.get(url),
        _ => shop.app.client.post(url).json(&body.unwrap_or(Value::Null)),
    };
    request.bearer_auth(token).send().await.unwrap()
}

/// Sends from the sanctioned address (impersonated, its gas funded).
async fn pay_from_sanctioned(shop: &Shop, invoice: &Value, asset: &str, units: u64) {
    let rpc = shop.anvil.rpc();
    let from: Address = SANCTIONED.parse().unwrap();
    let to: Address = invoice["address"].as_str().unwrap().parse().unwrap();
    rpc.impersonate(from, U256::from(10u64).pow(U256::from(19))).await.unwrap();
    let tx = match asset {
        "ETH" => rpc.send_eth(from, to, U256::from(units)).await.unwrap(),
        _ => {
            shop.token.mint(rpc, from, U256::from(units)).await.unwrap();
            shop.token.send_transfer(rpc, from, to, U256::from(units)).await.unwrap()
        }
    };
    rpc.wait_for_receipt(tx).await.unwrap();
}

/// The invoice once its (only) payment is held and confirmed.
async fn until_held(shop: &Shop, id: &str) -> Value {
    shop.mine(2).await;
    shop.until(id, "held", |i| i["exceptions"].as_array().is_some_and(|e| e.contains(&json!("held")))).await
}

async fn a_sanctioned_usdt_deposit_is_held_then_released_and_credited_once(kind: Kind) {
    let Some((shop, token)) = screened_shop(kind).await else { return };
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();
    pay_from_sanctioned(&shop, &invoice, "USDT", USDT_12_50).await;

    let held = until_held(&shop, id).await;
    let payment = &held["payments"][0];
    assert_eq!(payment["from"].as_str().unwrap().to_lowercase(), SANCTIONED.to_lowercase());
    assert_eq!(payment["hold"]["state"], "held", "{payment:#}");
    assert_eq!(payment["hold"]["category"], "sanction");
    let source = payment["hold"]["source"].as_str().unwrap();
    assert!(source.contains("ofac") || source.contains("sanctioned"), "the hit names its list: {source}");
    assert_ne!(held["status"], "settled", "{held:#}");
    assert_eq!(held["paid_units"], "0", "a held payment pays nothing");
    assert_eq!(shop.balance("USDT").await, "0", "not credited");
    let events = shop.until_events(id, 1).await;
    assert!(events.contains(&"invoice.held".to_owned()), "{events:?}");
    assert!(!events.contains(&"invoice.settled".to_owned()), "{events:?}");
    shop.assert_books().await;

    // Not an operator: no decision. The merchant's key does not open the operator's routes.
    let pay_id = payment["id"].as_str().unwrap().to_owned();
    let release = format!("/v1/operator/payments/{pay_id}/release");
    assert_error(
        operator(&shop, &shop.app.key, "POST", &release, Some(json!({"reason": "x"}))).await,
        401,
        "unauthorized",
    )
    .await;
    let missing_reason = operator(&shop, &token, "POST", &release, Some(json!({"reason": ""}))).await;
    assert_error(missing_reason, 422, "invalid_request").await;

    let listed: Value = operator(&shop, &token, "GET", "/v1/operator/holds", None).await.json().await.unwrap();
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().filter_map(|h| h["id"].as_str()).collect();
    assert_eq!(ids, [pay_id.as_str()], "{listed:#}");

    let decided = operator(&shop, &token, "POST", &release, Some(json!({"reason": "KYC-1: proof of funds"}))).await;
    assert_eq!(decided.status(), 200, "{:?}", decided.text().await);
    let settled = shop.until_status(id, "settled").await;
    assert_eq!(settled["payments"][0]["hold"]["state"], "released");
    assert_eq!(shop.balance("USDT").await, USDT_12_50.to_string(), "credited once");

    // A decision is final: releasing again changes nothing and says so.
    let again = operator(&shop, &token, "POST", &release, Some(json!({"reason": "twice"}))).await;
    assert_error(again, 409, "invalid_state").await;
    shop.mine(3).await;
    let events = shop.until_events(id, 2).await;
    assert_eq!(events.iter().filter(|e| *e == "invoice.settled").count(), 1, "{events:?}");
    assert_eq!(shop.balance("USDT").await, USDT_12_50.to_string(), "still credited once");
    let entries = shop.app.store.entries(0, 1000).await.unwrap();
    let released: Vec<_> = entries.iter().filter(|e| e.record.action == "screening.released").collect();
    assert_eq!(released.len(), 1, "one decision on the audit log");
    assert_eq!(released[0].record.actor, "operator");
    assert_eq!(released[0].record.detail["reason"], "KYC-1: proof of funds");
    assert_eq!(released[0].record.detail["category"], "sanction");
    shop.assert_books().await;
}

async fn a_sanctioned_eth_deposit_rejected_is_never_credited(kind: Kind) {
    let Some((shop, token)) = screened_shop(kind).await else { return };
    let invoice = shop.invoice("ETH", "0.5").await;
    let id = invoice["id"].as_str().unwrap();
    pay_from_sanctioned(&shop, &invoice, "ETH", 500_000_000_000_000_000).await;
    let held = until_held(&shop, id).await;
    let pay_id = held["payments"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(held["payments"][0]["hold"]["state"], "held");

    let reject = format!("/v1/operator/payments/{pay_id}/reject");
    let decided = operator(&shop, &token, "POST", &reject, Some(json!({"reason": "SAR filed"}))).await;
    assert_eq!(decided.status(), 200, "{:?}", decided.text().await);
    let release = format!("/v1/operator/payments/{pay_id}/release");
    assert_error(
        operator(&shop, &token, "POST", &release, Some(json!({"reason": "changed my mind"}))).await,
        409,
        "invalid_state",
    )
    .await;
    shop.mine(3).await;
    let after = shop.until(id, "rejected", |i| i["payments"][0]["hold"]["state"] == "rejected").await;
    assert_ne!(after["status"], "settled", "{after:#}");
    assert_eq!(after["paid_units"], "0");
    assert_eq!(shop.balance("ETH").await, "0", "never credited");
    let rejected: Value =
        operator(&shop, &token, "GET", "/v1/operator/holds?state=rejected", None).await.json().await.unwrap();
    assert_eq!(rejected["data"][0]["id"], pay_id.as_str());
    let waiting: Value = operator(&shop, &token, "GET", "/v1/operator/holds", None).await.json().await.unwrap();
    assert_eq!(waiting["data"], json!([]), "nothing waits any more");
    assert!(!shop.hooks.events_for(id).contains(&"invoice.settled".to_owned()));
    shop.assert_books().await;
}

async fn a_payout_to_a_listed_address_is_refused_before_the_signer(kind: Kind) {
    // No chain watcher here: `fund` books a payment straight into the store,
    // which a live watcher's cursor would race.
    let Some(app) = crate::helpers::spawn_app(kind).await else { return };
    fund(&app, 10_000_000).await;
    // Lower case, as an attacker might hope a checksum-only list would miss.
    let destination = SANCTIONED.to_lowercase();
    let response = app.post("/v1/payouts", json!({"amount": "5", "asset": "USDT", "destination": destination})).await;
    let message = assert_error(response, 422, "destination_screened").await;
    assert!(message.contains("sanction"), "the category: {message}");
    assert!(message.contains(".csv:") || message.contains(".txt:"), "the hit's source, list:line: {message}");
    let page: Value = app.get_as(&app.key, "/v1/payouts").await.json().await.unwrap();
    assert_eq!(page["data"], json!([]), "nothing stored, nothing for the signer");
    let report = coffer_watcher::audit::check_ledger(&*app.store).await.unwrap();
    assert!(report.is_sound(), "{:#?}", report.breaches);
}

/// One hop removed: the sanctioned address pays a go-between, which pays
/// the invoice. Screening does not hold it (the sender is not listed); the
/// operator's trace shows where the money came from.
async fn the_operator_traces_a_deposit_back_to_a_sanctioned_source(kind: Kind) {
    let Some((shop, token)) = screened_shop(kind).await else { return };
    let invoice = shop.invoice("ETH", "0.5").await;
    let deposit = invoice["address"].as_str().unwrap().to_owned();
    let rpc = shop.anvil.rpc();
    let (sanctioned, between): (Address, Address) = (SANCTIONED.parse().unwrap(), Address::repeat_byte(0x4b));
    let ether = U256::from(10u64).pow(U256::from(18));
    rpc.impersonate(sanctioned, ether * U256::from(3u8)).await.unwrap();
    rpc.impersonate(between, ether / U256::from(10u8)).await.unwrap();
    rpc.wait_for_receipt(rpc.send_eth(sanctioned, between, ether).await.unwrap()).await.unwrap();
    let paid = rpc.send_eth(between, deposit.parse().unwrap(), ether / U256::from(2u8)).await.unwrap();
    rpc.wait_for_receipt(paid).await.unwrap();

    let path = format!("/v1/trace?start={deposit}&direction=backward&depth=3");
    assert_error(operator(&shop, &shop.app.key, "GET", &path, None).await, 401, "unauthorized").await;
    let response = operator(&shop, &token, "GET", &path, None).await;
    assert_eq!(response.status(), 200);
    let trace: Value = response.json().await.unwrap();
    let origin = trace["terminals"].as_array().unwrap().iter().find(|t| t["why"] == "origin").cloned();
    let origin = origin.unwrap_or_else(|| panic!("no origin: {trace:#}"));
    assert_eq!(origin["address"].as_str().unwrap().to_lowercase(), SANCTIONED.to_lowercase());
    assert_eq!(origin["amount"], (ether / U256::from(2u8)).to_string(), "half the go-between's ether: FIFO");
    assert_eq!(origin["label"]["category"], "sanction", "{origin:#}");
    assert_eq!(origin["hops"], 2);
    assert!(trace["source"].as_str().unwrap().contains("trace_filter"), "{}", trace["source"]);

    let svg = operator(&shop, &token, "GET", &format!("{path}&format=svg"), None).await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains(&SANCTIONED.to_lowercase()[..8]));
    let csv = operator(&shop, &token, "GET", &format!("{path}&format=csv"), None).await.text().await.unwrap();
    assert!(csv.starts_with("hop,time,block,tx,") && csv.lines().count() == 3, "{csv}");
    let bad = operator(&shop, &token, "GET", "/v1/trace?start=0x12", None).await;
    assert_error(bad, 422, "invalid_request").await;
}
