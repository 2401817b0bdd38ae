//! Every rule's tag, in the documented order, with its figures.

use coffer_domain::{Address, AssetId, ChainId, MerchantId, U256};

use super::fixtures::{COLD, HOT, PAYEE, USDT_CONTRACT, eth, file, merchants, milli, policy, treasury, usd, usdt};
use crate::{
    PayoutRequest, Policy, Refusal, RuleTag, Spend, Verdict, Wallet, Windows, assess_fee, assess_payout, assess_top_up,
    hot_excess, sweep_wallet, sweep_worth_it,
};

const NOW: i64 = 1_800_000_000;

fn request(merchant: MerchantId, whole: u64) -> PayoutRequest {
    PayoutRequest {
        merchant,
        asset: usdt().id,
        amount: usd(whole),
        destination: PAYEE,
        destination_first_requested: Some(NOW - 1_000_000),
        destination_paid: true,
        approved: false,
    }
}

fn decide(policy: &Policy, windows: &Windows, request: &PayoutRequest) -> Verdict {
    let text = format!("# test\n{}\n", Address::repeat_byte(0x66));
    let list =
        coffer_screening::parse_list("test-list", text.as_bytes(), Some(coffer_screening::Format::Plain)).unwrap();
    let mut screening = crate::ScreeningSet::new();
    screening.add(list);
    assess_payout(policy, windows, &crate::Alarms::default(), &screening, &treasury(), request, NOW)
}

