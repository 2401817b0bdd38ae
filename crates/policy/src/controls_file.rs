//! The parts of `[policy]` that issue 13 added: approvers, the anomaly
//! tripwires and the restricted profile, as deserialised and as checked.

use std::collections::{BTreeSet, HashMap};

use coffer_domain::{Address, AssetId, ChainId, U256};
use coffer_signer_api::PublicKey;
use serde::{Deserialize, Serialize};

use crate::PolicyError;
use crate::anomaly::AnomalyRules;
use crate::approvers::{ApprovalRules, Approver};
use crate::policy::{AssetPolicy, Limits};

/// `[policy.approvals]`: who approves, and how many must.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsFile {
    /// M: distinct approvers a payout above its threshold, and a loosening
    /// change, need.
    pub quorum: u8,
    /// How long a round of approvals of one payout counts, in seconds.
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
    /// Whether a first payout to a destination never paid before waits for
    /// approvals too.
    #[serde(default)]
    pub new_destinations: bool,
    /// How long a raised limit waits, with its quorum, before it applies;
    /// any approver may veto it meanwhile.
    #[serde(default = "default_timelock")]
    pub timelock_secs: u64,
    /// The approvers (`[[policy.approvals.approvers]]`).
    pub approvers: Vec<ApproverFile>,
}

/// One approver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverFile {
    /// A name people know them by, shown on every approval.
    pub name: String,
    /// Their public key, `ed25519:` and 64 hex digits (`coffer approver keygen` prints it).
    pub key: String,
}

fn default_ttl() -> u64 {
    24 * 3600
}

fn default_timelock() -> u64 {
    24 * 3600
}

/// `[policy.anomaly]`: the tripwires that freeze outgoing payments. Every
/// field has a default, so a policy without the section still freezes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyFile {
    /// The window every tripwire counts over, seconds (60 to 3600, whole minutes).
    pub window_secs: u64,
    /// Outflow of an asset in the window above this multiple of its
    /// baseline (the last day's outflow per window, at least the asset's
    /// `outflow_floor`) freezes.
    pub outflow_multiple: u64,
    /// More payouts to destinations never paid before than this in the window freezes.
    pub new_destinations: u64,
    /// More policy refusals than this in the window freezes.
    pub refusals: u64,
    /// More requests failing authentication than this in the window freezes.
    pub auth_failures: u64,
    /// Whether a payout that would pass a global velocity limit freezes (a
    /// policy breach attempt: DESIGN rule 4); it is refused either way.
    pub freeze_on_global_limit: bool,
}

impl Default for AnomalyFile {
    fn default() -> Self {
        Self {
            window_secs: 600,
            outflow_multiple: 10,
            new_destinations: 20,
            refusals: 20,
            auth_failures: 10,
            freeze_on_global_limit: true,
        }
    }
}

/// `[policy.restricted]`: the limited environment to resume in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictedFile {
    /// Destinations `restricted` pays to (`[[policy.restricted.allowlist]]`);
    /// more are added by quorum.
    #[serde(default)]
    pub allowlist: Vec<AllowFile>,
    /// Lower limits per asset; an asset left out keeps its normal limits
    /// (and pays allowlisted destinations only).
    #[serde(default)]
    pub assets: Vec<RestrictedAssetFile>,
}

/// One allowlisted destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowFile {
    /// Its chain.
    pub chain_id: u64,
    /// The address.
    pub address: Address,
}

/// One asset's restricted limits, in its units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictedAssetFile {
    /// The asset's chain.
    pub chain_id: u64,
    /// The asset's symbol.
    pub symbol: String,
    /// The most one payout may send.
    pub max_per_payout: String,
    /// All merchants together.
    pub global: crate::LimitsFile,
}

