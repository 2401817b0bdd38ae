//! The signer's policy as pure rules: what it may sign, decided on the
//! signer's host from the signer's own state (ADR 0011, `SIGNER.md`).
//!
//! - [`PolicyFile`] is the `[policy]` part of `signer.toml` as deserialised;
//!   [`Policy::new`] validates it against the signer's own asset table and
//!   refuses, with a sentence naming the field, any configuration that cannot
//!   bound what leaves the treasury.
//! - [`Windows`] holds what was spent in the last 24 hours as rings of time
//!   buckets, summed conservatively, at a cost that does not grow with history.
//! - [`assess_payout`], [`assess_fee`], [`assess_top_up`], [`sweep_worth_it`],
//!   [`sweep_wallet`] and [`hot_excess`] are the decisions; a refusal names its
//!   rule with a stable [`RuleTag`].
//! - Destinations are checked against a [`ScreeningSet`] (coffer-screening parses
//!   the lists; the signer reads the files and ships the builtin ones itself).
//!
//! **Architecture invariant:** this crate does no I/O (no files, no clock, no
//! network, no randomness). Time is an argument (unix seconds), and every
//! decision is a function of the policy, the windows, the screening lists and the
//! request alone. So a decision can be replayed from the signer's spend ledger
//! and its audit log: the same inputs give the same verdict, on any host, at
//! any later time. The functions here never record a spend: the signer records
//! one ([`Windows::record`]) in the same store transaction that keeps the
//! signed transaction, after a [`Verdict::Sign`].

mod anomaly;
mod approvers;
mod assess;
mod controls;
mod controls_file;
mod file;
mod policy;
mod windows;

#[cfg(test)]
mod tests;

pub use anomaly::{Alarm, Alarms, AnomalyRules, Trip};
pub use approvers::{ApprovalRules, Approver, Tally};
pub use assess::{
    PayoutRequest, Refusal, Treasury, Verdict, assess_fee, assess_payout, assess_top_up, hot_excess, sweep_wallet,
    sweep_worth_it,
};
/// The screening lists a payout's destination is checked against (the signer's own copy).
pub use coffer_screening::ScreeningSet;
pub use controls::{Controls, Override, Strictness};
pub use controls_file::{AllowFile, AnomalyFile, ApprovalsFile, ApproverFile, RestrictedAssetFile, RestrictedFile};
pub use file::{AssetPolicyFile, ChainPolicyFile, LimitsFile, PolicyError, PolicyFile};
pub use policy::{AssetPolicy, ChainPolicy, Limits, Policy};
pub use windows::{BUCKET_1H_SECS, BUCKET_24H_SECS, FeeTotals, PayoutTotals, Spend, Totals, Windows};

/// Re-exported: the rule names refusals carry, and the treasury wallet a sweep goes to.
pub use coffer_signer_api::{RuleTag, Wallet};
