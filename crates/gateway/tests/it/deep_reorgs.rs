//! Reorganisations against money: an unconfirmed overpayment reorganised
//! away leaves no exception a merchant would act on; a credited payment
//! re-mined in another block keeps the books and the chain followed; one
//! that never comes back halts the chain until an operator decides.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use coffer_domain::{ChainId, HaltCode, Timestamp};
use coffer_store::testing::Kind;
use coffer_store::{DisplacedResolution, on_both_backends};
use serde_json::{Value, json};

use crate::shop::{Shop, shop};

on_both_backends!(
    an_overpayment_reorganised_away_leaves_no_paid_over_behind,
    a_credited_payment_re_mined_in_another_block_keeps_the_books_and_the_chain_followed,
    a_credited_payment_that_never_comes_back_halts_until_an_operator_writes_it_off,
);

const CHAIN: ChainId = ChainId(31337);

async fn until_chain_state(shop: &Shop, state: &str) -> Value {
    let mut health = Value::Null;
    for _ in 0..1000 {
        health = shop.chain_health().await;
        if health["state"] == state {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the chain never became {state}: {health}");
}

async fn an_overpayment_reorganised_away_leaves_no_paid_over_behind(kind: Kind) {
    let Some(shop) = shop(kind, 3).await else { return };
    let rpc = shop.anvil.rpc();
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();

    let before = rpc.snapshot().await.unwrap();
    shop.pay(&invoice, "USDT", 1_000_000_000).await; // 1,000 USDT for 12.50
    let seen = shop.until_status(id, "processing").await;
    assert_eq!(seen["exceptions"], json!([]), "unconfirmed: no paid_over a merchant would refund on");
    assert_eq!(shop.until_events(id, 1).await, ["invoice.processing"]);

    // One block later the payment's block is gone.
    rpc.revert(&before).await.unwrap();
    shop.mine(2).await;
    let unseen = shop.until(id, "un-seen", |i| i["status"] == "new" && i["payments"] == json!([])).await;
    assert_eq!(unseen["exceptions"], json!([]), "nothing stands on the merchant's side");
    assert_eq!(
        shop.until_events(id, 2).await,
        ["invoice.processing", "invoice.processing_withdrawn"],
        "the withdrawal is said, and no paid_over ever went out"
    );
    assert_eq!(shop.balance("USDT").await, "0");
    shop.assert_books().await;
}

/// Pays `invoice` in full after a snapshot and waits until it is settled
/// (two confirmations); returns the snapshot, the transaction and its raw bytes.
async fn settled_after_snapshot(shop: &Shop, invoice: &Value) -> (String, coffer_domain::B256, String) {
    let rpc = shop.anvil.rpc();
    let before = rpc.snapshot().await.unwrap();
    let tx = shop.pay(invoice, "USDT", 12_500_000).await;
    let raw = rpc.raw_transaction(tx).await.unwrap();
    shop.until_status(invoice["id"].as_str().unwrap(), "processing").await;
    shop.mine(1).await;
    shop.until_status(invoice["id"].as_str().unwrap(), "settled").await;
    assert_eq!(shop.balance("USDT").await, "12500000");
    (before, tx, raw)
}

async fn a_credited_payment_re_mined_in_another_block_keeps_the_books_and_the_chain_followed(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let rpc = shop.anvil.rpc();
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();
    let (before, tx, raw) = settled_after_snapshot(&shop, &invoice).await;
    let first = shop.get(id).await["payments"][0].clone();

    // A reorganisation deeper than the confirmations: both blocks are
    // replaced, and the new chain carries the same transaction elsewhere.
    rpc.revert(&before).await.unwrap();
    shop.mine(1).await;
    assert_eq!(rpc.send_raw(&raw).await.unwrap(), tx);
    rpc.wait_for_receipt(tx).await.unwrap();
    shop.mine(1).await;
    let moved = shop
        .until(id, "the payment in its new block", |i| {
            i["payments"].as_array().is_some_and(|p| p.len() == 1 && p[0]["block_hash"] != first["block_hash"])
        })
        .await;
    assert_eq!(moved["status"], "settled");
    assert_eq!(
        (&moved["payments"][0]["tx_hash"], &moved["payments"][0]["state"]),
        (&json!(tx.to_string()), &json!("canonical"))
    );
    assert_eq!(shop.balance("USDT").await, "12500000", "the books are unchanged");

    // The chain is still followed: a new invoice is paid and settles.
    let next = shop.invoice("USDT", "1").await;
    shop.pay(&next, "USDT", 1_000_000).await;
    shop.mine(1).await;
    shop.until_status(next["id"].as_str().unwrap(), "settled").await;
    assert_eq!(shop.chain_health().await["state"], "following");
    assert_eq!(shop.until_events(id, 2).await, ["invoice.processing", "invoice.settled"], "no event for the move");
    shop.assert_books().await;
}

async fn a_credited_payment_that_never_comes_back_halts_until_an_operator_writes_it_off(kind: Kind) {
    let Some(shop) = shop(kind, 2).await else { return };
    let rpc = shop.anvil.rpc();
    let invoice = shop.invoice("USDT", "12.50").await;
    let id = invoice["id"].as_str().unwrap();
    let (before, _, _) = settled_after_snapshot(&shop, &invoice).await;

    // Replaced by empty blocks: displaced, still credited, awaited for two more blocks.
    rpc.revert(&before).await.unwrap();
    shop.mine(3).await;
    let displaced = shop.until(id, "displaced", |i| i["payments"][0]["state"] == "displaced").await;
    assert_eq!(displaced["status"], "settled");
    assert_eq!(shop.balance("USDT").await, "12500000");
    shop.mine(3).await;
    let halted = until_chain_state(&shop, "halted").await;
    assert!(halted["last_error"].as_str().unwrap().contains("coffer chain resolve"), "{halted}");
    assert_eq!(halted["halt"], "transfer_gone");
    let halt = shop.app.store.open_halt(CHAIN).await.unwrap().expect("the halt is recorded for operators");
    assert_eq!(halt.code, HaltCode::TransferGone);

    // The operator's decision (what `coffer chain resolve --write-off` does): the loss is booked.
    let written = shop
        .app
        .store
        .resolve_displaced(CHAIN, DisplacedResolution::WriteOff, Timestamp::now(), "double spend, checked")
        .await
        .unwrap();
    assert_eq!(written.len(), 1);
    until_chain_state(&shop, "following").await;
    let next = shop.invoice("USDT", "1").await;
    shop.pay(&next, "USDT", 1_000_000).await;
    shop.mine(1).await;
    shop.until_status(next["id"].as_str().unwrap(), "settled").await;
    assert_eq!(shop.get(id).await["payments"][0]["state"], "written_off");
    assert_eq!(shop.balance("USDT").await, "13500000", "the merchant keeps its credit");
    shop.assert_books().await;
}