pub(crate) fn approval_rules(file: Option<&ApprovalsFile>) -> Result<Option<ApprovalRules>, PolicyError> {
    let Some(file) = file else { return Ok(None) };
    let at = "policy.approvals";
    let mut approvers: Vec<Approver> = Vec::new();
    for (i, entry) in file.approvers.iter().enumerate() {
        let key: PublicKey = entry.key.parse().map_err(|e: coffer_signer_api::auth::BadPublicKey| {
            PolicyError::field(format!("{at}.approvers[{i}].key"), e.to_string())
        })?;
        let name = entry.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(PolicyError::field(format!("{at}.approvers[{i}].name"), "must be 1 to 64 characters"));
        }
        if let Some(j) = approvers.iter().position(|a| a.key == key || a.name == name) {
            return Err(PolicyError::field(
                format!("{at}.approvers[{i}]"),
                format!("repeats approvers[{j}]'s name or key; each person is one approver, or M-of-N means less"),
            ));
        }
        approvers.push(Approver { name: name.to_owned(), key });
    }
    let n = approvers.len();
    if file.quorum == 0 || usize::from(file.quorum) > n {
        return Err(PolicyError::field(
            format!("{at}.quorum"),
            format!("must be between 1 and the number of approvers ({n})"),
        ));
    }
    if !(1..=30 * 86_400).contains(&file.ttl_secs) {
        return Err(PolicyError::field(format!("{at}.ttl_secs"), "must be between 1 and 2592000 (30 days)"));
    }
    if file.timelock_secs > 30 * 86_400 {
        return Err(PolicyError::field(format!("{at}.timelock_secs"), "must be at most 2592000 (30 days)"));
    }
    Ok(Some(ApprovalRules {
        quorum: file.quorum,
        ttl_secs: file.ttl_secs,
        new_destinations: file.new_destinations,
        timelock_secs: file.timelock_secs,
        approvers,
    }))
}

pub(crate) fn anomaly_rules(file: &AnomalyFile) -> Result<AnomalyRules, PolicyError> {
    let at = "policy.anomaly";
    if !(60..=3600).contains(&file.window_secs) || !file.window_secs.is_multiple_of(60) {
        return Err(PolicyError::field(format!("{at}.window_secs"), "must be whole minutes between 60 and 3600"));
    }
    for (name, value) in [
        ("outflow_multiple", file.outflow_multiple),
        ("new_destinations", file.new_destinations),
        ("refusals", file.refusals),
        ("auth_failures", file.auth_failures),
    ] {
        if value == 0 {
            return Err(PolicyError::field(
                format!("{at}.{name}"),
                "must be above 0; a tripwire at 0 would freeze on the first request",
            ));
        }
    }
    Ok(AnomalyRules {
        window_secs: i64::try_from(file.window_secs).unwrap_or(600),
        outflow_multiple: file.outflow_multiple,
        new_destinations: file.new_destinations,
        refusals: file.refusals,
        auth_failures: file.auth_failures,
        freeze_on_global_limit: file.freeze_on_global_limit,
    })
}

/// The restricted profile's rules per asset (normal's where the file is
/// silent, never above them) and its starting allowlist.
pub(crate) type Restricted = (HashMap<AssetId, (U256, Limits)>, BTreeSet<(ChainId, Address)>);

pub(crate) fn restricted_rules(
    file: Option<&RestrictedFile>,
    normal: &HashMap<AssetId, AssetPolicy>,
    parse: impl Fn(&str, &AssetPolicy, &RestrictedAssetFile) -> Result<(U256, Limits), PolicyError>,
) -> Result<Restricted, PolicyError> {
    let mut rules: HashMap<AssetId, (U256, Limits)> =
        normal.iter().map(|(id, rules)| (*id, (rules.max_per_payout, rules.global))).collect();
    let Some(file) = file else { return Ok((rules, BTreeSet::new())) };
    for (i, entry) in file.assets.iter().enumerate() {
        let at = format!("policy.restricted.assets[{i}]");
        let symbol = entry
            .symbol
            .parse()
            .map_err(|e: coffer_domain::InvalidSymbol| PolicyError::field(format!("{at}.symbol"), e.to_string()))?;
        let id = AssetId { chain_id: ChainId(entry.chain_id), symbol };
        let Some(base) = normal.get(&id) else {
            return Err(PolicyError::field(
                format!("{at}.symbol"),
                format!("{symbol} on chain {} has no [[policy.assets]] entry", id.chain_id),
            ));
        };
        let (max, limits) = parse(&at, base, entry)?;
        let above = [
            ("max_per_payout", max > base.max_per_payout),
            ("global.amount_1h", limits.amount_1h > base.global.amount_1h),
            ("global.amount_24h", limits.amount_24h > base.global.amount_24h),
            ("global.count_1h", limits.count_1h > base.global.count_1h),
            ("global.count_24h", limits.count_24h > base.global.count_24h),
        ];
        if let Some((name, _)) = above.into_iter().find(|(_, above)| *above) {
            return Err(PolicyError::field(
                format!("{at}.{name}"),
                "is above the normal profile's; restricted may only be stricter",
            ));
        }
        rules.insert(id, (max, limits));
    }
    let allowlist = file.allowlist.iter().map(|a| (ChainId(a.chain_id), a.address)).collect();
    Ok((rules, allowlist))
}
