#![allow(clippy::unwrap_used)]

//! Payouts within policy go out and confirm; each rule refuses with its tag.

use alloy_primitives::{Address, U256};

use super::harness::{Limits, Treasury, payout_id, usdt};

#[tokio::test]
async fn a_payout_within_policy_confirms_on_chain_once_and_answers_the_same_when_asked_again() {
    let mut treasury = Treasury::new(Limits::default()).await;
    treasury.fund_hot(10, 50_000_000_000).await;
    treasury.start().await;
    let to = Address::repeat_byte(0x42);
    let id = payout_id();

    let first = treasury.pay(&id, "USDT", usdt(250), to).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["state"], "broadcast", "{}", first.body);
    let confirmed = treasury.wait_for(&id, "confirmed").await;
    assert_eq!(treasury.usdt(to).await, usdt(250));
    assert_eq!(confirmed["transfer"]["to"].as_str().unwrap().to_lowercase(), format!("{to:#x}"));
    assert!(confirmed["network_fee"].as_str().unwrap().parse::<u128>().unwrap() > 0, "{confirmed}");

    // Asked again (a gateway retrying after its restart): the same answer, no second transfer.
    let again = treasury.pay(&id, "USDT", usdt(250), to).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["state"], "confirmed");
    assert_eq!(again.body["transfer"]["tx_hash"], confirmed["transfer"]["tx_hash"]);
    assert_eq!(treasury.usdt(to).await, usdt(250), "paid once");

    // The same id with another payload is a conflict, never a second decision.
    let other = treasury.pay(&id, "USDT", usdt(251), to).await;
    assert_eq!(other.status, 409, "{other:?}");
    assert_eq!(other.body["error"]["rule"], "request.conflict");
}

#[tokio::test]
async fn each_rule_refuses_with_its_tag_and_a_sentence() {
    // The global limits' own refusals are what this test reads; a breach's
    // freeze is tested in freeze.rs.
    let limits = Limits {
        usdt_per_payout: "100",
        usdt_1h: "250",
        usdt_count_1h: 3,
        policy_extra: "[policy.anomaly]\nfreeze_on_global_limit = false\n".into(),
        ..Limits::default()
    };
    let mut treasury = Treasury::new(limits).await;
    treasury.fund_hot(10, 50_000_000_000).await;
    treasury.start().await;
    let to = Address::repeat_byte(0x43);

    let refused = |answer: &super::harness::Answer| {
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body["state"], "refused", "{}", answer.body);
        assert!(answer.body["message"].as_str().unwrap().len() > 20, "a sentence: {}", answer.body);
        answer.body["rule"].as_str().unwrap().to_owned()
    };
    assert_eq!(refused(&treasury.pay(&payout_id(), "USDT", usdt(101), to).await), "limit.per_payout");
    assert_eq!(refused(&treasury.pay(&payout_id(), "USDC", usdt(1), to).await), "asset.unknown");
    assert_eq!(refused(&treasury.pay(&payout_id(), "USDT", usdt(1), Address::ZERO).await), "destination.invalid");
    assert_eq!(
        refused(&treasury.pay(&payout_id(), "USDT", usdt(1), treasury.token.address).await),
        "destination.invalid"
    );
    assert_eq!(refused(&treasury.pay(&payout_id(), "USDT", usdt(1), treasury.hot).await), "destination.treasury");
    assert_eq!(refused(&treasury.pay(&payout_id(), "USDT", usdt(1), treasury.cold).await), "destination.treasury");

    // 100 + 100 pass; a third 100 would make 300 of the 250 an hour allows.
    for _ in 0..2 {
        let id = payout_id();
        assert_eq!(treasury.pay(&id, "USDT", usdt(100), to).await.body["state"], "broadcast");
    }
    assert_eq!(refused(&treasury.pay(&payout_id(), "USDT", usdt(100), to).await), "velocity.global.1h");
    // 40 fits the amount (240 of 250), and is the third of three an hour allows; a fourth is over the count.
    assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(40), to).await.body["state"], "broadcast");
    assert_eq!(refused(&treasury.pay(&payout_id(), "USDT", U256::from(1u64), to).await), "velocity.global.count.1h");
}

