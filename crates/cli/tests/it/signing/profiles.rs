#![allow(clippy::unwrap_used)]

//! Tighten at once, loosen slowly: the restricted profile pays allowlisted
//! destinations only; switching to it takes one approver, leaving it and
//! allowlisting take the quorum; a raised limit waits out its time lock,
//! and one approver's veto stops it.

use std::time::Duration;

use alloy_primitives::Address;
use coffer_domain::ChainId;
use coffer_signer_api::{Decision, LimitName, PolicyChange, Profile};

use super::approvers::approvals_toml;
use super::harness::{Limits, Treasury, payout_id, usdt};

const ALLOWED: Address = Address::repeat_byte(0x81);

fn limits(timelock_secs: u64) -> Limits {
    let restricted = format!(
        "[policy.restricted]\nallowlist = [{{ chain_id = 31337, address = \"{ALLOWED}\" }}]\n\
         assets = [{{ chain_id = 31337, symbol = \"USDT\", max_per_payout = \"50\", \
         global = {{ amount_1h = \"200\", amount_24h = \"200\", count_1h = 10, count_24h = 10 }} }}]\n"
    );
    Limits { policy_extra: format!("{}\n{restricted}", approvals_toml(3600, timelock_secs)), ..Limits::default() }
}

fn usdt_limit(limit: LimitName, whole: u64) -> PolicyChange {
    PolicyChange::Limit { chain_id: ChainId(31337), asset: "USDT".parse().unwrap(), limit, value: usdt(whole) }
}

#[tokio::test]
async fn restricted_pays_allowlisted_destinations_under_its_own_limits_and_leaving_it_needs_the_quorum() {
    let mut treasury = Treasury::new(limits(0)).await;
    treasury.fund_hot(10, 100_000_000_000).await;
    treasury.start().await;
    let stranger = Address::repeat_byte(0x82);
    let restrict = treasury.propose(PolicyChange::Profile { profile: Profile::Restricted }).await;
    assert_eq!(treasury.control(&restrict, &[(3, Decision::Approve)]).await.body["result"], "applied");
    let state = treasury.control_state().await;
    assert_eq!(state["profile"], "restricted", "{state}");

    let refused = treasury.pay(&payout_id(), "USDT", usdt(10), stranger).await;
    assert_eq!(refused.body["rule"], "profile.not_allowlisted", "{}", refused.body);
    let over = treasury.pay(&payout_id(), "USDT", usdt(51), ALLOWED).await;
    assert_eq!(over.body["rule"], "limit.per_payout", "restricted's own lower limit: {}", over.body);
    let paid = treasury.pay(&payout_id(), "USDT", usdt(50), ALLOWED).await;
    assert_eq!(paid.body["state"], "broadcast", "{}", paid.body);
    let decided_by = paid.body["policy_version"].as_u64().unwrap();
    assert_eq!(decided_by, state["policy_version"].as_u64().unwrap(), "every decision records its version");

    // Allowlisting is loosening: one approver is not enough, two are.
    let allow = treasury.propose(PolicyChange::Allow { chain_id: ChainId(31337), destination: stranger }).await;
    assert_eq!(treasury.control(&allow, &[(1, Decision::Approve)]).await.body["result"], "waiting");
    assert_eq!(treasury.control(&allow, &[(2, Decision::Approve)]).await.body["result"], "applied");
    assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(10), stranger).await.body["state"], "broadcast");

    let normal = treasury.propose(PolicyChange::Profile { profile: Profile::Normal }).await;
    assert_eq!(treasury.control(&normal, &[(1, Decision::Approve)]).await.body["result"], "waiting");
    assert_eq!(
        treasury.control(&normal, &[(1, Decision::Approve), (3, Decision::Approve)]).await.body["result"],
        "applied"
    );
    assert_eq!(
        treasury.pay(&payout_id(), "USDT", usdt(60), Address::repeat_byte(0x83)).await.body["state"],
        "broadcast"
    );
}

#[tokio::test]
async fn a_raised_limit_waits_out_its_time_lock_a_veto_stops_one_and_a_lower_one_applies_at_once() {
    let mut treasury = Treasury::new(limits(3)).await;
    treasury.fund_hot(10, 100_000_000_000).await;
    treasury.start().await;
    let to = Address::repeat_byte(0x84);

    let lower = treasury.propose(usdt_limit(LimitName::MaxPerPayout, 500)).await;
    assert_eq!(
        treasury.control(&lower, &[(1, Decision::Approve)]).await.body["result"],
        "applied",
        "one person tightens"
    );
    assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(600), to).await.body["rule"], "limit.per_payout");

    let raise = treasury.propose(usdt_limit(LimitName::MaxPerPayout, 900)).await;
    assert_eq!(treasury.control(&raise, &[(1, Decision::Approve)]).await.body["result"], "waiting");
    let scheduled = treasury.control(&raise, &[(2, Decision::Approve)]).await;
    assert_eq!(scheduled.body["result"], "scheduled", "{scheduled:?}");
    assert_eq!(treasury.control_state().await["scheduled"].as_array().unwrap().len(), 1);
    assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(600), to).await.body["rule"], "limit.per_payout", "not yet");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(600), to).await.body["state"], "broadcast", "after the lock");

    let again = treasury.propose(usdt_limit(LimitName::MaxPerPayout, 1000)).await;
    let vetoed_first = treasury.control(&again, &[(1, Decision::Approve), (2, Decision::Approve)]).await;
    assert_eq!(vetoed_first.body["result"], "scheduled");
    let veto = treasury.control(&again, &[(3, Decision::Reject)]).await;
    assert_eq!(veto.body["result"], "vetoed", "{veto:?}");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(treasury.pay(&payout_id(), "USDT", usdt(950), to).await.body["rule"], "limit.per_payout", "vetoed");
    assert!(treasury.control_state().await["scheduled"].as_array().unwrap().is_empty());
}
