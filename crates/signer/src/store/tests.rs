#![allow(clippy::unwrap_used)]

//! The store's reads that decisions rely on, against a real SQLite file.

use coffer_domain::{Address, B256, ChainId, U256};

use super::{TxRow, TxState, Unincluded, insert_tx, open, set_tx_state, unincluded};

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
        max_cost: Some(U256::from(nonce * 100)),
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
#[test]
fn in_flight_is_what_the_views_block_does_not_include() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join("signer.db")).unwrap();
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
        insert_tx(&conn, &row).unwrap();
        set_tx_state(&conn, row.hash, state, block, None, None).unwrap();
    }
    let other = tx(Address::repeat_byte(0x22), 1, 1);
    insert_tx(&conn, &TxRow { hash: B256::repeat_byte(0xee), ..other }).unwrap();

    let mut seen: Vec<u64> = unincluded(&conn, ChainId(31337), hot, 7).unwrap().iter().map(|t| t.nonce).collect();
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 4, 6, 7, 9], "nonce 9: its replacement, not the replaced attempt");
    let later = unincluded(&conn, ChainId(31337), hot, 10).unwrap();
    assert_eq!(later.len(), 3, "signed, sent and the replacement: all mined ones are at or below 10");
    let first = later.iter().find(|t| t.nonce == 1).unwrap();
    let expected =
        Unincluded { nonce: 1, asset: "ETH".into(), amount: U256::from(1u8), max_cost: Ok(U256::from(100u8)) };
    assert_eq!(*first, expected, "the cost as signed");
}

/// A store an earlier build migrated with sqlx (its `_sqlx_migrations`
/// table, no `user_version`) opens without its migrations run twice.
#[test]
fn a_store_migrated_by_an_earlier_build_opens_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signer.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(super::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, success BOOLEAN NOT NULL); \
             INSERT INTO _sqlx_migrations VALUES (1, 1);",
        )
        .unwrap();
        // As that build wrote it: no cost column yet.
        conn.execute(
            "INSERT INTO txs (purpose, chain_id, sender, nonce, attempt, recipient, asset, amount, plan, raw, hash, \
             state, created_at) VALUES ('to_cold', 31337, ?, 1, 0, ?, 'ETH', '5', '{\"plan\":1}', x'02', ?, 'sent', 0)",
            rusqlite::params![
                Address::repeat_byte(0x11).to_string(),
                Address::repeat_byte(0xcc).to_string(),
                B256::repeat_byte(1).to_string()
            ],
        )
        .unwrap();
    }
    let conn = open(&path).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
    assert_eq!(
        version,
        i64::try_from(super::MIGRATIONS.len()).unwrap(),
        "the later migrations ran, the first not again"
    );
    let kept = unincluded(&conn, ChainId(31337), Address::repeat_byte(0x11), 0).unwrap();
    assert_eq!(kept.len(), 1, "the earlier transaction is kept");
    assert_eq!(kept[0].max_cost, Err(r#"{"plan":1}"#.to_owned()), "no cost stored: its plan, to work it out");
    drop(conn);
    let again = open(&path).unwrap().pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0)).unwrap();
    assert_eq!(again, version);
}

/// Destinations paid before approvals existed count as paid: "never paid
/// before" must not make every old payee wait for approvers.
#[test]
fn destinations_paid_before_the_controls_migration_count_as_paid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signer.db");
    let (paid, asked) = (Address::repeat_byte(0x21), Address::repeat_byte(0x22));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &super::MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        for (address, at) in [(paid, 10), (asked, 20)] {
            conn.execute(
                "INSERT INTO destinations (chain_id, address, first_requested_at) VALUES (31337, ?, ?)",
                rusqlite::params![address.to_string(), at],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO spends (at, kind, chain_id, asset, merchant, destination, amount)              VALUES (11, 'payout', 31337, 'USDT', 'mer_x', ?, '5')",
            [paid.to_string()],
        )
        .unwrap();
    }
    let conn = open(&path).unwrap();
    assert!(super::destination_paid(&conn, ChainId(31337), paid).unwrap());
    assert!(!super::destination_paid(&conn, ChainId(31337), asked).unwrap(), "asked for, never paid");
    super::mark_paid(&conn, ChainId(31337), asked, 30).unwrap();
    assert!(super::destination_paid(&conn, ChainId(31337), asked).unwrap());
}
