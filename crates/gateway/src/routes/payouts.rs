//! `/v1/payouts`: ask for a payout or a refund, follow it, list them.
//!
//! A payout is checked (asset, amount, destination, a refund's invoice),
//! then stored in one transaction with its reserve, its outbox row to the
//! signer and its `payout.pending` event; the outbox hands it to the signer
//! at once and applies what the signer says (`outbox.rs`). The answer is
//! `201` with the payout `pending`: where it goes from there, the payout and
//! its `payout.*` webhooks tell.

mod input;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_domain::{
    AssetSymbol, ChainId, EventId, EventType, Payout, PayoutId, PayoutStatus, ReserveSource, Timestamp,
};
use coffer_store::{CreatedPayout, Idempotency, NewEvent, NewPayout, PayoutQuery};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{CanReadPayouts, CanWritePayouts};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::payout_view::{PayoutView, event_payload};
use crate::routes::errors::error_responses;
use crate::routes::invoices::{IDEMPOTENT_REPLAYED, idempotency_key};
use crate::routes::page::{self, present};
use crate::routes::schemas;
use crate::state::AppState;

/// A request for a payout, or (with `refund_of`) a refund.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePayout {
    #[schema(schema_with = schemas::payout_amount)]
    pub(crate) amount: Value,
    #[schema(schema_with = schemas::asset)]
    pub(crate) asset: String,
    /// The chain to pay on; needed only when the asset is on several.
    #[schema(example = 31337)]
    #[serde(default, deserialize_with = "crate::input::whole_number")]
    pub(crate) chain_id: Option<u64>,
    #[schema(schema_with = schemas::destination)]
    pub(crate) destination: String,
    #[schema(schema_with = schemas::refund_of)]
    pub(crate) refund_of: Option<String>,
}

error_responses!(
    /// What `POST /v1/payouts` answers when it reserves nothing. The balance,
    /// a refund's invoice and an address's checksum are checked beyond the
    /// schema; without a `[signer]` every request the schema admits answers
    /// 503 `payouts_unavailable`.
    CreateErrors = [
        AUTHENTICATED,
        JSON_BODY,
        &[InvalidAmount, UnknownAsset, UnknownChain, InvalidDestination, IdempotencyConflict],
        &[InsufficientBalance, RefundExceedsInvoice, NotFound, InvalidState, PayoutsUnavailable, DestinationScreened],
    ],
    beyond_schema = [InsufficientBalance, RefundExceedsInvoice, InvalidDestination, InvalidRequest, DestinationScreened]
);
error_responses!(
    /// What `GET /v1/payouts/{id}` answers for no payout.
    GetErrors = [AUTHENTICATED, &[NotFound]]
);
error_responses!(
    /// What `GET /v1/payouts` refuses.
    ListErrors = [AUTHENTICATED, PAGE]
);

/// Asks for a payout (or a refund) of the merchant's balance. The amount is
/// reserved at once (no longer available in `GET /v1/balances`) and released
/// if the signer refuses it or it fails.
#[utoipa::path(post, path = "/v1/payouts", tag = "payouts", operation_id = "create_payout",
    request_body = CreatePayout,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "Retry safely: the same key and body return the same payout; another body with the same \
            key is refused (409 `idempotency_conflict`). 1 to 255 visible ASCII characters (422 `invalid_request`).")),
    security(("api_key" = ["payouts:write"])),
    responses(
        (status = 201, description = "Reserved and handed to the signer (or replayed, with `Idempotent-Replayed: true`)",
            body = PayoutView, headers(("Location" = String, description = "`/v1/payouts/{id}`"))),
        CreateErrors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    CanWritePayouts(caller): CanWritePayouts,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreatePayout>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let (payout, replayed) =
        request_payout(&state, caller.merchant_id, &caller.key_id.to_string(), request, key).await?;
    let mut response = (StatusCode::CREATED, Json(PayoutView::new(&payout, &state.assets))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/payouts/{}", payout.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Reserves a payout of `merchant`'s balance and hands it to the signer's
/// outbox, for `actor` on the audit log (an API key's id, or a console
/// session's name): the API's `POST /v1/payouts` and the console both call
/// this. Returns the payout and whether it was a replay of `key`'s.
pub(crate) async fn request_payout(
    state: &AppState,
    merchant: coffer_domain::MerchantId,
    actor: &str,
    request: CreatePayout,
    key: Option<String>,
) -> Result<(Payout, bool), ApiError> {
    // The request is checked first: a wrong one is wrong whether or not payouts are served.
    let checked = input::check(state, merchant, request).await?;
    let Some(outbox) = state.outbox.clone() else {
        return Err(ApiError::new(ErrorCode::PayoutsUnavailable, "this gateway has no [signer] configured"));
    };
    let idempotency = key.map(|key| Idempotency { key, fingerprint: checked.fingerprint() });
    let now = Timestamp::now();
    let payout = Payout {
        id: PayoutId::new(),
        merchant_id: merchant,
        amount: checked.amount,
        destination: checked.destination,
        status: PayoutStatus::Pending,
        source: checked.refund.map_or(ReserveSource::Merchant, |r| r.source),
        refund_of: checked.refund_of,
        fee_asset: checked.fee_asset,
        cooldown_until: None,
        approval: None,
        refusal: None,
        failure: None,
        tx_hash: None,
        network_fee: None,
        created_at: now,
        updated_at: now,
    };
    let intent = coffer_signer_api::PayoutIntent {
        id: payout.id,
        merchant: payout.merchant_id,
        chain_id: payout.amount.asset().chain_id,
        asset: payout.amount.asset().symbol,
        amount: payout.amount.units(),
        destination: payout.destination,
    };
    let view = PayoutView::new(&payout, &state.assets);
    let event_id = EventId::new();
    let event = NewEvent {
        id: event_id,
        kind: EventType::PayoutPending,
        payload: event_payload(event_id, EventType::PayoutPending, now, &view),
    };
    let new = NewPayout {
        audit: crate::audit::payout_requested(actor, &payout, now),
        intent: serde_json::to_string(&intent).map_err(|e| ApiError::internal(&e))?,
        refund_limit: checked.refund.map(|r| r.max),
        payout,
        idempotency,
        event,
        at: now,
        lease_until: now.plus(state.dispatcher.lease()),
    };
    match state.store.create_payout(new).await? {
        CreatedPayout::Created(payout, deliveries) => {
            tracing::info!(payout = %payout.id, amount = %payout.amount.units(), asset = %payout.amount.asset(), "payout reserved");
            outbox.wake();
            state.dispatcher.dispatch(deliveries);
            Ok((payout, false))
        }
        CreatedPayout::Replayed(payout) => Ok((payout, true)),
        CreatedPayout::IdempotencyMismatch => Err(ApiError::new(
            ErrorCode::IdempotencyConflict,
            "this Idempotency-Key was already used with a different request",
        )),
        CreatedPayout::InsufficientBalance { available } => {
            let shown = state
                .assets
                .get(available.asset())
                .map_or(available.units().to_string(), |a| a.format_amount(&available));
            Err(ApiError::new(
                ErrorCode::InsufficientBalance,
                format!("the available balance is {shown} {}; the payout is more", available.asset().symbol),
            ))
        }
        CreatedPayout::RefundExceeded { refundable } => {
            let shown = state
                .assets
                .get(refundable.asset())
                .map_or(refundable.units().to_string(), |a| a.format_amount(&refundable));
            Err(ApiError::new(
                ErrorCode::RefundExceedsInvoice,
                format!("the invoice has {shown} {} left to refund", refundable.asset().symbol),
            ))
        }
    }
}

/// One payout. Another merchant's payout answers 404, as an unknown one does.
#[utoipa::path(get, path = "/v1/payouts/{id}", tag = "payouts", operation_id = "get_payout",
    params(("id" = String, Path, description = "Payout id, `po_…`", pattern = "^po_[0-9a-fA-F]{32}$")),
    security(("api_key" = ["payouts:read"])),
    responses((status = 200, description = "The payout", body = PayoutView), GetErrors))]
