//! What people sign: approvals of one payout, and changes of the signer's
//! policy (a freeze, an unfreeze, a profile, a limit, an allowlist entry).
//!
//! Approvers hold their own ed25519 keys, on their own devices; the signer
//! lists their public keys in `signer.toml`. Each signs a **digest** that
//! `coffer approve` prints for a person to compare: the SHA-256 of a
//! canonical text naming every field that matters, with an expiry. The
//! gateway may carry an approval to the signer, never make one: the signer
//! checks each signature against its own record of the payout or change.
//!
//! **Protocol boundary:** the canonical texts below are signed on one host
//! and checked on another; change them only with a new version tag.

use std::fmt;

use coffer_domain::{Address, AssetSymbol, ChainId, U256};
use ed25519_dalek::{Signature, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{PayoutIntent, PublicKey, wire};

const PAYOUT_TAG: &str = "coffer-approval-payout/1";
const CHANGE_TAG: &str = "coffer-approval-change/1";
const APPROVE_TAG: &str = "coffer-approve/1";
const REJECT_TAG: &str = "coffer-reject/1";

/// A SHA-256 digest that a person compares, shown as hex in groups of four.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest as people compare it: `1a2b 3c4d …`, 16 groups.
    pub fn grouped(&self) -> String {
        let hex = hex::encode(self.0);
        hex.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Digest {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(&compact)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Digest)
            .ok_or_else(|| format!("not a digest (64 hex digits): {:?}", s.chars().take(80).collect::<String>()))
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The payout as approvers see and sign it: every field of the intent, and
/// until when an approval of it counts.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutApproval {
    /// The payout.
    pub payout: PayoutIntent,
    /// Unix seconds after which approvals of this digest no longer count;
    /// the signer sets it when the payout starts to wait.
    pub expires_at: i64,
}

impl PayoutApproval {
    /// The canonical text, one field a line, in the order a person reads them.
    pub fn canonical(&self) -> String {
        let p = &self.payout;
        format!(
            "{PAYOUT_TAG}\npayout {}\nmerchant {}\nchain {}\nasset {}\namount {}\ndestination {}\nexpires {}\n",
            p.id,
            p.merchant,
            p.chain_id,
            p.asset,
            p.amount,
            p.destination.to_checksum(None),
            self.expires_at
        )
    }

    /// What approvers sign.
    pub fn digest(&self) -> Digest {
        Digest(Sha256::digest(self.canonical().as_bytes()).into())
    }
}

/// A limit a [`PolicyChange::Limit`] sets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitName {
    /// The most one payout may send.
    MaxPerPayout,
    /// Above this amount a payout waits for approvals.
    ApprovalAbove,
    /// All payouts in any hour.
    Amount1h,
    /// All payouts in any 24 hours.
    Amount24h,
    /// Number of payouts in any hour.
    Count1h,
    /// Number of payouts in any 24 hours.
    Count24h,
}

impl LimitName {
    /// Every limit, in the order they are shown.
    pub const ALL: [LimitName; 6] = [
        LimitName::MaxPerPayout,
        LimitName::ApprovalAbove,
        LimitName::Amount1h,
        LimitName::Amount24h,
        LimitName::Count1h,
        LimitName::Count24h,
    ];

    /// The name as written on the command line and the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitName::MaxPerPayout => "max_per_payout",
            LimitName::ApprovalAbove => "approval_above",
            LimitName::Amount1h => "amount_1h",
            LimitName::Amount24h => "amount_24h",
            LimitName::Count1h => "count_1h",
            LimitName::Count24h => "count_24h",
        }
    }

    /// Whether the value is a count of payouts rather than an amount.
    pub fn is_count(self) -> bool {
        matches!(self, LimitName::Count1h | LimitName::Count24h)
    }
}

impl std::str::FromStr for LimitName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LimitName::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = LimitName::ALL.iter().map(|l| l.as_str()).collect();
            format!("unknown limit {s:?}; one of {}", names.join(", "))
        })
    }
}

/// The signer's two policy profiles.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The configured limits.
    #[default]
    Normal,
    /// Lower limits and allowlisted destinations only: the limited
    /// environment to resume in after an incident.
    Restricted,
}

impl Profile {
    /// The profile as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Normal => "normal",
            Profile::Restricted => "restricted",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(Profile::Normal),
            "restricted" => Ok(Profile::Restricted),
            _ => Err(format!("unknown profile {s:?}; normal or restricted")),
        }
    }
}

/// A change of the signer's policy, as approvers sign it. Tightening ones
/// (a freeze, a lower limit, a removed destination, `restricted`) apply on
/// one approver's signature; loosening ones need the quorum, and a raised
/// limit also waits the time lock.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyChange {
    /// Stop every outgoing payment (sweeps to cold go on).
    Freeze {
        /// What the approver saw, in a sentence.
        reason: String,
    },
    /// Lift the freeze.
    Unfreeze,
    /// Switch profile.
    Profile {
        /// The profile to switch to.
        profile: Profile,
    },
    /// Set one limit of one asset in the current profile.
    Limit {
        /// The asset's chain.
        chain_id: ChainId,
        /// The asset.
        #[serde(with = "wire::symbol")]
        asset: AssetSymbol,
        /// Which limit.
        limit: LimitName,
        /// The new value: base units for amounts, a number for counts.
        #[serde(with = "wire::units")]
        value: U256,
    },
    /// Add a destination to the allowlist that `restricted` pays to.
    Allow {
        /// The chain.
        chain_id: ChainId,
        /// The destination.
        destination: Address,
    },
    /// Remove a destination from the allowlist.
    Disallow {
        /// The chain.
        chain_id: ChainId,
        /// The destination.
        destination: Address,
    },
}

