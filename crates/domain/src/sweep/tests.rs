use std::str::FromStr;

use proptest::prelude::*;

use super::*;
use crate::{Account, AssetSymbol, Balances, ChainId, Entry, Side};

fn asset(symbol: &str) -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str(symbol).unwrap() }
}

fn eth(units: u64) -> Amount {
    Amount::from_units(asset("ETH"), U256::from(units))
}

fn sweep(symbol: &str, units: u64) -> Sweep {
    Sweep {
        id: SweepId::new(),
        invoice_id: InvoiceId::new(),
        deposit_index: DerivationIndex::try_from(7).unwrap(),
        amount: Amount::from_units(asset(symbol), U256::from(units)),
        fee_asset: asset("ETH"),
        status: PayoutStatus::Pending,
        tx_hash: None,
        to_cold: None,
        moved: None,
        network_fee: None,
        note: None,
        created_at: Timestamp::from_millis(1),
        updated_at: Timestamp::from_millis(1),
    }
}

fn progress(moved: u64, fee: u64, top_up: Option<(u64, u64)>) -> SweepProgress {
    SweepProgress::Confirmed {
        tx_hash: B256::repeat_byte(1),
        moved: U256::from(moved),
        to_cold: false,
        network_fee: U256::from(fee),
        top_up: top_up.map(|(amount, fee)| SweepTopUp { amount: U256::from(amount), network_fee: U256::from(fee) }),
    }
}

fn confirmed(s: &Sweep, moved: u64, fee: u64, top_up: Option<(u64, u64)>) -> SweepChange {
    match s.advance(&progress(moved, fee, top_up), Timestamp::from_millis(2)).unwrap() {
        Advance::Changed(change) => change,
        other => panic!("{other:?}"),
    }
}

/// Native coin that reached `account` from outside the books (the
/// operator's gas in the hot wallet, say).
fn funded(books: &mut Balances, account: Account, units: u64) {
    let entries = vec![
        Entry { account, side: Side::Debit, amount: eth(units) },
        Entry { account: Account::Suspense(asset("ETH")), side: Side::Credit, amount: eth(units) },
    ];
    books.apply(&Transaction::new(entries).unwrap()).unwrap();
}

fn units(books: &Balances, account: Account) -> U256 {
    books.balance(account).unwrap().units()
}

#[test]
fn a_token_sweep_books_its_top_up_and_both_fees_as_the_chain_moved_them() {
    let s = sweep("USDT", 12_500_000);
    let mut books = Balances::default();
    books.apply(&Transaction::receipt(s.amount).unwrap()).unwrap();
    funded(&mut books, Account::Hot(asset("ETH")), 1_000);
    // The hot wallet sent 50 (its transaction cost 21); the sweep burnt 30 of the 50.
    let change = confirmed(&s, 12_500_000, 30, Some((50, 21)));
    assert_eq!(change.postings.len(), 3, "sweep, top-up, fee");
    assert_eq!(change.sweep.network_fee, Some(eth(51)), "the request's gas, both transactions");
    for posting in &change.postings {
        books.apply(posting).unwrap();
    }
    books.check().unwrap();
    assert!(books.balance(Account::Deposits(asset("USDT"))).unwrap().is_zero());
    assert_eq!(books.balance(Account::Hot(asset("USDT"))).unwrap(), s.amount);
    assert_eq!(units(&books, Account::Hot(asset("ETH"))), U256::from(1_000 - 50 - 21), "sent and its gas");
    assert_eq!(units(&books, Account::Deposits(asset("ETH"))), U256::from(50 - 30), "what the sweep left");
    assert_eq!(units(&books, Account::NetworkFees(asset("ETH"))), U256::from(21 + 30));
}

