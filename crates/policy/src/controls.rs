//! What people and tripwires change at run time, laid over `signer.toml`'s
//! policy: the freeze, the profile, the allowlist and limit overrides.
//! Tightening applies on one signature, loosening needs the quorum, and a
//! raised limit waits out the time lock (ADR 0013).

use std::collections::BTreeSet;

use coffer_domain::{Address, AssetId, ChainId, U256};
use coffer_signer_api::{FreezeInfo, LimitName, PolicyChange, Profile, RuleTag};
use serde::{Deserialize, Serialize};

use crate::Refusal;
use crate::anomaly::Trip;
use crate::policy::Policy;

/// The run-time layer over the file's policy, as the signer stores it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controls {
    /// The `signer.toml` policy version the overrides were made over.
    pub file_version: u64,
    /// Changes applied so far (every file version): the policy version is
    /// the file's plus this, so it only ever goes up.
    pub changes: u64,
    /// The profile in force.
    pub profile: Profile,
    /// The freeze, if any.
    pub frozen: Option<FreezeInfo>,
    /// Destinations allowed by quorum, beyond the file's allowlist.
    pub allowed: BTreeSet<(ChainId, Address)>,
    /// Destinations removed, from the file's allowlist too.
    pub disallowed: BTreeSet<(ChainId, Address)>,
    /// Limits set at run time, per profile.
    pub overrides: Vec<Override>,
    /// When a quorum last lifted a freeze: for one anomaly window after it
    /// the outflow tripwire is quiet, since the outflow it would count is
    /// the incident the approvers just reviewed.
    #[serde(default)]
    pub unfrozen_at: Option<i64>,
}

/// One limit set at run time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// The profile it applies in.
    pub profile: Profile,
    /// The asset's chain.
    pub chain_id: ChainId,
    /// The asset's symbol.
    pub symbol: String,
    /// Which limit.
    pub limit: LimitName,
    /// Base units, or a count.
    pub value: U256,
}

/// How a change is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// Applies on one approver's signature.
    Tightens,
    /// Needs the quorum; `timelock`: and waits out the time lock.
    Loosens {
        /// Whether it waits.
        timelock: bool,
    },
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::new(RuleTag::ControlInvalid, message)
}

impl Policy {
    /// The run-time layer in force.
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    /// The freeze, if outgoing payments are frozen.
    pub fn frozen(&self) -> Option<&FreezeInfo> {
        self.controls.frozen.as_ref()
    }

    /// The profile in force.
    pub fn profile(&self) -> Profile {
        self.controls.profile
    }

    /// Whether `restricted` may pay `destination` on `chain`.
    pub fn allowlisted(&self, chain: ChainId, destination: Address) -> bool {
        let key = (chain, destination);
        !self.controls.disallowed.contains(&key)
            && (self.file_allowlist.contains(&key) || self.controls.allowed.contains(&key))
    }

    /// Every allowlisted destination.
    pub fn allowlist(&self) -> Vec<(ChainId, Address)> {
        let mut all: BTreeSet<_> = self.file_allowlist.union(&self.controls.allowed).copied().collect();
        all.retain(|key| !self.controls.disallowed.contains(key));
        all.into_iter().collect()
    }

    /// This policy with `controls` laid over it, as the signer stored them.
    /// Overrides made over another file version are dropped (the operator
    /// rewrote the base); the freeze, profile and allowlist are kept.
    pub fn with_controls(&self, mut controls: Controls) -> Policy {
        if controls.file_version != self.file_version {
            controls.overrides.clear();
            controls.file_version = self.file_version;
        }
        let mut policy = self.clone();
        policy.controls = controls;
        policy.rebuild();
        policy
    }

