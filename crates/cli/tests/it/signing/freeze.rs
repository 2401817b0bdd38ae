#![allow(clippy::unwrap_used)]

//! Each tripwire freezes on the request that crosses it, and nothing is
//! signed after it; one approver freezes; the gateway's key cannot unfreeze;
//! a quorum does. The freeze survives a restart.

use alloy_primitives::{Address, U256};
use coffer_signer_api::{Decision, PolicyChange, RequestKey};
use serde_json::{Value, json};

use super::approvers::approvals_toml;
use super::harness::{Answer, Limits, Treasury, now, payout_id, sweep_id, usdt};

fn anomaly(lines: &str) -> Limits {
    Limits { policy_extra: format!("{}\n[policy.anomaly]\n{lines}\n", approvals_toml(3600, 0)), ..Limits::default() }
}

fn rule(answer: &Answer) -> String {
    answer.body["rule"].as_str().or(answer.body["error"]["rule"].as_str()).unwrap_or_default().to_owned()
}

async fn started(limits: Limits) -> Treasury {
    let mut treasury = Treasury::new(limits).await;
    treasury.fund_hot(10, 100_000_000_000).await;
    treasury.start().await;
    treasury
}

/// After a freeze: the state says why, and nothing more goes out.
async fn assert_frozen(treasury: &Treasury, reason: &str) {
    let state = treasury.control_state().await;
    assert_eq!(state["frozen"]["reason"], reason, "{state}");
    let after = treasury.pay(&payout_id(), "USDT", usdt(1), Address::repeat_byte(0x61)).await;
    assert_eq!(rule(&after), "freeze.active", "{}", after.body);
}

#[tokio::test]
async fn outflow_far_above_its_baseline_freezes_on_the_payout_that_crosses() {
    // Floor 100 USDT a minute, multiple 3: 300 a minute passes, 301 trips.
    let mut limits = anomaly("window_secs = 60\noutflow_multiple = 3");
    limits.usdt_extra = "outflow_floor = \"100\"".into();
    let treasury = started(limits).await;
    let to = Address::repeat_byte(0x62);
    for _ in 0..3 {
        assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(100), to).await.body["state"], "broadcast");
    }
    let trip = treasury.pay(&payout_id(), "USDT", usdt(1), to).await;
    assert_eq!(rule(&trip), "anomaly.outflow", "{}", trip.body);
    assert_frozen(&treasury, "anomaly.outflow").await;
    assert_eq!(treasury.usdt(to).await, usdt(300), "nothing after the trip");
}

#[tokio::test]
async fn a_payout_past_the_global_velocity_limit_is_a_breach_attempt_and_freezes() {
    let limits = Limits { usdt_1h: "250", usdt_per_payout: "100", ..Limits::default() };
    let treasury = started(limits).await;
    let to = Address::repeat_byte(0x66);
    for _ in 0..2 {
        assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(100), to).await.body["state"], "broadcast");
    }
    let breach = treasury.pay(&payout_id(), "USDT", usdt(100), to).await;
    assert_eq!(rule(&breach), "anomaly.limit_breach", "{}", breach.body);
    assert!(breach.body["message"].as_str().unwrap().contains("velocity.global.1h"), "{}", breach.body);
    assert_frozen(&treasury, "anomaly.limit_breach").await;
    assert_eq!(treasury.usdt(to).await, usdt(200));
}

#[tokio::test]
async fn a_burst_of_new_destinations_freezes_on_the_one_above_the_tripwire() {
    let treasury = started(anomaly("new_destinations = 3")).await;
    for n in 0..3u8 {
        let answer = treasury.pay(&payout_id(), "USDT", usdt(1), Address::repeat_byte(0x70 + n)).await;
        assert_eq!(answer.body["state"], "broadcast", "{}", answer.body);
    }
    let known = treasury.pay(&payout_id(), "USDT", usdt(1), Address::repeat_byte(0x70)).await;
    assert_eq!(known.body["state"], "broadcast", "a destination paid before is not new");
    let trip = treasury.pay(&payout_id(), "USDT", usdt(1), Address::repeat_byte(0x7f)).await;
    assert_eq!(rule(&trip), "anomaly.new_destinations", "{}", trip.body);
    assert_frozen(&treasury, "anomaly.new_destinations").await;
}

