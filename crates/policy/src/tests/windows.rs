//! The rings: conservative sums, out-of-order spends, pruning, bounded size.

use coffer_domain::{ChainId, U256};

use super::fixtures::{merchants, usd, usdt};
use crate::windows::{DAY_RING, HOUR_RING};
use crate::{FeeTotals, Spend, Totals, Windows};

/// A multiple of 900 s: a bucket boundary of both rings.
const T0: i64 = 1_800_000_000;

fn pay(windows: &mut Windows, at: i64, whole: u64, merchant: coffer_domain::MerchantId) {
    windows.record(at, &Spend::Payout { asset: usdt().id, merchant, amount: usd(whole) });
}

fn global(windows: &Windows, now: i64) -> Totals {
    windows.payout_totals(usdt().id, coffer_domain::MerchantId::new(), now).global
}

#[test]
fn a_spend_counts_for_the_hour_and_the_day_then_stops() {
    let m = merchants(1)[0];
    let mut windows = Windows::new();
    pay(&mut windows, T0 + 30, 10, m);
    let at = |now| global(&windows, now);
    assert_eq!(at(T0 + 30), Totals { amount_1h: usd(10), amount_24h: usd(10), count_1h: 1, count_24h: 1 });
    // The hour is the seconds now-3599..=now: exactly, the spend counts until
    // T0+30+3599; its bucket (T0..=T0+59) counts while its last second is in.
    assert_eq!(at(T0 + 30 + 3599).count_1h, 1);
    assert_eq!(at(T0 + 59 + 3599).count_1h, 1, "the bucket's last second is still in the hour");
    assert_eq!(at(T0 + 60 + 3599).count_1h, 0, "the bucket has left the hour");
    assert_eq!(at(T0 + 30 + 3600 + 60).count_1h, 0, "1 h + 1 bucket after the spend it no longer counts");
    assert_eq!(at(T0 + 30 + 3600 + 60).count_24h, 1);
    assert_eq!(at(T0 + 899 + 86_399).amount_24h, usd(10));
    assert_eq!(at(T0 + 900 + 86_399), Totals::default());
    // Before the spend (a clock behind the head) it counts too: conservative.
    assert_eq!(at(T0 - 10).count_1h, 1);
}

#[test]
fn merchants_assets_and_fees_are_kept_apart() {
    let [a, b] = merchants(2)[..] else { unreachable!() };
    let mut windows = Windows::new();
    pay(&mut windows, T0, 10, a);
    pay(&mut windows, T0 + 1, 20, b);
    pay(&mut windows, T0 + 2, 5, a);
    windows.record(T0 + 3, &Spend::Fee { chain: ChainId(1), amount: U256::from(7) });
    let totals = windows.payout_totals(usdt().id, a, T0 + 5);
    assert_eq!(totals.global.amount_1h, usd(35));
    assert_eq!(totals.global.count_24h, 3);
    assert_eq!(totals.merchant, Totals { amount_1h: usd(15), amount_24h: usd(15), count_1h: 2, count_24h: 2 });
    assert_eq!(windows.payout_totals(super::fixtures::eth().id, a, T0 + 5), Default::default());
    assert_eq!(
        windows.fee_totals(ChainId(1), T0 + 5),
        FeeTotals { amount_1h: U256::from(7), amount_24h: U256::from(7) }
    );
    assert_eq!(windows.fee_totals(ChainId(2), T0 + 5), FeeTotals::default());
}

#[test]
fn spends_out_of_order_within_the_day_are_counted_and_older_ones_ignored() {
    let m = merchants(1)[0];
    let mut windows = Windows::new();
    pay(&mut windows, T0 + 7200, 1, m);
    pay(&mut windows, T0 + 7200 - 1800, 2, m); // half an hour earlier: in both rings
    pay(&mut windows, T0 + 7200 - 5400, 4, m); // an hour and a half earlier: the day only
    pay(&mut windows, T0 + 7200 - 86_400 - 900, 8, m); // older than the day: ignored
    let totals = global(&windows, T0 + 7200);
    assert_eq!((totals.amount_1h, totals.count_1h), (usd(3), 2));
    assert_eq!((totals.amount_24h, totals.count_24h), (usd(7), 3));
    assert_eq!(windows.latest(), Some(T0 + 7200));
}

