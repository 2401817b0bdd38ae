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

/// The gateway host is the attacker's and so are its lists (its database
/// can "import" an empty one): the signer screens a payout's destination
/// with its own copy, the lists Coffer ships plus its configured files, and
/// no request can carry a list.
#[tokio::test]
async fn a_payout_to_a_listed_address_sent_straight_to_the_signer_is_refused_from_its_own_lists() {
    let scratch = tempfile::tempdir().unwrap();
    // An operator's own list, in the TagPack format (a theft the shipped lists do not know).
    let own = Address::repeat_byte(0x5e);
    let pack = scratch.path().join("our-incidents.yaml");
    std::fs::write(
        &pack,
        format!(
            "title: our incidents\ncreator: treasury team\nlastmod: 2026-11-30\nis_public: false\ncategory: user\n\
             abuse: hacker\ntags:\n- address: '{own:#x}'\n  label: hot wallet theft 2026-11\n  currency: ETH\n"
        ),
    )
    .unwrap();
    let limits = Limits { top_extra: format!("screening_lists = [\"{}\"]", pack.display()), ..Limits::default() };
    let mut treasury = Treasury::new(limits).await;
    treasury.fund_hot(10, 50_000_000_000).await;
    treasury.start().await;

    let refused = |answer: &super::harness::Answer| {
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body["state"], "refused", "{}", answer.body);
        (answer.body["rule"].as_str().unwrap().to_owned(), answer.body["message"].as_str().unwrap().to_owned())
    };
    // On OFAC's list as Coffer ships it: the Ronin exploiter, and a Tornado Cash pool.
    for text in ["0x098B716B8Aaf21512996dC57EB0615e2383E2f96", "0xd90e2f925da726b50c4ed8d0fb90ad053324f31b"] {
        let to: Address = text.parse().unwrap();
        let (rule, message) = refused(&treasury.pay(&payout_id(), "USDT", usdt(1), to).await);
        assert_eq!(rule, "destination.denylisted", "{message}");
        assert!(message.contains("line "), "the list and line: {message}");
        assert_eq!(treasury.usdt(to).await, alloy_primitives::U256::ZERO);
    }
    let (rule, message) = refused(&treasury.pay(&payout_id(), "USDT", usdt(1), own).await);
    assert_eq!(rule, "destination.denylisted");
    assert!(message.contains("our-incidents.yaml"), "{message}");
    // A field the protocol does not know (a list, an "allow" flag) is not a way around it.
    let mut body = payout_body(own);
    body["screening"] = json!({"allow": true, "lists": []});
    let answer = treasury.send("POST", "/v1/payouts", &body).await;
    assert_ne!(answer.body["state"], "broadcast", "{answer:?}");
    assert_eq!(treasury.usdt(own).await, alloy_primitives::U256::ZERO);
    // An address on no list is paid as usual.
    let fine = Address::repeat_byte(0x52);
    let paid = treasury.pay(&payout_id(), "USDT", usdt(1), fine).await;
    assert_eq!(paid.body["state"], "broadcast", "{paid:?}");
}
