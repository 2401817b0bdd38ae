#![allow(clippy::unwrap_used)]

//! `coffer drill coinspaid` as a test: the attacker owns the gateway host
//! and takes at most the velocity allowance, the signer freezes within a
//! block, cold is untouched, every attempt is on the signer's log, both
//! logs verify, and the way back works. Run with the default configuration,
//! a stricter and a looser one, so the bound is seen to follow the
//! configuration; a configuration without a velocity limit is refused.

use serde_json::Value;

use crate::support::coffer;

const STRICTER: &str = r#"
attack_secs = 4
hot_cap = 2000
[policy]
max_per_payout = 200
amount_1h = 800
amount_24h = 2000
count_1h = 20
count_24h = 60
approval_above = 100
outflow_floor = 100
outflow_multiple = 3
new_destinations = 5
refusals = 10
auth_failures = 5
restricted_max_per_payout = 50
restricted_amount_1h = 700
"#;

const LOOSER: &str = r#"
attack_secs = 4
merchants = 4
hot_cap = 30000
[policy]
max_per_payout = 2000
amount_1h = 10000
amount_24h = 50000
count_1h = 500
count_24h = 2000
approval_above = 1500
outflow_floor = 1000
outflow_multiple = 20
new_destinations = 50
refusals = 100
auth_failures = 20
approvers = 5
quorum = 3
restricted_amount_1h = 9000
"#;

/// Runs the drill with `config`; its JSON figures.
fn drill(name: &str, config: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (path, json) = (dir.path().join("drill.toml"), dir.path().join("drill.json"));
    std::fs::write(&path, config).unwrap();
    let out = coffer().args(["drill", "coinspaid", "--config"]).arg(&path).arg("--json").arg(&json).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the {name} drill failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("PASSED"), "{stdout}");
    let figures: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let units = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    assert!(units(&figures["stolen_usdt"]) <= units(&figures["bound_usdt"]), "{name}: {figures}");
    assert!(figures["freeze"]["blocks_after"].as_u64().unwrap() <= 1, "{name}: {}", figures["freeze"]);
    assert_eq!(figures["cold_usdt"][0], figures["cold_usdt"][1], "{name}: cold untouched");
    assert!(figures["audit"]["missing"].as_array().unwrap().is_empty());
    assert_eq!(figures["recovery"]["honest_status"], "confirmed");
    // Every kind of attack was tried, and none moved money it should not have.
    let kinds: Vec<&str> =
        figures["attempts"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    for kind in [
        "api_payout_fresh_address",
        "signer_direct_payout",
        "db_inflate_balance",
        "signed_request_replayed",
        "stale_request",
        "sweep_to_attacker_address",
        "sweep_claiming_a_deposit_not_on_chain",
        "approval_forged_with_attacker_key",
        "approval_reused_from_another_payout",
        "unfreeze_with_gateway_key",
        "unfreeze_relayed_with_operator_token",
        "approval_forged_relayed_with_operator_token",
        "raise_limit_with_gateway_key",
    ] {
        assert!(kinds.contains(&kind), "{name}: no {kind} attempt in {kinds:?}");
    }
    for attempt in figures["attempts"].as_array().unwrap() {
        let (kind, outcome) = (attempt["kind"].as_str().unwrap(), attempt["outcome"].as_str().unwrap());
        if [
            "signed_request_replayed",
            "stale_request",
            "unfreeze_with_gateway_key",
            "unfreeze_relayed_with_operator_token",
            "raise_limit_with_gateway_key",
        ]
        .contains(&kind)
        {
            assert!(outcome.starts_with("auth.") || outcome.starts_with("control."), "{kind}: {outcome}");
        }
    }
    figures
}

#[test]
fn the_coinspaid_drill_holds_its_bound_under_the_default_a_stricter_and_a_looser_policy() {
    let runs = [("default", "attack_secs = 4\n"), ("stricter", STRICTER), ("looser", LOOSER)];
    let figures: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs.iter().map(|(name, config)| scope.spawn(move || drill(name, config))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let bound = |f: &Value| f["bound_usdt"].as_str().unwrap().parse::<f64>().unwrap();
    assert!(
        bound(&figures[1]) < bound(&figures[0]) && bound(&figures[0]) < bound(&figures[2]),
        "the bound follows the policy"
    );
}

#[test]
fn a_drill_configuration_without_a_velocity_limit_is_refused_with_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drill.toml");
    std::fs::write(&path, "[policy]\nmax_per_payout = 100\namount_1h = 1000\ncount_1h = 10\n").unwrap();
    let out = coffer().args(["drill", "coinspaid", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no velocity limit") && said.contains("nothing bounds"), "{said}");
}