#[test]
fn replay_starts_where_the_oldest_counted_bucket_starts() {
    let now = T0 + 86_400 + 450;
    let from = Windows::replay_from(now);
    assert_eq!(from, T0);
    let m = merchants(1)[0];
    let mut windows = Windows::new();
    pay(&mut windows, from, 1, m);
    pay(&mut windows, from - 1, 2, m);
    pay(&mut windows, now, 4, m);
    assert_eq!(global(&windows, now).amount_24h, usd(5), "what replay_from leaves out does not count");
}

#[test]
fn sums_saturate_instead_of_wrapping() {
    let m = merchants(1)[0];
    let mut windows = Windows::new();
    for i in 0..3 {
        windows.record(T0 + i, &Spend::Payout { asset: usdt().id, merchant: m, amount: U256::MAX });
    }
    windows.record(T0 + 200, &Spend::Payout { asset: usdt().id, merchant: m, amount: U256::MAX });
    assert_eq!(global(&windows, T0 + 200).amount_1h, U256::MAX);
}

#[test]
fn extreme_times_do_not_panic() {
    let m = merchants(1)[0];
    let mut windows = Windows::new();
    for at in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
        pay(&mut windows, at, 1, m);
        let _ = global(&windows, at);
        let _ = global(&windows, i64::MIN);
        let _ = Windows::replay_from(at);
    }
}

#[test]
fn a_quiet_merchant_is_forgotten_after_a_day() {
    let [quiet, busy] = merchants(2)[..] else { unreachable!() };
    let mut windows = Windows::new();
    pay(&mut windows, T0, 1, quiet);
    let mut at = T0;
    while at < T0 + 86_400 + 1800 {
        pay(&mut windows, at, 1, busy);
        at += 600;
    }
    assert_eq!(windows.keys_held(), 2, "the asset and the busy merchant");
    assert_eq!(windows.payout_totals(usdt().id, quiet, at).merchant, Totals::default());
}

/// A simulated year of a million payouts by 50 merchants: what the windows
/// hold, and so what a decision reads, is what the last day needs, not what
/// the year did.
#[test]
fn the_cost_does_not_grow_with_history() {
    let ids = merchants(50);
    let mut windows = Windows::new();
    let year = 365 * 86_400;
    let spends = 1_000_000i64;
    let mut largest = (0, 0);
    let mut most = 0;
    for i in 0..spends {
        let at = T0 + i * year / spends;
        let merchant = ids[usize::try_from(i).unwrap() % ids.len()];
        pay(&mut windows, at, 1, merchant);
        if i % 1000 == 0 {
            windows.record(at, &Spend::Fee { chain: ChainId(1), amount: U256::from(1) });
        }
        if i % 997 == 0 {
            let rings = windows.largest_rings();
            largest = (largest.0.max(rings.0), largest.1.max(rings.1));
            most = most.max(windows.buckets_held());
        }
    }
    assert!(largest.0 <= HOUR_RING.capacity() && largest.1 <= DAY_RING.capacity(), "{largest:?}");
    assert_eq!((HOUR_RING.capacity(), DAY_RING.capacity()), (61, 97));
    // One asset, 50 merchants, one chain: 52 keys of at most 158 buckets, whatever the year held.
    assert!(windows.keys_held() <= 52);
    assert!(most <= 52 * (61 + 97), "{most}");
    // A spend every 31.5 s: the last day's count is exact to within one 15-minute bucket.
    let now = T0 + (spends - 1) * year / spends;
    let exact = (0..spends).filter(|i| T0 + i * year / spends > now - 86_400).count();
    let day = global(&windows, now).count_24h;
    let bucket = usize::try_from(900 * spends / year).unwrap() + 1;
    assert!((exact..=exact + bucket).contains(&usize::try_from(day).unwrap()), "{day} vs {exact}");
}
