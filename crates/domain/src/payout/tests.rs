use std::str::FromStr;

use super::*;
use crate::{Account, AssetSymbol, Balances, ChainId};
use PayoutStatus::*;

fn asset(symbol: &str) -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str(symbol).unwrap() }
}

fn payout(status: PayoutStatus) -> Payout {
    Payout {
        id: PayoutId::new(),
        merchant_id: MerchantId::new(),
        amount: Amount::from_units(asset("USDT"), U256::from(5_000_000u64)),
        destination: Address::repeat_byte(0x11),
        status,
        source: ReserveSource::Merchant,
        refund_of: None,
        fee_asset: asset("ETH"),
        cooldown_until: None,
        approval: None,
        refusal: None,
        failure: None,
        tx_hash: None,
        network_fee: None,
        created_at: Timestamp::from_millis(1_000),
        updated_at: Timestamp::from_millis(1_000),
    }
}

fn changed(advance: Advance<PayoutChange>) -> PayoutChange {
    match advance {
        Advance::Changed(change) => change,
        other => panic!("expected a change, got {other:?}"),
    }
}

fn at() -> Timestamp {
    Timestamp::from_millis(2_000)
}

#[test]
fn only_drawn_edges_are_allowed() {
    assert!(Pending.can_become(Broadcast) && Pending.can_become(PendingCooldown) && Pending.can_become(Refused));
    assert!(PendingCooldown.can_become(Pending), "the cool-down ended: decided again");
    assert!(Pending.can_become(Confirmed), "a broadcast the gateway never heard of");
    assert!(Broadcast.can_become(Confirmed) && Broadcast.can_become(Failed));
    assert!(!Broadcast.can_become(Pending) && !Broadcast.can_become(Refused), "sent is sent");
    for last in [Refused, Confirmed, Failed] {
        assert!(last.is_final(), "{last}");
        assert!(PayoutStatus::ALL.iter().all(|next| last.transition(*next).is_err()));
    }
    assert!(PayoutStatus::ALL.iter().all(|s| !s.can_become(*s)), "no edge to itself");
    assert!(!Pending.is_final() && !PendingCooldown.is_final() && !Broadcast.is_final());
}

#[test]
fn status_text_round_trips() {
    for status in PayoutStatus::ALL {
        assert_eq!(status.as_str().parse::<PayoutStatus>(), Ok(status));
    }
    assert!("paid".parse::<PayoutStatus>().is_err());
}

#[test]
fn a_confirmation_books_the_payout_and_its_fee_out_of_hot() {
    let p = payout(Broadcast);
    let progress = PayoutProgress::Confirmed { tx_hash: B256::repeat_byte(7), network_fee: U256::from(21_000u64) };
    let change = changed(p.advance(&progress, at()).unwrap());
    assert_eq!(change.payout.status, Confirmed);
    assert_eq!(change.payout.network_fee, Some(Amount::from_units(asset("ETH"), U256::from(21_000u64))));
    assert_eq!(change.event, Some(EventType::PayoutConfirmed));
    assert_eq!(
        change.postings,
        vec![
            Transaction::payout(p.merchant_id, p.amount).unwrap(),
            Transaction::network_fee(Amount::from_units(asset("ETH"), U256::from(21_000u64)), FeePayer::Hot).unwrap(),
        ]
    );
    assert_eq!(change.payout.updated_at, at());
    let free = PayoutProgress::Confirmed { tx_hash: B256::repeat_byte(7), network_fee: U256::ZERO };
    assert_eq!(changed(p.advance(&free, at()).unwrap()).postings.len(), 1, "no zero entry for a free transaction");
}

