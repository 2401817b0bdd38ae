//! A gateway stopped in the middle of handing payouts to the signer, and
//! started again on the same SQLite file, loses no payout and has each
//! decided once.
//!
//! The signer is `signer_double.rs`, a recording stand-in that verifies the
//! gateway's request signatures with `coffer-signer-api` and answers signed
//! `Outcome`s with an `IdentityKey`, until the signer process lands (its
//! engineer adds the end-to-end test against the real one). "Exactly once"
//! is what the design promises: the outbox is at least once (a request in
//! flight when the gateway stops is sent again by the next one), and the
//! signer decides once per request id, so each payout is submitted more
//! than once but decided, paid and booked once.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use coffer_domain::{PayoutId, U256};
use coffer_signer_api::RequestId;
use coffer_store::PostingKind;
use coffer_store::testing::{Kind, TestDatabase};
use serde_json::{Value, json};

use crate::helpers::{SignerKeys, config_text, fund, spawn_app_with, until_json};
use crate::signer_double::{SignerDouble, identity};

const PAYOUTS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_restarted_mid_submission_submits_each_payout_once() {
    let db = Arc::new(TestDatabase::new(Kind::Sqlite).await.unwrap());
    let keys = SignerKeys::new();
    let signer = SignerDouble::start(keys.gateway).await;
    let text = format!("{}\n{}", config_text(&db), keys.table(&signer.url, &identity().public()));
    let config = coffer_config::Config::from_toml(&text).unwrap();
    let first = spawn_app_with(db.clone(), &config).await;
    fund(&first, 100_000_000).await;

    // The signer receives every payout and answers none: the gateway stops
    // with all of them in flight.
    signer.hold();
    let mut ids = Vec::new();
    for n in 1..=PAYOUTS {
        let body = json!({"amount": n.to_string(), "asset": "USDT", "destination": format!("0x{:040x}", n)});
        let created: Value = first.post_ok("/v1/payouts", body).await;
        assert_eq!(created["status"], "pending");
        ids.push(created["id"].as_str().unwrap().parse::<PayoutId>().unwrap());
    }
    signer.until_seen(PAYOUTS).await;
    let (key, merchant) = (first.key.clone(), first.merchant);
    first.stop().await;

    signer.release();
    let second = spawn_app_with(db.clone(), &config).await;
    for id in &ids {
        until_json(&second, &key, &format!("/v1/payouts/{id}"), |p| p["status"] == "confirmed").await;
    }

    // Each payout reached the signer, was submitted again after the restart,
    // and was decided once: no payout lost, none decided twice.
    let mut posts: HashMap<RequestId, usize> = HashMap::new();
    for id in signer.posts() {
        *posts.entry(id).or_default() += 1;
    }
    assert_eq!(posts.len(), PAYOUTS, "one request id per payout, no other: {posts:?}");
    for id in &ids {
        let sent = posts.get(&RequestId::Payout(*id)).copied().unwrap_or_default();
        assert!(sent >= 2, "payout {id} was submitted {sent} time(s): before the stop, and again after it");
    }
    assert_eq!(signer.decisions(), PAYOUTS);

    // And booked once: one reserve, one book-out and one fee per payout.
    let snapshot = second.store.ledger_snapshot().await.unwrap();
    for id in &ids {
        let count = |kind| snapshot.entries.iter().filter(|e| e.payout_id == Some(*id) && e.kind == kind).count() / 2;
        assert_eq!(
            (count(PostingKind::Reserve), count(PostingKind::Payout), count(PostingKind::NetworkFee)),
            (1, 1, 1),
            "payout {id}"
        );
    }
    let paid: u64 = (1..=PAYOUTS as u64).sum();
    let balance = second.store.merchant_balances(merchant).await.unwrap();
    assert_eq!(balance, vec![crate::helpers::usdt(100_000_000 - paid * 1_000_000)]);
    let reserved = coffer_store::PayoutStore::merchant_reserved(&*second.store, merchant).await.unwrap();
    assert_eq!(reserved[0].units(), U256::ZERO);
}
