//! Sweeps on both backends: which deposits are due, one sweep in flight per
//! deposit, the books following the money into the hot wallet, and the
//! treasury's figures.

use std::str::FromStr;

use coffer_domain::{
    Account, Advance, Amount, AssetId, AssetSymbol, ChainId, PayoutStatus, Sweep, SweepId, SweepProgress, SweepTopUp,
    Timestamp, U256,
};
use coffer_store::testing::{Kind, paid_invoice, test_usdt};
use coffer_store::{AnswerChange, NewSweep, OutboxNext, SignerAnswer, SignerRequest, Store};

use crate::conformance::{fixture, merchant};
use coffer_store::on_both_backends;

on_both_backends!(settled_deposits_are_due_once_and_swept_onto_the_books, the_treasury_sums_the_books_per_asset);

fn eth() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("ETH").unwrap() }
}

fn usdt(units: u64) -> Amount {
    Amount::from_units(test_usdt(), U256::from(units))
}

fn sweep_of(due: &coffer_store::DueSweep) -> NewSweep {
    let now = Timestamp::now();
    let sweep = Sweep {
        id: SweepId::new(),
        invoice_id: due.invoice_id,
        deposit_index: due.deposit_index,
        amount: due.amount,
        fee_asset: eth(),
        status: PayoutStatus::Pending,
        tx_hash: None,
        to_cold: None,
        moved: None,
        network_fee: None,
        note: None,
        created_at: now,
        updated_at: now,
    };
    NewSweep { intent: format!(r#"{{"id":"{}"}}"#, sweep.id), sweep }
}

async fn answer(store: &dyn Store, id: SweepId, progress: SweepProgress, next: OutboxNext) -> bool {
    let from = store.sweep(id).await.unwrap().unwrap();
    let change = match from.advance(&progress, Timestamp::now()).unwrap() {
        Advance::Changed(change) => Some(AnswerChange::Sweep {
            from: Box::new(from),
            change: Box::new(change),
            outcome: r#"{"state":"confirmed"}"#.into(),
        }),
        _ => None,
    };
    let now = Timestamp::now();
    let answer =
        SignerAnswer { request: SignerRequest::Sweep(id), change, next, at: now, lease_until: now, relayed: None };
    store.record_answer(answer).await.unwrap().applied
}

async fn balance(store: &dyn Store, account: Account) -> U256 {
    let stored = store.stored_balances().await.unwrap();
    stored
        .iter()
        .find(|b| b.account == account)
        .map_or(U256::ZERO, |b| account.balance_of(b.debits, b.credits).unwrap())
}

async fn settled_deposits_are_due_once_and_swept_onto_the_books(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    let (big, _) = paid_invoice(&*f.store, m, usdt(12), U256::from(12u8), true).await;
    let (_dust, _) = paid_invoice(&*f.store, m, usdt(2), U256::from(2u8), true).await;
    let (_unsettled, _) = paid_invoice(&*f.store, m, usdt(50), U256::from(20u8), false).await;
    let due = f.store.due_sweeps(test_usdt(), U256::from(10u8), 10).await.unwrap();
    assert_eq!(due.len(), 1, "settled and at least the minimum: {due:?}");
    assert_eq!((due[0].invoice_id, due[0].deposit_index, due[0].amount), (big.id, big.deposit.index, usdt(12)));
    assert_eq!(due[0].claimed, U256::from(12u8), "what the settled payment left at the address");
    assert_eq!(f.store.due_sweeps(test_usdt(), U256::from(1u8), 10).await.unwrap().len(), 2);
    assert!(f.store.due_sweeps(eth(), U256::ZERO, 10).await.unwrap().is_empty(), "no ETH was paid");

    let sweep = sweep_of(&due[0]);
    let again = sweep_of(&due[0]);
    let created = f.store.create_sweeps(vec![sweep.clone()], Timestamp::now()).await.unwrap();
    assert_eq!(created, vec![sweep.sweep.clone()]);
    assert!(f.store.create_sweeps(vec![again], Timestamp::now()).await.unwrap().is_empty(), "one in flight");
    assert!(f.store.due_sweeps(test_usdt(), U256::from(10u8), 10).await.unwrap().is_empty());
    assert!(f.store.outbox_entry(SignerRequest::Sweep(sweep.sweep.id)).await.unwrap().is_some());

    let confirmed = SweepProgress::Confirmed {
        tx_hash: coffer_domain::B256::repeat_byte(4),
        moved: U256::from(12u8),
        to_cold: false,
        network_fee: U256::from(30u8),
        top_up: Some(SweepTopUp { amount: U256::from(100u8), network_fee: U256::from(21u8) }),
    };
    assert!(answer(&*f.store, sweep.sweep.id, confirmed.clone(), OutboxNext::Done).await);
    assert!(!answer(&*f.store, sweep.sweep.id, confirmed, OutboxNext::Done).await, "booked once");
    assert_eq!(balance(&*f.store, Account::Hot(test_usdt())).await, U256::from(12u8));
    assert_eq!(balance(&*f.store, Account::Deposits(test_usdt())).await, U256::from(22u8), "2 + 20 left");
    // The hot wallet sent 100 of gas (its transaction cost 21); the sweep burnt 30.
    assert_eq!(balance(&*f.store, Account::NetworkFees(eth())).await, U256::from(51u8), "both fees");
    assert_eq!(balance(&*f.store, Account::Deposits(eth())).await, U256::from(70u8), "what the sweep left");
    let stored_balances = f.store.stored_balances().await.unwrap();
    let hot = stored_balances.iter().find(|b| b.account == Account::Hot(eth())).unwrap();
    assert_eq!((hot.debits, hot.credits), (U256::ZERO, U256::from(121u8)), "sent, and its gas");
    assert!(f.store.due_sweeps(test_usdt(), U256::from(10u8), 10).await.unwrap().is_empty(), "swept");
    let stored = f.store.sweeps_of(big.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].status, stored[0].moved, stored[0].to_cold, stored[0].network_fee),
        (PayoutStatus::Confirmed, Some(usdt(12)), Some(false), Some(Amount::from_units(eth(), U256::from(51u8))))
    );
}

async fn the_treasury_sums_the_books_per_asset(kind: Kind) {
    let Some(f) = fixture(kind).await else { return };
    let m = merchant(&*f.store, "Acme").await;
    paid_invoice(&*f.store, m, usdt(12), U256::from(12u8), true).await;
    let due = f.store.due_sweeps(test_usdt(), U256::ZERO, 10).await.unwrap();
    let sweep = sweep_of(&due[0]);
    f.store.create_sweeps(vec![sweep], Timestamp::now()).await.unwrap();
    let payout = crate::payouts::new_payout(m, 5);
    f.store.create_payout(payout).await.unwrap();
    let books = f.store.treasury_books().await.unwrap();
    let line = books.iter().find(|b| b.asset == test_usdt()).expect("a USDT line");
    assert_eq!(line.deposits, U256::from(12u8));
    assert_eq!(line.hot, Some(U256::ZERO));
    assert_eq!(line.reserved, U256::from(5u8));
    assert_eq!(line.sweeps_in_flight, U256::from(12u8));
    assert_eq!(line.payouts_in_flight, U256::ZERO, "not broadcast yet");
}