#[tokio::test]
async fn refusals_piling_up_freeze_on_the_one_above_the_tripwire() {
    let treasury = started(anomaly("refusals = 3")).await;
    let to = Address::repeat_byte(0x63);
    for _ in 0..4 {
        let answer = treasury.pay(&payout_id(), "USDT", usdt(1001), to).await;
        assert_eq!(rule(&answer), "limit.per_payout", "each is refused for its own reason: {}", answer.body);
    }
    assert_frozen(&treasury, "anomaly.refusals").await;
}

#[tokio::test]
async fn failed_authentications_freeze_and_so_do_forged_approvals() {
    let treasury = started(anomaly("auth_failures = 3")).await;
    let stranger = RequestKey::generate().unwrap();
    let body = json!({ "id": payout_id(), "merchant": super::harness::merchant(), "chain_id": 31337,
        "asset": "USDT", "amount": usdt(1).to_string(), "destination": Address::repeat_byte(0x64) });
    for _ in 0..2 {
        let answer = treasury.send_as(&stranger, "POST", "/v1/payouts", &body, now()).await;
        assert_eq!(rule(&answer), "auth.signature");
    }
    let stale = treasury.send_as(&treasury.key, "POST", "/v1/payouts", &body, now() - 3600).await;
    assert_eq!(rule(&stale), "auth.stale");
    assert!(treasury.control_state().await["frozen"].is_null(), "three is the tripwire, not above it");
    // A change signed with a key the signer does not list is a failed authentication too.
    let proposal = treasury.propose(PolicyChange::Profile { profile: coffer_signer_api::Profile::Restricted }).await;
    let forged = treasury.control(&proposal, &[(9, Decision::Approve)]).await;
    assert_eq!(rule(&forged), "control.signature", "{forged:?}");
    assert_frozen(&treasury, "anomaly.auth").await;
}

#[tokio::test]
async fn a_sweep_claiming_a_deposit_the_chain_does_not_show_freezes_and_sweeps_then_go_to_cold() {
    let treasury = started(Limits::default()).await;
    let claim = json!({ "id": sweep_id(), "chain_id": 31337, "asset": "ETH", "index": 3,
        "claimed": U256::from(10u64).pow(U256::from(18u64)).to_string() });
    let answer = treasury.send("POST", "/v1/sweeps", &claim).await;
    assert_eq!(rule(&answer), "anomaly.chain_mismatch", "{}", answer.body);
    assert_frozen(&treasury, "anomaly.chain_mismatch").await;

    // A real deposit is still swept, to cold: nothing gathers in hot while frozen.
    let deriver = coffer_xpub::DepositDeriver::from_xpub(&treasury.xpub).unwrap();
    let deposit = deriver.derive(coffer_domain::DerivationIndex::try_from(4u64).unwrap()).unwrap().address;
    let wei = U256::from(10u64).pow(U256::from(17u64));
    treasury.anvil.rpc().call("anvil_setBalance", json!([deposit, format!("{wei:#x}")])).await.unwrap();
    let id = sweep_id();
    let swept = treasury.sweep(&id, "ETH", 4).await;
    assert_eq!(swept.body["state"], "broadcast", "{}", swept.body);
    assert_eq!(swept.body["transfer"]["wallet"], "cold");
}

