//! Payouts: money a merchant asked to send out, and the signer's word on it.
//!
//! ```text
//!            cool-down for a new destination
//!   Pending ◀──────────────▶ PendingCooldown
//!    │  │  ▲                     │  │
//!    │  │  └──▶ PendingApproval ◀┘  │     (waits for approvers' signatures;
//!    │  │             │             │      reachable from and to both waits)
//!    │  └──▶ Refused ◀┴─────────────┘     (a rule or a rejection said no: reserve released)
//!    ├──▶ Broadcast ──▶ Confirmed ◀─┤     (booked out, with the network fee)
//!    │        └──────▶ Failed ◀─────┘     (nothing moved: reserve released)
//!    └──────────────────▶ (any of the three final states)
//! ```
//!
//! A payout waiting for approvals keeps its reserve: only the signer's
//! answer moves it on (approved and sent, or rejected and refused).
//!
//! A payout is created `pending` with its reserve (see `ledger`), and
//! moves only on what the signer answers about it ([`PayoutProgress`]).
//! The signer is asked again and again (a retry, a restart, a poll), so the
//! same answer arrives many times and an older one may arrive after a newer
//! one: [`Payout::advance`] turns a repeated answer into nothing and an
//! answer the lifecycle cannot follow into [`Advance::Stale`], never into a
//! second posting.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::{Address, B256, U256};

use crate::{
    Amount, AssetId, EventType, FeePayer, InvoiceId, LedgerError, MerchantId, PayoutId, ReserveSource, Timestamp,
    Transaction,
};

/// Where a payout is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayoutStatus {
    /// Reserved and handed to the signer; not sent yet.
    Pending,
    /// A first payout to this destination waits out the signer's cool-down.
    PendingCooldown,
    /// Waits for a quorum of approvers to sign its digest (ADR 0013).
    PendingApproval,
    /// A rule of the signer's policy refused it; the reserve went back.
    Refused,
    /// Signed and sent to the network.
    Broadcast,
    /// Mined and confirmed; booked out of the hot wallet with its fee.
    Confirmed,
    /// Reverted or dropped: nothing moved; the reserve went back.
    Failed,
}

/// A state change the payout lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a payout cannot go from {from} to {to}")]
pub struct InvalidPayoutTransition {
    /// The current state.
    pub from: PayoutStatus,
    /// The refused next state.
    pub to: PayoutStatus,
}

/// Text that names no payout status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown payout status {0:?}; expected one of pending, pending_cooldown, pending_approval, refused, broadcast, \
     confirmed, failed"
)]
pub struct UnknownPayoutStatus(pub String);

impl PayoutStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [PayoutStatus; 7] = [
        Self::Pending,
        Self::PendingCooldown,
        Self::PendingApproval,
        Self::Refused,
        Self::Broadcast,
        Self::Confirmed,
        Self::Failed,
    ];

    /// The status as the API and the database spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::PendingCooldown => "pending_cooldown",
            Self::PendingApproval => "pending_approval",
            Self::Refused => "refused",
            Self::Broadcast => "broadcast",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
        }
    }

    /// Whether the lifecycle allows going from `self` to `next`.
    pub fn can_become(self, next: PayoutStatus) -> bool {
        use PayoutStatus::*;
        matches!(
            (self, next),
            (Pending, PendingCooldown | PendingApproval | Refused | Broadcast | Confirmed | Failed)
                | (PendingCooldown, Pending | PendingApproval | Refused | Broadcast | Confirmed | Failed)
                // Approved, it is decided again: a cool-down may apply then.
                | (PendingApproval, Pending | PendingCooldown | Refused | Broadcast | Confirmed | Failed)
                | (Broadcast, Confirmed | Failed)
        )
    }

    /// `next`, if the lifecycle allows it from `self`.
    pub fn transition(self, next: PayoutStatus) -> Result<PayoutStatus, InvalidPayoutTransition> {
        if self.can_become(next) { Ok(next) } else { Err(InvalidPayoutTransition { from: self, to: next }) }
    }

    /// Whether nothing can happen to the payout any more.
    pub fn is_final(self) -> bool {
        Self::ALL.iter().all(|&next| !self.can_become(next))
    }

    /// The webhook event that entering this status raises, if any (a
    /// cool-down, or its end, is not news to act on; a wait for approvers is:
    /// people must act).
    pub fn event(self) -> Option<EventType> {
        match self {
            Self::Pending | Self::PendingCooldown => None,
            Self::PendingApproval => Some(EventType::PayoutPendingApproval),
            Self::Refused => Some(EventType::PayoutRefused),
            Self::Broadcast => Some(EventType::PayoutBroadcast),
            Self::Confirmed => Some(EventType::PayoutConfirmed),
            Self::Failed => Some(EventType::PayoutFailed),
        }
    }
}

