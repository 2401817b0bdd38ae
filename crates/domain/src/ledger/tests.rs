use std::str::FromStr;

use proptest::prelude::*;

use super::*;
use crate::{AssetSymbol, ChainId};

fn usdt() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("USDT").unwrap() }
}

fn eth() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("ETH").unwrap() }
}

fn entry(account: Account, side: Side, units: u64) -> Entry {
    Entry { account, side, amount: Amount::from_units(account.asset(), U256::from(units)) }
}

fn settlement(merchant: MerchantId, asset: AssetId, units: u64) -> Transaction {
    Transaction::new(vec![
        entry(Account::Deposits(asset), Side::Debit, units),
        entry(Account::Merchant(merchant, asset), Side::Credit, units),
    ])
    .unwrap()
}

#[test]
fn a_settled_invoice_credits_the_merchant() {
    let m = MerchantId::new();
    let mut books = Balances::default();
    books.apply(&settlement(m, usdt(), 12_500_000)).unwrap();
    books.apply(&settlement(m, usdt(), 500_000)).unwrap();
    assert_eq!(books.balance(Account::Merchant(m, usdt())).unwrap().units(), U256::from(13_000_000u64));
    assert_eq!(books.balance(Account::Deposits(usdt())).unwrap().units(), U256::from(13_000_000u64));
    assert_eq!(books.balance(Account::Merchant(m, eth())).unwrap().units(), U256::ZERO);
    books.check().unwrap();
}

#[test]
fn receipts_wait_in_suspense_until_an_invoice_settles_with_them() {
    let m = MerchantId::new();
    let units = |n: u64| Amount::from_units(usdt(), U256::from(n));
    let mut books = Balances::default();
    // Two partial payments confirm; the second completes the invoice, which settles.
    books.apply(&Transaction::receipt(units(5_000_000)).unwrap()).unwrap();
    books.apply(&Transaction::receipt(units(7_500_000)).unwrap()).unwrap();
    assert_eq!(books.balance(Account::Suspense(usdt())).unwrap(), units(12_500_000));
    assert_eq!(books.balance(Account::Merchant(m, usdt())).unwrap(), units(0));
    books.apply(&Transaction::settlement(m, units(12_500_000)).unwrap()).unwrap();
    assert_eq!(books.balance(Account::Suspense(usdt())).unwrap(), units(0));
    assert_eq!(books.balance(Account::Merchant(m, usdt())).unwrap(), units(12_500_000));
    assert_eq!(books.balance(Account::Deposits(usdt())).unwrap(), units(12_500_000));
    books.check().unwrap();
    // Settling more than suspense holds drives it negative: the check says so.
    books.apply(&Transaction::settlement(m, units(1)).unwrap()).unwrap();
    assert_eq!(books.check(), Err(LedgerError::Negative { account: Account::Suspense(usdt()) }));
    assert!(Transaction::receipt(units(0)).is_err(), "nothing to book");
}

#[test]
fn unbalanced_or_malformed_transactions_are_refused() {
    let m = MerchantId::new();
    assert_eq!(
        Transaction::new(vec![entry(Account::Deposits(usdt()), Side::Debit, 1)]),
        Err(LedgerError::TooFewEntries)
    );
    assert!(matches!(
        Transaction::new(vec![
            entry(Account::Deposits(usdt()), Side::Debit, 100),
            entry(Account::Merchant(m, usdt()), Side::Credit, 99),
        ]),
        Err(LedgerError::Unbalanced { .. })
    ));
    // Balanced in total units but across two assets: still unbalanced.
    assert!(matches!(
        Transaction::new(vec![
            entry(Account::Deposits(usdt()), Side::Debit, 100),
            entry(Account::Merchant(m, eth()), Side::Credit, 100),
        ]),
        Err(LedgerError::Unbalanced { .. })
    ));
    assert_eq!(
        Transaction::new(vec![
            entry(Account::Deposits(usdt()), Side::Debit, 0),
            entry(Account::Merchant(m, usdt()), Side::Credit, 0),
        ]),
        Err(LedgerError::ZeroEntry(0))
    );
    let wrong = Entry {
        account: Account::Merchant(m, usdt()),
        side: Side::Credit,
        amount: Amount::from_units(eth(), U256::from(1u8)),
    };
    assert!(matches!(
        Transaction::new(vec![entry(Account::Deposits(eth()), Side::Debit, 1), wrong]),
        Err(LedgerError::AssetMismatch { index: 1, .. })
    ));
    let huge = Amount::from_units(usdt(), U256::MAX);
    let e = |side| Entry { account: Account::Deposits(usdt()), side, amount: huge };
    assert_eq!(
        Transaction::new(vec![e(Side::Debit), e(Side::Debit), e(Side::Credit)]),
        Err(LedgerError::Overflow(usdt()))
    );
}

