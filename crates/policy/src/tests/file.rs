//! `Policy::new`: what it accepts, and a sentence naming the field for what it refuses.

use coffer_domain::{Asset, AssetId, AssetKind, ChainId, U256};

use super::fixtures::{eth, file, limits, table, usd, usdt};
use crate::{AssetPolicyFile, ChainPolicyFile, Policy, PolicyError, PolicyFile};

fn refused(file: &PolicyFile, assets: &[Asset]) -> PolicyError {
    Policy::new(file, assets).expect_err("the policy should be refused")
}

/// Refuses `edit`ed fixture policy and checks the field and a phrase of the sentence.
fn refuses(edit: impl FnOnce(&mut PolicyFile), field: &str, phrase: &str) {
    let mut file = file();
    edit(&mut file);
    let error = refused(&file, &table());
    assert_eq!(error.field, field, "{error}");
    assert!(error.to_string().starts_with(&format!("{field}: ")), "{error}");
    assert!(error.reason.contains(phrase), "{error:?} should say {phrase:?}");
}

#[test]
fn the_fixture_loads_in_base_units() {
    let policy = Policy::new(&file(), &table()).unwrap();
    assert_eq!(policy.version(), 7);
    let rules = policy.asset(usdt().id).unwrap();
    assert_eq!(rules.max_per_payout, usd(1000));
    assert_eq!(rules.global.amount_1h, usd(5000));
    assert_eq!(rules.global.count_24h, 40);
    assert_eq!(rules.per_merchant.unwrap().amount_24h, usd(10_000));
    assert_eq!(rules.sweep_minimum, usd(5));
    let chain = policy.chain(ChainId(1)).unwrap();
    assert_eq!(chain.fees_1h, U256::from(50_000_000_000_000_000u64));
    assert_eq!(chain.format(chain.fees_24h), "0.2 ETH");
    assert!(policy.is_token_contract(&super::fixtures::USDT_CONTRACT));
    assert!(policy.asset(AssetId { chain_id: ChainId(2), symbol: "USDT".parse().unwrap() }).is_none());
}

#[test]
fn the_documented_example_sentence() {
    let mut bad = file();
    bad.assets[1].max_per_payout = "1,000".into();
    assert_eq!(
        refused(&bad, &table()).to_string(),
        "policy.assets[1].max_per_payout: \"1,000\" is not a decimal amount of USDT (6 decimals)"
    );
}

#[test]
fn every_amount_field_is_named_when_it_does_not_parse() {
    type Setter = fn(&mut PolicyFile, String);
    let fields: [(&str, Setter); 10] = [
        ("policy.assets[1].max_per_payout", |f, v| f.assets[1].max_per_payout = v),
        ("policy.assets[1].hot_cap", |f, v| f.assets[1].hot_cap = v),
        ("policy.assets[1].sweep_minimum", |f, v| f.assets[1].sweep_minimum = v),
        ("policy.assets[1].global.amount_1h", |f, v| f.assets[1].global.amount_1h = v),
        ("policy.assets[1].global.amount_24h", |f, v| f.assets[1].global.amount_24h = v),
        ("policy.assets[1].per_merchant.amount_1h", |f, v| f.assets[1].per_merchant.as_mut().unwrap().amount_1h = v),
        ("policy.assets[1].per_merchant.amount_24h", |f, v| f.assets[1].per_merchant.as_mut().unwrap().amount_24h = v),
        ("policy.chains[0].fees_1h", |f, v| f.chains[0].fees_1h = v),
        ("policy.chains[0].fees_24h", |f, v| f.chains[0].fees_24h = v),
        ("policy.chains[0].top_up_per_sweep", |f, v| f.chains[0].top_up_per_sweep = v),
    ];
    for (field, set) in fields {
        let unit = if field.contains("chains") { "ETH (18 decimals)" } else { "USDT (6 decimals)" };
        for (text, why) in [("1e3", ""), ("", ": it is empty"), ("-1", ": it is negative"), ("1.5 ", "")] {
            refuses(|f| set(f, text.into()), field, &format!("{text:?} is not a decimal amount of {unit}{why}"));
        }
    }
}

#[test]
fn more_decimals_than_the_asset_has_is_refused() {
    refuses(
        |f| f.assets[1].max_per_payout = "0.0000001".into(),
        "policy.assets[1].max_per_payout",
        "more than 6 decimals",
    );
    refuses(
        |f| f.chains[0].fees_1h = "0.0000000000000000001".into(),
        "policy.chains[0].fees_1h",
        "more than 18 decimals",
    );
    refuses(|f| f.assets[1].hot_cap = "9".repeat(90), "policy.assets[1].hot_cap", "too large");
}

