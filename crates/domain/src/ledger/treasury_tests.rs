//! Properties of the payout and treasury postings.

use std::str::FromStr;

use proptest::prelude::*;

use super::*;
use crate::{AssetSymbol, ChainId, FeePayer, ReserveSource};

fn usdt() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("USDT").unwrap() }
}

fn eth() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("ETH").unwrap() }
}

fn of(asset: AssetId, units: u64) -> Amount {
    Amount::from_units(asset, U256::from(units))
}

/// Every posting there is, of `units`.
fn every_posting(merchant: MerchantId, units: u64) -> Vec<Transaction> {
    let (u, e) = (of(usdt(), units), of(eth(), units));
    vec![
        Transaction::receipt(u).unwrap(),
        Transaction::settlement(merchant, u).unwrap(),
        Transaction::write_off(u).unwrap(),
        Transaction::recovery(u).unwrap(),
        Transaction::reserve(merchant, ReserveSource::Merchant, u).unwrap(),
        Transaction::reserve(merchant, ReserveSource::Suspense, u).unwrap(),
        Transaction::release(merchant, ReserveSource::Merchant, u).unwrap(),
        Transaction::release(merchant, ReserveSource::Suspense, u).unwrap(),
        Transaction::payout(merchant, u).unwrap(),
        Transaction::network_fee(e, FeePayer::Hot).unwrap(),
        Transaction::network_fee(e, FeePayer::Deposit).unwrap(),
        Transaction::sweep(u, false).unwrap(),
        Transaction::sweep(u, true).unwrap(),
        Transaction::top_up(e).unwrap(),
        Transaction::hot_to_cold(u).unwrap(),
    ]
}

/// Debits and credits of a set of postings, summed across every account.
fn sides(postings: &[Transaction]) -> (U256, U256) {
    postings.iter().flat_map(Transaction::entries).fold((U256::ZERO, U256::ZERO), |(d, c), e| match e.side {
        Side::Debit => (d + e.amount.units(), c),
        Side::Credit => (d, c + e.amount.units()),
    })
}

/// One step of a merchant's life with payouts.
#[derive(Clone, Debug)]
enum Step {
    Settle(u64),
    AskPayout(u64),
    Refuse(usize),
    Confirm(usize, u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u64..1_000).prop_map(Step::Settle),
        (1u64..2_000).prop_map(Step::AskPayout),
        (0usize..8).prop_map(Step::Refuse),
        (0usize..8, 0u64..50).prop_map(|(i, fee)| Step::Confirm(i, fee)),
    ]
}

proptest! {
    /// Every posting balances, in every asset, whatever its amount.
    #[test]
    fn every_posting_balances(units in 1u64..u64::MAX) {
        let postings = every_posting(MerchantId::new(), units);
        for posting in &postings {
            let (debits, credits) = sides(std::slice::from_ref(posting));
            prop_assert_eq!(debits, credits);
            prop_assert_eq!(posting.entries().len(), 2);
        }
        prop_assert!(postings.iter().all(|p| p.entries()[0].amount.asset() == p.entries()[1].amount.asset()));
    }

    /// A reserve and its release, on top of any books, leave every balance as it was.
    #[test]
    fn a_reserve_and_its_release_change_nothing(
        settled in 1u64..1_000_000, received in 1u64..1_000_000, asked in 1u64..1_000_000, from_suspense: bool,
    ) {
        let merchant = MerchantId::new();
        let mut books = Balances::default();
        books.apply(&Transaction::receipt(of(usdt(), settled + received)).unwrap()).unwrap();
        books.apply(&Transaction::settlement(merchant, of(usdt(), settled)).unwrap()).unwrap();
        let before = books.clone();
        let source = if from_suspense { ReserveSource::Suspense } else { ReserveSource::Merchant };
        books.apply(&Transaction::reserve(merchant, source, of(usdt(), asked)).unwrap()).unwrap();
        books.apply(&Transaction::release(merchant, source, of(usdt(), asked)).unwrap()).unwrap();
        for account in before.accounts().chain(books.accounts()) {
            prop_assert_eq!(books.balance(account), before.balance(account), "{:?}", account);
        }
    }

    /// With a payout admitted only when the store's check says its amount can
    /// be drawn, neither the merchant's balance nor its reserve ever goes
    /// below zero, whatever the signer answers and in whatever order.
    #[test]
    fn the_store_check_keeps_the_merchant_above_zero(steps in prop::collection::vec(step(), 1..60)) {
        let merchant = MerchantId::new();
        let available = Account::Merchant(merchant, usdt());
        let reserved = Account::PayoutsReserved(merchant, usdt());
        let mut books = Balances::default();
        let mut open: Vec<u64> = Vec::new();
        for step in steps {
            match step {
                Step::Settle(units) => {
                    books.apply(&Transaction::receipt(of(usdt(), units)).unwrap()).unwrap();
                    books.apply(&Transaction::sweep(of(usdt(), units), false).unwrap()).unwrap();
                    books.apply(&Transaction::settlement(merchant, of(usdt(), units)).unwrap()).unwrap();
                }
                Step::AskPayout(units) => {
                    let (debits, credits) = books.totals(available);
                    if available.can_draw(debits, credits, U256::from(units)) {
                        books.apply(&Transaction::reserve(merchant, ReserveSource::Merchant, of(usdt(), units)).unwrap()).unwrap();
                        open.push(units);
                    }
                }
                Step::Refuse(i) if i < open.len() => {
                    let units = open.remove(i);
                    books.apply(&Transaction::release(merchant, ReserveSource::Merchant, of(usdt(), units)).unwrap()).unwrap();
                }
                Step::Confirm(i, fee) if i < open.len() => {
                    let units = open.remove(i);
                    books.apply(&Transaction::payout(merchant, of(usdt(), units)).unwrap()).unwrap();
                    if fee > 0 {
                        // The gas the operator funded the hot wallet with.
                        books.apply(&Transaction::new(vec![
                            Entry { account: Account::Hot(eth()), side: Side::Debit, amount: of(eth(), fee) },
                            Entry { account: Account::Suspense(eth()), side: Side::Credit, amount: of(eth(), fee) },
                        ]).unwrap()).unwrap();
                        books.apply(&Transaction::network_fee(of(eth(), fee), FeePayer::Hot).unwrap()).unwrap();
                    }
                }
                Step::Refuse(_) | Step::Confirm(..) => {}
            }
            prop_assert!(books.balance(available).is_ok(), "the merchant went below zero");
            prop_assert!(books.balance(reserved).is_ok(), "the reserve went below zero");
            prop_assert!(books.balance(Account::Hot(usdt())).is_ok(), "paid out more than was swept in");
            let held: u64 = open.iter().sum();
            prop_assert_eq!(books.balance(reserved).unwrap().units(), U256::from(held));
        }
        prop_assert!(books.check().is_ok(), "{:?}", books.check());
    }
}

#[test]
fn the_draw_check_reads_the_normal_side() {
    let merchant = Account::Merchant(MerchantId::new(), usdt());
    assert!(merchant.can_draw(U256::from(3u8), U256::from(10u8), U256::from(7u8)));
    assert!(!merchant.can_draw(U256::from(3u8), U256::from(10u8), U256::from(8u8)));
    assert!(!merchant.can_draw(U256::from(11u8), U256::from(10u8), U256::from(0u8)), "already below zero");
    let hot = Account::Hot(usdt());
    assert!(hot.can_draw(U256::from(10u8), U256::from(3u8), U256::from(7u8)));
    assert_eq!(Account::NetworkFees(eth()).balance_of(U256::from(5u8), U256::ZERO), Some(U256::from(5u8)));
}