#[test]
fn the_check_catches_a_merchant_below_zero() {
    let m = MerchantId::new();
    let mut books = Balances::default();
    books.apply(&settlement(m, usdt(), 100)).unwrap();
    // A payout larger than the balance: balanced, but it overdraws the merchant.
    let payout = Transaction::new(vec![
        entry(Account::Merchant(m, usdt()), Side::Debit, 150),
        entry(Account::Deposits(usdt()), Side::Credit, 150),
    ])
    .unwrap();
    books.apply(&payout).unwrap();
    assert!(matches!(books.check(), Err(LedgerError::Negative { .. })));
    assert_eq!(
        books.balance(Account::Merchant(m, usdt())),
        Err(LedgerError::Negative { account: Account::Merchant(m, usdt()) })
    );
}

proptest! {
    /// Any sequence of accepted transactions leaves the whole ledger balanced
    /// in every asset; balances equal what was booked.
    #[test]
    fn accepted_transactions_keep_the_books_balanced(
        moves in prop::collection::vec((0usize..3, any::<bool>(), 1u64..1_000_000), 1..40)
    ) {
        let merchants = [MerchantId::new(), MerchantId::new(), MerchantId::new()];
        let mut books = Balances::default();
        let mut expected = [0u64; 3];
        for (who, in_usdt, units) in moves {
            let asset = if in_usdt { usdt() } else { eth() };
            books.apply(&settlement(merchants[who], asset, units)).unwrap();
            if in_usdt {
                expected[who] += units;
            }
        }
        prop_assert!(books.check().is_ok());
        for (m, units) in merchants.iter().zip(expected) {
            prop_assert_eq!(books.balance(Account::Merchant(*m, usdt())).unwrap().units(), U256::from(units));
        }
    }
}

#[test]
fn a_write_off_and_its_recovery_leave_the_merchant_whole_and_the_books_balanced() {
    let m = MerchantId::new();
    let amount = Amount::from_units(usdt(), U256::from(12_500_000u64));
    let mut books = Balances::default();
    books.apply(&Transaction::receipt(amount).unwrap()).unwrap();
    books.apply(&Transaction::settlement(m, amount).unwrap()).unwrap();
    // The transfer left the chain for good: the deposit address holds nothing, the operator bears it.
    books.apply(&Transaction::write_off(amount).unwrap()).unwrap();
    books.check().unwrap();
    assert_eq!(books.balance(Account::Deposits(usdt())).unwrap().units(), U256::ZERO);
    assert_eq!(books.balance(Account::Losses(usdt())).unwrap(), amount);
    assert_eq!(books.balance(Account::Merchant(m, usdt())).unwrap(), amount, "the merchant keeps its credit");
    // Mined after all: the loss is undone.
    books.apply(&Transaction::recovery(amount).unwrap()).unwrap();
    books.check().unwrap();
    assert_eq!(books.balance(Account::Losses(usdt())).unwrap().units(), U256::ZERO);
    assert_eq!(books.balance(Account::Deposits(usdt())).unwrap(), amount);
}
