//! The decisions: may this payout be signed, may this fee be spent, where
//! does this sweep go. Each reads the policy, the windows and the request,
//! and records nothing.

use coffer_domain::{Address, AssetId, ChainId, MerchantId, U256};
use coffer_signer_api::{Profile, RuleTag, Wallet};

use crate::anomaly::{Alarm, Alarms, Trip, outflow_trip};
use crate::policy::{AssetPolicy, ChainPolicy, Limits, Policy};
use crate::windows::Totals;
use crate::{ScreeningSet, Windows};

/// A payout the gateway asks for, as the signer resolved it against its own table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayoutRequest {
    /// The merchant whose balance pays (the gateway's word).
    pub merchant: MerchantId,
    /// The asset.
    pub asset: AssetId,
    /// Base units.
    pub amount: U256,
    /// Where the money would go.
    pub destination: Address,
    /// When a payout to this destination was first asked for (the signer's
    /// own record); `None`: this request is the first.
    pub destination_first_requested: Option<i64>,
    /// Whether the signer has signed a payout to this destination before.
    pub destination_paid: bool,
    /// Whether the payout's current round of approvals has the quorum,
    /// with no rejection ([`crate::ApprovalRules::reached`]).
    pub approved: bool,
}

/// The treasury's own wallets on the payout's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Treasury {
    /// The hot wallet the signer pays from.
    pub hot: Address,
    /// The cold address, whose key the signer does not hold.
    pub cold: Address,
}

/// What the signer does with a payout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every rule holds but the payout needs approvals it lacks: it waits
    /// for `quorum` approvers (the signer opens or keeps the round).
    Approval {
        /// M.
        quorum: u8,
    },
    /// A tripwire trips on this payout: refuse it and freeze outgoing
    /// payments, in the same store transaction.
    Freeze(crate::Trip),
    /// Every rule holds: sign, and record the spend in the same store transaction.
    Sign,
    /// A first payout to this destination: decide again at `until` (unix
    /// seconds), against the policy and windows of that moment.
    Cooldown {
        /// When the cool-down ends.
        until: i64,
    },
    /// Refused for good.
    Refuse(Refusal),
}

/// Why the signer says no: the rule, and a sentence for merchants and
/// operators with the figures (the limit, what the request would reach).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({rule})")]
pub struct Refusal {
    /// The stable tag.
    pub rule: RuleTag,
    /// The sentence.
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(rule: RuleTag, message: impl Into<String>) -> Self {
        Self { rule, message: message.into() }
    }
}

