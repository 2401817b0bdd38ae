//! The operator's routes for approvals and the signer's controls (ADR 0013),
//! behind the operator's token like `GET /v1/treasury`, and served where it
//! is: on the operator listener when there is one.
//!
//! The gateway carries approvals and control requests to the signer and
//! never makes one: approvers sign digests with their own keys, and the
//! signer checks every signature against its own record. What the signer
//! answers about a payout is applied as the outbox applies its answers, and
//! only that: the gateway never marks a payout approved by itself.

mod views;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_domain::{PayoutId, Timestamp};
use coffer_signer_api::Outcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Operator;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::errors::error_responses;
use crate::state::AppState;
pub(crate) use views::{OperatorPayoutView, SignerView};

/// The signer statuses `POST /v1/operator/signer/control` passes on as the
/// signer gave them; any other is `503 signer_unavailable`.
pub(crate) const RELAYED_STATUSES: [u16; 6] = [200, 400, 401, 404, 409, 422];

/// An approver's signed decision about one round of a payout, as `coffer
/// approve` writes it (`coffer-signer-api`'s `Approval`).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalRequest {
    /// The approver's public key, as `signer.toml` lists it.
    #[schema(
        pattern = "^ed25519:[0-9a-f]{64}$",
        example = "ed25519:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
    )]
    approver: String,
    /// `approve`, or `reject` (which refuses the payout).
    #[schema(value_type = String, pattern = "^(approve|reject)$", example = "approve")]
    decision: String,
    /// The round's digest the approver signed (`approval.digest` of the payout), 64 hex digits.
    #[schema(pattern = "^[0-9a-f]{64}$", example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    digest: String,
    /// The ed25519 signature, 128 hex digits.
    #[schema(
        pattern = "^[0-9a-f]{128}$",
        example = "0000000000000000000000000000000000000000000000000000000000000000\
                   0000000000000000000000000000000000000000000000000000000000000000"
    )]
    signature: String,
}

fn hex_of(text: &str, digits: usize) -> bool {
    text.len() == digits && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl ApprovalRequest {
    /// The checks the schema states, so what it admits is what is relayed.
    fn check(&self) -> Result<(), ApiError> {
        let invalid = |message: &str| Err(ApiError::new(ErrorCode::InvalidRequest, message));
        if !self.approver.strip_prefix("ed25519:").is_some_and(|key| hex_of(key, 64)) {
            return invalid("approver must be ed25519: and 64 lowercase hex digits");
        }
        if !matches!(self.decision.as_str(), "approve" | "reject") {
            return invalid("decision must be approve or reject");
        }
        if !hex_of(&self.digest, 64) {
            return invalid("digest must be 64 lowercase hex digits");
        }
        if !hex_of(&self.signature, 128) {
            return invalid("signature must be 128 lowercase hex digits");
        }
        Ok(())
    }
}

error_responses!(
    /// What the operator's reads answer besides 200.
    ReadErrors = [&[Unauthorized, Unavailable, NotFound]]
);
error_responses!(
    /// What `POST /v1/payouts/{id}/approvals` answers besides 200. The
    /// signer checks the signature, the approver and the round: its refusal
    /// is `approval_refused`, with its rule in the message.
    ApprovalErrors = [&[Unauthorized, Unavailable, NotFound, SignerUnavailable], JSON_BODY, &[ApprovalRefused]],
    beyond_schema = [ApprovalRefused]
);
error_responses!(
    /// What `GET /v1/signer` answers besides 200.
    SignerErrors = [&[Unauthorized, Unavailable, SignerUnavailable]]
);
error_responses!(
    /// What the gateway itself answers to `POST /v1/operator/signer/control`
    /// besides relaying the signer's answer.
    ControlErrors = [&[Unauthorized, Unavailable, SignerUnavailable], JSON_BODY]
);

fn no_signer() -> ApiError {
    ApiError::new(ErrorCode::SignerUnavailable, "this gateway has no [signer] configured")
}

fn unreachable_signer(err: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(error = %err, "a request relayed to the signer failed");
    ApiError::new(ErrorCode::SignerUnavailable, format!("the signer cannot be reached: {err}"))
}

async fn audit_head(state: &AppState) -> Result<[u8; 32], ApiError> {
    Ok(coffer_store::AuditStore::head(&*state.store).await?.hash.to_bytes())
}

/// A payout as an approver must see it to approve it: `coffer approve`
/// recomputes the round's digest from these fields and prints it beside
/// the one the signer waits for.
#[utoipa::path(get, path = "/v1/operator/payouts/{id}", tag = "operator", operation_id = "get_operator_payout",
    params(("id" = String, Path, description = "Payout id, `po_…`", pattern = "^po_[0-9a-fA-F]{32}$")),
    security(("operator_token" = [])),
    responses((status = 200, description = "The payout, whichever merchant's", body = OperatorPayoutView), ReadErrors))]
pub(crate) async fn payout(
    State(state): State<AppState>,
    _operator: Operator,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OperatorPayoutView>, ApiError> {
    let id: PayoutId = id.parse().map_err(|_| ApiError::not_found("payout"))?;
    let payout = state.store.payout_by_id(id).await?.ok_or_else(|| ApiError::not_found("payout"))?;
    Ok(Json(OperatorPayoutView::new(&payout, &state.assets)))
}

/// Carries an approver's signed decision to the signer and applies what the
/// signer answers to the payout (in one transaction with the gateway's
/// `payout.approval_relayed` audit entry): still `pending_approval` with one
/// more approver, sent (`broadcast`), or `refused` (`approval.rejected`).
/// The gateway checks no signature: it cannot make one, and the signer
/// checks each against its own record.
#[utoipa::path(post, path = "/v1/payouts/{id}/approvals", tag = "operator", operation_id = "relay_approval",
    params(("id" = String, Path, description = "Payout id, `po_…`", pattern = "^po_[0-9a-fA-F]{32}$")),
    request_body = ApprovalRequest,
    security(("operator_token" = [])),
    responses((status = 200, description = "The signer took the approval: the payout as it left it",
        body = OperatorPayoutView), ApprovalErrors))]
