#![allow(clippy::unwrap_used)]

//! A transaction the chain does not mine is replaced with the same nonce
//! and a higher fee, so only one of the two can ever be mined.

use std::time::{Duration, Instant};

use alloy_primitives::Address;
use serde_json::json;

use super::harness::{Limits, Treasury, payout_id, usdt};

#[tokio::test]
async fn a_stuck_payout_is_replaced_with_the_same_nonce_and_paid_once() {
    let mut treasury = Treasury::new(Limits { bump_after_secs: 1, ..Limits::default() }).await;
    treasury.fund_hot(10, 50_000_000_000).await;
    treasury.start().await;
    treasury.stop_mining().await;
    let to = Address::repeat_byte(0x61);
    let id = payout_id();
    let first = treasury.pay(&id, "USDT", usdt(7), to).await;
    assert_eq!(first.body["state"], "broadcast", "{}", first.body);
    let original = first.body["transfer"]["tx_hash"].as_str().unwrap().to_owned();
    let nonce = first.body["transfer"]["nonce"].clone();

    // Nothing is mined: within a few seconds the signer sends a replacement.
    let deadline = Instant::now() + Duration::from_secs(20);
    let replacement = loop {
        let now = treasury.status(&id).await.body;
        let hash = now["transfer"]["tx_hash"].as_str().unwrap().to_owned();
        if hash != original {
            assert_eq!(now["transfer"]["nonce"], nonce, "a replacement keeps the nonce: {now}");
            break hash;
        }
        assert!(Instant::now() < deadline, "no replacement of {original}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let pending = treasury.anvil.rpc().call("eth_getTransactionByHash", json!([replacement])).await.unwrap();
    assert_eq!(pending["nonce"], json!(format!("{:#x}", nonce.as_u64().unwrap())), "{pending}");

    let treasury = treasury.resume_mining().await;
    let done = treasury.wait_for(&id, "confirmed").await;
    let mined = done["transfer"]["tx_hash"].as_str().unwrap().to_owned();
    let rpc = treasury.anvil.rpc();
    let original_receipt = rpc.receipt(original.parse().unwrap()).await.unwrap();
    let replacement_receipt = rpc.receipt(replacement.parse().unwrap()).await.unwrap();
    assert!(
        original_receipt.is_some() != replacement_receipt.is_some(),
        "exactly one of the two is mined: {original_receipt:?} {replacement_receipt:?}"
    );
    assert!(mined == original || mined == replacement);
    assert_eq!(treasury.usdt(to).await, usdt(7), "paid once");
}