    /// How `change` is judged against this policy, or why it cannot apply.
    pub fn strictness(&self, change: &PolicyChange) -> Result<Strictness, Refusal> {
        match change {
            PolicyChange::Freeze { .. } => match self.frozen() {
                Some(f) => Err(invalid(format!("already frozen since {} ({})", f.since, f.reason))),
                None => Ok(Strictness::Tightens),
            },
            PolicyChange::Unfreeze => match self.frozen() {
                Some(_) => Ok(Strictness::Loosens { timelock: false }),
                None => Err(invalid("outgoing payments are not frozen")),
            },
            PolicyChange::Profile { profile } if *profile == self.profile() => {
                Err(invalid(format!("the profile is {} already", profile.as_str())))
            }
            PolicyChange::Profile { profile: Profile::Restricted } => Ok(Strictness::Tightens),
            PolicyChange::Profile { profile: Profile::Normal } => Ok(Strictness::Loosens { timelock: false }),
            PolicyChange::Limit { chain_id, asset, limit, value } => {
                let id = AssetId { chain_id: *chain_id, symbol: *asset };
                let current = self.limit(id, *limit)?;
                match current {
                    Some(current) if *value == current => {
                        Err(invalid(format!("{} is {value} already", limit.as_str())))
                    }
                    Some(current) if *value < current => Ok(Strictness::Tightens),
                    Some(_) => Ok(Strictness::Loosens { timelock: true }),
                    // No approval threshold is the loosest one: any threshold tightens.
                    None => Ok(Strictness::Tightens),
                }
            }
            PolicyChange::Allow { chain_id, destination } => {
                if self.allowlisted(*chain_id, *destination) {
                    Err(invalid(format!("{destination} is allowlisted already")))
                } else {
                    Ok(Strictness::Loosens { timelock: false })
                }
            }
            PolicyChange::Disallow { chain_id, destination } => {
                if self.allowlisted(*chain_id, *destination) {
                    Ok(Strictness::Tightens)
                } else {
                    Err(invalid(format!("{destination} is not allowlisted")))
                }
            }
        }
    }

    /// The value of one limit of `asset` in force now (`None`: no approval threshold).
    pub fn limit(&self, asset: AssetId, limit: LimitName) -> Result<Option<U256>, Refusal> {
        let rules = self.assets.get(&asset).ok_or_else(|| {
            invalid(format!("{} on chain {} is not an asset of the policy", asset.symbol, asset.chain_id))
        })?;
        Ok(match limit {
            LimitName::MaxPerPayout => Some(rules.max_per_payout),
            LimitName::ApprovalAbove => {
                if self.approvals.is_none() {
                    return Err(invalid("the policy lists no approvers, so no payout can wait for approvals"));
                }
                rules.approval_above
            }
            LimitName::Amount1h => Some(rules.global.amount_1h),
            LimitName::Amount24h => Some(rules.global.amount_24h),
            LimitName::Count1h => Some(U256::from(rules.global.count_1h)),
            LimitName::Count24h => Some(U256::from(rules.global.count_24h)),
        })
    }

    /// The policy after `change` (judged by [`Policy::strictness`] first),
    /// at the next version; `by` names the approver for a freeze.
    pub fn apply(&self, change: &PolicyChange, now: i64, by: Option<&str>) -> Result<Policy, Refusal> {
        self.strictness(change)?;
        let mut next = self.clone();
        let controls = &mut next.controls;
        match change {
            PolicyChange::Freeze { reason } => {
                controls.frozen = Some(FreezeInfo {
                    reason: RuleTag::FreezeApprover,
                    message: reason.chars().take(500).collect(),
                    since: now,
                    by: by.map(str::to_owned),
                });
            }
            PolicyChange::Unfreeze => {
                controls.frozen = None;
                controls.unfrozen_at = Some(now);
            }
            PolicyChange::Profile { profile } => controls.profile = *profile,
            PolicyChange::Limit { chain_id, asset, limit, value } => {
                if limit.is_count() && *value > U256::from(u64::MAX) {
                    return Err(invalid(format!("{} is a count; {value} is too large", limit.as_str())));
                }
                let profile = controls.profile;
                let symbol = asset.to_string();
                controls.overrides.retain(|o| {
                    !(o.profile == profile && o.chain_id == *chain_id && o.symbol == symbol && o.limit == *limit)
                });
                controls.overrides.push(Override {
                    profile,
                    chain_id: *chain_id,
                    symbol,
                    limit: *limit,
                    value: *value,
                });
            }
            PolicyChange::Allow { chain_id, destination } => {
                controls.disallowed.remove(&(*chain_id, *destination));
                if !next.file_allowlist.contains(&(*chain_id, *destination)) {
                    next.controls.allowed.insert((*chain_id, *destination));
                }
            }
            PolicyChange::Disallow { chain_id, destination } => {
                controls.allowed.remove(&(*chain_id, *destination));
                if next.file_allowlist.contains(&(*chain_id, *destination)) {
                    next.controls.disallowed.insert((*chain_id, *destination));
                }
            }
        }
        next.controls.changes = next.controls.changes.saturating_add(1);
        next.rebuild();
        next.check_limits()?;
        Ok(next)
    }