#[tokio::test]
async fn one_approver_freezes_the_gateway_cannot_unfreeze_and_a_quorum_does_even_after_a_restart() {
    let mut treasury = started(anomaly("refusals = 100")).await;
    let freeze = treasury.propose(PolicyChange::Freeze { reason: "a laptop was lost".into() }).await;
    let applied = treasury.control(&freeze, &[(2, Decision::Approve)]).await;
    assert_eq!(applied.body["result"], "applied", "{applied:?}");
    assert_frozen(&treasury, "freeze.approver").await;
    assert_eq!(treasury.control_state().await["frozen"]["by"], "approver-2");

    // The gateway's request key is no approver's: its "unfreeze" is refused.
    let unfreeze = treasury.propose(PolicyChange::Unfreeze).await;
    let digest = unfreeze.digest();
    let signature = {
        // What a gateway host could make: a signature under its own key.
        let fake = super::approvers::approver(77);
        let mut approval = super::approvers::sign(&fake, Decision::Approve, digest);
        approval.approver = treasury.key.public();
        approval
    };
    let body = json!({ "proposal": &unfreeze, "approvals": [signature] });
    let by_gateway = treasury.send("POST", "/v1/control", &body).await;
    assert_eq!(rule(&by_gateway), "control.signature", "{by_gateway:?}");

    // A freeze survives a restart of the signer.
    treasury.kill();
    treasury.start().await;
    assert_frozen(&treasury, "freeze.approver").await;

    let unfreeze = treasury.propose(PolicyChange::Unfreeze).await;
    let one = treasury.control(&unfreeze, &[(1, Decision::Approve)]).await;
    assert_eq!(one.body, json!({ "result": "waiting", "approvals": 1, "quorum": 2 }));
    let twice = treasury.control(&unfreeze, &[(1, Decision::Approve)]).await;
    assert_eq!(twice.body["approvals"], 1, "one approver counts once");
    let two = treasury.control(&unfreeze, &[(3, Decision::Approve)]).await;
    assert_eq!(two.body["result"], "applied", "{two:?}");
    let state: Value = treasury.control_state().await;
    assert!(state["frozen"].is_null(), "{state}");
    let paid = treasury.pay(&payout_id(), "USDT", usdt(1), Address::repeat_byte(0x65)).await;
    assert_eq!(paid.body["state"], "broadcast", "{}", paid.body);
    // Replayed, the same signed unfreeze applies to nothing: it was bound to the version it changed.
    let replay = treasury.control(&unfreeze, &[(1, Decision::Approve), (3, Decision::Approve)]).await;
    assert_eq!(rule(&replay), "control.version", "{replay:?}");
}

#[tokio::test]
async fn without_approvers_the_signer_hosts_operator_lifts_a_freeze_offline_and_with_them_cannot() {
    let limits = Limits { policy_extra: "[policy.anomaly]\nrefusals = 2\n".into(), ..Limits::default() };
    let mut treasury = started(limits).await;
    for _ in 0..3 {
        treasury.pay(&payout_id(), "USDT", usdt(1001), Address::repeat_byte(0x67)).await;
    }
    assert_frozen(&treasury, "anomaly.refusals").await;
    treasury.kill();
    let lifted = crate::support::run_ok(
        crate::support::coffer()
            .args(["signer", "unfreeze", "--operator", "ops on call", "--config"])
            .arg(&treasury.config),
    );
    assert!(lifted.contains("freeze lifted"), "{lifted}");
    treasury.start().await;
    assert!(treasury.control_state().await["frozen"].is_null());
    let paid = treasury.pay(&payout_id(), "USDT", usdt(1), Address::repeat_byte(0x67)).await;
    assert_eq!(paid.body["state"], "broadcast", "{}", paid.body);

    // With approvers listed, the host's operator alone cannot.
    let mut guarded = started(anomaly("refusals = 100")).await;
    let freeze = guarded.propose(PolicyChange::Freeze { reason: "drill".into() }).await;
    guarded.control(&freeze, &[(1, Decision::Approve)]).await;
    guarded.kill();
    let refused = crate::support::run_err(
        crate::support::coffer().args(["signer", "unfreeze", "--operator", "ops", "--config"]).arg(&guarded.config),
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("needs 2 of them"), "{refused:?}");
}
