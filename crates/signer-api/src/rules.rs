//! Stable names for every reason the signer says no.

use std::fmt;
use std::str::FromStr;

macro_rules! rule_tags {
    ($($(#[$doc:meta])* $variant:ident = $tag:literal,)*) => {
        /// Why the signer refused (or held) a request: a stable, dotted tag
        /// that merchants, operators and metrics see. Tags are never renamed.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub enum RuleTag {
            $($(#[$doc])* $variant,)*
        }

        impl RuleTag {
            /// Every tag, for metrics and documentation.
            pub const ALL: &'static [RuleTag] = &[$(RuleTag::$variant,)*];

            /// The tag as it appears on the wire and in logs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleTag::$variant => $tag,)*
                }
            }
        }

        impl FromStr for RuleTag {
            type Err = UnknownRule;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($tag => Ok(RuleTag::$variant),)*
                    _ => Err(UnknownRule(s.chars().take(80).collect())),
                }
            }
        }
    };
}

rule_tags! {
    /// A request header is missing or does not parse.
    AuthMalformed = "auth.malformed",
    /// The request signature does not verify under the gateway's key.
    AuthSignature = "auth.signature",
    /// The request's timestamp is outside the signer's window.
    AuthStale = "auth.stale",
    /// The request's nonce was seen before.
    AuthReplay = "auth.replay",
    /// A known request id came back with a different payload.
    RequestConflict = "request.conflict",
    /// The body is not an intent (an unknown field, a malformed amount).
    RequestMalformed = "request.malformed",
    /// The chain or asset is not in the signer's own token table.
    AssetUnknown = "asset.unknown",
    /// The destination is the zero address, a token contract, or otherwise not a wallet.
    DestinationInvalid = "destination.invalid",
    /// The destination is one of the treasury's own wallets: a payout is not a sweep.
    DestinationTreasury = "destination.treasury",
    /// The destination is on a denylist.
    DestinationDenylisted = "destination.denylisted",
    /// The amount is zero: a transfer of nothing costs gas and moves no money.
    AmountZero = "amount.zero",
    /// The amount is above the maximum for one payout of this asset.
    LimitPerPayout = "limit.per_payout",
    /// All payouts of this asset in the last hour would exceed the limit.
    VelocityGlobal1h = "velocity.global.1h",
    /// All payouts of this asset in the last 24 hours would exceed the limit.
    VelocityGlobal24h = "velocity.global.24h",
    /// The number of payouts of this asset in the last hour would exceed the limit.
    VelocityGlobalCount1h = "velocity.global.count.1h",
    /// The number of payouts of this asset in the last 24 hours would exceed the limit.
    VelocityGlobalCount24h = "velocity.global.count.24h",
    /// This merchant's payouts of this asset in the last hour would exceed its limit.
    VelocityMerchant1h = "velocity.merchant.1h",
    /// This merchant's payouts of this asset in the last 24 hours would exceed its limit.
    VelocityMerchant24h = "velocity.merchant.24h",
    /// This merchant's number of payouts in the last hour would exceed its limit.
    VelocityMerchantCount1h = "velocity.merchant.count.1h",
    /// This merchant's number of payouts in the last 24 hours would exceed its limit.
    VelocityMerchantCount24h = "velocity.merchant.count.24h",
    /// Network fees (gas top-ups, fee bumps) in the last hour would exceed the fee budget.
    FeesBudget1h = "fees.budget.1h",
    /// Network fees in the last 24 hours would exceed the fee budget.
    FeesBudget24h = "fees.budget.24h",
    /// One sweep's gas top-up would exceed the cap per sweep.
    FeesPerSweep = "fees.per_sweep",
    /// The deposit holds less than the minimum worth sweeping.
    SweepBelowMinimum = "sweep.below_minimum",
    /// The token contract would revert this transfer (a blocked address, say).
    TransferWouldRevert = "transfer.would_revert",
    /// The hot wallet does not hold enough for this payout and its gas.
    TreasuryInsufficient = "treasury.insufficient",
    /// The payout waits for approvals (a state, not a refusal).
    ApprovalRequired = "approval.required",
    /// An approver rejected the payout.
    ApprovalRejected = "approval.rejected",
    /// An approval's signature does not verify, or its key is not an approver's.
    ApprovalSignature = "approval.signature",
    /// An approval is for another digest than the one waiting (another
    /// payout, altered fields, an expired round).
    ApprovalMismatch = "approval.mismatch",
    /// The payout does not wait for approvals (none needed, or decided).
    ApprovalNotWaiting = "approval.not_waiting",
    /// Outgoing payments are frozen.
    FreezeActive = "freeze.active",
    /// Frozen by an approver.
    FreezeApprover = "freeze.approver",
    /// Frozen: outflow in the anomaly window passed its multiple of the baseline.
    AnomalyOutflow = "anomaly.outflow",
    /// Frozen: too many payouts to new destinations in the anomaly window.
    AnomalyNewDestinations = "anomaly.new_destinations",
    /// Frozen: too many policy refusals in the anomaly window.
    AnomalyRefusals = "anomaly.refusals",
    /// Frozen: too many requests failed authentication in the anomaly window.
    AnomalyAuth = "anomaly.auth",
    /// Frozen: a payout tried to go past a global velocity limit (a breach
    /// attempt: what bounds a compromised gateway was reached).
    AnomalyLimitBreach = "anomaly.limit_breach",
    /// Frozen: a request claimed a chain fact the signer's own node contradicts.
    AnomalyChainMismatch = "anomaly.chain_mismatch",
    /// The restricted profile pays allowlisted destinations only.
    ProfileNotAllowlisted = "profile.not_allowlisted",
    /// A control request's signature is not a listed approver's.
    ControlSignature = "control.signature",
    /// A control request was signed for another policy version.
    ControlVersion = "control.version",
    /// A control request's proposal has expired.
    ControlExpired = "control.expired",
    /// A control request cannot apply (a limit of an unknown asset, an
    /// hour above its day, an unfreeze when not frozen).
    ControlInvalid = "control.invalid",
}

/// A tag this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule tag {0:?}")]
pub struct UnknownRule(pub String);

impl fmt::Display for RuleTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for RuleTag {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RuleTag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_tag_round_trips_and_is_unique() {
        let mut seen = HashSet::new();
        for tag in RuleTag::ALL {
            assert!(seen.insert(tag.as_str()), "{tag} twice");
            assert_eq!(tag.as_str().parse::<RuleTag>().unwrap(), *tag);
            let json = serde_json::to_string(tag).unwrap();
            assert_eq!(serde_json::from_str::<RuleTag>(&json).unwrap(), *tag);
            assert!(tag.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._".contains(&b)));
        }
        assert!("velocity.sideways".parse::<RuleTag>().is_err());
    }
}