#[test]
fn a_refusal_or_failure_releases_the_reserve_to_where_it_came_from() {
    let mut p = payout(Pending);
    p.source = ReserveSource::Suspense;
    let refused = PayoutProgress::Refused(Refusal { rule: "limit.per_payout".into(), message: "too much".into() });
    let change = changed(p.advance(&refused, at()).unwrap());
    assert_eq!(change.payout.refusal.as_ref().map(|r| r.rule.as_str()), Some("limit.per_payout"));
    assert_eq!(change.postings, vec![Transaction::release(p.merchant_id, ReserveSource::Suspense, p.amount).unwrap()]);
    assert_eq!(change.event, Some(EventType::PayoutRefused));
    let sent = Payout { tx_hash: Some(B256::repeat_byte(3)), ..payout(Broadcast) };
    let failed = PayoutProgress::Failed { reason: "reverted".into(), tx_hash: None, network_fee: U256::ZERO };
    let change = changed(sent.advance(&failed, at()).unwrap());
    assert_eq!(change.payout.tx_hash, Some(B256::repeat_byte(3)), "the hash it had is kept");
    assert_eq!(change.payout.failure.as_deref(), Some("reverted"));
    assert_eq!(change.event, Some(EventType::PayoutFailed));
}

#[test]
fn a_reverted_payout_releases_its_reserve_and_books_the_gas_the_hot_wallet_paid() {
    let p = Payout { tx_hash: Some(B256::repeat_byte(3)), ..payout(Broadcast) };
    let failed = PayoutProgress::Failed {
        reason: "reverted".into(),
        tx_hash: Some(B256::repeat_byte(3)),
        network_fee: U256::from(77u8),
    };
    let change = changed(p.advance(&failed, at()).unwrap());
    let gas = Amount::from_units(asset("ETH"), U256::from(77u8));
    assert_eq!(change.payout.network_fee, Some(gas));
    assert_eq!(
        change.postings,
        vec![
            Transaction::release(p.merchant_id, p.source, p.amount).unwrap(),
            Transaction::network_fee(gas, FeePayer::Hot).unwrap()
        ]
    );
    let mut books = Balances::default();
    books.apply(&Transaction::receipt(p.amount).unwrap()).unwrap();
    books.apply(&Transaction::settlement(p.merchant_id, p.amount).unwrap()).unwrap();
    books.apply(&p.reserve().unwrap()).unwrap();
    for posting in &change.postings {
        books.apply(posting).unwrap();
    }
    assert_eq!(books.balance(Account::Merchant(p.merchant_id, asset("USDT"))).unwrap(), p.amount, "all back");
    assert_eq!(books.balance(Account::NetworkFees(asset("ETH"))).unwrap(), gas);
    // Dropped, never mined: no gas, no fee posting.
    let dropped = PayoutProgress::Failed { reason: "dropped".into(), tx_hash: None, network_fee: U256::ZERO };
    let change = changed(p.advance(&dropped, at()).unwrap());
    assert_eq!((change.postings.len(), change.payout.network_fee), (1, None));
}

#[test]
fn repeated_and_older_answers_change_nothing() {
    let confirmed = changed(
        payout(Broadcast)
            .advance(&PayoutProgress::Confirmed { tx_hash: B256::repeat_byte(7), network_fee: U256::from(1u8) }, at())
            .unwrap(),
    )
    .payout;
    let again = PayoutProgress::Confirmed { tx_hash: B256::repeat_byte(7), network_fee: U256::from(1u8) };
    assert_eq!(confirmed.advance(&again, at()).unwrap(), Advance::Unchanged);
    let other = PayoutProgress::Confirmed { tx_hash: B256::repeat_byte(8), network_fee: U256::from(9u8) };
    assert_eq!(confirmed.advance(&other, at()).unwrap(), Advance::Unchanged, "a final state's facts stay");
    let older = PayoutProgress::Broadcast { tx_hash: B256::repeat_byte(7) };
    assert!(matches!(confirmed.advance(&older, at()).unwrap(), Advance::Stale(_)));
    assert_eq!(payout(Pending).advance(&PayoutProgress::Pending, at()).unwrap(), Advance::Unchanged);
}

#[test]
fn a_bumped_transaction_or_a_new_cooldown_end_is_news_without_an_event() {
    let sent = Payout { tx_hash: Some(B256::repeat_byte(1)), ..payout(Broadcast) };
    let bumped = changed(sent.advance(&PayoutProgress::Broadcast { tx_hash: B256::repeat_byte(2) }, at()).unwrap());
    assert_eq!((bumped.payout.tx_hash, bumped.event, bumped.postings.len()), (Some(B256::repeat_byte(2)), None, 0));
    let until = Timestamp::from_millis(9_000);
    let waiting = changed(payout(Pending).advance(&PayoutProgress::Cooldown { until }, at()).unwrap());
    assert_eq!(
        (waiting.payout.status, waiting.payout.cooldown_until, waiting.event),
        (PendingCooldown, Some(until), None)
    );
}