#[test]
fn zero_global_limits_are_refused_with_the_reason() {
    refuses(
        |f| f.assets[1].global.amount_1h = "0".into(),
        "policy.assets[1].global.amount_1h",
        "what bound a compromised gateway",
    );
    refuses(
        |f| f.assets[1].global.amount_24h = "0.000".into(),
        "policy.assets[1].global.amount_24h",
        "must be above 0",
    );
    refuses(|f| f.assets[0].global.count_1h = 0, "policy.assets[0].global.count_1h", "set max_per_payout = \"0\"");
    refuses(|f| f.assets[0].global.count_24h = 0, "policy.assets[0].global.count_24h", "must be above 0");
    refuses(
        |f| f.assets[1].per_merchant.as_mut().unwrap().count_1h = 0,
        "policy.assets[1].per_merchant.count_1h",
        "leave per_merchant out",
    );
}

#[test]
fn a_zero_payout_maximum_stops_an_asset_and_still_loads() {
    let mut stopped = file();
    stopped.assets[0].max_per_payout = "0".into();
    assert_eq!(Policy::new(&stopped, &table()).unwrap().asset(eth().id).unwrap().max_per_payout, U256::ZERO);
}

#[test]
fn an_hour_may_not_allow_more_than_its_day() {
    refuses(
        |f| f.assets[1].global = limits("30000", "20000", 10, 40),
        "policy.assets[1].global.amount_1h",
        "30000 USDT is above amount_24h (20000 USDT)",
    );
    refuses(
        |f| f.assets[1].global = limits("5000", "20000", 41, 40),
        "policy.assets[1].global.count_1h",
        "41 payouts is above count_24h (40)",
    );
    refuses(
        |f| f.assets[1].per_merchant = Some(limits("100", "50", 1, 1)),
        "policy.assets[1].per_merchant.amount_1h",
        "above amount_24h",
    );
    refuses(|f| f.chains[0].fees_1h = "0.3".into(), "policy.chains[0].fees_1h", "0.3 ETH is above fees_24h (0.2 ETH)");
}

#[test]
fn one_payout_may_not_exceed_the_hour() {
    refuses(
        |f| f.assets[1].max_per_payout = "5000.000001".into(),
        "policy.assets[1].max_per_payout",
        "5000.000001 USDT is above global.amount_1h (5000 USDT)",
    );
    let mut equal = file();
    equal.assets[1].max_per_payout = "5000".into();
    equal.assets[1].per_merchant = None;
    Policy::new(&equal, &table()).unwrap();
}

#[test]
fn a_merchant_may_not_be_allowed_more_than_all_merchants() {
    let cases = [
        (limits("5000.5", "10000", 5, 20), "amount_1h", "5000.5 USDT is above global.amount_1h (5000 USDT)"),
        (limits("2500", "20001", 5, 20), "amount_24h", "above global.amount_24h (20000 USDT)"),
        (limits("2500", "10000", 11, 20), "count_1h", "11 is above global.count_1h (10)"),
        (limits("2500", "10000", 5, 41), "count_24h", "41 is above global.count_24h (40)"),
    ];
    for (merchant, name, phrase) in cases {
        refuses(
            |f| f.assets[1].per_merchant = Some(merchant),
            &format!("policy.assets[1].per_merchant.{name}"),
            phrase,
        );
    }
}

#[test]
fn the_policy_and_the_asset_table_must_match() {
    refuses(
        |f| f.assets[1].chain_id = 137,
        "policy.assets[1].symbol",
        "USDT on chain 137 is not in the signer's asset table",
    );
    refuses(|f| f.assets[1].symbol = "US DT".into(), "policy.assets[1].symbol", "1 to 12 ASCII letters");
    refuses(
        |f| f.assets[1].symbol = "eth".into(),
        "policy.assets[1].symbol",
        "ETH on chain 1 already has its policy at policy.assets[0]",
    );
    refuses(
        |f| {
            f.assets.remove(1);
        },
        "policy.assets",
        "USDT on chain 1 is in the signer's asset table but has no [[policy.assets]] entry",
    );
    let mut duplicated = table();
    duplicated.push(usdt());
    assert_eq!(refused(&file(), &duplicated).field, "assets");
}

#[test]
fn every_chain_with_assets_needs_a_fee_budget() {
    refuses(
        |f| f.chains.clear(),
        "policy.chains",
        "chain 1 has assets in the signer's asset table (ETH among them) but no [[policy.chains]] fee budget",
    );
    let stray = ChainPolicyFile { chain_id: 5, ..file().chains[0].clone() };
    refuses(|f| f.chains.push(stray), "policy.chains[1].chain_id", "chain 5 has no asset in the signer's asset table");
    let twice = file().chains[0].clone();
    refuses(|f| f.chains.push(twice), "policy.chains[1].chain_id", "already has its budget at policy.chains[0]");
    refuses(
        |f| f.chains[0].top_up_per_sweep = "0.06".into(),
        "policy.chains[0].top_up_per_sweep",
        "no sweep could ever get its gas",
    );
}

