//! `/v1/payouts` over real HTTP against a real gateway, with the signer
//! played by `signer_double.rs` (a recording stand-in speaking the signer's
//! signed protocol) until the signer process lands.

#![allow(clippy::unwrap_used)]

use coffer_domain::{PayoutId, U256};
use coffer_store::testing::{Kind, paid_invoice};
use coffer_store::{OutboxState, SignerRequest, on_both_backends};
use serde_json::{Value, json};

use crate::helpers::{SignerKeys, TestApp, assert_error, fund, spawn_app, spawn_app_configured, until_json, usdt};
use crate::signer_double::{SignerDouble, identity};

on_both_backends!(
    payout_over_the_available_balance_is_refused_with_its_code,
    payout_reserves_its_amount_in_the_balances_until_it_confirms,
    payout_retried_with_its_idempotency_key_is_the_same_payout,
    payout_to_a_signer_nobody_listens_on_stays_pending_and_is_retried,
    payout_answers_not_signed_by_the_signer_are_not_believed,
    payout_refused_by_the_signer_releases_the_reserve,
    payout_refunds_stay_within_their_invoice,
    payout_requests_are_checked_and_scoped,
    payout_lists_page_and_filter,
    payout_views_and_requests_are_documented_as_served,
);

const DESTINATION: &str = "0x1111111111111111111111111111111111111111";

/// A gateway whose `[signer]` is the stand-in, and the stand-in.
async fn with_signer(kind: Kind) -> Option<(TestApp, SignerDouble, SignerKeys)> {
    let keys = SignerKeys::new();
    let signer = SignerDouble::start(keys.gateway).await;
    let app = spawn_app_configured(kind, "", &keys.table(&signer.url, &identity().public())).await?;
    Some((app, signer, keys))
}

async fn pay(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/v1/payouts", body).await
}

fn payout(amount: &str) -> Value {
    json!({"amount": amount, "asset": "USDT", "destination": DESTINATION})
}

async fn balances(app: &TestApp) -> Value {
    app.get_as(&app.key, "/v1/balances").await.json().await.unwrap()
}

async fn until_status(app: &TestApp, id: &str, status: &str) -> Value {
    until_json(app, &app.key, &format!("/v1/payouts/{id}"), |p| p["status"] == status).await
}

async fn payout_over_the_available_balance_is_refused_with_its_code(kind: Kind) {
    let Some((app, signer, _keys)) = with_signer(kind).await else { return };
    fund(&app, 10_000_000).await;
    let message = assert_error(pay(&app, payout("10.000001")).await, 422, "insufficient_balance").await;
    assert!(message.contains("10 USDT"), "{message}");
    let page: Value = app.get_as(&app.key, "/v1/payouts").await.json().await.unwrap();
    assert_eq!(page["data"], json!([]), "nothing stored");
    assert_eq!(balances(&app).await["data"][0]["available_units"], "10000000");
    let (_, stranger) = app.other_merchant().await;
    let response =
        app.client.post(app.url("/v1/payouts")).bearer_auth(&stranger).json(&payout("1")).send().await.unwrap();
    assert_error(response, 422, "insufficient_balance").await;
    assert!(signer.posts().is_empty(), "nothing reached the signer");
}

async fn payout_reserves_its_amount_in_the_balances_until_it_confirms(kind: Kind) {
    let Some((app, signer, _keys)) = with_signer(kind).await else { return };
    fund(&app, 10_000_000).await;
    signer.hold();
    let response = pay(&app, payout("2.5")).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("po_"));
    assert_eq!(
        (
            &created["status"],
            &created["amount"],
            &created["amount_units"],
            &created["destination"],
            &created["fee_asset"]
        ),
        (&json!("pending"), &json!("2.5"), &json!("2500000"), &json!(DESTINATION), &json!("ETH"))
    );
    let line = &balances(&app).await["data"][0];
    assert_eq!((&line["available"], &line["reserved"]), (&json!("7.5"), &json!("2.5")), "{line}");
    signer.until_seen(1).await;
    signer.release();
    let confirmed = until_status(&app, &id, "confirmed").await;
    let expected =
        crate::signer_double::transfer(id.parse().unwrap(), DESTINATION.parse().unwrap(), U256::from(2_500_000u64));
    assert_eq!(confirmed["tx_hash"], expected.tx_hash.to_string());
    assert_eq!(
        (&confirmed["network_fee_units"], &confirmed["network_fee"]),
        (&json!("21000"), &json!("0.000000000000021"))
    );
    let line = &balances(&app).await["data"][0];
    assert_eq!((&line["available"], &line["reserved"]), (&json!("7.5"), &json!("0")), "booked out: {line}");
    assert_eq!(signer.decisions(), 1);
    let request = SignerRequest::Payout(id.parse::<PayoutId>().unwrap());
    assert_eq!(app.store.outbox_entry(request).await.unwrap().unwrap().state, OutboxState::Done);
}

