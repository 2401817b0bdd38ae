//! `/v1/webhooks`: endpoints, their delivery logs, and redelivery.

use axum::Json;
use axum::extract::State;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_domain::{DeliveryId, EventType, Timestamp, WebhookId};
use coffer_store::{Delivery, MAX_WEBHOOK_ENDPOINTS, Redelivery, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit;
use crate::auth::{CanReadWebhooks, CanRegisterWebhooks, CanWriteWebhooks};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::errors::error_responses;
use crate::routes::{page, schemas};
use crate::state::AppState;

/// A request to register an endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWebhook {
    #[schema(schema_with = schemas::webhook_url)]
    url: String,
    #[schema(schema_with = schemas::event_types)]
    events: Vec<String>,
}

/// An endpoint.
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookView {
    /// `wh_…`
    #[schema(value_type = String, pattern = "^wh_[0-9a-f]{32}$")]
    id: WebhookId,
    /// Where deliveries go.
    url: String,
    #[schema(schema_with = schemas::event_types)]
    events: Vec<&'static str>,
    /// RFC 3339.
    created_at: String,
}

impl From<&WebhookEndpoint> for WebhookView {
    fn from(e: &WebhookEndpoint) -> Self {
        Self {
            id: e.id,
            url: e.url.clone(),
            events: e.events.iter().map(|e| e.as_str()).collect(),
            created_at: e.created_at.to_rfc3339(),
        }
    }
}

/// A new endpoint, with its signing secret: shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedWebhook {
    #[serde(flatten)]
    endpoint: WebhookView,
    /// HMAC-SHA256 key for the `Coffer-Signature` header. Store it now: it is not shown again.
    #[schema(example = "whsec_3f2a…")]
    secret: String,
}

/// A merchant's endpoints.
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookList {
    data: Vec<WebhookView>,
}

/// One delivery of one event to one endpoint.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    /// `whd_…`: the `Coffer-Delivery` header, the same on every retry.
    #[schema(value_type = String, pattern = "^whd_[0-9a-f]{32}$")]
    id: DeliveryId,
    /// `evt_…`: the `Coffer-Event-Id` header; deduplicate on it.
    #[schema(pattern = "^evt_[0-9a-f]{32}$")]
    event_id: String,
    /// `invoice.settled`, …
    event_type: &'static str,
    /// The invoice the event is about.
    invoice_id: Option<String>,
    /// `pending`, `delivered` or `failed`.
    status: &'static str,
    /// Attempts made.
    attempts: u32,
    /// When the next attempt is due (pending only).
    next_attempt_at: Option<String>,
    /// When the last attempt was made.
    last_attempt_at: Option<String>,
    /// The HTTP status of the last attempt, if it got one.
    last_status: Option<u16>,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// RFC 3339.
    created_at: String,
    /// When the endpoint acknowledged it.
    delivered_at: Option<String>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id.to_string(),
            event_type: d.event_type.as_str(),
            invoice_id: d.invoice_id.map(|i| i.to_string()),
            status: d.state.as_str(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(Timestamp::to_rfc3339),
            last_attempt_at: d.last_attempt_at.map(Timestamp::to_rfc3339),
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at.to_rfc3339(),
            delivered_at: d.delivered_at.map(Timestamp::to_rfc3339),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryPage {
    data: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(value_type = Option<String>)]
    next_cursor: Option<DeliveryId>,
}

/// Query parameters of the delivery log.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageParams {
    /// Page size, 1 to 100 (default 20).
    #[param(schema_with = schemas::page_limit)]
    limit: Option<String>,
    /// `next_cursor` from the previous page.
    #[param(pattern = "^(whd_[0-9a-fA-F]{32})?$")]
    cursor: Option<String>,
}

