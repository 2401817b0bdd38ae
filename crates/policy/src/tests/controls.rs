//! Tighten at once, loosen by quorum: how changes are judged and applied.

use coffer_domain::{Address, U256};
use coffer_signer_api::{LimitName, PolicyChange, Profile, RuleTag};
use proptest::prelude::*;

use super::approvals::approvals_file;
use super::fixtures::{CHAIN, PAYEE, table, usd, usdt};
use crate::{AllowFile, Policy, RestrictedAssetFile, RestrictedFile, Strictness};

const NOW: i64 = 1_800_000_000;

fn limit(limit: LimitName, value: U256) -> PolicyChange {
    PolicyChange::Limit { chain_id: CHAIN, asset: usdt().id.symbol, limit, value }
}

fn restricted_policy() -> Policy {
    let mut file = approvals_file();
    file.restricted = Some(RestrictedFile {
        allowlist: vec![AllowFile { chain_id: CHAIN.0, address: PAYEE }],
        assets: vec![RestrictedAssetFile {
            chain_id: CHAIN.0,
            symbol: "USDT".into(),
            max_per_payout: "100".into(),
            global: super::fixtures::limits("500", "2000", 5, 20),
        }],
    });
    Policy::new(&file, &table()).unwrap()
}

#[test]
fn each_change_is_judged_tightening_or_loosening() {
    let policy = restricted_policy();
    let freeze = PolicyChange::Freeze { reason: "saw it".into() };
    assert_eq!(policy.strictness(&freeze).unwrap(), Strictness::Tightens);
    assert_eq!(policy.strictness(&PolicyChange::Unfreeze).unwrap_err().rule, RuleTag::ControlInvalid);
    let frozen = policy.apply(&freeze, NOW, Some("approver-1")).unwrap();
    assert_eq!(frozen.strictness(&PolicyChange::Unfreeze).unwrap(), Strictness::Loosens { timelock: false });
    let to_restricted = PolicyChange::Profile { profile: Profile::Restricted };
    assert_eq!(policy.strictness(&to_restricted).unwrap(), Strictness::Tightens);
    let restricted = policy.apply(&to_restricted, NOW, None).unwrap();
    let to_normal = PolicyChange::Profile { profile: Profile::Normal };
    assert_eq!(restricted.strictness(&to_normal).unwrap(), Strictness::Loosens { timelock: false });
    assert_eq!(policy.strictness(&limit(LimitName::Amount1h, usd(4000))).unwrap(), Strictness::Tightens);
    assert_eq!(
        policy.strictness(&limit(LimitName::Amount1h, usd(6000))).unwrap(),
        Strictness::Loosens { timelock: true }
    );
    assert_eq!(
        policy.strictness(&limit(LimitName::ApprovalAbove, usd(600))).unwrap(),
        Strictness::Loosens { timelock: true },
        "a higher approval threshold lets more through unapproved"
    );
    let stranger = Address::repeat_byte(0x77);
    let allow = PolicyChange::Allow { chain_id: CHAIN, destination: stranger };
    assert_eq!(policy.strictness(&allow).unwrap(), Strictness::Loosens { timelock: false });
    let disallow = PolicyChange::Disallow { chain_id: CHAIN, destination: PAYEE };
    assert_eq!(policy.strictness(&disallow).unwrap(), Strictness::Tightens);
}

#[test]
fn restricted_has_its_own_lower_limits_and_every_change_raises_the_version() {
    let policy = restricted_policy();
    assert_eq!(policy.version(), 7);
    let restricted = policy.apply(&PolicyChange::Profile { profile: Profile::Restricted }, NOW, None).unwrap();
    assert_eq!(restricted.version(), 8);
    let rules = restricted.asset(usdt().id).unwrap();
    assert_eq!(rules.max_per_payout, usd(100));
    assert_eq!(rules.global.amount_1h, usd(500));
    // A limit set in restricted applies there only.
    let lower = restricted.apply(&limit(LimitName::Amount1h, usd(300)), NOW, None).unwrap();
    assert_eq!(lower.version(), 9);
    assert_eq!(lower.asset(usdt().id).unwrap().global.amount_1h, usd(300));
    let normal = lower.apply(&PolicyChange::Profile { profile: Profile::Normal }, NOW, None).unwrap();
    assert_eq!(normal.asset(usdt().id).unwrap().global.amount_1h, usd(5000));
    assert_eq!(normal.version(), 10);
}