/// Decides `request` at `now`, rule by rule in a fixed order: the freeze;
/// the asset, the destination (valid, not the treasury's, not on a screening list),
/// the amount (not zero, at most the per-payout maximum), the global
/// velocity limits, the merchant's; the restricted profile's allowlist; the
/// tripwires (outflow against its baseline, a burst of new destinations);
/// the new-destination cool-down; approvals. Velocity and outflow count
/// what the totals would be *with* this payout. Records nothing: after a
/// [`Verdict::Sign`] the caller records [`crate::Spend::Payout`].
pub fn assess_payout(
    policy: &Policy,
    windows: &Windows,
    alarms: &Alarms,
    screening: &ScreeningSet,
    treasury: &Treasury,
    request: &PayoutRequest,
    now: i64,
) -> Verdict {
    if let Some(freeze) = policy.frozen() {
        let by = freeze.by.as_deref().map(|name| format!(" by {name}")).unwrap_or_default();
        return Verdict::Refuse(Refusal::new(
            RuleTag::FreezeActive,
            format!(
                "Outgoing payments are frozen{by} since {} ({}: {}); lifting the freeze needs a quorum of approvers.",
                freeze.since, freeze.reason, freeze.message
            ),
        ));
    }
    if let Err(refusal) = payout_rules(policy, windows, screening, treasury, request, now) {
        let global = matches!(
            refusal.rule,
            RuleTag::VelocityGlobal1h
                | RuleTag::VelocityGlobal24h
                | RuleTag::VelocityGlobalCount1h
                | RuleTag::VelocityGlobalCount24h
        );
        if global && policy.anomaly().freeze_on_global_limit && policy.profile() == Profile::Normal {
            return Verdict::Freeze(Trip {
                reason: RuleTag::AnomalyLimitBreach,
                message: format!("{} ({})", refusal.message, refusal.rule),
            });
        }
        return Verdict::Refuse(refusal);
    }
    let destination = request.destination;
    if policy.profile() == Profile::Restricted && !policy.allowlisted(request.asset.chain_id, destination) {
        return Verdict::Refuse(Refusal::new(
            RuleTag::ProfileNotAllowlisted,
            format!(
                "The signer runs the restricted profile, which pays allowlisted destinations only; {destination} is not one."
            ),
        ));
    }
    let rules = policy.anomaly();
    let reviewed = policy.controls().unfrozen_at.is_some_and(|at| now < at.saturating_add(rules.window_secs));
    if !reviewed
        && let Some(asset) = policy.asset(request.asset)
        && let Some(trip) = outflow_trip(rules, asset, windows, request.asset, request.amount, now)
    {
        return Verdict::Freeze(trip);
    }
    let new_destination = !request.destination_paid && request.destination_first_requested.is_none();
    if new_destination && let Some(trip) = alarms.would_trip(rules, Alarm::NewDestination, now) {
        return Verdict::Freeze(trip);
    }
    match cooldown(policy, request, now) {
        Verdict::Sign => approval(policy, request),
        waiting => waiting,
    }
}

/// Whether the payout needs approvals it does not have yet.
fn approval(policy: &Policy, request: &PayoutRequest) -> Verdict {
    let Some(approvals) = policy.approvals() else { return Verdict::Sign };
    let above = policy.asset(request.asset).and_then(|a| a.approval_above).is_some_and(|limit| request.amount > limit);
    let new = approvals.new_destinations && !request.destination_paid;
    if (above || new) && !request.approved { Verdict::Approval { quorum: approvals.quorum } } else { Verdict::Sign }
}

fn payout_rules(
    policy: &Policy,
    windows: &Windows,
    screening: &ScreeningSet,
    treasury: &Treasury,
    request: &PayoutRequest,
    now: i64,
) -> Result<(), Refusal> {
    let rules = known_asset(policy, request.asset)?;
    let destination = request.destination;
    if destination == Address::ZERO {
        return Err(Refusal::new(
            RuleTag::DestinationInvalid,
            "The destination is the zero address; money sent there is burnt.",
        ));
    }
    if policy.is_token_contract(&destination) {
        return Err(Refusal::new(
            RuleTag::DestinationInvalid,
            format!("The destination {destination} is a token contract, not a wallet; tokens sent there are lost."),
        ));
    }
    for (wallet, address) in [("hot", treasury.hot), ("cold", treasury.cold)] {
        if destination == address {
            return Err(Refusal::new(
                RuleTag::DestinationTreasury,
                format!(
                    "The destination {destination} is the treasury's {wallet} wallet; moving money between the treasury's wallets is a sweep, not a payout."
                ),
            ));
        }
    }
    if let Some(hit) = screening.blocking_hit(&destination) {
        let label = hit.label.map(|l| format!(", {l}")).unwrap_or_default();
        return Err(Refusal::new(
            RuleTag::DestinationDenylisted,
            format!(
                "The destination {destination} is on the screening list {} (line {}): {}{label}.",
                hit.list,
                hit.line,
                hit.category.as_str()
            ),
        ));
    }
    let amount = request.amount;
    if amount.is_zero() {
        return Err(Refusal::new(RuleTag::AmountZero, "The amount is zero; there is nothing to pay."));
    }
    if amount > rules.max_per_payout {
        return Err(Refusal::new(
            RuleTag::LimitPerPayout,
            format!(
                "{} is above the maximum of {} for one payout of {}.",
                rules.format(amount),
                rules.format(rules.max_per_payout),
                describe(request.asset)
            ),
        ));
    }
    let totals = windows.payout_totals(request.asset, request.merchant, now);
    // Restricted counts its own, lower limits against what was paid under
    // it: the limited environment resumes with an allowance of its own,
    // which only allowlisted destinations (a quorum's) can receive.
    let global = match policy.profile() {
        Profile::Normal => totals.global,
        Profile::Restricted => windows.restricted_totals(request.asset, now),
    };
    velocity(rules, &rules.global, &global, amount, Whose::All)?;
    if let Some(limits) = &rules.per_merchant {
        velocity(rules, limits, &totals.merchant, amount, Whose::Merchant)?;
    }
    Ok(())
}