async fn payout_retried_with_its_idempotency_key_is_the_same_payout(kind: Kind) {
    let Some((app, signer, _keys)) = with_signer(kind).await else { return };
    fund(&app, 10_000_000).await;
    let keyed = |body: Value| {
        app.client.post(app.url("/v1/payouts")).bearer_auth(&app.key).header("Idempotency-Key", "po-7").json(&body)
    };
    let first = keyed(payout("4")).send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // The same request, spelled otherwise: the same payout, not a second one.
    let again = keyed(json!({"destination": DESTINATION.to_lowercase(), "asset": "usdt", "amount": "4.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_error(keyed(payout("5")).send().await.unwrap(), 409, "idempotency_conflict").await;
    until_status(&app, first["id"].as_str().unwrap(), "confirmed").await;
    assert_eq!(balances(&app).await["data"][0]["available"], "6", "reserved and paid once");
    assert_eq!(signer.decisions(), 1);
}

async fn payout_to_a_signer_nobody_listens_on_stays_pending_and_is_retried(kind: Kind) {
    let keys = SignerKeys::new();
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", nobody.local_addr().unwrap());
    drop(nobody);
    let Some(app) = spawn_app_configured(kind, "", &keys.table(&url, &identity().public())).await else { return };
    fund(&app, 10_000_000).await;
    let created: Value = pay(&app, payout("3")).await.json().await.unwrap();
    let id: PayoutId = created["id"].as_str().unwrap().parse().unwrap();
    let mut entry = None;
    for _ in 0..2000 {
        entry = app.store.outbox_entry(SignerRequest::Payout(id)).await.unwrap();
        if entry.as_ref().is_some_and(|e| e.attempts >= 3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let entry = entry.unwrap();
    assert!(entry.attempts >= 3, "retried: {entry:?}");
    assert_eq!(entry.state, OutboxState::Submit, "never acknowledged, still to submit");
    assert!(entry.last_error.as_deref().unwrap_or_default().contains("did not answer"), "{entry:?}");
    let stored: Value = app.get_as(&app.key, &format!("/v1/payouts/{id}")).await.json().await.unwrap();
    assert_eq!(stored["status"], "pending");
    assert_eq!(balances(&app).await["data"][0]["reserved"], "3", "still reserved: nothing lost");
}

async fn payout_answers_not_signed_by_the_signer_are_not_believed(kind: Kind) {
    let keys = SignerKeys::new();
    // An impostor: it verifies the gateway's requests but signs with another key.
    let impostor =
        SignerDouble::start_signing_with(keys.gateway, coffer_signer_api::IdentityKey::from_secret(&[9; 32])).await;
    let table = keys.table(&impostor.url, &identity().public());
    let Some(app) = spawn_app_configured(kind, "", &table).await else { return };
    fund(&app, 10_000_000).await;
    let created: Value = pay(&app, payout("3")).await.json().await.unwrap();
    let id: PayoutId = created["id"].as_str().unwrap().parse().unwrap();
    impostor.until_seen(2).await;
    let mut entry = app.store.outbox_entry(SignerRequest::Payout(id)).await.unwrap().unwrap();
    for _ in 0..2000 {
        if entry.last_error.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        entry = app.store.outbox_entry(SignerRequest::Payout(id)).await.unwrap().unwrap();
    }
    assert!(entry.last_error.as_deref().unwrap_or_default().contains("not signed by its identity key"), "{entry:?}");
    assert_eq!(entry.state, OutboxState::Submit);
    let stored: Value = app.get_as(&app.key, &format!("/v1/payouts/{id}")).await.json().await.unwrap();
    assert_eq!(stored["status"], "pending", "the impostor's broadcast is not believed");
}

async fn payout_refused_by_the_signer_releases_the_reserve(kind: Kind) {
    let Some((app, _signer, _keys)) = with_signer(kind).await else { return };
    fund(&app, 10_000_000).await;
    let created: Value = pay(&app, payout("0.000013")).await.json().await.unwrap();
    let refused = until_status(&app, created["id"].as_str().unwrap(), "refused").await;
    assert_eq!(refused["refusal"], json!({"rule": "limit.per_payout", "message": "13 is too much"}));
    let line = &balances(&app).await["data"][0];
    assert_eq!((&line["available"], &line["reserved"]), (&json!("10"), &json!("0")), "released: {line}");
}

async fn payout_refunds_stay_within_their_invoice(kind: Kind) {
    let Some((app, _signer, _keys)) = with_signer(kind).await else { return };
    // Paid 12 for 10: 2 may be refunded, from the merchant's balance.
    let (over, _) = paid_invoice(&*app.store, app.merchant, usdt(10_000_000), U256::from(12_000_000u64), true).await;
    let refund = |amount: &str| json!({"amount": amount, "asset": "USDT", "destination": DESTINATION, "refund_of": over.id.to_string()});
    assert_error(pay(&app, refund("2.01")).await, 422, "refund_exceeds_invoice").await;
    let first: Value = pay(&app, refund("1.5")).await.json().await.unwrap();
    assert_eq!(first["refund_of"], over.id.to_string());
    let message = assert_error(pay(&app, refund("1")).await, 422, "refund_exceeds_invoice").await;
    assert!(message.contains("0.5 USDT"), "{message}");
    until_status(&app, first["id"].as_str().unwrap(), "confirmed").await;
    assert_eq!(balances(&app).await["data"][0]["available"], "10.5");
    // An invoice paid exactly has nothing to refund; another merchant's is not found.
    let exact = crate::helpers::fund(&app, 1_000_000).await;
    let body = json!({"amount": "0.1", "asset": "USDT", "destination": DESTINATION, "refund_of": exact.id.to_string()});
    assert_error(pay(&app, body.clone()).await, 409, "invalid_state").await;
    let (_, stranger) = app.other_merchant().await;
    let response = app.client.post(app.url("/v1/payouts")).bearer_auth(&stranger).json(&body).send().await.unwrap();
    assert_error(response, 404, "not_found").await;
}

async fn payout_requests_are_checked_and_scoped(kind: Kind) {
    let Some((app, _signer, _keys)) = with_signer(kind).await else { return };
    fund(&app, 10_000_000).await;
    let cases = [
        (json!({"amount": 1, "asset": "USDT", "destination": DESTINATION}), 422, "invalid_amount"),
        (payout("0"), 422, "invalid_amount"),
        (json!({"amount": "1", "asset": "DOGE", "destination": DESTINATION}), 422, "unknown_asset"),
        (json!({"amount": "1", "asset": "USDT", "destination": "0x12"}), 422, "invalid_destination"),
        (
            json!({"amount": "1", "asset": "USDT", "destination": "0x0000000000000000000000000000000000000000"}),
            422,
            "invalid_destination",
        ),
        (
            json!({"amount": "1", "asset": "USDT", "destination": "0xdAC17F958D2ee523a2206206994597C13D831eC7"}),
            422,
            "invalid_destination",
        ),
        (json!({"amount": "1", "asset": "USDT", "destination": DESTINATION, "to": "x"}), 422, "invalid_request"),
    ];
    for (body, status, code) in cases {
        assert_error(pay(&app, body.clone()).await, status, code).await;
    }
    let invoices_only = app.key_for(app.merchant, "invoices:read,invoices:write,balances:read").await;
    let response =
        app.client.post(app.url("/v1/payouts")).bearer_auth(&invoices_only).json(&payout("1")).send().await.unwrap();
    assert_error(response, 403, "insufficient_scope").await;
    assert_error(app.get_as(&invoices_only, "/v1/payouts").await, 403, "insufficient_scope").await;
    assert_error(app.get_as(&app.key, &format!("/v1/payouts/{}", PayoutId::new())).await, 404, "not_found").await;
    assert_error(app.get_as(&app.key, "/v1/payouts/nope").await, 404, "not_found").await;
    // Payout events carry payouts: subscribing needs payouts:read.
    let hooks = app.key_for(app.merchant, "invoices:read,webhooks:write").await;
    let body = json!({"url": "https://shop.example/hooks", "events": ["payout.confirmed"]});
    let response = app.client.post(app.url("/v1/webhooks")).bearer_auth(&hooks).json(&body).send().await.unwrap();
    assert_error(response, 403, "insufficient_scope").await;
    // Without a [signer], no payouts.
    let Some(plain) = spawn_app(kind).await else { return };
    assert_error(pay(&plain, payout("1")).await, 503, "payouts_unavailable").await;
}

async fn payout_lists_page_and_filter(kind: Kind) {
    let Some((app, _signer, _keys)) = with_signer(kind).await else { return };
    fund(&app, 10_000_000).await;
    let mut ids = Vec::new();
    for amount in ["1", "0.000013", "2"] {
        let created: Value = pay(&app, payout(amount)).await.json().await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    until_status(&app, &ids[1], "refused").await;
    let first: Value = app.get_as(&app.key, "/v1/payouts?limit=2").await.json().await.unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["data"][0]["id"], ids[2], "newest first");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value =
        app.get_as(&app.key, &format!("/v1/payouts?limit=2&cursor={cursor}")).await.json().await.unwrap();
    assert_eq!((second["data"][0]["id"].as_str(), &second["next_cursor"]), (Some(ids[0].as_str()), &Value::Null));
    let refused: Value = app.get_as(&app.key, "/v1/payouts?status=refused").await.json().await.unwrap();
    assert_eq!(refused["data"].as_array().unwrap().len(), 1);
    let usdt: Value = app.get_as(&app.key, "/v1/payouts?asset=usdt&chain_id=31337").await.json().await.unwrap();
    assert_eq!(usdt["data"].as_array().unwrap().len(), 3);
    let eth: Value = app.get_as(&app.key, "/v1/payouts?asset=ETH").await.json().await.unwrap();
    assert_eq!(eth["data"], json!([]));
    assert_error(app.get_as(&app.key, "/v1/payouts?status=paid").await, 422, "invalid_request").await;
    assert_error(app.get_as(&app.key, "/v1/payouts?limit=0").await, 422, "invalid_limit").await;
    assert_error(app.get_as(&app.key, "/v1/payouts?cursor=inv_x").await, 422, "invalid_cursor").await;
    let (_, stranger) = app.other_merchant().await;
    let theirs: Value = app.get_as(&stranger, "/v1/payouts").await.json().await.unwrap();
    assert_eq!(theirs["data"], json!([]), "a merchant sees only its own");
}

async fn payout_views_and_requests_are_documented_as_served(kind: Kind) {
    let Some((app, _signer, _keys)) = with_signer(kind).await else { return };
    fund(&app, 10_000_000).await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
    let schemas = &doc["components"]["schemas"];
    let created: Value = pay(&app, payout("1")).await.json().await.unwrap();
    assert_eq!(keys(&schemas["PayoutView"]["properties"]), keys(&created));
    assert_eq!(
        keys(&schemas["CreatePayout"]["properties"]),
        ["amount", "asset", "chain_id", "destination", "refund_of"].map(String::from).into()
    );
    let line = &balances(&app).await["data"][0];
    assert_eq!(keys(&schemas["BalanceView"]["properties"]), keys(line));
    assert_eq!(keys(&doc["paths"]["/v1/payouts"]), ["get", "post"].map(String::from).into());
    let codes: Vec<&str> =
        schemas["ErrorCode"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for code in ["insufficient_balance", "invalid_destination", "refund_exceeds_invoice", "payouts_unavailable"] {
        assert!(codes.contains(&code), "{code} undocumented");
    }
    assert!(doc["components"]["securitySchemes"]["operator_token"].is_object());
}