impl PolicyChange {
    /// One line for a person: what this change does.
    pub fn describe(&self) -> String {
        match self {
            PolicyChange::Freeze { reason } => format!("freeze outgoing payments: {reason}"),
            PolicyChange::Unfreeze => "lift the freeze".into(),
            PolicyChange::Profile { profile } => format!("switch to the {} profile", profile.as_str()),
            PolicyChange::Limit { chain_id, asset, limit, value } => {
                format!("set {} of {asset} on chain {chain_id} to {value} (base units)", limit.as_str())
            }
            PolicyChange::Allow { chain_id, destination } => {
                format!("allow payouts to {} on chain {chain_id}", destination.to_checksum(None))
            }
            PolicyChange::Disallow { chain_id, destination } => {
                format!("remove {} on chain {chain_id} from the allowlist", destination.to_checksum(None))
            }
        }
    }
}

/// A change as approvers sign it: bound to the policy version it changes
/// (so a signature applies once, and never to a policy it was not read
/// against) and to an expiry.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeProposal {
    /// The change.
    pub change: PolicyChange,
    /// The policy version the approvers read; the change applies to it only.
    pub base_version: u64,
    /// Unix seconds after which signatures of this proposal no longer count.
    pub expires_at: i64,
}

impl ChangeProposal {
    /// The canonical text.
    pub fn canonical(&self) -> String {
        let change = serde_json::to_string(&self.change).unwrap_or_default();
        format!("{CHANGE_TAG}\nchange {change}\nbase_version {}\nexpires {}\n", self.base_version, self.expires_at)
    }

    /// What approvers sign.
    pub fn digest(&self) -> Digest {
        Digest(Sha256::digest(self.canonical().as_bytes()).into())
    }
}

/// Yes or no.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Approve the payout or the change.
    Approve,
    /// Refuse the payout; veto a change waiting out its time lock.
    Reject,
}

impl Decision {
    /// The text signed with a digest: a rejection can never be replayed as an approval.
    pub fn signed_text(self, digest: &Digest) -> String {
        let tag = match self {
            Decision::Approve => APPROVE_TAG,
            Decision::Reject => REJECT_TAG,
        };
        format!("{tag}\n{digest}\n")
    }
}

/// One approver's signed decision about one digest.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The approver's public key, as `signer.toml` lists it.
    pub approver: PublicKey,
    /// Approve or reject.
    pub decision: Decision,
    /// The digest signed.
    pub digest: Digest,
    /// The ed25519 signature of [`Decision::signed_text`], hex.
    pub signature: String,
}

impl Approval {
    /// Whether `signature` is the approver's over this decision and digest.
    /// Whether the approver is one the signer lists, and the digest the one
    /// it expects, is the signer's to check.
    pub fn verifies(&self) -> bool {
        let Some(bytes) = hex::decode(&self.signature).ok().and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
            return false;
        };
        let message = self.decision.signed_text(&self.digest);
        self.approver.verifying_key().verify(message.as_bytes(), &Signature::from_bytes(&bytes)).is_ok()
    }
}

/// Approver-signed changes of the signer's policy, sent to `POST /v1/control`
/// (directly, or relayed by the gateway: the signatures are what count).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRequest {
    /// The proposal signed.
    pub proposal: ChangeProposal,
    /// One or more approvers' decisions on its digest (`reject`: a veto).
    pub approvals: Vec<Approval>,
}

/// Why the signer froze, and since when.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FreezeInfo {
    /// The trigger's stable tag (`anomaly.outflow`, `freeze.approver`, …).
    pub reason: crate::RuleTag,
    /// A sentence with the figures.
    pub message: String,
    /// Unix seconds.
    pub since: i64,
    /// The approver who froze, by name; `None` for a tripwire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A loosening change that has its quorum and waits out its time lock.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Scheduled {
    /// The proposal.
    pub proposal: ChangeProposal,
    /// Its digest (what a veto signs).
    pub digest: Digest,
    /// Unix seconds when it applies, unless vetoed.
    pub applies_at: i64,
}

/// The signer's controls as it answers `GET /v1/control`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ControlState {
    /// The policy version every decision from now records.
    pub policy_version: u64,
    /// The profile in force.
    pub profile: Profile,
    /// The freeze, if outgoing payments are frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<FreezeInfo>,
    /// Approvals a loosening change needs.
    pub quorum: u8,
    /// Changes with their quorum, waiting out the time lock.
    #[serde(default)]
    pub scheduled: Vec<Scheduled>,
    /// Allowlisted destinations, per chain.
    #[serde(default)]
    pub allowlist: Vec<(ChainId, Address)>,
}

/// What the signer says about a control request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ControlAnswer {
    /// Applied: the policy version it produced.
    Applied {
        /// The new version.
        policy_version: u64,
    },
    /// Has its quorum; applies at `applies_at` unless vetoed.
    Scheduled {
        /// When.
        applies_at: i64,
    },
    /// Recorded; waits for more approvers.
    Waiting {
        /// Distinct approvers so far.
        approvals: u8,
        /// Needed.
        quorum: u8,
    },
    /// A scheduled change was vetoed.
    Vetoed,
}

#[cfg(test)]
mod tests;