pub(crate) async fn approve(
    State(state): State<AppState>,
    _operator: Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ApprovalRequest>,
) -> Result<Json<OperatorPayoutView>, ApiError> {
    let id: PayoutId = id.parse().map_err(|_| ApiError::not_found("payout"))?;
    request.check()?;
    state.store.payout_by_id(id).await?.ok_or_else(|| ApiError::not_found("payout"))?;
    let outbox = state.outbox.clone().ok_or_else(no_signer)?;
    let body = serde_json::to_vec(&request).map_err(|e| ApiError::internal(&e))?;
    let answer = outbox.client().approve(&id.to_string(), &body, audit_head(&state).await?).await;
    let answer = answer.map_err(|e| unreachable_signer(&e))?;
    let record = |answer: &str| {
        let relayed = crate::audit::RelayedApproval {
            approver: &request.approver,
            decision: &request.decision,
            digest: &request.digest,
            answer,
        };
        crate::audit::approval_relayed(id, relayed, Timestamp::now())
    };
    match answer.status {
        200 => {
            let outcome: Outcome = serde_json::from_slice(&answer.body).map_err(|e| unreachable_signer(&e))?;
            let said = outcome_name(&outcome);
            let payout = outbox.apply_relayed(id, &outcome, record(&said)).await.map_err(|e| ApiError::internal(&e))?;
            tracing::info!(payout = %id, answer = %said, "approval relayed");
            Ok(Json(OperatorPayoutView::new(&payout, &state.assets)))
        }
        404 => Err(ApiError::new(ErrorCode::NotFound, "the signer knows no such payout")),
        400..=499 => {
            let rule = answer.rule().unwrap_or_else(|| "-".into());
            coffer_store::AuditStore::append(&*state.store, &record(&rule)).await?;
            tracing::warn!(payout = %id, rule, "the signer refused a relayed approval");
            Err(ApiError::new(
                ErrorCode::ApprovalRefused,
                format!("the signer refused the approval: {}", answer.sentence()),
            ))
        }
        status => Err(unreachable_signer(&format!("it answered {status}: {}", answer.sentence()))),
    }
}

/// How an answered outcome is logged: its state, and the rule of a refusal.
fn outcome_name(outcome: &Outcome) -> String {
    match &outcome.state {
        coffer_signer_api::OutcomeState::Refused { rule, .. } => format!("refused:{}", rule.as_str()),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.get("state").and_then(|s| s.as_str().map(str::to_owned)))
            .unwrap_or_else(|| "unknown".into()),
    }
}

/// The signer's controls as this gateway last read them (every
/// `[signer] control_poll_ms`): its policy version and profile, whether it
/// froze outgoing payments and why, and what waits out a time lock.
#[utoipa::path(get, path = "/v1/signer", tag = "operator", operation_id = "get_signer",
    security(("operator_token" = [])),
    responses((status = 200, description = "The last reading", body = SignerView), SignerErrors))]
pub(crate) async fn signer(State(state): State<AppState>, _operator: Operator) -> Result<Json<SignerView>, ApiError> {
    let control = state.control.clone().ok_or_else(no_signer)?;
    let reading = control
        .last()
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::SignerUnavailable, "the signer's controls have not been read yet"))?;
    Ok(Json(SignerView::new(&reading)))
}

/// Carries an approver-signed `ControlRequest` (a freeze, an unfreeze, a
/// profile, a limit, an allowlist entry) to the signer's `POST /v1/control`
/// and answers what the signer answered: its status (200, 400, 401, 404, 409
/// or 422) and its body, unchanged (`{"result":…}`, or `{"error":{"rule",
/// "message"}}` with the signer's rule tag). The gateway's key signs the
/// request as every request it sends, and can apply nothing: only the
/// approvers' signatures count.
#[utoipa::path(post, path = "/v1/operator/signer/control", tag = "operator", operation_id = "relay_control",
    request_body(content = Object, description = "A `ControlRequest` (`coffer-signer-api`): `proposal` and `approvals`"),
    security(("operator_token" = [])),
    responses((status = 200, description = "The signer's `ControlAnswer`, as it gave it", body = Object),
        ControlErrors))]
pub(crate) async fn control(
    State(state): State<AppState>,
    _operator: Operator,
    ApiJson(request): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, ApiError> {
    let control = state.control.clone().ok_or_else(no_signer)?;
    let body = serde_json::to_vec(&request).map_err(|e| ApiError::internal(&e))?;
    let answer = control.client.relay_control(&body, audit_head(&state).await?).await;
    let answer = answer.map_err(|e| unreachable_signer(&e))?;
    let Some(status) = StatusCode::from_u16(answer.status).ok().filter(|_| RELAYED_STATUSES.contains(&answer.status))
    else {
        return Err(unreachable_signer(&format!("it answered {}: {}", answer.status, answer.sentence())));
    };
    tracing::info!(status = answer.status, "control request relayed to the signer");
    Ok((status, [(header::CONTENT_TYPE, "application/json")], Bytes::from(answer.body)).into_response())
}
