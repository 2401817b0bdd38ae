#![allow(clippy::unwrap_used)]

//! The store's reads that decisions rely on, against a real SQLite file.

use coffer_domain::{Address, B256, ChainId, U256};

use super::{TxRow, TxState, insert_tx, open, set_tx_state, unincluded_txs};

fn tx(sender: Address, nonce: u64, attempt: u32) -> TxRow {
    TxRow {
        request_id: None,
        purpose: "to_cold",
        chain_id: ChainId(31337),
        sender,
        nonce,
        attempt,
        recipient: Address::repeat_byte(0xcc),
        asset: "ETH".into(),
        amount: U256::from(nonce),
        plan: "{}".into(),
        raw: vec![0x02],
        hash: B256::with_last_byte(u8::try_from(nonce * 10 + u64::from(attempt)).unwrap()),
        state: TxState::Signed,
        block_number: None,
        network_fee: None,
        created_at: 0,
        sent_at: None,
    }
}

/// What the hot wallet still has to pay, seen from a view read at block 7:
/// every attempt not in a block at or below 7. One mined at 8 or later
/// (after the view was read) is in flight still, whatever its state now; one
/// at 7 or below is in the view's balance already; a replaced or dropped
/// one never will be.
#[tokio::test]
async fn in_flight_is_what_the_views_block_does_not_include() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("signer.db")).await.unwrap();
    let hot = Address::repeat_byte(0x11);
    let states = [
        (1, 0, TxState::Signed, None),
        (2, 0, TxState::Sent, None),
        (3, 0, TxState::Mined, Some(5)),
        (4, 0, TxState::Mined, Some(10)),
        (5, 0, TxState::Confirmed, Some(7)),
        (6, 0, TxState::Confirmed, Some(9)),
        (7, 0, TxState::Failed, Some(8)), // reverted above the view: its gas is still to come
        (8, 0, TxState::Failed, None),    // dropped: never ours to pay
        (9, 0, TxState::Replaced, None),
        (9, 1, TxState::Sent, None),
    ];
    for (nonce, attempt, state, block) in states {
        let row = tx(hot, nonce, attempt);
        insert_tx(&mut conn, &row).await.unwrap();
        set_tx_state(&mut conn, row.hash, state, block, None, None).await.unwrap();
    }
    let other = tx(Address::repeat_byte(0x22), 1, 1);
    insert_tx(&mut conn, &TxRow { hash: B256::repeat_byte(0xee), ..other }).await.unwrap();

    let rows = unincluded_txs(&mut conn, ChainId(31337), hot, 7).await.unwrap();
    let mut seen: Vec<(u64, u32)> = rows.iter().map(|t| (t.nonce, t.attempt)).collect();
    seen.sort_unstable();
    assert_eq!(seen, [(1, 0), (2, 0), (4, 0), (6, 0), (7, 0), (9, 1)]);
    let later = unincluded_txs(&mut conn, ChainId(31337), hot, 10).await.unwrap();
    assert_eq!(later.len(), 3, "signed, sent and the replacement: all mined ones are at or below 10");
}
