//! What the operator's routes answer: a payout with what an approver must
//! read, and the signer's controls as last read.

use coffer_domain::{AssetBook, Payout, PayoutId, Timestamp};
use coffer_signer_api::{ControlState, FreezeInfo};
use serde::Serialize;
use utoipa::ToSchema;

use crate::control::Reading;
use crate::payout_view::ApprovalView;

/// A payout with the fields approvers sign (ADR 0013): `coffer approve`
/// recomputes the digest from `id`, `merchant`, `chain_id`, `asset`,
/// `amount_units`, `destination` and `approval.expires_at_unix`.
#[derive(Serialize, ToSchema)]
pub(crate) struct OperatorPayoutView {
    /// `po_…`
    #[schema(value_type = String, example = "po_0195f3a0c1b27c3e9a4d5e6f70812345")]
    id: PayoutId,
    /// The merchant whose balance pays, `mer_…`.
    #[schema(example = "mer_0195f3a0c1b27c3e9a4d5e6f70812345")]
    merchant: String,
    /// EVM chain id.
    #[schema(example = 31337)]
    chain_id: u64,
    /// Asset symbol.
    #[schema(example = "USDT")]
    asset: String,
    /// In the asset's unit; `null` only if the asset is no longer configured.
    #[schema(example = "25.5")]
    amount: Option<String>,
    /// In base units: what the digest names.
    #[schema(example = "25500000")]
    amount_units: String,
    /// Where it goes, EIP-55 checksummed (as the digest names it).
    destination: String,
    /// As in `GET /v1/payouts/{id}`.
    #[schema(example = "pending_approval")]
    status: &'static str,
    /// The last round of approvals the signer asked for (kept once the
    /// payout moved on: who approved it); `null` if it never waited.
    approval: Option<ApprovalView>,
    /// The invoice it refunds, for a refund (`inv_…`).
    refund_of: Option<String>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

impl OperatorPayoutView {
    pub(crate) fn new(payout: &Payout, assets: &AssetBook) -> Self {
        let asset = payout.amount.asset();
        Self {
            id: payout.id,
            merchant: payout.merchant_id.to_string(),
            chain_id: asset.chain_id.0,
            asset: asset.symbol.to_string(),
            amount: assets.get(asset).map(|a| a.format_amount(&payout.amount)),
            amount_units: payout.amount.units().to_string(),
            destination: payout.destination.to_checksum(None),
            status: payout.status.as_str(),
            approval: payout.approval.as_ref().map(ApprovalView::new),
            refund_of: payout.refund_of.map(|id| id.to_string()),
            created_at: payout.created_at.to_rfc3339(),
            updated_at: payout.updated_at.to_rfc3339(),
        }
    }
}

fn unix(secs: i64) -> String {
    Timestamp::from_unix_secs(u64::try_from(secs).unwrap_or_default()).to_rfc3339()
}

/// The signer's freeze.
#[derive(Serialize, ToSchema)]
pub(crate) struct FreezeView {
    /// The trigger's stable rule tag (`anomaly.outflow`, `freeze.approver`, …).
    #[schema(example = "anomaly.outflow")]
    reason: &'static str,
    /// A sentence with the figures.
    message: String,
    /// RFC 3339.
    since: String,
    /// The same, Unix seconds.
    since_unix: i64,
    /// The approver who froze, by name; `null` for a tripwire.
    by: Option<String>,
}

impl FreezeView {
    fn new(freeze: &FreezeInfo) -> Self {
        Self {
            reason: freeze.reason.as_str(),
            message: freeze.message.clone(),
            since: unix(freeze.since),
            since_unix: freeze.since,
            by: freeze.by.clone(),
        }
    }
}

/// A loosening change with its quorum, waiting out its time lock.
#[derive(Serialize, ToSchema)]
pub(crate) struct ScheduledView {
    /// The change (`{"change": "limit", …}`, as `coffer-signer-api` writes it).
    #[schema(value_type = Object)]
    change: serde_json::Value,
    /// The policy version it was read against.
    base_version: u64,
    /// Its digest, which a veto signs (64 hex digits).
    digest: String,
    /// When it applies unless vetoed (RFC 3339).
    applies_at: String,
}

/// An allowlisted destination.
#[derive(Serialize, ToSchema)]
pub(crate) struct AllowedView {
    /// EVM chain id.
    chain_id: u64,
    /// EIP-55 checksummed.
    destination: String,
}

/// The signer's controls (`GET /v1/control` on the signer).
#[derive(Serialize, ToSchema)]
pub(crate) struct ControlStateView {
    /// The policy version every decision from now records.
    policy_version: u64,
    /// `normal` or `restricted`.
    #[schema(example = "normal")]
    profile: &'static str,
    /// The freeze, while outgoing payments are frozen; `null` otherwise.
    frozen: Option<FreezeView>,
    /// Approvals a loosening change needs.
    quorum: u8,
    /// Changes waiting out their time lock.
    scheduled: Vec<ScheduledView>,
    /// Destinations the `restricted` profile pays.
    allowlist: Vec<AllowedView>,
}

impl ControlStateView {
    pub(crate) fn new(state: &ControlState) -> Self {
        Self {
            policy_version: state.policy_version,
            profile: state.profile.as_str(),
            frozen: state.frozen.as_ref().map(FreezeView::new),
            quorum: state.quorum,
            scheduled: state
                .scheduled
                .iter()
                .map(|s| ScheduledView {
                    change: serde_json::to_value(&s.proposal.change).unwrap_or_default(),
                    base_version: s.proposal.base_version,
                    digest: s.digest.to_string(),
                    applies_at: unix(s.applies_at),
                })
                .collect(),
            allowlist: state
                .allowlist
                .iter()
                .map(|(chain, address)| AllowedView { chain_id: chain.0, destination: address.to_checksum(None) })
                .collect(),
        }
    }
}

/// The signer's controls, and when this gateway read them.
#[derive(Serialize, ToSchema)]
pub(crate) struct SignerView {
    /// When this gateway last read them (RFC 3339); before its first read
    /// since it started, when the stored state was first read.
    read_at: String,
    /// What the signer said, its signature checked.
    controls: ControlStateView,
}

impl SignerView {
    pub(crate) fn new(reading: &Reading) -> Self {
        Self { read_at: reading.read_at.to_rfc3339(), controls: ControlStateView::new(&reading.state) }
    }
}