fn cooldown(policy: &Policy, request: &PayoutRequest, now: i64) -> Verdict {
    let wait = i64::try_from(policy.cooldown_secs()).unwrap_or(i64::MAX);
    if wait == 0 {
        return Verdict::Sign;
    }
    let until = request.destination_first_requested.unwrap_or(now).saturating_add(wait);
    if until > now { Verdict::Cooldown { until } } else { Verdict::Sign }
}

#[derive(Clone, Copy)]
enum Whose {
    All,
    Merchant,
}

/// The four velocity limits, amount before count, hour before day.
fn velocity(rules: &AssetPolicy, limits: &Limits, totals: &Totals, amount: U256, whose: Whose) -> Result<(), Refusal> {
    let asset = describe(rules.asset.id);
    let (tags, subject, its) = match whose {
        Whose::All => (
            [
                RuleTag::VelocityGlobal1h,
                RuleTag::VelocityGlobal24h,
                RuleTag::VelocityGlobalCount1h,
                RuleTag::VelocityGlobalCount24h,
            ],
            format!("All payouts of {asset}"),
            "the",
        ),
        Whose::Merchant => (
            [
                RuleTag::VelocityMerchant1h,
                RuleTag::VelocityMerchant24h,
                RuleTag::VelocityMerchantCount1h,
                RuleTag::VelocityMerchantCount24h,
            ],
            format!("This merchant's payouts of {asset}"),
            "its",
        ),
    };
    let amounts = [(totals.amount_1h, limits.amount_1h, "hour"), (totals.amount_24h, limits.amount_24h, "24 hours")];
    for (tag, (spent, limit, window)) in tags[..2].iter().zip(amounts) {
        if exceeds(spent, amount, limit) {
            return Err(Refusal::new(
                *tag,
                format!(
                    "{subject} in the last {window} would reach {} with this one, above {its} limit of {}.",
                    rules.format(spent.saturating_add(amount)),
                    rules.format(limit)
                ),
            ));
        }
    }
    let counts = [(totals.count_1h, limits.count_1h, "hour"), (totals.count_24h, limits.count_24h, "24 hours")];
    for (tag, (done, limit, window)) in tags[2..].iter().zip(counts) {
        if done.saturating_add(1) > limit {
            return Err(Refusal::new(
                *tag,
                format!(
                    "{subject} in the last {window} would number {} with this one, above {its} limit of {limit}.",
                    done.saturating_add(1)
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `spent + more` is above `limit`; a sum past `U256::MAX` is above any limit.
fn exceeds(spent: U256, more: U256, limit: U256) -> bool {
    spent.checked_add(more).is_none_or(|total| total > limit)
}

/// May the signer commit `fee` wei of network fees on `chain` at `now` (a
/// gas top-up's value, or what a fee bump adds)? Checks the hour's budget,
/// then the day's. Records nothing: the caller records [`crate::Spend::Fee`].
pub fn assess_fee(policy: &Policy, windows: &Windows, chain: ChainId, fee: U256, now: i64) -> Result<(), Refusal> {
    let budget = known_chain(policy, chain)?;
    let totals = windows.fee_totals(chain, now);
    let checks = [
        (RuleTag::FeesBudget1h, totals.amount_1h, budget.fees_1h, "hour"),
        (RuleTag::FeesBudget24h, totals.amount_24h, budget.fees_24h, "24 hours"),
    ];
    for (tag, spent, limit, window) in checks {
        if exceeds(spent, fee, limit) {
            return Err(Refusal::new(
                tag,
                format!(
                    "Network fees on chain {chain} in the last {window} would reach {} with these {}, above the budget of {}.",
                    budget.format(spent.saturating_add(fee)),
                    budget.format(fee),
                    budget.format(limit)
                ),
            ));
        }
    }
    Ok(())
}

/// May a sweep's deposit get `top_up` wei of gas on `chain` at `now`? The
/// cap per sweep, then the fee budget ([`assess_fee`]).
pub fn assess_top_up(
    policy: &Policy,
    windows: &Windows,
    chain: ChainId,
    top_up: U256,
    now: i64,
) -> Result<(), Refusal> {
    let budget = known_chain(policy, chain)?;
    if top_up > budget.top_up_per_sweep {
        return Err(Refusal::new(
            RuleTag::FeesPerSweep,
            format!(
                "A gas top-up of {} is above the cap of {} per sweep on chain {chain}.",
                budget.format(top_up),
                budget.format(budget.top_up_per_sweep)
            ),
        ));
    }
    assess_fee(policy, windows, chain, top_up, now)
}

/// Is a deposit holding `balance` of `asset` worth sweeping? Nothing never is.
pub fn sweep_worth_it(policy: &Policy, asset: AssetId, balance: U256) -> Result<(), Refusal> {
    let rules = known_asset(policy, asset)?;
    if balance.is_zero() || balance < rules.sweep_minimum {
        return Err(Refusal::new(
            RuleTag::SweepBelowMinimum,
            format!(
                "The deposit holds {}, below the {} worth sweeping.",
                rules.format(balance),
                rules.format(rules.sweep_minimum)
            ),
        ));
    }
    Ok(())
}

/// Where a sweep of `amount` goes: the hot wallet, unless that would take it
/// above the asset's hot cap; then cold (always allowed). An asset the
/// policy does not know has a cap of zero.
pub fn sweep_wallet(policy: &Policy, asset: AssetId, hot_balance: U256, amount: U256) -> Wallet {
    let cap = policy.asset(asset).map_or(U256::ZERO, |rules| rules.hot_cap);
    match hot_balance.checked_add(amount) {
        Some(after) if after <= cap => Wallet::Hot,
        _ => Wallet::Cold,
    }
}

/// What of `asset` the hot wallet holds above its cap, to be moved to cold.
/// An asset the policy does not know has a cap of zero.
pub fn hot_excess(policy: &Policy, asset: AssetId, hot_balance: U256) -> Option<U256> {
    let cap = policy.asset(asset).map_or(U256::ZERO, |rules| rules.hot_cap);
    (hot_balance > cap).then(|| hot_balance - cap)
}

fn known_asset(policy: &Policy, asset: AssetId) -> Result<&AssetPolicy, Refusal> {
    policy.asset(asset).ok_or_else(|| {
        Refusal::new(RuleTag::AssetUnknown, format!("{} is not an asset this signer sends.", describe(asset)))
    })
}

fn known_chain(policy: &Policy, chain: ChainId) -> Result<&ChainPolicy, Refusal> {
    policy.chain(chain).ok_or_else(|| {
        Refusal::new(RuleTag::AssetUnknown, format!("Chain {chain} is not a chain this signer sends on."))
    })
}

fn describe(asset: AssetId) -> String {
    format!("{} on chain {}", asset.symbol, asset.chain_id)
}
