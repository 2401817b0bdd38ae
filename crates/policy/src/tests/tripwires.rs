//! Each tripwire trips on the request that crosses it, not before.

use coffer_domain::{Address, MerchantId};
use coffer_signer_api::RuleTag;

use super::fixtures::{PAYEE, file, table, treasury, usd, usdt};
use crate::{Alarm, Alarms, AnomalyFile, PayoutRequest, Policy, Spend, Verdict, Windows, assess_payout};

const NOW: i64 = 1_800_000_000;

fn request(whole: u64, destination: Address, paid: bool) -> PayoutRequest {
    PayoutRequest {
        merchant: MerchantId::new(),
        asset: usdt().id,
        amount: usd(whole),
        destination,
        destination_first_requested: paid.then_some(NOW - 100),
        destination_paid: paid,
        approved: false,
    }
}

fn decide(policy: &Policy, windows: &Windows, alarms: &Alarms, request: &PayoutRequest) -> Verdict {
    assess_payout(policy, windows, alarms, &crate::ScreeningSet::new(), &treasury(), request, NOW)
}

#[test]
fn outflow_above_its_multiple_of_the_baseline_trips_on_the_payout_that_crosses() {
    // Floor 100 USDT per 10 minutes, multiple 3: at most 300 in the window.
    let mut file = file();
    file.assets[1].outflow_floor = Some("100".into());
    file.anomaly = AnomalyFile { outflow_multiple: 3, ..AnomalyFile::default() };
    let policy = Policy::new(&file, &table()).unwrap();
    let mut windows = Windows::new();
    let merchant = MerchantId::new();
    for _ in 0..2 {
        assert_eq!(decide(&policy, &windows, &Alarms::default(), &request(100, PAYEE, true)), Verdict::Sign);
        windows.record(NOW, &Spend::Payout { asset: usdt().id, merchant, amount: usd(100) });
    }
    assert_eq!(decide(&policy, &windows, &Alarms::default(), &request(100, PAYEE, true)), Verdict::Sign, "300: at it");
    let Verdict::Freeze(trip) = decide(&policy, &windows, &Alarms::default(), &request(101, PAYEE, true)) else {
        panic!("301 is above 3 × 100")
    };
    assert_eq!(trip.reason, RuleTag::AnomalyOutflow);
    assert!(trip.message.contains("301 USDT"), "{}", trip.message);
}

#[test]
fn a_busy_day_raises_the_baseline() {
    let mut file = file();
    file.assets[1].outflow_floor = Some("10".into());
    file.assets[1].global = super::fixtures::limits("5000", "20000", 100, 400);
    file.anomaly = AnomalyFile { outflow_multiple: 2, window_secs: 600, ..AnomalyFile::default() };
    let policy = Policy::new(&file, &table()).unwrap();
    let mut windows = Windows::new();
    let merchant = MerchantId::new();
    // 14 400 USDT over the last day: 100 per 10 minutes, more than the floor.
    for hour in 1..=24 {
        windows.record(NOW - hour * 3600, &Spend::Payout { asset: usdt().id, merchant, amount: usd(600) });
    }
    assert_eq!(decide(&policy, &windows, &Alarms::default(), &request(200, PAYEE, true)), Verdict::Sign);
    assert!(matches!(decide(&policy, &windows, &Alarms::default(), &request(201, PAYEE, true)), Verdict::Freeze(_)));
}

#[test]
fn a_burst_of_new_destinations_trips_on_the_one_above_the_threshold() {
    let mut file = file();
    file.anomaly = AnomalyFile { new_destinations: 3, ..AnomalyFile::default() };
    let policy = Policy::new(&file, &table()).unwrap();
    let rules = *policy.anomaly();
    let mut alarms = Alarms::default();
    let windows = Windows::new();
    for n in 0..3u8 {
        let fresh = request(10, Address::repeat_byte(0x50 + n), false);
        assert_eq!(decide(&policy, &windows, &alarms, &fresh), Verdict::Sign, "{n}");
        assert!(alarms.note(&rules, Alarm::NewDestination, NOW).is_none());
    }
    assert_eq!(decide(&policy, &windows, &alarms, &request(10, PAYEE, true)), Verdict::Sign, "a known one is fine");
    let Verdict::Freeze(trip) = decide(&policy, &windows, &alarms, &request(10, Address::repeat_byte(0x60), false))
    else {
        panic!("the fourth new destination trips")
    };
    assert_eq!(trip.reason, RuleTag::AnomalyNewDestinations);
    // The window moves on: an hour later the burst is forgotten.
    assert!(alarms.would_trip(&rules, Alarm::NewDestination, NOW + 601).is_none());
}