impl fmt::Display for PayoutStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayoutStatus {
    type Err = UnknownPayoutStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownPayoutStatus(s.chars().take(40).collect()))
    }
}

/// Why the signer refused a payout: its stable rule tag and a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The signer's rule tag (`limit.per_payout`, …).
    pub rule: String,
    /// For merchants and operators.
    pub message: String,
}

/// One round of approvals a waiting payout needs, as the signer set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRound {
    /// The SHA-256 digest approvers sign (`coffer-signer-api`'s
    /// `PayoutApproval::digest`).
    pub digest: [u8; 32],
    /// When this round ends; a payout still waiting then waits again under
    /// a new expiry, so a new digest.
    pub expires_at: Timestamp,
    /// Distinct approvers needed.
    pub quorum: u8,
    /// The names of the approvers who signed this round so far.
    pub approved_by: Vec<String>,
}

impl ApprovalRound {
    /// Whether this round says nothing `newer` does not: an older round, or
    /// the same round with no approver `newer` lacks (answers arrive out of
    /// order, and approvals only accumulate within a round).
    fn is_covered_by(&self, newer: &ApprovalRound) -> bool {
        self.expires_at < newer.expires_at
            || (self.digest == newer.digest && self.approved_by.iter().all(|name| newer.approved_by.contains(name)))
    }
}

/// A payout as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payout {
    /// Its id; the signer decides once per id.
    pub id: PayoutId,
    /// The merchant whose balance pays.
    pub merchant_id: MerchantId,
    /// How much of which asset.
    pub amount: Amount,
    /// Where the merchant wants it.
    pub destination: Address,
    /// Where it is in its life.
    pub status: PayoutStatus,
    /// Where its reserve came from (and goes back to if it fails).
    pub source: ReserveSource,
    /// The invoice it refunds, for a refund.
    pub refund_of: Option<InvoiceId>,
    /// The chain's native coin, in which its network fee is booked.
    pub fee_asset: AssetId,
    /// When the signer's cool-down for a new destination ends, if it waits.
    pub cooldown_until: Option<Timestamp>,
    /// The last round of approvals the signer asked for, if it ever waited
    /// for approvers (kept after it moved on: who approved it).
    pub approval: Option<ApprovalRound>,
    /// Why it was refused, if it was.
    pub refusal: Option<Refusal>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
    /// Its transaction, once sent (the replacement's, if one was bumped).
    pub tx_hash: Option<B256>,
    /// What its transaction cost, in the fee asset, once confirmed (or
    /// mined and reverted).
    pub network_fee: Option<Amount>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// What the signer says about a payout, in the gateway's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutProgress {
    /// Accepted, not sent yet.
    Pending,
    /// Waiting out the cool-down for a new destination until then.
    Cooldown {
        /// When it ends.
        until: Timestamp,
    },
    /// Waiting for approvers to sign this round's digest.
    Approval(ApprovalRound),
    /// Refused for good by a rule.
    Refused(Refusal),
    /// Sent.
    Broadcast {
        /// Its transaction.
        tx_hash: B256,
    },
    /// Mined and confirmed.
    Confirmed {
        /// Its transaction.
        tx_hash: B256,
        /// Its gas, in the chain's native base units.
        network_fee: U256,
    },
    /// Reverted or dropped: nothing reached the destination.
    Failed {
        /// Why.
        reason: String,
        /// The transaction that reverted, if one was mined.
        tx_hash: Option<B256>,
        /// What the reverted transaction's gas cost the hot wallet (zero
        /// if none was mined).
        network_fee: U256,
    },
}

impl PayoutProgress {
    /// The status this progress puts a payout in.
    pub fn status(&self) -> PayoutStatus {
        match self {
            Self::Pending => PayoutStatus::Pending,
            Self::Cooldown { .. } => PayoutStatus::PendingCooldown,
            Self::Approval(_) => PayoutStatus::PendingApproval,
            Self::Refused(_) => PayoutStatus::Refused,
            Self::Broadcast { .. } => PayoutStatus::Broadcast,
            Self::Confirmed { .. } => PayoutStatus::Confirmed,
            Self::Failed { .. } => PayoutStatus::Failed,
        }
    }
}

