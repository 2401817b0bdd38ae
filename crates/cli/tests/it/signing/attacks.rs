#![allow(clippy::unwrap_used)]

//! The gateway host is the attacker's: its request key, any payload, any
//! timing. What it cannot do: forge, replay or age a request, choose a
//! sweep's destination, or have the signer sign anything but an intent.

use alloy_primitives::Address;
use coffer_signer_api::{RequestKey, RequestParts};
use serde_json::json;

use super::harness::{Limits, Treasury, merchant, now, payout_id, sweep_id, usdt};

fn payout_body(to: Address) -> serde_json::Value {
    json!({ "id": payout_id(), "merchant": merchant(), "chain_id": 31337, "asset": "USDT",
        "amount": usdt(1).to_string(), "destination": to })
}

#[tokio::test]
async fn forged_stale_replayed_and_unsigned_requests_are_refused_with_their_tags() {
    let mut treasury = Treasury::new(Limits::default()).await;
    treasury.fund_hot(10, 50_000_000_000).await;
    treasury.start().await;
    let to = Address::repeat_byte(0x51);
    let rule = |answer: &super::harness::Answer| {
        assert_eq!(answer.status, 401, "{answer:?}");
        answer.body["error"]["rule"].as_str().unwrap().to_owned()
    };

    let stranger = RequestKey::generate().unwrap();
    let forged = treasury.send_as(&stranger, "POST", "/v1/payouts", &payout_body(to), now()).await;
    assert_eq!(rule(&forged), "auth.signature");
    let stale = treasury.send_as(&treasury.key, "POST", "/v1/payouts", &payout_body(to), now() - 120).await;
    assert_eq!(rule(&stale), "auth.stale");
    let future = treasury.send_as(&treasury.key, "POST", "/v1/payouts", &payout_body(to), now() + 120).await;
    assert_eq!(rule(&future), "auth.stale");

    // A request captured on the wire and sent again.
    let body = serde_json::to_vec(&payout_body(to)).unwrap();
    let signed =
        treasury.key.sign(&RequestParts { method: "POST", path: "/v1/payouts", body: &body }, now(), [0; 32]).unwrap();
    let first = treasury.send_signed("POST", "/v1/payouts", body.clone(), &signed.to_pairs(), &signed.nonce).await;
    assert_eq!(first.body["state"], "broadcast", "{:?}", first);
    let replayed = treasury.send_signed("POST", "/v1/payouts", body.clone(), &signed.to_pairs(), &signed.nonce).await;
    assert_eq!(rule(&replayed), "auth.replay");
    // The same signature over another amount.
    let mut altered: serde_json::Value = serde_json::from_slice(&body).unwrap();
    altered["amount"] = json!(usdt(1000).to_string());
    let altered = serde_json::to_vec(&altered).unwrap();
    let tampered = treasury.send_signed("POST", "/v1/payouts", altered, &signed.to_pairs(), &signed.nonce).await;
    assert_eq!(rule(&tampered), "auth.signature");

    let unsigned = treasury.send_signed("POST", "/v1/payouts", body, &[], &[0; 16]).await;
    assert_eq!(rule(&unsigned), "auth.malformed");
    // Of all of these, only the first signed request was decided.
    let paid = treasury.wait_for(first.body["id"].as_str().unwrap(), "confirmed").await;
    assert_eq!(treasury.usdt(to).await, usdt(1), "{paid}");
}

#[tokio::test]
async fn no_request_names_a_sweep_destination_or_asks_for_bytes_to_be_signed() {
    let mut treasury = Treasury::new(Limits::default()).await;
    treasury.fund_hot(10, 0).await;
    treasury.start().await;
    let attacker = Address::repeat_byte(0xaa);

    // A sweep that names where to send: the field does not exist.
    let body = json!({ "id": sweep_id(), "chain_id": 31337, "asset": "ETH", "index": 1, "destination": attacker });
    let answer = treasury.send("POST", "/v1/sweeps", &body).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.body["error"]["rule"], "request.malformed");

    // There is no endpoint that signs what the caller hands it.
    for path in ["/v1/sign", "/v1/sign/message", "/v1/sign/typed-data", "/v1/transactions", "/v1/keys", "/v1/export"] {
        let answer = reqwest::Client::new().post(format!("{}{path}", treasury.url)).body("{}").send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 404, "{path}");
    }
    assert_eq!(treasury.eth(attacker).await, alloy_primitives::U256::ZERO);
}
