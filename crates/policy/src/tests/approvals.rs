//! M-of-N approvals: what releases a payout, and what never does.

use coffer_domain::{MerchantId, PayoutId};
use coffer_signer_api::{Approval, Decision, Digest, PayoutApproval, PayoutIntent, PublicKey};
use ed25519_dalek::{Signer as _, SigningKey};

use super::fixtures::{PAYEE, file, table, usd, usdt};
use crate::{
    Alarms, ApprovalsFile, ApproverFile, PayoutRequest, Policy, PolicyFile, RuleTag, Verdict, Windows, assess_payout,
};

const NOW: i64 = 1_800_000_000;

pub(crate) fn approver_key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub(crate) fn public(key: &SigningKey) -> PublicKey {
    PublicKey::from_bytes(&key.verifying_key().to_bytes()).unwrap()
}

pub(crate) fn sign(key: &SigningKey, decision: Decision, digest: Digest) -> Approval {
    let signature = hex::encode(key.sign(decision.signed_text(&digest).as_bytes()).to_bytes());
    Approval { approver: public(key), decision, digest, signature }
}

/// Three approvers (keys 1, 2, 3), quorum 2; USDT payouts above 500 wait.
pub(crate) fn approvals_file() -> PolicyFile {
    let mut file = file();
    file.approvals = Some(ApprovalsFile {
        quorum: 2,
        ttl_secs: 3600,
        new_destinations: false,
        timelock_secs: 86_400,
        approvers: (1..=3)
            .map(|n| ApproverFile { name: format!("approver-{n}"), key: public(&approver_key(n)).to_string() })
            .collect(),
    });
    file.assets[1].approval_above = Some("500".into());
    file
}

fn ask() -> PayoutApproval {
    PayoutApproval {
        payout: PayoutIntent {
            id: PayoutId::new(),
            merchant: MerchantId::new(),
            chain_id: usdt().id.chain_id,
            asset: usdt().id.symbol,
            amount: usd(900),
            destination: PAYEE,
        },
        expires_at: NOW + 3600,
    }
}

fn verdict(policy: &Policy, whole: u64, approved: bool, paid: bool) -> Verdict {
    let request = PayoutRequest {
        merchant: MerchantId::new(),
        asset: usdt().id,
        amount: usd(whole),
        destination: PAYEE,
        destination_first_requested: Some(NOW - 10),
        destination_paid: paid,
        approved,
    };
    let denylist = crate::ScreeningSet::new();
    assess_payout(policy, &Windows::new(), &Alarms::default(), &denylist, &super::fixtures::treasury(), &request, NOW)
}

#[test]
fn a_payout_above_the_threshold_waits_for_the_quorum_and_goes_out_with_it() {
    let policy = Policy::new(&approvals_file(), &table()).unwrap();
    assert_eq!(verdict(&policy, 500, false, true), Verdict::Sign, "at the threshold it does not wait");
    assert_eq!(verdict(&policy, 501, false, true), Verdict::Approval { quorum: 2 });
    assert_eq!(verdict(&policy, 501, true, true), Verdict::Sign);
    // Approvals never lift another rule.
    let refused = verdict(&policy, 1001, true, true);
    assert!(matches!(refused, Verdict::Refuse(ref r) if r.rule == RuleTag::LimitPerPayout), "{refused:?}");
}

#[test]
fn new_destinations_wait_when_the_policy_says_so() {
    let mut file = approvals_file();
    file.approvals.as_mut().unwrap().new_destinations = true;
    let policy = Policy::new(&file, &table()).unwrap();
    assert_eq!(verdict(&policy, 10, false, false), Verdict::Approval { quorum: 2 });
    assert_eq!(verdict(&policy, 10, false, true), Verdict::Sign, "a destination paid before does not");
}

#[test]
fn below_quorum_duplicates_wrong_keys_altered_digests_and_other_payouts_never_reach_it() {
    let policy = Policy::new(&approvals_file(), &table()).unwrap();
    let rules = policy.approvals().unwrap();
    let ask = ask();
    let digest = ask.digest();
    let one = sign(&approver_key(1), Decision::Approve, digest);
    assert!(!rules.reached(&rules.tally([&one], &digest)), "one of two");
    assert!(!rules.reached(&rules.tally([&one, &one.clone()], &digest)), "the same approver twice counts once");
    let outsider = sign(&approver_key(9), Decision::Approve, digest);
    assert!(!rules.reached(&rules.tally([&one, &outsider], &digest)), "a key the policy does not list");
    assert_eq!(rules.check(&outsider, &digest).unwrap_err().rule, RuleTag::ApprovalSignature);
    let mut forged = sign(&approver_key(2), Decision::Approve, digest);
    forged.approver = public(&approver_key(3));
    assert!(!rules.reached(&rules.tally([&one, &forged], &digest)), "a signature under another approver's name");
    let mut altered = ask.clone();
    altered.payout.amount = usd(901);
    let other = sign(&approver_key(2), Decision::Approve, altered.digest());
    assert!(!rules.reached(&rules.tally([&one, &other], &digest)), "an altered digest");
    assert_eq!(rules.check(&other, &digest).unwrap_err().rule, RuleTag::ApprovalMismatch);
    let mut elsewhere = ask.clone();
    elsewhere.payout.id = PayoutId::new();
    let another = sign(&approver_key(2), Decision::Approve, elsewhere.digest());
    assert!(!rules.reached(&rules.tally([&one, &another], &digest)), "an approval of another payout");
    let mut later = ask.clone();
    later.expires_at += 3600;
    let next_round = sign(&approver_key(2), Decision::Approve, later.digest());
    assert!(!rules.reached(&rules.tally([&one, &next_round], &digest)), "another round's approval");
    let two = sign(&approver_key(2), Decision::Approve, digest);
    let tally = rules.tally([&one, &outsider, &two], &digest);
    assert!(rules.reached(&tally));
    assert_eq!(tally.approved.iter().cloned().collect::<Vec<_>>(), ["approver-1", "approver-2"]);
}

#[test]
fn one_rejection_outweighs_any_number_of_approvals() {
    let policy = Policy::new(&approvals_file(), &table()).unwrap();
    let rules = policy.approvals().unwrap();
    let digest = ask().digest();
    let yes: Vec<_> = (1..=2).map(|n| sign(&approver_key(n), Decision::Approve, digest)).collect();
    let no = sign(&approver_key(3), Decision::Reject, digest);
    let tally = rules.tally(yes.iter().chain([&no]), &digest);
    assert_eq!(tally.rejected_by.as_deref(), Some("approver-3"));
    assert!(!rules.reached(&tally));
}

#[test]
fn approver_lists_that_cannot_give_a_quorum_do_not_load() {
    let mut file = approvals_file();
    file.approvals.as_mut().unwrap().quorum = 4;
    let e = Policy::new(&file, &table()).unwrap_err();
    assert_eq!(e.field, "policy.approvals.quorum");
    let mut file = approvals_file();
    let twin = file.approvals.as_ref().unwrap().approvers[0].key.clone();
    file.approvals.as_mut().unwrap().approvers[1].key = twin;
    assert!(Policy::new(&file, &table()).unwrap_err().reason.contains("each person is one approver"));
    let mut file = approvals_file();
    file.approvals = None;
    let e = Policy::new(&file, &table()).unwrap_err();
    assert_eq!(e.field, "policy.assets[1].approval_above");
}