fn parse_events(names: &[String]) -> Result<Vec<EventType>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "events must name at least one event type"));
    }
    let mut events = Vec::new();
    for name in names {
        let event: EventType = name.parse().map_err(|_| {
            let known: Vec<_> = EventType::ALL.iter().map(|e| e.as_str()).collect();
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("unknown event type {name:?}; known: {}", known.join(", ")),
            )
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

fn endpoint_id(text: &str) -> Result<WebhookId, ApiError> {
    text.parse().map_err(|_| ApiError::not_found("webhook"))
}

error_responses!(
    /// What `POST /v1/webhooks` answers when it registers nothing: the URL's host
    /// is checked beyond the schema (it must resolve to public addresses).
    CreateErrors = [AUTHENTICATED, JSON_BODY, &[InvalidWebhookUrl, InvalidState]],
    beyond_schema = [InvalidWebhookUrl]
);
error_responses!(
    /// What `GET /v1/webhooks` refuses.
    ListErrors = [AUTHENTICATED]
);
error_responses!(
    /// What the routes of one endpoint answer for no such endpoint.
    EndpointErrors = [AUTHENTICATED, &[NotFound]]
);
error_responses!(
    /// What `GET /v1/webhooks/{id}/deliveries` refuses.
    DeliveriesErrors = [AUTHENTICATED, PAGE, &[NotFound]]
);
error_responses!(
    /// What a redelivery refuses: no such delivery, one still pending, too many.
    RedeliverErrors = [AUTHENTICATED, &[NotFound, RedeliveryPending, RateLimited]]
);

/// Registers an endpoint and returns its signing secret, once.
///
/// Needs `webhooks:write` and `invoices:read`: every delivery carries the
/// whole invoice, order id and metadata included.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    request_body = CreateWebhook,
    security(("api_key" = ["webhooks:write", "invoices:read"])),
    responses((status = 201, description = "Registered; the secret is shown this once", body = CreatedWebhook),
        CreateErrors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    CanRegisterWebhooks(caller): CanRegisterWebhooks,
    ApiJson(request): ApiJson<CreateWebhook>,
) -> Result<Response, ApiError> {
    let actor = caller.key_id.to_string();
    let (endpoint, secret) =
        register(&state, caller.merchant_id, caller.scopes, &actor, &request.url, &request.events).await?;
    let body = CreatedWebhook { endpoint: WebhookView::from(&endpoint), secret };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Registers an endpoint for `merchant`, for a caller with `scopes`, by
/// `actor` on the audit log (an API key's id or a console session's name):
/// the API and the console both call this. Returns it and its secret.
pub(crate) async fn register(
    state: &AppState,
    merchant: coffer_domain::MerchantId,
    scopes: coffer_domain::Scopes,
    actor: &str,
    url: &str,
    events: &[String],
) -> Result<(WebhookEndpoint, String), ApiError> {
    let events = parse_events(events)?;
    // Payout deliveries carry payouts (destinations, amounts): only for a key that may read them.
    if events.iter().any(|e| e.is_payout()) && !scopes.contains(coffer_domain::Scope::PayoutsRead) {
        return Err(ApiError::new(
            ErrorCode::InsufficientScope,
            "subscribing to payout.* events also needs the payouts:read scope: deliveries carry whole payouts",
        ));
    }
    let url =
        state.url_policy.check(url).await.map_err(|e| ApiError::new(ErrorCode::InvalidWebhookUrl, e.to_string()))?;
    let secret = coffer_webhooks::signature::generate_secret().map_err(|e| ApiError::internal(&e))?;
    let endpoint = WebhookEndpoint {
        id: WebhookId::new(),
        merchant_id: merchant,
        url: url.to_string(),
        events,
        secret: secret.clone(),
        created_at: Timestamp::now(),
    };
    // The store counts and inserts in one write: a burst of registrations
    // cannot pass the cap together. The audit entry goes in the same write.
    let record = audit::webhook_registered(actor, &endpoint);
    if state.store.register_webhook_audited(&endpoint, MAX_WEBHOOK_ENDPOINTS, &record).await?.is_none() {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!("a merchant may have at most {MAX_WEBHOOK_ENDPOINTS} endpoints; delete one first"),
        ));
    }
    Ok((endpoint, secret))
}

/// The merchant's endpoints (never their secrets).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    security(("api_key" = ["webhooks:read"])),
    responses((status = 200, description = "Every endpoint of the merchant", body = WebhookList), ListErrors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CanReadWebhooks(caller): CanReadWebhooks,
) -> Result<Json<WebhookList>, ApiError> {
    let endpoints = state.store.webhooks(caller.merchant_id).await?;
    Ok(Json(WebhookList { data: endpoints.iter().map(WebhookView::from).collect() }))
}

/// One endpoint.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "get_webhook",
    security(("api_key" = ["webhooks:read"])),
    params(("id" = String, Path, description = "Endpoint id, `wh_…`", pattern = "^wh_[0-9a-fA-F]{32}$")),
    responses((status = 200, description = "The endpoint", body = WebhookView), EndpointErrors))]
pub(crate) async fn get(
    State(state): State<AppState>,
    CanReadWebhooks(caller): CanReadWebhooks,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let endpoint = state.store.webhook(caller.merchant_id, endpoint_id(&id)?).await?;
    endpoint.map(|e| Json(WebhookView::from(&e))).ok_or_else(|| ApiError::not_found("webhook"))
}