pub(crate) async fn get(
    State(state): State<AppState>,
    CanReadPayouts(caller): CanReadPayouts,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PayoutView>, ApiError> {
    let id: PayoutId = id.parse().map_err(|_| ApiError::not_found("payout"))?;
    let payout = state.store.payout(caller.merchant_id, id).await?.ok_or_else(|| ApiError::not_found("payout"))?;
    Ok(Json(PayoutView::new(&payout, &state.assets)))
}

/// Query parameters of the payout list. Empty values count as absent.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only payouts in this state.
    #[param(schema_with = schemas::payout_status)]
    status: Option<String>,
    /// Only payouts of this asset symbol.
    #[param(schema_with = schemas::symbol_filter)]
    asset: Option<String>,
    /// Only payouts on this chain.
    #[param(schema_with = schemas::chain_filter)]
    chain_id: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(schema_with = schemas::page_limit)]
    limit: Option<String>,
    /// `next_cursor` from the previous page.
    #[param(pattern = "^(po_[0-9a-fA-F]{32})?$")]
    cursor: Option<String>,
}

/// A page of payouts, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct PayoutPage {
    data: Vec<PayoutView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(value_type = Option<String>)]
    next_cursor: Option<PayoutId>,
}

/// The merchant's payouts and refunds, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/payouts", tag = "payouts", operation_id = "list_payouts", params(ListParams),
    security(("api_key" = ["payouts:read"])),
    responses((status = 200, description = "A page of payouts", body = PayoutPage), ListErrors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CanReadPayouts(caller): CanReadPayouts,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<PayoutPage>, ApiError> {
    let limit = page::limit(params.limit)?;
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidRequest, message);
    let status =
        present(params.status).map(|s| s.parse::<PayoutStatus>()).transpose().map_err(|e| invalid(e.to_string()))?;
    let asset =
        present(params.asset).map(|s| s.parse::<AssetSymbol>()).transpose().map_err(|e| invalid(e.to_string()))?;
    // Digits only, as described: `u64`'s parser alone would take `+1` too.
    let digits = |s: &str| (1..=schemas::MAX_CHAIN_DIGITS).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let chain_id = present(params.chain_id)
        .map(|s| s.parse::<u64>().ok().filter(|_| digits(&s)).map(ChainId))
        .map(|c| c.ok_or_else(|| invalid(format!("chain_id must be 1 to {} digits", schemas::MAX_CHAIN_DIGITS))))
        .transpose()?;
    let before = page::cursor::<PayoutId>(params.cursor)?;
    let query = PayoutQuery { merchant_id: caller.merchant_id, status, asset, chain_id, before, limit: limit + 1 };
    let mut payouts = state.store.payouts(query).await?;
    let next_cursor = page::next_cursor(&mut payouts, limit, |p| p.id);
    let data = payouts.iter().map(|p| PayoutView::new(p, &state.assets)).collect();
    Ok(Json(PayoutPage { data, next_cursor }))
}