/// What an answer from the signer does to a payout (or a sweep: `C` is
/// the change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Advance<C> {
    /// Nothing: the answer says what is known already (a repeated answer).
    Unchanged,
    /// Nothing: the lifecycle cannot follow it (an older answer arriving
    /// after a newer one was applied).
    Stale(InvalidPayoutTransition),
    /// What it is now, the postings the change books (and, for a payout,
    /// the event it raises).
    Changed(C),
}

/// A payout's change, computed from the payout it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutChange {
    /// The payout after the change.
    pub payout: Payout,
    /// What the change books: the release on a refusal or failure; the
    /// payout and its network fee on a confirmation.
    pub postings: Vec<Transaction>,
    /// The webhook event it raises.
    pub event: Option<EventType>,
}

impl Payout {
    /// The reserve a new payout books (see `ledger`).
    pub fn reserve(&self) -> Result<Transaction, LedgerError> {
        Transaction::reserve(self.merchant_id, self.source, self.amount)
    }

    /// What `progress`, the signer's answer at `at`, does to this payout.
    pub fn advance(&self, progress: &PayoutProgress, at: Timestamp) -> Result<Advance<PayoutChange>, LedgerError> {
        let target = progress.status();
        let mut next = self.clone();
        match progress {
            PayoutProgress::Pending => {}
            PayoutProgress::Cooldown { until } => next.cooldown_until = Some(*until),
            PayoutProgress::Approval(round) => {
                if self.status == PayoutStatus::PendingApproval
                    && let Some(current) = &self.approval
                    && round.is_covered_by(current)
                {
                    // An older answer about this wait: nothing it says is news.
                    return Ok(Advance::Unchanged);
                }
                next.approval = Some(round.clone());
            }
            PayoutProgress::Refused(refusal) => next.refusal = Some(refusal.clone()),
            PayoutProgress::Broadcast { tx_hash } => next.tx_hash = Some(*tx_hash),
            PayoutProgress::Confirmed { tx_hash, network_fee } => {
                next.tx_hash = Some(*tx_hash);
                next.network_fee = Some(Amount::from_units(self.fee_asset, *network_fee));
            }
            PayoutProgress::Failed { reason, tx_hash, network_fee } => {
                next.failure = Some(reason.clone());
                next.tx_hash = tx_hash.or(self.tx_hash);
                next.network_fee = (!network_fee.is_zero()).then(|| Amount::from_units(self.fee_asset, *network_fee));
            }
        }
        if target == self.status {
            // A final state's facts do not change; a bumped transaction, a
            // new end of the cool-down or another approver is news, but not
            // an event.
            if self.status.is_final() || next == *self {
                return Ok(Advance::Unchanged);
            }
            next.updated_at = at;
            return Ok(Advance::Changed(PayoutChange { payout: next, postings: Vec::new(), event: None }));
        }
        if let Err(invalid) = self.status.transition(target) {
            return Ok(Advance::Stale(invalid));
        }
        next.status = target;
        next.updated_at = at;
        let postings = match target {
            PayoutStatus::Refused => vec![Transaction::release(self.merchant_id, self.source, self.amount)?],
            PayoutStatus::Failed => {
                // The reserve goes back; a reverted transaction's gas left
                // the hot wallet all the same.
                let mut postings = vec![Transaction::release(self.merchant_id, self.source, self.amount)?];
                if let Some(fee) = next.network_fee.filter(|fee| !fee.is_zero()) {
                    postings.push(Transaction::network_fee(fee, FeePayer::Hot)?);
                }
                postings
            }
            PayoutStatus::Confirmed => {
                let mut postings = vec![Transaction::payout(self.merchant_id, self.amount)?];
                if let Some(fee) = next.network_fee.filter(|fee| !fee.is_zero()) {
                    postings.push(Transaction::network_fee(fee, FeePayer::Hot)?);
                }
                postings
            }
            PayoutStatus::Pending
            | PayoutStatus::PendingCooldown
            | PayoutStatus::PendingApproval
            | PayoutStatus::Broadcast => Vec::new(),
        };
        Ok(Advance::Changed(PayoutChange { payout: next, postings, event: target.event() }))
    }
}

#[cfg(test)]
mod tests;
