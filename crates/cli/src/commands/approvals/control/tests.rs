#![allow(clippy::unwrap_used)]

use coffer_signer_api::{ControlState, FreezeInfo, RuleTag, Scheduled};
use serde_json::json;

use super::*;

const NOW: i64 = 1_796_227_200;

#[test]
fn the_state_reads_as_lines() {
    let raise = ChangeProposal {
        change: PolicyChange::Limit {
            chain_id: ChainId(1),
            asset: "USDT".parse().unwrap(),
            limit: LimitName::Amount24h,
            value: U256::from(5_000_000_000u64),
        },
        base_version: 6,
        expires_at: NOW + 600,
    };
    let state = ControlState {
        policy_version: 7,
        profile: Profile::Restricted,
        frozen: Some(FreezeInfo {
            reason: RuleTag::FreezeApprover,
            message: "outflow looked wrong".into(),
            since: NOW - 120,
            by: Some("alice".into()),
        }),
        quorum: 2,
        scheduled: vec![Scheduled { digest: raise.digest(), proposal: raise.clone(), applies_at: NOW + 3600 }],
        allowlist: vec![(ChainId(1), parse_address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8").unwrap())],
    };
    let text = State::from(state.clone()).show(NOW);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "FROZEN      since 2026-12-02T15:58:00Z (2 minutes ago) by alice: outflow looked wrong (freeze.approver)"
    );
    assert_eq!(lines[1], "profile     restricted");
    assert_eq!(lines[2], "version     7");
    assert_eq!(
        lines[4],
        "scheduled   set amount_24h of USDT on chain 1 to 5000000000 (base units), applies at 2026-12-02T17:00:00Z \
         (in 60 minutes)"
    );
    assert_eq!(lines[5], format!("            digest {}", raise.digest().grouped()));
    assert_eq!(lines[6], "allowlist   chain 1 0x70997970C51812dc3A010C7d01b50e0d17dc79C8");

    // The same controls as the gateway shows its last reading of them.
    let gateway = json!({
        "read_at": "2026-12-02T15:59:59.000Z",
        "controls": {
            "policy_version": 7, "profile": "restricted", "quorum": 2,
            "frozen": {"reason": "freeze.approver", "message": "outflow looked wrong",
                "since": "2026-12-02T15:58:00.000Z", "since_unix": NOW - 120, "by": "alice"},
            "scheduled": [{"change": serde_json::to_value(&raise.change).unwrap(), "base_version": 6,
                "digest": raise.digest().to_string(), "applies_at": "2026-12-02T17:00:00.000Z"}],
            "allowlist": [{"chain_id": 1, "destination": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}],
        },
    });
    let read = State::from_gateway(&gateway).unwrap();
    assert_eq!(read.read_at.as_deref(), Some("2026-12-02T15:59:59.000Z"));
    assert_eq!(State { read_at: None, ..read }, State::from(state));
}

#[test]
fn a_proposal_is_bound_to_the_version_read_and_an_expiry() {
    let state = ControlState {
        policy_version: 9,
        profile: Profile::Normal,
        frozen: None,
        quorum: 2,
        scheduled: vec![],
        allowlist: vec![],
    };
    let before = now();
    let proposal = proposal_at(PolicyChange::Unfreeze, &state.into(), 600);
    assert_eq!(proposal.base_version, 9);
    assert!((before + 600..=now() + 600).contains(&proposal.expires_at));
    let text = describe_proposal(&proposal, proposal.expires_at - 600);
    assert!(text.starts_with("change      lift the freeze\nbase        policy version 9\n"), "{text}");
    assert!(text.ends_with(&format!("digest      {}\n", proposal.digest().grouped())), "{text}");
}
