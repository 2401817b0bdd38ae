//! M-of-N approvals: who the approvers are, and what a set of signed
//! approvals of one digest amounts to. Checking a signature is arithmetic,
//! not I/O: this stays a pure function of the policy and the approvals.

use std::collections::BTreeSet;

use coffer_signer_api::{Approval, Decision, Digest, PublicKey, RuleTag};

use crate::Refusal;

/// One approver, as `signer.toml` lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approver {
    /// Their name, shown on every approval.
    pub name: String,
    /// Their public key.
    pub key: PublicKey,
}

/// `[policy.approvals]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRules {
    /// M.
    pub quorum: u8,
    /// How long one round of a payout's approvals counts, seconds.
    pub ttl_secs: u64,
    /// Whether a payout to a destination never paid before waits for approvals.
    pub new_destinations: bool,
    /// How long a raised limit waits with its quorum, seconds.
    pub timelock_secs: u64,
    /// N approvers, distinct by name and key.
    pub approvers: Vec<Approver>,
}

/// What a set of approvals of one digest amounts to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Distinct approvers who approved, by name.
    pub approved: BTreeSet<String>,
    /// The first approver who rejected, by name.
    pub rejected_by: Option<String>,
}

impl ApprovalRules {
    /// The name of the approver with `key`, if the policy lists one.
    pub fn name_of(&self, key: &PublicKey) -> Option<&str> {
        self.approvers.iter().find(|a| a.key == *key).map(|a| a.name.as_str())
    }

    /// Checks one approval of `expected`: a listed approver's key, a
    /// signature that verifies, and the digest waiting. Gives the
    /// approver's name.
    pub fn check(&self, approval: &Approval, expected: &Digest) -> Result<String, Refusal> {
        let Some(name) = self.name_of(&approval.approver) else {
            return Err(Refusal::new(
                RuleTag::ApprovalSignature,
                format!("{} is not an approver's key in the signer's policy", approval.approver),
            ));
        };
        if !approval.verifies() {
            return Err(Refusal::new(
                RuleTag::ApprovalSignature,
                format!("the signature is not {name}'s over this decision and digest"),
            ));
        }
        if approval.digest != *expected {
            return Err(Refusal::new(
                RuleTag::ApprovalMismatch,
                format!(
                    "{name} signed {}, but what waits is {}: another payout, altered fields, or an earlier round",
                    approval.digest, expected
                ),
            ));
        }
        Ok(name.to_owned())
    }

    /// Counts the approvals of `expected` that [`ApprovalRules::check`]
    /// accepts; one approver counts once, however often they sign.
    pub fn tally<'a>(&self, approvals: impl IntoIterator<Item = &'a Approval>, expected: &Digest) -> Tally {
        let mut tally = Tally::default();
        for approval in approvals {
            let Ok(name) = self.check(approval, expected) else { continue };
            match approval.decision {
                Decision::Approve => {
                    tally.approved.insert(name);
                }
                Decision::Reject => {
                    tally.rejected_by.get_or_insert(name);
                }
            }
        }
        tally
    }

    /// Whether `tally` reaches the quorum, with no rejection.
    pub fn reached(&self, tally: &Tally) -> bool {
        tally.rejected_by.is_none() && tally.approved.len() >= usize::from(self.quorum)
    }
}
