//! The operator's routes for payments screening held (ADR 0015): the list
//! of those waiting, and the decision on one. Behind the operator's token,
//! like `GET /v1/treasury`; `coffer screening release|reject` call them.

use axum::Json;
use axum::extract::{Query, State};
use coffer_domain::{HoldState, Payment};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Operator;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::errors::error_responses;
use crate::state::AppState;

/// The most held payments one read lists.
const MAX_LISTED: u32 = 500;

error_responses!(
    /// What `GET /v1/operator/holds` answers besides 200.
    ListErrors = [&[Unauthorized, Unavailable, InvalidRequest]]
);
error_responses!(
    /// What a decision on a held payment answers besides 200: `invalid_state`
    /// when the payment is not held (any more: a decision is final).
    DecideErrors = [&[Unauthorized, Unavailable, NotFound, InvalidState, UnknownChain], JSON_BODY],
    beyond_schema = [InvalidState, UnknownChain, InvalidRequest]
);

/// Which holds to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// `held` (the default: waiting for a decision), `released` or `rejected`.
    #[param(pattern = "^(held|released|rejected)$")]
    state: Option<String>,
}

/// A decision's reason, for the audit log.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecideRequest {
    /// Why (a compliance ticket, the customer's proof of funds): required.
    #[schema(min_length = 1, max_length = 1000, example = "KYC-4411: funds traced to an exchange withdrawal")]
    reason: String,
}

/// A held payment, whichever merchant's.
#[derive(Serialize, ToSchema)]
pub(crate) struct HeldPaymentView {
    /// `pay_…`
    id: String,
    /// Its invoice, `inv_…`.
    invoice_id: String,
    /// Asset symbol.
    asset: String,
    /// EVM chain id.
    chain_id: u64,
    /// In the asset's unit; `null` only if the asset is no longer configured.
    amount: Option<String>,
    /// In base units.
    amount_units: String,
    /// The sender screening matched.
    from: String,
    /// Transaction hash.
    tx_hash: String,
    /// Block height.
    block_number: u64,
    /// Whether it has its confirmations (booked on the held account).
    booked: bool,
    /// The hold: state, the hit's category and source, the decision.
    #[schema(value_type = Object)]
    hold: serde_json::Value,
}

impl HeldPaymentView {
    fn new(state: &AppState, payment: &Payment) -> Self {
        let hold = payment.hold.as_ref();
        let asset = state.assets.get(payment.amount.asset());
        Self {
            id: payment.id.to_string(),
            invoice_id: payment.invoice_id.to_string(),
            asset: payment.amount.asset().symbol.to_string(),
            chain_id: payment.amount.asset().chain_id.0,
            amount: asset.map(|a| a.format_amount(&payment.amount)),
            amount_units: payment.amount.units().to_string(),
            from: payment.from.to_checksum(None),
            tx_hash: payment.tx_hash.to_string(),
            block_number: payment.block.number,
            booked: payment.booked_at.is_some(),
            hold: hold
                .map(|h| {
                    serde_json::json!({
                        "state": h.state.as_str(),
                        "category": h.reason.category,
                        "source": h.reason.source(),
                        "label": h.reason.label,
                        "decided_at": h.decided.as_ref().map(|(at, _)| at.to_rfc3339()),
                        "note": h.decided.as_ref().map(|(_, note)| note),
                    })
                })
                .unwrap_or_default(),
        }
    }
}

/// Held payments in one state.
#[derive(Serialize, ToSchema)]
pub(crate) struct HoldList {
    /// Oldest first, at most 500.
    data: Vec<HeldPaymentView>,
}

/// Payments screening held, oldest first (at most 500).
#[utoipa::path(get, path = "/v1/operator/holds", tag = "operator", operation_id = "list_holds",
    params(ListQuery),
    security(("operator_token" = [])),
    responses((status = 200, description = "The payments on hold in that state", body = HoldList),
        ListErrors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _operator: Operator,
    Query(query): Query<ListQuery>,
) -> Result<Json<HoldList>, ApiError> {
    let wanted = match query.state.as_deref() {
        None => HoldState::Held,
        Some(text) => HoldState::parse(text)
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "state must be held, released or rejected"))?,
    };
    let payments = state.store.payments_on_hold(wanted, MAX_LISTED).await?;
    Ok(Json(HoldList { data: payments.iter().map(|p| HeldPaymentView::new(&state, p)).collect() }))
}

/// Releases a held payment: it counts from now on, as if never held, and
/// its invoice settles with it if it is paid.
#[utoipa::path(post, path = "/v1/operator/payments/{id}/release", tag = "operator", operation_id = "release_hold",
    params(("id" = String, Path, description = "Payment id, `pay_…`", pattern = "^pay_[0-9a-f]{32}$")),
    request_body = DecideRequest,
    security(("operator_token" = [])),
    responses((status = 200, description = "Released", body = HeldPaymentView), DecideErrors))]
pub(crate) async fn release(
    State(state): State<AppState>,
    _operator: Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<DecideRequest>,
) -> Result<Json<HeldPaymentView>, ApiError> {
    decide(state, &id, true, &request.reason).await
}

/// Rejects a held payment: never credited; it stays on the held account
/// for a refund or a report.
#[utoipa::path(post, path = "/v1/operator/payments/{id}/reject", tag = "operator", operation_id = "reject_hold",
    params(("id" = String, Path, description = "Payment id, `pay_…`", pattern = "^pay_[0-9a-f]{32}$")),
    request_body = DecideRequest,
    security(("operator_token" = [])),
    responses((status = 200, description = "Rejected", body = HeldPaymentView), DecideErrors))]
pub(crate) async fn reject(
    State(state): State<AppState>,
    _operator: Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<DecideRequest>,
) -> Result<Json<HeldPaymentView>, ApiError> {
    decide(state, &id, false, &request.reason).await
}

async fn decide(state: AppState, id: &str, release: bool, reason: &str) -> Result<Json<HeldPaymentView>, ApiError> {
    let short = crate::holds::parse_payment(id)?;
    if reason.trim().is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "reason must say why, in 1 to 1000 characters"));
    }
    let payment = crate::holds::decide(&state, short, release, reason, crate::audit::OPERATOR).await?;
    Ok(Json(HeldPaymentView::new(&state, &payment)))
}
