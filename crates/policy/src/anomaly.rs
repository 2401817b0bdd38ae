//! The tripwires that freeze outgoing payments: pure counters over a
//! window, fed by the signer, and the outflow check over the spend windows.
//!
//! Each counter keeps at most its threshold + 1 timestamps, so a check
//! costs O(threshold), never O(history). A tripwire trips on the event that
//! crosses it: the request that makes it is refused, and the freeze is
//! stored with that decision.

use std::collections::VecDeque;

use coffer_domain::{AssetId, U256};
use coffer_signer_api::RuleTag;

use crate::Windows;
use crate::policy::{AssetPolicy, DAY};

/// `[policy.anomaly]`, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnomalyRules {
    /// Seconds every tripwire counts over (whole minutes, at most an hour).
    pub window_secs: i64,
    /// Outflow above this multiple of the baseline trips.
    pub outflow_multiple: u64,
    /// More payouts than this to destinations never paid before trips.
    pub new_destinations: u64,
    /// More policy refusals than this trips.
    pub refusals: u64,
    /// More failed authentications than this trips.
    pub auth_failures: u64,
    /// A payout that would pass a global velocity limit trips.
    pub freeze_on_global_limit: bool,
}

/// Something the signer counts toward a tripwire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alarm {
    /// A payout request to a destination never paid before.
    NewDestination,
    /// A policy refusal.
    Refusal,
    /// A request whose gateway or approver signature failed.
    AuthFailure,
}

/// Why a tripwire tripped: the freeze's reason, and a sentence with the figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trip {
    /// `anomaly.*`.
    pub reason: RuleTag,
    /// The figures.
    pub message: String,
}

/// The recent events of each tripwire, newest last.
#[derive(Clone, Debug, Default)]
pub struct Alarms {
    new_destinations: VecDeque<i64>,
    refusals: VecDeque<i64>,
    auth_failures: VecDeque<i64>,
}

impl Alarm {
    /// Its threshold, its freeze's tag, and what it counts, in words.
    fn tripwire(self, rules: &AnomalyRules) -> (u64, RuleTag, &'static str) {
        match self {
            Alarm::NewDestination => {
                (rules.new_destinations, RuleTag::AnomalyNewDestinations, "payouts to destinations never paid before")
            }
            Alarm::Refusal => (rules.refusals, RuleTag::AnomalyRefusals, "policy refusals"),
            Alarm::AuthFailure => (rules.auth_failures, RuleTag::AnomalyAuth, "requests that failed authentication"),
        }
    }
}

impl Alarms {
    fn queue(&self, alarm: Alarm) -> &VecDeque<i64> {
        match alarm {
            Alarm::NewDestination => &self.new_destinations,
            Alarm::Refusal => &self.refusals,
            Alarm::AuthFailure => &self.auth_failures,
        }
    }

    fn queue_mut(&mut self, alarm: Alarm) -> &mut VecDeque<i64> {
        match alarm {
            Alarm::NewDestination => &mut self.new_destinations,
            Alarm::Refusal => &mut self.refusals,
            Alarm::AuthFailure => &mut self.auth_failures,
        }
    }

    /// Events of `alarm` in the window ending at `now`.
    pub fn count(&self, rules: &AnomalyRules, alarm: Alarm, now: i64) -> u64 {
        let from = now.saturating_sub(rules.window_secs);
        let recent = self.queue(alarm).iter().rev().take_while(|&&at| at > from).count();
        u64::try_from(recent).unwrap_or(u64::MAX)
    }

    /// Whether one more `alarm` at `now` would cross its threshold.
    pub fn would_trip(&self, rules: &AnomalyRules, alarm: Alarm, now: i64) -> Option<Trip> {
        let (threshold, reason, what) = alarm.tripwire(rules);
        let with_this = self.count(rules, alarm, now).saturating_add(1);
        (with_this > threshold).then(|| Trip {
            reason,
            message: format!(
                "{with_this} {what} in the last {} s, above the tripwire of {threshold}",
                rules.window_secs
            ),
        })
    }

    /// Counts one `alarm` at `now`; returns the trip if this one crossed.
    pub fn note(&mut self, rules: &AnomalyRules, alarm: Alarm, now: i64) -> Option<Trip> {
        let trip = self.would_trip(rules, alarm, now);
        let (threshold, ..) = alarm.tripwire(rules);
        let keep = usize::try_from(threshold.saturating_add(1)).unwrap_or(usize::MAX);
        let from = now.saturating_sub(rules.window_secs);
        let queue = self.queue_mut(alarm);
        queue.push_back(now);
        while queue.len() > keep || queue.front().is_some_and(|&at| at <= from) {
            queue.pop_front();
        }
        trip
    }
}

/// Whether paying `amount` of `asset` now takes the window's outflow above
/// `outflow_multiple` × the baseline: the last day's outflow scaled to one
/// window, but never below the asset's `outflow_floor` (a quiet day must not
/// make the first ordinary payout an anomaly).
pub(crate) fn outflow_trip(
    rules: &AnomalyRules,
    asset: &AssetPolicy,
    windows: &Windows,
    id: AssetId,
    amount: U256,
    now: i64,
) -> Option<Trip> {
    let recent = windows.payout_amount_within(id, rules.window_secs, now);
    let day = windows.payout_amount_within_day(id, now);
    let per_window = day.saturating_mul(U256::from(rules.window_secs.unsigned_abs())) / U256::from(DAY.unsigned_abs());
    let baseline = per_window.max(asset.outflow_floor);
    let threshold = baseline.saturating_mul(U256::from(rules.outflow_multiple));
    let with_this = recent.saturating_add(amount);
    (with_this > threshold).then(|| Trip {
        reason: RuleTag::AnomalyOutflow,
        message: format!(
            "{} out in the last {} s with this payout, above {} × the baseline of {}",
            asset.format(with_this),
            rules.window_secs,
            rules.outflow_multiple,
            asset.format(baseline)
        ),
    })
}
