//! Properties over random histories: the limits hold in every window, the
//! rings are conservative by at most one bucket, and their size is bounded.

use coffer_domain::{Asset, ChainId, MerchantId, U256};
use proptest::prelude::*;

use super::fixtures::{eth, merchants, milli, policy, treasury, usdt};
use crate::windows::{DAY_RING, HOUR_RING};
use crate::{PayoutRequest, Policy, RuleTag, Spend, Totals, Verdict, Windows, assess_fee, assess_payout};

const T0: i64 = 1_800_000_000;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// One request: how long after the previous one, which asset and merchant, how much (in thousandths of a unit).
#[derive(Clone, Debug)]
struct Step {
    gap: i64,
    asset: usize,
    merchant: usize,
    thousandths: u64,
}

fn gap() -> impl Strategy<Value = i64> {
    prop_oneof![3 => Just(0i64), 4 => 0i64..120, 2 => 0i64..HOUR, 1 => 0i64..30_000]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = (gap(), 0usize..2, 0usize..4, 1u64..1_300_000).prop_map(|(gap, asset, merchant, thousandths)| Step {
        gap,
        asset,
        merchant,
        thousandths,
    });
    prop::collection::vec(step, 1..250)
}

fn assets() -> [Asset; 2] {
    [usdt(), eth()]
}

fn amount(asset: &Asset, thousandths: u64) -> U256 {
    U256::from(thousandths) * U256::from(10u64).pow(U256::from(asset.decimals - 3))
}

/// A signed payout, as the reference keeps it: every one, in a plain Vec.
#[derive(Clone, Copy, Debug)]
struct Signed {
    at: i64,
    asset: usize,
    merchant: usize,
    amount: U256,
}

/// The exact sum over the seconds `now - span + 1 ..= now`.
fn exact(signed: &[Signed], asset: usize, merchant: Option<usize>, now: i64, span: i64) -> (U256, u64) {
    signed
        .iter()
        .filter(|s| s.asset == asset && merchant.is_none_or(|m| m == s.merchant))
        .filter(|s| s.at > now - span && s.at <= now)
        .fold((U256::ZERO, 0), |(a, c), s| (a + s.amount, c + 1))
}

/// Whether the ring's totals lie between the exact window and the window one bucket wider.
fn bracketed(
    ring: &Totals,
    signed: &[Signed],
    asset: usize,
    merchant: Option<usize>,
    now: i64,
) -> Result<(), TestCaseError> {
    let hour = exact(signed, asset, merchant, now, HOUR);
    let hour_wide = exact(signed, asset, merchant, now, HOUR + HOUR_RING.width);
    let day = exact(signed, asset, merchant, now, DAY);
    let day_wide = exact(signed, asset, merchant, now, DAY + DAY_RING.width);
    prop_assert!(hour.0 <= ring.amount_1h && ring.amount_1h <= hour_wide.0, "hour {ring:?} {hour:?} {hour_wide:?}");
    prop_assert!(hour.1 <= ring.count_1h && ring.count_1h <= hour_wide.1, "hour {ring:?} {hour:?} {hour_wide:?}");
    prop_assert!(day.0 <= ring.amount_24h && ring.amount_24h <= day_wide.0, "day {ring:?} {day:?} {day_wide:?}");
    prop_assert!(day.1 <= ring.count_24h && ring.count_24h <= day_wide.1, "day {ring:?} {day:?} {day_wide:?}");
    Ok(())
}

/// What the reference says of velocity alone, with each window widened by `slack` buckets.
fn reference_refuses(policy: &Policy, signed: &[Signed], request: &Signed, slack: i64) -> bool {
    let rules = policy.asset(assets()[request.asset].id).unwrap();
    let mut scopes = vec![(rules.global, None)];
    scopes.extend(rules.per_merchant.map(|limits| (limits, Some(request.merchant))));
    scopes.into_iter().any(|(limits, merchant)| {
        let hour = exact(signed, request.asset, merchant, request.at, HOUR + slack * HOUR_RING.width);
        let day = exact(signed, request.asset, merchant, request.at, DAY + slack * DAY_RING.width);
        hour.0 + request.amount > limits.amount_1h
            || day.0 + request.amount > limits.amount_24h
            || hour.1 + 1 > limits.count_1h
            || day.1 + 1 > limits.count_24h
    })
}