#[tokio::test]
async fn a_payout_the_hot_wallet_cannot_cover_is_refused_and_leaves_no_nonce_gap() {
    let mut treasury = Treasury::new(Limits::default()).await;
    treasury.fund_hot(10, 100_000_000).await; // 100 USDT
    treasury.start().await;
    let to = Address::repeat_byte(0x44);
    let short = treasury.pay(&payout_id(), "USDT", usdt(150), to).await;
    assert_eq!(short.body["rule"], "treasury.insufficient", "{}", short.body);
    // The next payout uses the nonce the refused one did not take, so it is mined.
    let id = payout_id();
    assert_eq!(treasury.pay(&id, "USDT", usdt(60), to).await.body["state"], "broadcast");
    treasury.wait_for(&id, "confirmed").await;
    // 60 in flight or paid: another 60 is more than the 40 left.
    assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(60), to).await.body["rule"], "treasury.insufficient");
}

#[tokio::test]
async fn a_first_payout_to_a_new_destination_waits_out_the_cool_down_then_goes() {
    let limits = Limits { cooldown_secs: 2, ..Limits::default() };
    let mut treasury = Treasury::new(limits).await;
    treasury.fund_hot(10, 50_000_000_000).await;
    treasury.start().await;
    let to = Address::repeat_byte(0x45);
    let id = payout_id();
    let waiting = treasury.pay(&id, "USDT", usdt(5), to).await;
    assert_eq!(waiting.body["state"], "pending_cooldown", "{}", waiting.body);
    assert_eq!(treasury.usdt(to).await, U256::ZERO, "nothing before the cool-down ends");
    treasury.wait_for(&id, "confirmed").await;
    assert_eq!(treasury.usdt(to).await, usdt(5));
}

/// The signer decides on a view of the hot wallet read at one block, which
/// may be older than the transactions it signed since: whatever is not in a
/// block at or below the view's counts as in flight, so payouts racing each
/// other and the chain never sign more than the wallet holds.
#[tokio::test]
async fn payouts_racing_the_chain_never_sign_more_than_the_hot_wallet_holds() {
    let mut treasury = Treasury::new(Limits::default()).await;
    treasury.fund_hot(10, 100_000_000).await; // 100 USDT
    treasury.start().await;
    let destination = |i: u8| Address::repeat_byte(0x60 + i);
    // Eight at once, then one every 30 ms: each is mined as soon as it is
    // sent (anvil mines every transaction), often before the view is read again.
    let wave = futures_util::future::join_all((0..8u8).map(|i| {
        let treasury = &treasury;
        async move { treasury.pay(&payout_id(), "USDT", usdt(10), destination(i)).await }
    }))
    .await;
    let mut answers = wave;
    for i in 8..16u8 {
        answers.push(treasury.pay(&payout_id(), "USDT", usdt(10), destination(i)).await);
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let broadcast: Vec<_> = answers.iter().filter(|a| a.body["state"] == "broadcast").collect();
    let short = answers.iter().filter(|a| a.body["rule"] == "treasury.insufficient").count();
    assert_eq!((broadcast.len(), short), (10, 6), "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
    for answer in broadcast {
        treasury.wait_for(answer.body["id"].as_str().unwrap(), "confirmed").await;
    }
    let paid: Vec<U256> = futures_util::future::join_all((0..16u8).map(|i| treasury.usdt(destination(i)))).await;
    assert_eq!(paid.iter().filter(|p| **p == usdt(10)).count(), 10, "ten paid in full, none reverted: {paid:?}");
    assert_eq!(treasury.usdt(treasury.hot).await, U256::ZERO, "the wallet spent exactly what it held");
}

/// Money that reached the hot wallet after the signer's view was read is
/// not missed: a refusal is final, so it is never made on an old view.
#[tokio::test]
async fn a_payout_right_after_the_hot_wallet_is_funded_goes_out() {
    // The view is read every 3 s here: the payout below comes long before
    // it is read again, and long before a decision would find it stale.
    let mut treasury = Treasury::new(Limits { poll_ms: 3_000, ..Limits::default() }).await;
    treasury.start().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    treasury.fund_hot(10, 50_000_000).await;
    let id = payout_id();
    let answer = treasury.pay(&id, "USDT", usdt(20), Address::repeat_byte(0x47)).await;
    assert_eq!(answer.body["state"], "broadcast", "{}", answer.body);
    treasury.wait_for(&id, "confirmed").await;
}
