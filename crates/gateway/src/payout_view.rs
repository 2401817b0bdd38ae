//! A payout as merchants see it, in the API (`GET /v1/payouts/{id}`) and in
//! `payout.*` webhook payloads alike: one struct for both, so they cannot drift.

use coffer_domain::{ApprovalRound, AssetBook, EventId, EventType, Payout, PayoutId, PayoutStatus, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

/// A payout (or a refund: `refund_of` names its invoice).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct PayoutView {
    /// `po_…`
    #[schema(value_type = String, example = "po_0195f3a0c1b27c3e9a4d5e6f70812345")]
    id: PayoutId,
    /// `pending`, `pending_cooldown`, `pending_approval`, `refused`, `broadcast`, `confirmed` or `failed`.
    #[schema(example = "pending")]
    status: &'static str,
    /// In the asset's unit, as a decimal string; `null` only if the asset
    /// has since been removed from the configuration.
    #[schema(example = "25.5")]
    amount: Option<String>,
    /// In base units, as a decimal string.
    #[schema(example = "25500000")]
    amount_units: String,
    /// Asset symbol.
    #[schema(example = "USDT")]
    asset: String,
    /// EVM chain id.
    #[schema(example = 31337)]
    chain_id: u64,
    /// Where it goes (EIP-55 checksummed).
    destination: String,
    /// The invoice it refunds, for a refund (`inv_…`).
    refund_of: Option<String>,
    /// Why the signer refused it: a stable rule tag (`limit.per_payout`, …) and a sentence.
    refusal: Option<RefusalView>,
    /// Why it failed on chain.
    failure_reason: Option<String>,
    /// When the signer's cool-down for a new destination ends (RFC 3339).
    cooldown_until: Option<String>,
    /// While `pending_approval`: the round of approvals the signer waits
    /// for (the amount stays reserved meanwhile); `null` otherwise.
    approval: Option<ApprovalView>,
    /// Its transaction, once sent.
    tx_hash: Option<String>,
    /// What its transaction cost, in the chain's native coin, once confirmed.
    network_fee: Option<String>,
    /// The same in base units.
    network_fee_units: Option<String>,
    /// The chain's native coin, in which the network fee is paid.
    #[schema(example = "ETH")]
    fee_asset: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

/// A round of approvals: what approvers sign, until when, how many must.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct ApprovalView {
    /// The SHA-256 digest approvers sign, 64 hex digits (`coffer approve`
    /// recomputes it from the payout's fields and this round's expiry).
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", pattern = "^[0-9a-f]{64}$")]
    pub(crate) digest: String,
    /// When this round ends (RFC 3339); a payout still waiting then waits
    /// again under a new expiry and digest.
    pub(crate) expires_at: String,
    /// The same, in Unix seconds, as the digest's text has it.
    #[schema(example = 1764700000)]
    pub(crate) expires_at_unix: u64,
    /// Distinct approvers needed.
    #[schema(example = 2)]
    pub(crate) quorum: u8,
    /// The names of the approvers who signed this round so far.
    pub(crate) approved_by: Vec<String>,
}

impl ApprovalView {
    pub(crate) fn new(round: &ApprovalRound) -> Self {
        Self {
            digest: hex::encode(round.digest),
            expires_at: round.expires_at.to_rfc3339(),
            expires_at_unix: round.expires_at.as_millis().max(0).unsigned_abs() / 1000,
            quorum: round.quorum,
            approved_by: round.approved_by.clone(),
        }
    }
}

/// A refusal's rule and sentence.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct RefusalView {
    /// The signer's stable rule tag.
    #[schema(example = "limit.per_payout")]
    rule: String,
    /// For people; wording may change.
    message: String,
}

impl PayoutView {
    pub(crate) fn new(payout: &Payout, assets: &AssetBook) -> Self {
        let asset = payout.amount.asset();
        let fee_format = assets.get(payout.fee_asset);
        Self {
            id: payout.id,
            status: payout.status.as_str(),
            amount: assets.get(asset).map(|a| a.format_amount(&payout.amount)),
            amount_units: payout.amount.units().to_string(),
            asset: asset.symbol.to_string(),
            chain_id: asset.chain_id.0,
            destination: payout.destination.to_checksum(None),
            refund_of: payout.refund_of.map(|id| id.to_string()),
            refusal: payout.refusal.as_ref().map(|r| RefusalView { rule: r.rule.clone(), message: r.message.clone() }),
            failure_reason: payout.failure.clone(),
            cooldown_until: payout.cooldown_until.map(Timestamp::to_rfc3339),
            approval: payout
                .approval
                .as_ref()
                .filter(|_| payout.status == PayoutStatus::PendingApproval)
                .map(ApprovalView::new),
            tx_hash: payout.tx_hash.map(|h| h.to_string()),
            network_fee: payout.network_fee.and_then(|fee| fee_format.map(|a| a.format_amount(&fee))),
            network_fee_units: payout.network_fee.map(|fee| fee.units().to_string()),
            fee_asset: payout.fee_asset.symbol.to_string(),
            created_at: payout.created_at.to_rfc3339(),
            updated_at: payout.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize)]
struct EventBody<'a> {
    id: EventId,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: String,
    data: EventData<'a>,
}

#[derive(Serialize)]
struct EventData<'a> {
    payout: &'a PayoutView,
}

/// The JSON body of event `id` of type `kind` about `payout`, in the shape
/// invoice events have (`data.payout` where theirs is `data.invoice`).
pub(crate) fn event_payload(id: EventId, kind: EventType, at: Timestamp, payout: &PayoutView) -> String {
    let body = EventBody { id, kind: kind.as_str(), created_at: at.to_rfc3339(), data: EventData { payout } };
    serde_json::to_string(&body).unwrap_or_default()
}