fn is_velocity(rule: RuleTag) -> bool {
    rule.as_str().starts_with("velocity.")
}

/// Runs `steps` through `assess_payout`, recording each `Sign`, and checks
/// the rings against the reference at every request.
fn run(steps: &[Step], start: i64) -> Result<(Policy, Vec<Signed>), TestCaseError> {
    let policy = policy();
    let ids: Vec<MerchantId> = merchants(4);
    let (denylist, treasury) = (crate::ScreeningSet::new(), treasury());
    let mut windows = Windows::new();
    let mut signed = Vec::new();
    let mut now = start;
    for step in steps {
        now += step.gap;
        let asset = &assets()[step.asset];
        let this =
            Signed { at: now, asset: step.asset, merchant: step.merchant, amount: amount(asset, step.thousandths) };
        let totals = windows.payout_totals(asset.id, ids[step.merchant], now);
        bracketed(&totals.global, &signed, step.asset, None, now)?;
        bracketed(&totals.merchant, &signed, step.asset, Some(step.merchant), now)?;
        let request = PayoutRequest {
            merchant: ids[step.merchant],
            asset: asset.id,
            amount: this.amount,
            destination: super::fixtures::PAYEE,
            destination_first_requested: Some(0),
            destination_paid: true,
            approved: false,
        };
        let verdict = assess_payout(&policy, &windows, &crate::Alarms::default(), &denylist, &treasury, &request, now);
        let within_max = this.amount <= policy.asset(asset.id).unwrap().max_per_payout;
        match &verdict {
            Verdict::Sign => {
                prop_assert!(!reference_refuses(&policy, &signed, &this, 0), "signed what the exact windows refuse");
                windows
                    .record(now, &Spend::Payout { asset: asset.id, merchant: ids[step.merchant], amount: this.amount });
                signed.push(this);
            }
            Verdict::Refuse(refusal) if is_velocity(refusal.rule) => {
                prop_assert!(within_max);
                prop_assert!(reference_refuses(&policy, &signed, &this, 1), "refused by more than a bucket: {refusal}");
            }
            Verdict::Refuse(refusal) => prop_assert_eq!(refusal.rule, RuleTag::LimitPerPayout),
            Verdict::Cooldown { .. } => prop_assert!(false, "no cool-down in this policy"),
            Verdict::Approval { .. } => prop_assert!(false, "no approvers in this policy"),
            // The hour's limit is below the outflow tripwire in this policy.
            Verdict::Freeze(trip) => prop_assert!(false, "tripped: {}", trip.message),
        }
    }
    Ok((policy, signed))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// (1) In every 3600 s and 86 400 s window, per asset and per merchant,
    /// what was signed is within the limits; and (2) the rings never refuse
    /// what windows one bucket wider would allow, nor sign what exact ones refuse.
    #[test]
    fn signed_payouts_respect_every_window(steps in steps(), offset in 0i64..DAY) {
        let (policy, signed) = run(&steps, T0 + offset)?;
        for (j, last) in signed.iter().enumerate() {
            let rules = policy.asset(assets()[last.asset].id).unwrap();
            let before = &signed[..=j];
            let mut scopes = vec![(rules.global, None)];
            scopes.extend(rules.per_merchant.map(|limits| (limits, Some(last.merchant))));
            for (limits, merchant) in scopes {
                let hour = exact(before, last.asset, merchant, last.at, HOUR);
                let day = exact(before, last.asset, merchant, last.at, DAY);
                prop_assert!(hour.0 <= limits.amount_1h && hour.1 <= limits.count_1h, "hour {hour:?} over {limits:?}");
                prop_assert!(day.0 <= limits.amount_24h && day.1 <= limits.count_24h, "day {day:?} over {limits:?}");
            }
        }
    }

    /// What the global limits let out in any span is at most `Policy::bound`.
    #[test]
    fn signed_payouts_stay_within_the_bound(steps in steps(), span in prop_oneof![1i64..600, 600i64..7200, 7200i64..200_000]) {
        let (policy, signed) = run(&steps, T0)?;
        for (asset_index, asset) in assets().iter().enumerate() {
            let bound = policy.bound(asset.id, span.unsigned_abs());
            for last in signed.iter().filter(|s| s.asset == asset_index) {
                let (total, _) = exact(&signed, asset_index, None, last.at, span);
                prop_assert!(total <= bound, "{total} in {span} s above the bound {bound}");
            }
        }
    }

    /// (3) Fees: every window within the budget; the rings bracketed as for payouts.
    #[test]
    fn fees_respect_the_budget(fees in prop::collection::vec((gap(), 1u64..30), 1..250)) {
        let policy = policy();
        let chain = ChainId(1);
        let budget = policy.chain(chain).unwrap().clone();
        let mut windows = Windows::new();
        let mut spent: Vec<(i64, U256)> = Vec::new();
        let mut now = T0;
        let sum = |spent: &[(i64, U256)], now: i64, span: i64| {
            spent.iter().filter(|(at, _)| *at > now - span).fold(U256::ZERO, |a, (_, f)| a + *f)
        };
        for (gap, fee) in fees {
            now += gap;
            let fee = milli(fee);
            let totals = windows.fee_totals(chain, now);
            prop_assert!(sum(&spent, now, HOUR) <= totals.amount_1h && totals.amount_1h <= sum(&spent, now, HOUR + 60));
            prop_assert!(sum(&spent, now, DAY) <= totals.amount_24h && totals.amount_24h <= sum(&spent, now, DAY + 900));
            match assess_fee(&policy, &windows, chain, fee, now) {
                Ok(()) => {
                    windows.record(now, &Spend::Fee { chain, amount: fee });
                    spent.push((now, fee));
                    prop_assert!(sum(&spent, now, HOUR) <= budget.fees_1h);
                    prop_assert!(sum(&spent, now, DAY) <= budget.fees_24h);
                }
                Err(refusal) => {
                    let wide = sum(&spent, now, HOUR + 60) + fee > budget.fees_1h || sum(&spent, now, DAY + 900) + fee > budget.fees_24h;
                    prop_assert!(wide, "refused by more than a bucket: {refusal}");
                }
            }
        }
    }

    /// (4) Whatever the history, in order or not, no ring holds more buckets
    /// than a window can touch, and every spend within the day behind the
    /// latest one is still counted.
    #[test]
    fn rings_stay_bounded(jumps in prop::collection::vec((-2 * DAY..3 * HOUR, 0usize..3), 1..400)) {
        let ids = merchants(3);
        let mut windows = Windows::new();
        let mut head = T0;
        let mut kept: Vec<i64> = Vec::new();
        for (jump, merchant) in jumps {
            let at = (head + jump).max(T0 - 3 * DAY);
            head = head.max(at);
            windows.record(at, &Spend::Payout { asset: usdt().id, merchant: ids[merchant], amount: U256::from(1) });
            if at > head - DAY {
                kept.push(at);
            }
            let (hour, day) = windows.largest_rings();
            prop_assert!(hour <= HOUR_RING.capacity() && day <= DAY_RING.capacity(), "{hour} {day}");
        }
        let total = windows.payout_totals(usdt().id, ids[0], head).global;
        let exact = kept.iter().filter(|at| **at > head - DAY).count();
        prop_assert!(usize::try_from(total.count_24h).unwrap() >= exact, "{} < {exact}", total.count_24h);
    }
}