#[test]
fn refusals_and_failed_authentications_trip_on_the_one_that_crosses() {
    let rules = *Policy::new(&file(), &table()).unwrap().anomaly();
    for (alarm, threshold, tag) in [
        (Alarm::Refusal, rules.refusals, RuleTag::AnomalyRefusals),
        (Alarm::AuthFailure, rules.auth_failures, RuleTag::AnomalyAuth),
    ] {
        let mut alarms = Alarms::default();
        for i in 0..threshold {
            assert!(alarms.note(&rules, alarm, NOW + i64::try_from(i).unwrap()).is_none(), "{alarm:?} {i}");
        }
        let trip = alarms.note(&rules, alarm, NOW + 100).expect("one above the threshold");
        assert_eq!(trip.reason, tag);
        assert!(alarms.count(&rules, alarm, NOW + 100) <= threshold + 1, "the counter stays bounded");
    }
}

#[test]
fn a_frozen_policy_refuses_every_payout_with_its_reason() {
    let policy = Policy::new(&file(), &table()).unwrap();
    let trip = crate::Trip { reason: RuleTag::AnomalyAuth, message: "11 failures".into() };
    let frozen = policy.frozen_by(&trip, NOW);
    assert_eq!(frozen.version(), policy.version() + 1);
    let Verdict::Refuse(refusal) = decide(&frozen, &Windows::new(), &Alarms::default(), &request(1, PAYEE, true))
    else {
        panic!("frozen")
    };
    assert_eq!(refusal.rule, RuleTag::FreezeActive);
    assert!(refusal.message.contains("anomaly.auth"), "{}", refusal.message);
}

#[test]
fn after_a_quorum_lifts_a_freeze_the_outflow_it_reviewed_does_not_trip_it_again_for_a_window() {
    let mut file = file();
    file.assets[1].outflow_floor = Some("100".into());
    file.anomaly = AnomalyFile { outflow_multiple: 1, window_secs: 600, ..AnomalyFile::default() };
    file.approvals = super::approvals::approvals_file().approvals;
    let policy = Policy::new(&file, &table()).unwrap();
    let mut windows = Windows::new();
    windows.record(NOW, &Spend::Payout { asset: usdt().id, merchant: MerchantId::new(), amount: usd(100) });
    assert!(matches!(decide(&policy, &windows, &Alarms::default(), &request(1, PAYEE, true)), Verdict::Freeze(_)));
    let frozen = policy.frozen_by(&crate::Trip { reason: RuleTag::AnomalyOutflow, message: "x".into() }, NOW);
    let lifted = frozen.apply(&coffer_signer_api::PolicyChange::Unfreeze, NOW, None).unwrap();
    assert_eq!(decide(&lifted, &windows, &Alarms::default(), &request(1, PAYEE, true)), Verdict::Sign);
    // A window later the tripwire counts again.
    let later = assess_payout(
        &lifted,
        &windows,
        &Alarms::default(),
        &crate::ScreeningSet::new(),
        &treasury(),
        &request(101, PAYEE, true),
        NOW + 600,
    );
    assert!(matches!(later, Verdict::Freeze(_)), "{later:?}");
}

#[test]
fn a_payout_past_a_global_velocity_limit_freezes_while_one_past_its_merchants_limit_is_only_refused() {
    let mut file = file();
    file.anomaly = AnomalyFile::default();
    assert!(file.anomaly.freeze_on_global_limit, "on unless turned off");
    let policy = Policy::new(&file, &table()).unwrap();
    let mut windows = Windows::new();
    let (one, two) = (MerchantId::new(), MerchantId::new());
    windows.record(NOW, &Spend::Payout { asset: usdt().id, merchant: one, amount: usd(2500) });
    windows.record(NOW, &Spend::Payout { asset: usdt().id, merchant: two, amount: usd(2000) });
    let mut mine = request(1, PAYEE, true);
    mine.merchant = one;
    let Verdict::Refuse(refusal) = decide(&policy, &windows, &Alarms::default(), &mine) else { panic!("refused") };
    assert_eq!(refusal.rule, RuleTag::VelocityMerchant1h, "a merchant's own limit is not a breach of the bound");
    let mut theirs = request(600, PAYEE, true);
    theirs.merchant = two;
    let Verdict::Freeze(trip) = decide(&policy, &windows, &Alarms::default(), &theirs) else { panic!("a breach") };
    assert_eq!(trip.reason, RuleTag::AnomalyLimitBreach);
    assert!(trip.message.contains("velocity.global.1h"), "{}", trip.message);
}
