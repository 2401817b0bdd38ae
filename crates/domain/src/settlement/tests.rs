use std::str::FromStr;

use alloy_primitives::{Address, U256};
use proptest::prelude::*;

use super::*;
use crate::{Amount, AssetSymbol, ChainId, DepositAddress, DerivationIndex, InvoiceId, MerchantId};

const CONFIRMATIONS: u32 = 3;
const CREATED: i64 = 1_700_000_000_000;
const EXPIRES: i64 = CREATED + 900_000;

fn usdt() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("USDT").unwrap() }
}

fn eth() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("ETH").unwrap() }
}

fn invoice(units: u64, status: InvoiceStatus) -> Invoice {
    Invoice {
        id: InvoiceId::new(),
        merchant_id: MerchantId::new(),
        status,
        exceptions: Default::default(),
        amount: Amount::from_units(usdt(), U256::from(units)),
        deposit: DepositAddress { index: DerivationIndex::try_from(0u64).unwrap(), address: Address::ZERO },
        order_id: None,
        metadata: serde_json::Map::new(),
        created_at: Timestamp::from_millis(CREATED),
        expires_at: Timestamp::from_millis(EXPIRES),
        checkout: crate::Checkout::random().unwrap(),
    }
}

fn pay(asset: AssetId, units: u64, block_number: u64, at: i64) -> ObservedPayment {
    ObservedPayment {
        asset,
        units: U256::from(units),
        block_number,
        block_time: Timestamp::from_millis(at),
        booked: false,
        withheld: false,
    }
}

fn on_time(units: u64, block: u64) -> ObservedPayment {
    pay(usdt(), units, block, CREATED + 1_000)
}

fn before_expiry() -> Timestamp {
    Timestamp::from_millis(CREATED + 60_000)
}

fn after_expiry() -> Timestamp {
    Timestamp::from_millis(EXPIRES + 1)
}

fn exceptions(list: &[Exception]) -> Exceptions {
    list.iter().copied().collect()
}

#[test]
fn confirmations_count_the_block_itself() {
    assert_eq!(confirmations(10, 9), 0, "not yet in the chain the watcher sees");
    assert_eq!(confirmations(10, 10), 1);
    assert_eq!(confirmations(10, 12), 3);
}

#[test]
fn unpaid_invoices_wait_then_expire() {
    let inv = invoice(100, InvoiceStatus::New);
    assert_eq!(assess(&inv, &[], 50, CONFIRMATIONS, before_expiry()).status, InvoiceStatus::New);
    let expired = assess(&inv, &[], 50, CONFIRMATIONS, after_expiry());
    assert_eq!(expired.status, InvoiceStatus::Expired);
    assert!(expired.exceptions.is_empty());
}

#[test]
fn a_full_payment_is_processing_until_confirmed_then_settled() {
    let inv = invoice(100, InvoiceStatus::New);
    let payments = [on_time(100, 10)];
    let a = assess(&inv, &payments, 11, CONFIRMATIONS, before_expiry());
    assert_eq!((a.status, a.seen, a.confirmed), (InvoiceStatus::Processing, U256::from(100), U256::ZERO));
    let a = assess(&inv, &payments, 12, CONFIRMATIONS, before_expiry());
    assert_eq!((a.status, a.confirmed), (InvoiceStatus::Settled, U256::from(100)));
    assert!(a.exceptions.is_empty());
    // Confirmation can come after the expiry: the payment was on time.
    let a = assess(&inv, &payments, 12, CONFIRMATIONS, after_expiry());
    assert_eq!(a.status, InvoiceStatus::Settled);
}