#[test]
fn a_reserve_then_its_release_leaves_every_balance_as_it_was() {
    let p = payout(Pending);
    let mut books = Balances::default();
    books.apply(&Transaction::receipt(p.amount).unwrap()).unwrap();
    books.apply(&Transaction::settlement(p.merchant_id, p.amount).unwrap()).unwrap();
    let before: Vec<_> =
        [Account::Merchant(p.merchant_id, p.amount.asset())].into_iter().map(|a| books.balance(a).unwrap()).collect();
    books.apply(&p.reserve().unwrap()).unwrap();
    assert!(books.balance(Account::Merchant(p.merchant_id, p.amount.asset())).unwrap().is_zero());
    let refused = PayoutProgress::Refused(Refusal { rule: "r".into(), message: "m".into() });
    for posting in changed(p.advance(&refused, at()).unwrap()).postings {
        books.apply(&posting).unwrap();
    }
    assert_eq!(books.balance(Account::Merchant(p.merchant_id, p.amount.asset())).unwrap(), before[0]);
    assert!(books.balance(Account::PayoutsReserved(p.merchant_id, p.amount.asset())).unwrap().is_zero());
    books.check().unwrap();
}

fn round(expires_ms: i64, approved_by: &[&str]) -> ApprovalRound {
    ApprovalRound {
        digest: [expires_ms.to_le_bytes()[0]; 32],
        expires_at: Timestamp::from_millis(expires_ms),
        quorum: 2,
        approved_by: approved_by.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn a_wait_for_approvers_keeps_the_reserve_and_raises_its_event_once() {
    assert!(Pending.can_become(PendingApproval) && PendingCooldown.can_become(PendingApproval));
    assert!(PendingApproval.can_become(Broadcast) && PendingApproval.can_become(Refused));
    assert!(PendingApproval.can_become(PendingCooldown), "approved, then decided again");
    assert!(!PendingApproval.is_final() && !Broadcast.can_become(PendingApproval));
    let first = changed(payout(Pending).advance(&PayoutProgress::Approval(round(5_000, &[])), at()).unwrap());
    assert_eq!(
        (first.payout.status, first.event, first.postings.len()),
        (PendingApproval, Some(EventType::PayoutPendingApproval), 0),
        "no posting: the reserve stays"
    );
    let waiting = first.payout;
    // One approver more: news, no event.
    let one = changed(waiting.advance(&PayoutProgress::Approval(round(5_000, &["ana"])), at()).unwrap());
    assert_eq!((one.payout.approval.as_ref().unwrap().approved_by.clone(), one.event), (vec!["ana".to_owned()], None));
    // An older answer (fewer approvers, or an earlier round) is no news.
    assert_eq!(one.payout.advance(&PayoutProgress::Approval(round(5_000, &[])), at()).unwrap(), Advance::Unchanged);
    assert_eq!(one.payout.advance(&PayoutProgress::Approval(round(4_000, &["bo"])), at()).unwrap(), Advance::Unchanged);
    // A new round after the last expired: news.
    let again = changed(one.payout.advance(&PayoutProgress::Approval(round(9_000, &[])), at()).unwrap());
    assert_eq!(again.payout.approval.unwrap().expires_at, Timestamp::from_millis(9_000));
    // Rejected: refused, the reserve released.
    let rejected = PayoutProgress::Refused(Refusal { rule: "approval.rejected".into(), message: "no".into() });
    let change = changed(one.payout.advance(&rejected, at()).unwrap());
    assert_eq!(
        change.postings,
        vec![Transaction::release(one.payout.merchant_id, one.payout.source, one.payout.amount).unwrap()]
    );
    assert!(change.payout.approval.is_some(), "who approved stays on record");
}
