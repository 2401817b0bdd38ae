#![allow(clippy::unwrap_used)]

//! M-of-N approvals through the real signer: below M, a duplicate, a key
//! the signer does not list, a forged name, an altered digest, an expired
//! round and another payout's approval release nothing; M valid ones
//! release the payout once; one rejection refuses it.

use std::time::Duration;

use alloy_primitives::Address;
use coffer_signer_api::{Decision, Digest, PayoutApproval, PayoutIntent};
use serde_json::{Value, json};

use super::approvers::{approvals_toml, approver, public, sign};
use super::harness::{Limits, Treasury, merchant, payout_id, usdt};

fn policy(ttl_secs: u64) -> Limits {
    Limits {
        usdt_extra: "approval_above = \"100\"".into(),
        policy_extra: approvals_toml(ttl_secs, 0),
        ..Limits::default()
    }
}

/// The round's digest as an approver's tool computes it, from the fields.
fn digest_of(id: &str, whole: u64, to: Address, state: &Value) -> Digest {
    let payout: PayoutIntent = serde_json::from_value(json!({ "id": id, "merchant": merchant(), "chain_id": 31337,
        "asset": "USDT", "amount": usdt(whole).to_string(), "destination": to }))
    .unwrap();
    let ask = PayoutApproval { payout, expires_at: state["expires_at"].as_i64().unwrap() };
    let digest = ask.digest();
    assert_eq!(state["digest"], digest.to_string(), "the signer's digest is the fields' digest");
    digest
}

#[tokio::test]
async fn a_payout_above_the_threshold_goes_out_only_with_m_distinct_valid_approvals_and_once() {
    let mut treasury = Treasury::new(policy(3600)).await;
    treasury.fund_hot(10, 10_000_000_000).await;
    treasury.start().await;
    let to = Address::repeat_byte(0x51);
    assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(100), to).await.body["state"], "broadcast", "at the threshold");

    let id = payout_id();
    let waiting = treasury.pay(&id, "USDT", usdt(150), to).await;
    assert_eq!(waiting.body["state"], "pending_approval", "{}", waiting.body);
    assert_eq!(waiting.body["quorum"], 2);
    let digest = digest_of(&id, 150, to, &waiting.body);

    let refused = |answer: &super::harness::Answer, status: u16, rule: &str| {
        assert_eq!(answer.status, status, "{answer:?}");
        assert_eq!(answer.body["error"]["rule"], rule, "{}", answer.body);
    };
    refused(&treasury.approve(&id, &sign(&approver(9), Decision::Approve, digest)).await, 401, "approval.signature");
    let mut forged = sign(&approver(9), Decision::Approve, digest);
    forged.approver = public(&approver(2));
    refused(&treasury.approve(&id, &forged).await, 401, "approval.signature");
    let mut altered = serde_json::from_value::<PayoutIntent>(json!({ "id": id, "merchant": merchant(),
        "chain_id": 31337, "asset": "USDT", "amount": usdt(151).to_string(), "destination": to }))
    .unwrap();
    let altered_digest =
        PayoutApproval { payout: altered.clone(), expires_at: waiting.body["expires_at"].as_i64().unwrap() }.digest();
    refused(
        &treasury.approve(&id, &sign(&approver(2), Decision::Approve, altered_digest)).await,
        409,
        "approval.mismatch",
    );
    altered.amount = usdt(150);
    altered.id = payout_id().parse().unwrap();
    let other = PayoutApproval { payout: altered, expires_at: waiting.body["expires_at"].as_i64().unwrap() }.digest();
    refused(&treasury.approve(&id, &sign(&approver(2), Decision::Approve, other)).await, 409, "approval.mismatch");

    let one = treasury.approve(&id, &sign(&approver(1), Decision::Approve, digest)).await;
    assert_eq!(one.body["state"], "pending_approval", "{}", one.body);
    assert_eq!(one.body["approved_by"], json!(["approver-1"]));
    let twice = treasury.approve(&id, &sign(&approver(1), Decision::Approve, digest)).await;
    assert_eq!(twice.body["approved_by"], json!(["approver-1"]), "the same approver counts once");
    assert_eq!(treasury.usdt(to).await, usdt(100), "nothing of it moved below the quorum");

    let two = treasury.approve(&id, &sign(&approver(2), Decision::Approve, digest)).await;
    assert_eq!(two.body["state"], "broadcast", "{}", two.body);
    treasury.wait_for(&id, "confirmed").await;
    assert_eq!(treasury.usdt(to).await, usdt(250));
    let late = treasury.approve(&id, &sign(&approver(3), Decision::Approve, digest)).await;
    refused(&late, 409, "approval.not_waiting");
    assert_eq!(treasury.usdt(to).await, usdt(250), "paid once");
}

#[tokio::test]
async fn an_expired_round_waits_again_under_a_new_digest_and_one_rejection_refuses() {
    let mut treasury = Treasury::new(policy(3)).await;
    treasury.fund_hot(10, 10_000_000_000).await;
    treasury.start().await;
    let to = Address::repeat_byte(0x52);
    let id = payout_id();
    let first = treasury.pay(&id, "USDT", usdt(500), to).await;
    let old = digest_of(&id, 500, to, &first.body);
    let one = treasury.approve(&id, &sign(&approver(1), Decision::Approve, old)).await;
    assert_eq!(one.body["approved_by"], json!(["approver-1"]));

    // The round ends: the payout waits again, under a new expiry and digest, with nobody's approval.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let again = loop {
        let status = treasury.status(&id).await;
        if status.body["digest"] != old.to_string() {
            break status.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(again["state"], "pending_approval", "{again}");
    assert_eq!(again["approved_by"], json!([]));
    let expired = treasury.approve(&id, &sign(&approver(2), Decision::Approve, old)).await;
    assert_eq!(expired.status, 409, "{expired:?}");
    assert_eq!(expired.body["error"]["rule"], "approval.mismatch");

    let new = digest_of(&id, 500, to, &again);
    let approve = treasury.approve(&id, &sign(&approver(1), Decision::Approve, new)).await;
    assert_eq!(approve.body["state"], "pending_approval");
    let reject = treasury.approve(&id, &sign(&approver(3), Decision::Reject, new)).await;
    assert_eq!(reject.body["state"], "refused", "{}", reject.body);
    assert_eq!(reject.body["rule"], "approval.rejected");
    assert!(reject.body["message"].as_str().unwrap().contains("approver-3"));
    assert_eq!(treasury.usdt(to).await, alloy_primitives::U256::ZERO);
}