#[test]
fn a_change_that_would_leave_no_bound_is_refused() {
    let policy = restricted_policy();
    let zero = policy.apply(&limit(LimitName::Count1h, U256::ZERO), NOW, None).unwrap_err();
    assert_eq!(zero.rule, RuleTag::ControlInvalid);
    let below_max = policy.apply(&limit(LimitName::Amount1h, usd(999)), NOW, None).unwrap_err();
    assert!(below_max.message.contains("max_per_payout"), "{below_max}");
    let stop = policy.apply(&limit(LimitName::MaxPerPayout, U256::ZERO), NOW, None).unwrap();
    assert_eq!(stop.asset(usdt().id).unwrap().max_per_payout, U256::ZERO, "stopping one asset is allowed");
}

#[test]
fn the_allowlist_is_the_files_plus_what_was_allowed_less_what_was_removed() {
    let policy = restricted_policy();
    let stranger = Address::repeat_byte(0x77);
    assert!(policy.allowlisted(CHAIN, PAYEE));
    assert!(!policy.allowlisted(CHAIN, stranger));
    let allowed = policy.apply(&PolicyChange::Allow { chain_id: CHAIN, destination: stranger }, NOW, None).unwrap();
    assert!(allowed.allowlisted(CHAIN, stranger));
    let removed = allowed.apply(&PolicyChange::Disallow { chain_id: CHAIN, destination: PAYEE }, NOW, None).unwrap();
    assert!(!removed.allowlisted(CHAIN, PAYEE));
    assert_eq!(removed.allowlist(), vec![(CHAIN, stranger)]);
}

#[test]
fn a_restart_keeps_the_freeze_and_a_new_file_drops_only_the_overrides() {
    let policy = restricted_policy();
    let changed = policy
        .apply(&limit(LimitName::Amount1h, usd(4000)), NOW, None)
        .unwrap()
        .apply(&PolicyChange::Freeze { reason: "incident".into() }, NOW, Some("approver-2"))
        .unwrap();
    let stored = changed.controls().clone();
    let restarted = policy.with_controls(stored.clone());
    assert_eq!(restarted, changed, "the same file and controls give the same policy");
    let mut file = approvals_file();
    file.version = 8;
    let rewritten = Policy::new(&file, &table()).unwrap().with_controls(stored);
    assert!(rewritten.frozen().is_some(), "a new file never lifts a freeze");
    assert_eq!(rewritten.asset(usdt().id).unwrap().global.amount_1h, usd(5000));
    assert!(rewritten.version() > changed.version(), "versions only go up");
}

#[test]
fn restricted_limits_above_normal_do_not_load() {
    let mut file = approvals_file();
    file.restricted = Some(RestrictedFile {
        allowlist: vec![],
        assets: vec![RestrictedAssetFile {
            chain_id: CHAIN.0,
            symbol: "USDT".into(),
            max_per_payout: "2000".into(),
            global: super::fixtures::limits("5000", "20000", 10, 40),
        }],
    });
    let e = Policy::new(&file, &table()).unwrap_err();
    assert_eq!(e.field, "policy.restricted.assets[0].max_per_payout");
}