#[test]
fn partial_payments_add_up() {
    let inv = invoice(100, InvoiceStatus::New);
    let first = [on_time(40, 10)];
    let a = assess(&inv, &first, 20, CONFIRMATIONS, before_expiry());
    assert_eq!((a.status, a.exceptions), (InvoiceStatus::New, exceptions(&[Exception::PaidPartial])));
    let a = assess(&inv, &first, 20, CONFIRMATIONS, after_expiry());
    assert_eq!(a.status, InvoiceStatus::Expired, "partly paid and the window closed");
    let both = [on_time(40, 10), on_time(60, 19)];
    let a = assess(&inv, &both, 20, CONFIRMATIONS, before_expiry());
    assert_eq!(a.status, InvoiceStatus::Processing, "the second payment is not confirmed yet");
    let a = assess(&inv, &both, 21, CONFIRMATIONS, before_expiry());
    assert_eq!((a.status, a.exceptions), (InvoiceStatus::Settled, Exceptions::default()));
}

#[test]
fn overpayment_settles_and_is_flagged() {
    let inv = invoice(100, InvoiceStatus::New);
    let a = assess(&inv, &[on_time(150, 10)], 20, CONFIRMATIONS, before_expiry());
    assert_eq!((a.status, a.seen), (InvoiceStatus::Settled, U256::from(150)));
    assert_eq!(a.exceptions, exceptions(&[Exception::PaidOver]));
}

#[test]
fn a_late_payment_settles_an_expired_invoice_and_is_flagged() {
    let inv = invoice(100, InvoiceStatus::Expired);
    let late = [pay(usdt(), 100, 30, EXPIRES + 5_000)];
    let a = assess(&inv, &late, 30, CONFIRMATIONS, after_expiry());
    assert_eq!(a.status, InvoiceStatus::Processing);
    let a = assess(&inv, &late, 40, CONFIRMATIONS, after_expiry());
    assert_eq!((a.status, a.exceptions), (InvoiceStatus::Settled, exceptions(&[Exception::PaidLate])));
    // Lateness is the block's time: exactly at the expiry is late.
    let at_expiry = [pay(usdt(), 100, 30, EXPIRES)];
    assert!(assess(&inv, &at_expiry, 40, CONFIRMATIONS, after_expiry()).exceptions.contains(Exception::PaidLate));
}

#[test]
fn another_asset_is_reported_never_credited() {
    let inv = invoice(100, InvoiceStatus::New);
    let a = assess(&inv, &[pay(eth(), 1_000, 10, CREATED + 1)], 20, CONFIRMATIONS, before_expiry());
    assert_eq!((a.status, a.seen), (InvoiceStatus::New, U256::ZERO));
    assert_eq!(a.exceptions, exceptions(&[Exception::WrongAsset]));
    // The same symbol on another chain is another asset.
    let other_chain = AssetId { chain_id: ChainId(1), symbol: usdt().symbol };
    let a = assess(&inv, &[pay(other_chain, 100, 10, CREATED + 1)], 20, CONFIRMATIONS, before_expiry());
    assert_eq!(a.status, InvoiceStatus::New);
}

#[test]
fn a_reorg_that_removes_an_unconfirmed_payment_undoes_processing() {
    let processing = invoice(100, InvoiceStatus::Processing);
    // The watcher dropped the orphaned payment: nothing is left.
    let a = assess(&processing, &[], 11, CONFIRMATIONS, before_expiry());
    assert_eq!(a.status, InvoiceStatus::New);
    assert!(processing.status.can_become(a.status));
    let a = assess(&processing, &[], 11, CONFIRMATIONS, after_expiry());
    assert_eq!(a.status, InvoiceStatus::Expired);
    assert!(processing.status.can_become(a.status));
}