fn refusal(verdict: Verdict) -> Refusal {
    match verdict {
        Verdict::Refuse(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn refused_by(policy: &Policy, windows: &Windows, request: &PayoutRequest, rule: RuleTag, phrase: &str) {
    let refusal = refusal(decide(policy, windows, request));
    assert_eq!(refusal.rule, rule, "{refusal}");
    assert!(refusal.message.contains(phrase), "{:?} should say {phrase:?}", refusal.message);
}

fn spent(windows: &mut Windows, merchant: MerchantId, whole: &[u64]) {
    for (i, amount) in whole.iter().enumerate() {
        let at = NOW - 600 + i64::try_from(i).unwrap();
        windows.record(at, &Spend::Payout { asset: usdt().id, merchant, amount: usd(*amount) });
    }
}

#[test]
fn a_payout_within_every_rule_is_signed() {
    let m = merchants(1)[0];
    assert_eq!(decide(&policy(), &Windows::new(), &request(m, 1000)), Verdict::Sign);
}

#[test]
fn the_asset_and_the_destination_come_first() {
    let (policy, windows, m) = (policy(), Windows::new(), merchants(1)[0]);
    let dai = AssetId { chain_id: ChainId(1), symbol: "DAI".parse().unwrap() };
    // An unknown asset is refused before anything else, even a zero address.
    let unknown = PayoutRequest { asset: dai, destination: Address::ZERO, ..request(m, 0) };
    refused_by(&policy, &windows, &unknown, RuleTag::AssetUnknown, "DAI on chain 1 is not an asset this signer sends");
    let cases = [
        (Address::ZERO, RuleTag::DestinationInvalid, "zero address"),
        (USDT_CONTRACT, RuleTag::DestinationInvalid, "is a token contract"),
        (HOT, RuleTag::DestinationTreasury, "the treasury's hot wallet"),
        (COLD, RuleTag::DestinationTreasury, "the treasury's cold wallet"),
        (
            Address::repeat_byte(0x66),
            RuleTag::DestinationDenylisted,
            "on the screening list test-list (line 2): sanction",
        ),
    ];
    for (destination, rule, phrase) in cases {
        // Zero and too large at once: the destination's rule still wins.
        let bad = PayoutRequest { destination, ..request(m, 1_000_000) };
        refused_by(&policy, &windows, &bad, rule, phrase);
    }
}

#[test]
fn a_token_contract_of_another_asset_or_chain_is_invalid_too() {
    let other = Address::repeat_byte(0x99);
    let mut table = super::fixtures::table();
    table.push(coffer_domain::Asset {
        id: AssetId { chain_id: ChainId(1), symbol: "USDC".parse().unwrap() },
        kind: coffer_domain::AssetKind::Erc20 { contract: other },
        decimals: 6,
    });
    let mut file = file();
    let mut usdc = file.assets[1].clone();
    usdc.symbol = "USDC".into();
    file.assets.push(usdc);
    let policy = Policy::new(&file, &table).unwrap();
    let bad = PayoutRequest { destination: other, ..request(merchants(1)[0], 1) };
    refused_by(&policy, &Windows::new(), &bad, RuleTag::DestinationInvalid, "token contract");
}

#[test]
fn the_amount_is_neither_zero_nor_above_the_maximum() {
    let (policy, windows, m) = (policy(), Windows::new(), merchants(1)[0]);
    refused_by(&policy, &windows, &request(m, 0), RuleTag::AmountZero, "zero");
    let over = PayoutRequest { amount: usd(1000) + U256::from(1), ..request(m, 0) };
    refused_by(&policy, &windows, &over, RuleTag::LimitPerPayout, "1000.000001 USDT is above the maximum of 1000 USDT");
}

#[test]
fn global_velocity_amount_then_count_hour_then_day() {
    let policy = policy();
    let ids = merchants(12);
    // 4900 USDT by five merchants in the last ten minutes: 101 more passes the hour (5000) no longer.
    let mut windows = Windows::new();
    for m in &ids[..5] {
        spent(&mut windows, *m, &[980]);
    }
    assert_eq!(decide(&policy, &windows, &request(ids[11], 100)), Verdict::Sign);
    refused_by(
        &policy,
        &windows,
        &request(ids[11], 101),
        RuleTag::VelocityGlobal1h,
        "All payouts of USDT on chain 1 in the last hour would reach 5001 USDT with this one, above the limit of 5000 USDT",
    );
    // 19 950 USDT earlier in the day, none in the hour: the day's limit (20 000) speaks.
    let mut day = Windows::new();
    for (i, m) in ids[..10].iter().enumerate() {
        let at = NOW - 7200 - i64::try_from(i).unwrap() * 3600;
        day.record(at, &Spend::Payout { asset: usdt().id, merchant: *m, amount: usd(1995) });
    }
    refused_by(
        &policy,
        &day,
        &request(ids[11], 51),
        RuleTag::VelocityGlobal24h,
        "in the last 24 hours would reach 20001 USDT",
    );
    // Ten payouts of 1 USDT in the hour: an eleventh is one too many.
    let mut count = Windows::new();
    for m in &ids[..10] {
        spent(&mut count, *m, &[1]);
    }
    refused_by(
        &policy,
        &count,
        &request(ids[11], 1),
        RuleTag::VelocityGlobalCount1h,
        "would number 11 with this one, above the limit of 10",
    );
    // Forty in the day, none in the last hour.
    let mut count_day = Windows::new();
    for i in 0..40 {
        let at = NOW - 4000 - i * 1000;
        count_day.record(
            at,
            &Spend::Payout { asset: usdt().id, merchant: ids[usize::try_from(i % 10).unwrap()], amount: usd(1) },
        );
    }
    refused_by(
        &policy,
        &count_day,
        &request(ids[11], 1),
        RuleTag::VelocityGlobalCount24h,
        "in the last 24 hours would number 41",
    );
}

#[test]
fn merchant_velocity_after_the_global_limits() {
    let policy = policy();
    let [m, other] = merchants(2)[..] else { unreachable!() };
    let mut windows = Windows::new();
    spent(&mut windows, m, &[1000, 1000]);
    assert_eq!(decide(&policy, &windows, &request(other, 1000)), Verdict::Sign);
    refused_by(
        &policy,
        &windows,
        &request(m, 501),
        RuleTag::VelocityMerchant1h,
        "This merchant's payouts of USDT on chain 1 in the last hour would reach 2501 USDT with this one, above its limit of 2500 USDT",
    );
    let mut day = Windows::new();
    for i in 0..10 {
        day.record(NOW - 4000 - i * 3000, &Spend::Payout { asset: usdt().id, merchant: m, amount: usd(999) });
    }
    refused_by(&policy, &day, &request(m, 11), RuleTag::VelocityMerchant24h, "would reach 10001 USDT");
    let mut count = Windows::new();
    spent(&mut count, m, &[1; 5]);
    refused_by(
        &policy,
        &count,
        &request(m, 1),
        RuleTag::VelocityMerchantCount1h,
        "would number 6 with this one, above its limit of 5",
    );
    let mut count_day = Windows::new();
    for i in 0..20 {
        count_day.record(NOW - 4000 - i * 3000, &Spend::Payout { asset: usdt().id, merchant: m, amount: usd(1) });
    }
    refused_by(&policy, &count_day, &request(m, 1), RuleTag::VelocityMerchantCount24h, "would number 21");
    // Global before merchant: a request over both names the global rule.
    let mut both = Windows::new();
    spent(&mut both, m, &[1000, 1000, 500]);
    for o in merchants(3) {
        spent(&mut both, o, &[800]);
    }
    refused_by(&policy, &both, &request(m, 1000), RuleTag::VelocityGlobal1h, "All payouts");
    // Without per-merchant limits, only the global ones.
    let mut open = super::fixtures::file();
    open.assets[1].per_merchant = None;
    let open = Policy::new(&open, &super::fixtures::table()).unwrap();
    assert_eq!(decide(&open, &windows, &request(m, 1000)), Verdict::Sign);
}

#[test]
fn a_new_destination_waits_out_the_cool_down() {
    let mut file = file();
    file.cooldown_secs = 86_400;
    let policy = Policy::new(&file, &super::fixtures::table()).unwrap();
    let m = merchants(1)[0];
    let windows = Windows::new();
    let first = PayoutRequest { destination_first_requested: None, ..request(m, 1) };
    assert_eq!(decide(&policy, &windows, &first), Verdict::Cooldown { until: NOW + 86_400 });
    let recent = PayoutRequest { destination_first_requested: Some(NOW - 100), ..request(m, 1) };
    assert_eq!(decide(&policy, &windows, &recent), Verdict::Cooldown { until: NOW - 100 + 86_400 });
    let waited = PayoutRequest { destination_first_requested: Some(NOW - 86_400), ..request(m, 1) };
    assert_eq!(decide(&policy, &windows, &waited), Verdict::Sign);
    // The cool-down comes last: a payout that breaks a rule is refused, not held.
    let over = PayoutRequest { destination_first_requested: None, ..request(m, 1001) };
    assert_eq!(refusal(decide(&policy, &windows, &over)).rule, RuleTag::LimitPerPayout);
    // Without a cool-down a first payout is signed at once.
    assert_eq!(decide(&super::fixtures::policy(), &windows, &first), Verdict::Sign);
}

#[test]
fn fees_stay_within_the_budget() {
    let policy = policy();
    let mut windows = Windows::new();
    assert_eq!(assess_fee(&policy, &windows, ChainId(1), milli(50), NOW), Ok(()));
    windows.record(NOW - 60, &Spend::Fee { chain: ChainId(1), amount: milli(45) });
    let refusal = assess_fee(&policy, &windows, ChainId(1), milli(6), NOW).unwrap_err();
    assert_eq!(refusal.rule, RuleTag::FeesBudget1h);
    assert_eq!(
        refusal.message,
        "Network fees on chain 1 in the last hour would reach 0.051 ETH with these 0.006 ETH, above the budget of 0.05 ETH."
    );
    assert_eq!(assess_fee(&policy, &windows, ChainId(1), milli(5), NOW), Ok(()));
    let mut day = Windows::new();
    for i in 0..4 {
        day.record(NOW - 4000 - i * 7200, &Spend::Fee { chain: ChainId(1), amount: milli(49) });
    }
    assert_eq!(assess_fee(&policy, &day, ChainId(1), milli(5), NOW).unwrap_err().rule, RuleTag::FeesBudget24h);
    assert_eq!(assess_fee(&policy, &day, ChainId(1), milli(4), NOW), Ok(()));
    assert_eq!(assess_fee(&policy, &day, ChainId(7), milli(1), NOW).unwrap_err().rule, RuleTag::AssetUnknown);
}

#[test]
fn a_top_up_is_capped_per_sweep_then_by_the_budget() {
    let policy = policy();
    let mut windows = Windows::new();
    let refusal = assess_top_up(&policy, &windows, ChainId(1), milli(11), NOW).unwrap_err();
    assert_eq!(refusal.rule, RuleTag::FeesPerSweep);
    assert!(refusal.message.contains("0.011 ETH is above the cap of 0.01 ETH per sweep on chain 1"), "{refusal}");
    assert_eq!(assess_top_up(&policy, &windows, ChainId(1), milli(10), NOW), Ok(()));
    windows.record(NOW, &Spend::Fee { chain: ChainId(1), amount: milli(45) });
    assert_eq!(assess_top_up(&policy, &windows, ChainId(1), milli(10), NOW).unwrap_err().rule, RuleTag::FeesBudget1h);
    assert_eq!(assess_top_up(&policy, &windows, ChainId(3), milli(1), NOW).unwrap_err().rule, RuleTag::AssetUnknown);
}

#[test]
fn a_sweep_is_worth_it_from_its_minimum() {
    let policy = policy();
    let refusal = sweep_worth_it(&policy, usdt().id, usd(5) - U256::from(1)).unwrap_err();
    assert_eq!(refusal.rule, RuleTag::SweepBelowMinimum);
    assert_eq!(refusal.message, "The deposit holds 4.999999 USDT, below the 5 USDT worth sweeping.");
    assert_eq!(sweep_worth_it(&policy, usdt().id, usd(5)), Ok(()));
    let mut free = file();
    free.assets[1].sweep_minimum = "0".into();
    let free = Policy::new(&free, &super::fixtures::table()).unwrap();
    assert_eq!(sweep_worth_it(&free, usdt().id, U256::ZERO).unwrap_err().rule, RuleTag::SweepBelowMinimum);
    let dai = AssetId { chain_id: ChainId(1), symbol: "DAI".parse().unwrap() };
    assert_eq!(sweep_worth_it(&policy, dai, usd(100)).unwrap_err().rule, RuleTag::AssetUnknown);
}

#[test]
fn sweeps_fill_hot_up_to_its_cap_and_the_rest_goes_cold() {
    let policy = policy();
    let id = usdt().id;
    assert_eq!(sweep_wallet(&policy, id, usd(40_000), usd(10_000)), Wallet::Hot);
    assert_eq!(sweep_wallet(&policy, id, usd(40_000), usd(10_000) + U256::from(1)), Wallet::Cold);
    assert_eq!(sweep_wallet(&policy, id, U256::MAX, U256::from(1)), Wallet::Cold);
    assert_eq!(hot_excess(&policy, id, usd(50_000)), None);
    assert_eq!(hot_excess(&policy, id, usd(50_001)), Some(usd(1)));
    let dai = AssetId { chain_id: ChainId(1), symbol: "DAI".parse().unwrap() };
    assert_eq!(sweep_wallet(&policy, dai, U256::ZERO, U256::from(1)), Wallet::Cold);
    assert_eq!(hot_excess(&policy, dai, U256::from(3)), Some(U256::from(3)));
    assert_eq!(hot_excess(&policy, eth().id, U256::ZERO), None);
}

#[test]
fn a_refusal_displays_its_sentence_and_its_tag() {
    let refusal = Refusal { rule: RuleTag::AmountZero, message: "The amount is zero.".into() };
    assert_eq!(refusal.to_string(), "The amount is zero. (amount.zero)");
}

#[test]
fn a_destination_on_a_shipped_sanctions_list_is_refused_and_an_exchange_is_not() {
    let (policy, windows) = (policy(), Windows::new());
    let mut screening = crate::ScreeningSet::new();
    for list in coffer_screening::builtin() {
        screening.add(list);
    }
    let decide = |destination: Address| {
        let request = PayoutRequest { destination, ..request(merchants(1)[0], 10) };
        assess_payout(&policy, &windows, &crate::Alarms::default(), &screening, &treasury(), &request, NOW)
    };
    // The Ronin exploiter (OFAC SDN, Lazarus) and a Tornado Cash pool.
    for text in ["0x098B716B8Aaf21512996dC57EB0615e2383E2f96", "0xd90e2f925da726b50c4ed8d0fb90ad053324f31b"] {
        let refused = refusal(decide(text.parse().unwrap()));
        assert_eq!(refused.rule, RuleTag::DestinationDenylisted, "{text}: {refused:?}");
        assert!(refused.message.contains("line "), "{}", refused.message);
    }
    // An exchange's deposit address is a label, never a reason to refuse.
    let exchange: Address = "0x28c6c06298d514db089934071355e5743bf21d60".parse().unwrap();
    assert!(screening.label(&exchange).is_some(), "Binance 14 is labelled in the shipped TagPack");
    assert!(matches!(decide(exchange), Verdict::Sign | Verdict::Approval { .. }), "{:?}", decide(exchange));
}