fn any_change() -> impl Strategy<Value = PolicyChange> {
    let limits = prop::sample::select(LimitName::ALL.to_vec());
    prop_oneof![
        Just(PolicyChange::Freeze { reason: "x".into() }),
        Just(PolicyChange::Unfreeze),
        prop::sample::select(vec![Profile::Normal, Profile::Restricted])
            .prop_map(|profile| PolicyChange::Profile { profile }),
        (limits, 0u64..30_000).prop_map(|(l, whole)| {
            let value = if l.is_count() { U256::from(whole / 500) } else { usd(whole) };
            limit(l, value)
        }),
        (0u8..3).prop_map(|b| PolicyChange::Allow { chain_id: CHAIN, destination: Address::repeat_byte(0x70 + b) }),
        (0u8..3).prop_map(|b| PolicyChange::Disallow { chain_id: CHAIN, destination: Address::repeat_byte(0x70 + b) }),
    ]
}

proptest! {
    /// Whatever changes apply, in whatever order: the version only goes up,
    /// a change judged tightening never lets more out, and the result is
    /// always a policy `Policy::new` would accept (every limit bounded).
    #[test]
    fn changes_keep_the_policy_bounded_and_tightening_never_loosens(changes in prop::collection::vec(any_change(), 1..40)) {
        let mut policy = restricted_policy();
        for change in changes {
            let Ok(strictness) = policy.strictness(&change) else { continue };
            let Ok(next) = policy.apply(&change, NOW, None) else { continue };
            prop_assert_eq!(next.version(), policy.version() + 1);
            let (before, after) = (policy.asset(usdt().id).unwrap(), next.asset(usdt().id).unwrap());
            if strictness == Strictness::Tightens {
                prop_assert!(after.max_per_payout <= before.max_per_payout);
                prop_assert!(after.global.amount_1h <= before.global.amount_1h);
                prop_assert!(after.global.amount_24h <= before.global.amount_24h);
                prop_assert!(after.global.count_1h <= before.global.count_1h);
                prop_assert!(after.approval_above.unwrap_or(U256::MAX) <= before.approval_above.unwrap_or(U256::MAX));
                prop_assert!(next.frozen().is_some() || policy.frozen().is_none());
                prop_assert!(next.allowlist().len() <= policy.allowlist().len());
            }
            prop_assert!(!after.global.amount_1h.is_zero() && after.global.count_1h > 0);
            prop_assert!(after.max_per_payout <= after.global.amount_1h);
            policy = next;
        }
    }
}

#[test]
fn restricted_counts_its_own_limits_against_what_it_paid_and_only_allowlisted_payees_get_it() {
    use crate::{Alarms, PayoutRequest, Spend, Verdict, Windows, assess_payout};
    let policy = restricted_policy().apply(&PolicyChange::Profile { profile: Profile::Restricted }, NOW, None).unwrap();
    let mut windows = Windows::new();
    let merchant = coffer_domain::MerchantId::new();
    // The incident used normal's whole hour; restricted starts with its own 500.
    let others = coffer_domain::MerchantId::new();
    windows.record(NOW - 60, &Spend::Payout { asset: usdt().id, merchant: others, amount: usd(5000) });
    let ask = |whole: u64, destination: Address| PayoutRequest {
        merchant,
        asset: usdt().id,
        amount: usd(whole),
        destination,
        destination_first_requested: Some(NOW - 100),
        destination_paid: true,
        approved: false,
    };
    let none = crate::ScreeningSet::new();
    let decide = |windows: &Windows, request: &PayoutRequest| {
        assess_payout(&policy, windows, &Alarms::default(), &none, &super::fixtures::treasury(), request, NOW)
    };
    assert_eq!(decide(&windows, &ask(100, PAYEE)), Verdict::Sign);
    let stranger = decide(&windows, &ask(100, Address::repeat_byte(0x77)));
    assert!(matches!(stranger, Verdict::Refuse(ref r) if r.rule == RuleTag::ProfileNotAllowlisted), "{stranger:?}");
    for _ in 0..5 {
        windows.record_restricted(NOW, &Spend::Payout { asset: usdt().id, merchant: others, amount: usd(100) });
    }
    let over = decide(&windows, &ask(1, PAYEE));
    assert!(matches!(over, Verdict::Refuse(ref r) if r.rule == RuleTag::VelocityGlobal1h), "{over:?}");
}