#[test]
fn exceptions_wait_for_confirmations() {
    let inv = invoice(100, InvoiceStatus::New);
    // Unconfirmed, each of these can still be reorganised away: nothing to act on yet.
    let unconfirmed = |payments: &[ObservedPayment]| assess(&inv, payments, 10, CONFIRMATIONS, before_expiry());
    let over = unconfirmed(&[on_time(1_000, 10)]);
    assert_eq!((over.status, over.exceptions), (InvoiceStatus::Processing, Exceptions::default()));
    assert!(unconfirmed(&[on_time(40, 10)]).exceptions.is_empty(), "no paid_partial yet");
    assert!(unconfirmed(&[pay(eth(), 5, 10, CREATED + 1)]).exceptions.is_empty(), "no wrong_asset yet");
    let late = assess(&inv, &[pay(usdt(), 100, 10, EXPIRES + 1)], 10, CONFIRMATIONS, after_expiry());
    assert_eq!((late.status, late.exceptions), (InvoiceStatus::Processing, Exceptions::default()));
    // Confirmed, they are raised.
    let confirmed = |payments: &[ObservedPayment]| assess(&inv, payments, 12, CONFIRMATIONS, before_expiry());
    assert_eq!(confirmed(&[on_time(1_000, 10)]).exceptions, exceptions(&[Exception::PaidOver]));
    assert_eq!(confirmed(&[on_time(40, 10)]).exceptions, exceptions(&[Exception::PaidPartial]));
    assert_eq!(confirmed(&[pay(eth(), 5, 10, CREATED + 1)]).exceptions, exceptions(&[Exception::WrongAsset]));
    // A confirmed part with an unconfirmed rest that covers the amount is processing, not partial.
    let a = assess(&inv, &[on_time(40, 10), on_time(60, 12)], 12, CONFIRMATIONS, before_expiry());
    assert_eq!((a.status, a.exceptions), (InvoiceStatus::Processing, Exceptions::default()));
}

#[test]
fn a_booked_payment_counts_as_confirmed_whatever_the_head() {
    // Its block was replaced by a deep reorganisation and the same transfer is
    // awaited: the ledger holds it, so the invoice keeps counting it.
    let inv = invoice(100, InvoiceStatus::Settled);
    let booked = ObservedPayment { booked: true, ..on_time(150, 30) };
    let a = assess(&inv, &[booked], 20, CONFIRMATIONS, before_expiry());
    assert_eq!((a.confirmed, a.exceptions), (U256::from(150), exceptions(&[Exception::PaidOver])));
}

#[test]
fn final_states_stay_final() {
    for status in [InvoiceStatus::Settled, InvoiceStatus::Invalid] {
        let inv = invoice(100, status);
        assert_eq!(assess(&inv, &[], 100, CONFIRMATIONS, after_expiry()).status, status);
    }
}

#[test]
fn a_held_payment_never_counts_and_raises_held_once_confirmed() {
    let inv = invoice(100, InvoiceStatus::New);
    let held = ObservedPayment { withheld: true, ..on_time(100, 10) };
    let unconfirmed = assess(&inv, &[held], 10, CONFIRMATIONS, before_expiry());
    assert_eq!((unconfirmed.status, unconfirmed.seen), (InvoiceStatus::New, U256::ZERO));
    assert!(unconfirmed.exceptions.is_empty(), "a hold speaks of confirmed money only");
    let confirmed = assess(&inv, &[held], 12, CONFIRMATIONS, before_expiry());
    assert_eq!((confirmed.status, confirmed.confirmed), (InvoiceStatus::New, U256::ZERO));
    assert_eq!(confirmed.exceptions, exceptions(&[Exception::Held]));
    // Expired while held, then released: it settles, as a payment made on time.
    let expired = invoice(100, InvoiceStatus::Expired);
    let released = ObservedPayment { withheld: false, ..held };
    let a = assess(&expired, &[released], 12, CONFIRMATIONS, after_expiry());
    assert_eq!((a.status, a.exceptions), (InvoiceStatus::Settled, Exceptions::default()));
    // A held payment in another asset is held, not a wrong asset.
    let other = ObservedPayment { withheld: true, ..pay(eth(), 5, 10, CREATED + 1_000) };
    assert_eq!(assess(&inv, &[other], 12, CONFIRMATIONS, before_expiry()).exceptions, exceptions(&[Exception::Held]));
}