fn failed(s: &Sweep, fee: u64, top_up: Option<(u64, u64)>) -> SweepChange {
    let progress = SweepProgress::Failed {
        reason: "reverted".into(),
        tx_hash: None,
        network_fee: U256::from(fee),
        top_up: top_up.map(|(amount, fee)| SweepTopUp { amount: U256::from(amount), network_fee: U256::from(fee) }),
    };
    match s.advance(&progress, Timestamp::from_millis(2)).unwrap() {
        Advance::Changed(change) => change,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_token_sweep_that_failed_after_its_top_up_books_what_left_the_hot_wallet() {
    let s = sweep("USDT", 12_500_000);
    let mut books = Balances::default();
    books.apply(&Transaction::receipt(s.amount).unwrap()).unwrap();
    funded(&mut books, Account::Hot(asset("ETH")), 1_000);
    // The top-up sent 50 (cost 21); the sweep reverted and burnt 30 of the 50.
    let change = failed(&s, 30, Some((50, 21)));
    assert_eq!(change.sweep.network_fee, Some(eth(51)));
    for posting in &change.postings {
        books.apply(posting).unwrap();
    }
    books.check().unwrap();
    assert_eq!(books.balance(Account::Deposits(asset("USDT"))).unwrap(), s.amount, "nothing swept");
    assert_eq!(units(&books, Account::Hot(asset("ETH"))), U256::from(1_000 - 50 - 21));
    assert_eq!(units(&books, Account::Deposits(asset("ETH"))), U256::from(50 - 30));
    assert_eq!(units(&books, Account::NetworkFees(asset("ETH"))), U256::from(21 + 30));

    // A top-up that reverted moved nothing and cost the hot wallet its gas.
    let mut books = Balances::default();
    funded(&mut books, Account::Hot(asset("ETH")), 1_000);
    for posting in &failed(&s, 0, Some((0, 21))).postings {
        books.apply(posting).unwrap();
    }
    assert_eq!(units(&books, Account::Hot(asset("ETH"))), U256::from(1_000 - 21));
    assert!(books.balance(Account::Deposits(asset("ETH"))).unwrap().is_zero());
    // Dropped before anything was mined: nothing to book.
    let nothing = failed(&s, 0, None);
    assert_eq!((nothing.postings.len(), nothing.sweep.network_fee), (0, None));
}

#[test]
fn a_token_sweep_without_a_top_up_pays_its_gas_from_what_the_deposit_held() {
    let s = sweep("USDT", 5_000);
    let mut books = Balances::default();
    books.apply(&Transaction::receipt(s.amount).unwrap()).unwrap();
    funded(&mut books, Account::Deposits(asset("ETH")), 40); // left by an earlier top-up
    let change = confirmed(&s, 5_000, 30, None);
    assert_eq!(change.postings.len(), 2, "sweep, fee: {:?}", change.postings);
    for posting in &change.postings {
        books.apply(posting).unwrap();
    }
    books.check().unwrap();
    assert_eq!(units(&books, Account::Deposits(asset("ETH"))), U256::from(10u8));
    assert!(books.balance(Account::Hot(asset("ETH"))).unwrap().is_zero(), "the hot wallet paid nothing");
}

#[test]
fn a_native_sweep_pays_its_own_gas_from_the_deposit() {
    let s = sweep("ETH", 1_000);
    let mut books = Balances::default();
    books.apply(&Transaction::receipt(s.amount).unwrap()).unwrap();
    for posting in confirmed(&s, 979, 21, None).postings {
        books.apply(&posting).unwrap();
    }
    books.check().unwrap();
    assert!(books.balance(Account::Deposits(asset("ETH"))).unwrap().is_zero());
    assert_eq!(units(&books, Account::Hot(asset("ETH"))), U256::from(979u32));
}

#[test]
fn answers_repeated_or_out_of_order_book_nothing() {
    let s = confirmed(&sweep("USDT", 5), 5, 1, Some((3, 1))).sweep;
    assert_eq!(s.advance(&progress(5, 1, Some((3, 1))), Timestamp::from_millis(3)).unwrap(), Advance::Unchanged);
    let older = SweepProgress::Broadcast { tx_hash: B256::repeat_byte(1) };
    assert!(matches!(s.advance(&older, Timestamp::from_millis(3)).unwrap(), Advance::Stale(_)));
    let refused = SweepProgress::Refused { rule: "sweep.below_minimum".into(), message: "dust".into() };
    match sweep("USDT", 5).advance(&refused, Timestamp::from_millis(3)).unwrap() {
        Advance::Changed(change) => {
            assert!(change.postings.is_empty(), "nothing was reserved for a sweep");
            assert_eq!(change.sweep.note.as_deref(), Some("sweep.below_minimum: dust"));
        }
        other => panic!("{other:?}"),
    }
}

proptest! {
    /// Whatever the top-up, its gas, the sweep's gas and what the deposit
    /// held of the native coin before: every posting is balanced, one of
    /// each kind, and each account moves exactly as the chain moved the
    /// wallet's coin (the hot wallet by the top-up and its gas, the
    /// deposit by the top-up less the sweep's gas, the fees by both).
    #[test]
    fn a_token_sweep_moves_every_account_as_the_chain_moves_its_wallet(
        held in 0u64..1_000_000,
        top_up in prop::option::of((0u64..1_000_000, 0u64..100_000)),
        sweep_fee in 0u64..100_000,
        tokens in 1u64..u64::MAX,
    ) {
        let (sent, top_up_fee) = top_up.unwrap_or_default();
        // The deposit paid the sweep's gas from what it held and was sent.
        prop_assume!(sweep_fee <= held + sent);
        let s = sweep("USDT", tokens);
        let mut books = Balances::default();
        books.apply(&Transaction::receipt(s.amount).unwrap()).unwrap();
        funded(&mut books, Account::Hot(asset("ETH")), 2_000_000);
        funded(&mut books, Account::Deposits(asset("ETH")), held);
        let change = confirmed(&s, tokens, sweep_fee, top_up);
        let mut kinds = Vec::new();
        for posting in &change.postings {
            prop_assert_eq!(posting.entries().len(), 2);
            let [debit, credit] = posting.entries() else { unreachable!() };
            prop_assert_eq!(debit.amount, credit.amount);
            kinds.push((debit.account, credit.account));
            books.apply(posting).unwrap();
        }
        kinds.sort();
        kinds.dedup();
        prop_assert_eq!(kinds.len(), change.postings.len(), "one posting of each kind");
        prop_assert!(books.check().is_ok(), "{:?}", books.check());
        prop_assert_eq!(units(&books, Account::Hot(asset("ETH"))), U256::from(2_000_000 - sent - top_up_fee));
        prop_assert_eq!(units(&books, Account::Deposits(asset("ETH"))), U256::from(held + sent - sweep_fee));
        prop_assert_eq!(units(&books, Account::NetworkFees(asset("ETH"))), U256::from(top_up_fee + sweep_fee));
        prop_assert!(books.balance(Account::Deposits(asset("USDT"))).unwrap().is_zero());
        prop_assert_eq!(change.sweep.network_fee, Some(eth(top_up_fee + sweep_fee)));
    }
}