#[test]
fn a_chain_without_its_native_coin_in_the_table_counts_fees_in_18_decimals() {
    let token_only = vec![Asset { kind: AssetKind::Erc20 { contract: super::fixtures::USDT_CONTRACT }, ..usdt() }];
    let mut only_usdt = file();
    only_usdt.assets.remove(0);
    let policy = Policy::new(&only_usdt, &token_only).unwrap();
    let chain = policy.chain(ChainId(1)).unwrap();
    assert_eq!(chain.native_decimals, 18);
    assert_eq!(chain.format(chain.fees_1h), "0.05 of chain 1's native coin");
    only_usdt.chains[0].fees_1h = "x".into();
    assert!(refused(&only_usdt, &token_only).reason.contains("of chain 1's native coin (18 decimals)"));
}

#[test]
fn a_cool_down_is_at_most_a_year() {
    refuses(|f| f.cooldown_secs = 365 * 24 * 3600 + 1, "policy.cooldown_secs", "at most 31536000");
}

#[test]
fn the_file_deserialises_with_every_field_mandatory_but_per_merchant() {
    let json = serde_json::to_value(file()).unwrap();
    let back: PolicyFile = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, file());
    let mut without = json.clone();
    without["assets"][1].as_object_mut().unwrap().remove("per_merchant");
    assert_eq!(serde_json::from_value::<PolicyFile>(without).unwrap().assets[1].per_merchant, None);
    for (path, key) in
        [("", "cooldown_secs"), ("assets.0", "global"), ("assets.0.global", "count_1h"), ("chains.0", "fees_24h")]
    {
        let mut missing = json.clone();
        let target = path.split('.').filter(|p| !p.is_empty()).fold(&mut missing, |v, p| match p.parse::<usize>() {
            Ok(i) => &mut v[i],
            Err(_) => &mut v[p],
        });
        target.as_object_mut().unwrap().remove(key);
        let error = serde_json::from_value::<PolicyFile>(missing).unwrap_err().to_string();
        assert!(error.contains(&format!("missing field `{key}`")), "{error}");
    }
    let mut typo = json;
    typo["assets"][0]["global"]["amount_1hr"] = "5".into();
    assert!(serde_json::from_value::<PolicyFile>(typo).unwrap_err().to_string().contains("unknown field `amount_1hr`"));
}

#[test]
fn the_bound_composes_the_global_limits() {
    let policy = Policy::new(&file(), &table()).unwrap();
    let id = usdt().id;
    // USDT: 5000 an hour (10 payouts of at most 1000: 10000, so 5000), 20000 a day.
    assert_eq!(policy.bound(id, 0), U256::ZERO);
    assert_eq!(policy.bound(id, 1), usd(5000));
    assert_eq!(policy.bound(id, 3600), usd(5000));
    assert_eq!(policy.bound(id, 3601), usd(10_000));
    assert_eq!(policy.bound(id, 4 * 3600), usd(20_000));
    assert_eq!(policy.bound(id, 86_400), usd(20_000));
    assert_eq!(policy.bound(id, 86_400 + 1), usd(25_000));
    assert_eq!(policy.bound(id, 7 * 86_400), usd(140_000));
    assert_eq!(policy.bound(id, u64::MAX), U256::MAX.min(usd(20_000) * U256::from(u64::MAX / 86_400) + usd(20_000)));
    // ETH: 5 an hour, but 10 payouts of at most 1 ETH; a day 20.
    let mut few = file();
    few.assets[0].global = limits("5", "20", 2, 40);
    let policy = Policy::new(&few, &table()).unwrap();
    assert_eq!(policy.bound(eth().id, 3600), U256::from(2) * U256::from(10).pow(U256::from(18)));
    // A day is at most 24 of its hours, and at most count_24h payouts of the maximum.
    let mut slow = file();
    slow.assets[1] = AssetPolicyFile {
        max_per_payout: "100".into(),
        global: limits("100", "5000", 10, 40),
        per_merchant: None,
        ..slow.assets[1].clone()
    };
    slow.assets[0].global = limits("5", "20", 10, 12);
    let policy = Policy::new(&slow, &table()).unwrap();
    assert_eq!(policy.bound(id, 86_400), usd(2400));
    assert_eq!(policy.bound(eth().id, 86_400), U256::from(12) * U256::from(10).pow(U256::from(18)));
    let unknown = AssetId { chain_id: ChainId(9), symbol: "DAI".parse().unwrap() };
    assert_eq!(policy.bound(unknown, 3600), U256::ZERO);
}