fn payment_strategy() -> impl Strategy<Value = ObservedPayment> {
    (any::<bool>(), 1u64..200, 1u64..60, 0i64..2_000_000).prop_map(|(same_asset, units, block, offset)| {
        pay(if same_asset { usdt() } else { eth() }, units, block, CREATED + offset)
    })
}

proptest! {
    /// Whatever the payments, head and clock, the assessed status is the
    /// current one or one the lifecycle allows reaching from it, and the
    /// sums never count another asset.
    #[test]
    fn assessments_only_follow_allowed_edges(
        payments in prop::collection::vec(payment_strategy(), 0..6),
        head in 0u64..80,
        now_offset in 0i64..2_000_000,
        current in prop::sample::select(InvoiceStatus::ALL.to_vec()),
    ) {
        let inv = invoice(100, current);
        let a = assess(&inv, &payments, head, CONFIRMATIONS, Timestamp::from_millis(CREATED + now_offset));
        prop_assert!(a.status == current || current.can_become(a.status), "{current} -> {}", a.status);
        let same: U256 = payments.iter().filter(|p| p.asset == usdt()).map(|p| p.units).fold(U256::ZERO, |s, u| s + u);
        prop_assert_eq!(a.seen, same);
        prop_assert!(a.confirmed <= a.seen);
    }

    /// Adding held payments, whatever they are, never changes what counts:
    /// the status and sums are those without them.
    #[test]
    fn held_payments_never_count(
        payments in prop::collection::vec(payment_strategy(), 0..5),
        held in prop::collection::vec(payment_strategy(), 1..4),
        head in 0u64..80,
        now_offset in 0i64..2_000_000,
    ) {
        let inv = invoice(100, InvoiceStatus::New);
        let now = Timestamp::from_millis(CREATED + now_offset);
        let without = assess(&inv, &payments, head, CONFIRMATIONS, now);
        let mut all = payments.clone();
        all.extend(held.iter().map(|p| ObservedPayment { withheld: true, ..*p }));
        let with = assess(&inv, &all, head, CONFIRMATIONS, now);
        prop_assert_eq!((with.status, with.seen, with.confirmed), (without.status, without.seen, without.confirmed));
        let any_confirmed = held.iter().any(|p| p.is_confirmed(head, CONFIRMATIONS));
        prop_assert_eq!(with.exceptions.contains(Exception::Held), any_confirmed);
    }

    /// Exceptions speak of confirmed money only: the unconfirmed payments
    /// change none of them, except that they can keep a confirmed part
    /// from being partial (it is then processing).
    #[test]
    fn unconfirmed_payments_raise_no_exception(
        payments in prop::collection::vec(payment_strategy(), 0..6),
        head in 0u64..80,
        now_offset in 0i64..2_000_000,
    ) {
        let inv = invoice(100, InvoiceStatus::New);
        let now = Timestamp::from_millis(CREATED + now_offset);
        let all = assess(&inv, &payments, head, CONFIRMATIONS, now);
        let confirmed: Vec<ObservedPayment> =
            payments.iter().copied().filter(|p| p.is_confirmed(head, CONFIRMATIONS)).collect();
        let only_confirmed = assess(&inv, &confirmed, head, CONFIRMATIONS, now);
        for exception in [Exception::PaidOver, Exception::PaidLate, Exception::WrongAsset] {
            prop_assert_eq!(all.exceptions.contains(exception), only_confirmed.exceptions.contains(exception));
        }
        if all.exceptions.contains(Exception::PaidPartial) {
            prop_assert!(only_confirmed.exceptions.contains(Exception::PaidPartial));
        }
    }
}

#[test]
fn an_expired_invoice_never_reopens_when_a_clock_steps_back() {
    // Found by the property above: expired by one gateway's clock, assessed by a slower one.
    let inv = invoice(100, InvoiceStatus::Expired);
    assert_eq!(assess(&inv, &[], 0, CONFIRMATIONS, before_expiry()).status, InvoiceStatus::Expired);
}