/// Deletes an endpoint; its pending deliveries are given up. Its delivery log stays readable.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "delete_webhook",
    security(("api_key" = ["webhooks:write"])),
    params(("id" = String, Path, description = "Endpoint id, `wh_…`", pattern = "^wh_[0-9a-fA-F]{32}$")),
    responses((status = 204, description = "Deleted"), EndpointErrors))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    CanWriteWebhooks(caller): CanWriteWebhooks,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    remove(&state, caller.merchant_id, endpoint_id(&id)?, &caller.key_id.to_string()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes `merchant`'s endpoint `id`, by `actor` on the audit log; 404 for
/// none (or another merchant's).
pub(crate) async fn remove(
    state: &AppState,
    merchant: coffer_domain::MerchantId,
    id: WebhookId,
    actor: &str,
) -> Result<(), ApiError> {
    let at = Timestamp::now();
    let record = audit::webhook_deleted(actor, merchant, id, at);
    match state.store.delete_webhook_audited(merchant, id, at, &record).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("webhook")),
    }
}

/// An endpoint's delivery log, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "list_deliveries",
    security(("api_key" = ["webhooks:read"])),
    params(("id" = String, Path, description = "Endpoint id, `wh_…`", pattern = "^wh_[0-9a-fA-F]{32}$"), PageParams),
    responses((status = 200, description = "A page of deliveries", body = DeliveryPage), DeliveriesErrors))]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    CanReadWebhooks(caller): CanReadWebhooks,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let id = endpoint_id(&id)?;
    let limit = page::limit(params.limit)?;
    let before = page::cursor::<DeliveryId>(params.cursor)?;
    // The log of a deleted endpoint stays readable, but only its merchant's.
    let mut rows = state.store.deliveries(caller.merchant_id, id, before, limit + 1).await?;
    if rows.is_empty() && before.is_none() && state.store.webhook(caller.merchant_id, id).await?.is_none() {
        return Err(ApiError::not_found("webhook"));
    }
    let next_cursor = page::next_cursor(&mut rows, limit, |d| d.id);
    Ok(Json(DeliveryPage { data: rows.into_iter().map(DeliveryView::from).collect(), next_cursor }))
}

/// Sends a delivery's event again, as a new delivery due now.
///
/// Refused while a delivery of the same event to the same endpoint is still
/// pending (409 `redelivery_pending`: it is being retried), and beyond the
/// merchant's redeliveries per minute (429 `rate_limited`, with `Retry-After`).
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    operation_id = "redeliver", security(("api_key" = ["webhooks:write"])),
    params(
        ("id" = String, Path, description = "Endpoint id, `wh_…`", pattern = "^wh_[0-9a-fA-F]{32}$"),
        ("delivery_id" = String, Path, description = "Delivery id, `whd_…`", pattern = "^whd_[0-9a-fA-F]{32}$")
    ),
    responses((status = 202, description = "A new delivery, due now", body = DeliveryView), RedeliverErrors))]
pub(crate) async fn redeliver(
    State(state): State<AppState>,
    CanWriteWebhooks(caller): CanWriteWebhooks,
    ApiPath((id, delivery)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    // Every request counts, whatever it asks for: the limit protects the outbox and the database.
    if let Err(wait) = state.dispatcher.admit_redelivery(caller.merchant_id) {
        return Ok(rate_limited(wait));
    }
    let id = endpoint_id(&id)?;
    let delivery: DeliveryId = delivery.parse().map_err(|_| ApiError::not_found("delivery"))?;
    match state.store.redeliver(caller.merchant_id, id, delivery, Timestamp::now()).await? {
        Redelivery::Queued(created) => {
            state.dispatcher.wake();
            Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(created))).into_response())
        }
        Redelivery::AlreadyPending(pending) => Err(ApiError::new(
            ErrorCode::RedeliveryPending,
            format!(
                "delivery {pending} of this event to this endpoint is still pending; redeliver once it is delivered or failed"
            ),
        )),
        Redelivery::NotFound => Err(ApiError::not_found("delivery")),
    }
}

/// 429 with the seconds to wait, rounded up, in `Retry-After`.
fn rate_limited(wait: Duration) -> Response {
    let seconds = u64::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u64::MAX).max(1);
    let message = format!("too many redeliveries for this merchant; retry in {seconds} s");
    let mut response = ApiError::new(ErrorCode::RateLimited, message).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}