    /// The policy frozen by a tripwire at `now`, at the next version.
    pub fn frozen_by(&self, trip: &Trip, now: i64) -> Policy {
        let mut next = self.clone();
        next.controls.frozen =
            Some(FreezeInfo { reason: trip.reason, message: trip.message.clone(), since: now, by: None });
        next.controls.changes = next.controls.changes.saturating_add(1);
        next.rebuild();
        next
    }

    /// The effective rules: the profile's limits with its overrides. The
    /// restricted profile is never looser than normal as it stands, so a
    /// limit lowered in normal stays lowered after switching to restricted.
    pub(crate) fn rebuild(&mut self) {
        self.version = self.file_version.saturating_add(self.controls.changes);
        let mut assets = self.normal.clone();
        for (id, rules) in &mut assets {
            self.overlay(Profile::Normal, *id, rules);
            if self.controls.profile == Profile::Restricted {
                let normal = rules.clone();
                if let Some((max, limits)) = self.restricted.get(id) {
                    rules.max_per_payout = *max;
                    rules.global = *limits;
                }
                self.overlay(Profile::Restricted, *id, rules);
                rules.max_per_payout = rules.max_per_payout.min(normal.max_per_payout);
                rules.approval_above = match (rules.approval_above, normal.approval_above) {
                    (Some(mine), Some(theirs)) => Some(mine.min(theirs)),
                    (mine, theirs) => mine.or(theirs),
                };
                let (g, n) = (&mut rules.global, &normal.global);
                g.amount_1h = g.amount_1h.min(n.amount_1h);
                g.amount_24h = g.amount_24h.min(n.amount_24h);
                g.count_1h = g.count_1h.min(n.count_1h);
                g.count_24h = g.count_24h.min(n.count_24h);
            }
        }
        self.assets = assets;
    }

    /// `profile`'s overrides of `id`, laid over `rules`.
    fn overlay(&self, profile: Profile, id: AssetId, rules: &mut crate::AssetPolicy) {
        let symbol = id.symbol.to_string();
        let mine = |o: &&Override| o.profile == profile && o.chain_id == id.chain_id && o.symbol == symbol;
        for o in self.controls.overrides.iter().filter(mine) {
            let count = u64::try_from(o.value).unwrap_or(u64::MAX);
            match o.limit {
                LimitName::MaxPerPayout => rules.max_per_payout = o.value,
                LimitName::ApprovalAbove => rules.approval_above = Some(o.value),
                LimitName::Amount1h => rules.global.amount_1h = o.value,
                LimitName::Amount24h => rules.global.amount_24h = o.value,
                LimitName::Count1h => rules.global.count_1h = count,
                LimitName::Count24h => rules.global.count_24h = count,
            }
        }
    }

    /// The rules `Policy::new` enforces on the file, on the effective limits:
    /// a change may not leave a policy that could not have been loaded.
    fn check_limits(&self) -> Result<(), Refusal> {
        for (id, rules) in &self.assets {
            let g = &rules.global;
            let what = format!("{} on chain {}", id.symbol, id.chain_id);
            if g.amount_1h.is_zero() || g.amount_24h.is_zero() || g.count_1h == 0 || g.count_24h == 0 {
                return Err(invalid(format!(
                    "{what}: a global velocity limit of 0 would leave no bound; to stop its payouts set max_per_payout to 0"
                )));
            }
            if g.amount_1h > g.amount_24h || g.count_1h > g.count_24h {
                return Err(invalid(format!("{what}: an hour cannot allow more than the day around it")));
            }
            if rules.max_per_payout > g.amount_1h {
                return Err(invalid(format!("{what}: max_per_payout would be above amount_1h; lower it first")));
            }
        }
        Ok(())
    }
}
