//! `/v1/invoices`: create, fetch and list a merchant's invoices.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

use coffer_domain::{Asset, AssetSymbol, ChainId, Invoice, InvoiceId, InvoiceStatus, Timestamp};
use coffer_store::{Idempotency, InsertOutcome, InvoiceQuery, NewInvoice};
use coffer_watcher::view::InvoiceView;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{CanRead, CanWrite};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::errors::error_responses;
use crate::routes::page::{self, present};
use crate::routes::schemas;
use crate::state::AppState;

/// Header a client sets to make `POST /v1/invoices` safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Header set on an answer replayed for a repeated idempotency key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Longest `order_id`, in characters.
pub(crate) const MAX_ORDER_ID: usize = 200;
/// Longest `description`, in characters.
pub(crate) const MAX_DESCRIPTION: usize = 500;
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A request for a new invoice. Only `amount` and `asset` are required.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInvoice {
    #[schema(schema_with = schemas::amount)]
    amount: Value,
    #[schema(schema_with = schemas::asset)]
    asset: String,
    /// The chain to pay on; needed only when the asset is on several.
    #[schema(example = 31337)]
    #[serde(default, deserialize_with = "crate::input::whole_number")]
    chain_id: Option<u64>,
    #[schema(schema_with = schemas::order_id)]
    order_id: Option<String>,
    #[schema(schema_with = crate::input::metadata_schema)]
    metadata: Option<Map<String, Value>>,
    /// Seconds until the invoice expires: at least 60; this gateway's
    /// default and longest are this field's `default` and `maximum`.
    #[schema(example = 900, minimum = 60)]
    #[serde(default, deserialize_with = "crate::input::whole_number")]
    expires_in_secs: Option<u64>,
    /// What the customer pays for, shown on the checkout page (plain text).
    #[schema(schema_with = schemas::description)]
    description: Option<String>,
    /// Where the checkout page sends the customer once the invoice is
    /// settled (absolute `http(s)`; `{INVOICE_ID}` is replaced by the id).
    /// Coffer adds `coffer_invoice`, `coffer_status` and `coffer_signature`,
    /// which the shop verifies with its webhook secret (see the README).
    #[schema(schema_with = schemas::return_url)]
    success_url: Option<String>,
    /// Where "back to the shop" on the checkout page goes before payment.
    #[schema(schema_with = schemas::return_url)]
    cancel_url: Option<String>,
}

/// The API's view of invoices, with their payments and the chain's
/// processed head for confirmations (one query per chain in the page).
pub(crate) async fn views(state: &AppState, invoices: Vec<Invoice>) -> Result<Vec<InvoiceView>, ApiError> {
    if invoices.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<InvoiceId> = invoices.iter().map(|i| i.id).collect();
    let payments = state.store.payments_by_invoice(&ids).await?;
    let mut heads: HashMap<ChainId, Option<u64>> = HashMap::new();
    for invoice in &invoices {
        let chain = invoice.amount.asset().chain_id;
        if let std::collections::hash_map::Entry::Vacant(slot) = heads.entry(chain) {
            // The cursor moves in the transaction that settles, so read after
            // the invoices and their payments it is at least the tip they were
            // settled at: a settled payment never shows fewer confirmations
            // than settling took. (The watcher's tip in memory moves just after
            // its commit; a read in between showed one confirmation too few.)
            slot.insert(state.store.chain_cursor(chain).await?.map(|c| c.number));
        }
    }
    Ok(invoices
        .iter()
        .map(|invoice| {
            let paid = payments.get(&invoice.id).map_or(&[][..], Vec::as_slice);
            let head = heads.get(&invoice.amount.asset().chain_id).copied().flatten();
            InvoiceView::new(invoice, paid, head, &state.assets, &state.public_url)
        })
        .collect())
}

async fn view(state: &AppState, invoice: Invoice) -> Result<InvoiceView, ApiError> {
    let mut one = views(state, vec![invoice]).await?;
    one.pop().ok_or_else(|| ApiError::internal(&"an invoice without its view"))
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

/// The request, checked and in domain terms.
struct Validated {
    asset: Asset,
    amount: coffer_domain::Amount,
    order_id: Option<String>,
    metadata: Map<String, Value>,
    expiry_secs: u64,
    description: Option<String>,
    success_url: Option<coffer_domain::ReturnUrl>,
    cancel_url: Option<coffer_domain::ReturnUrl>,
}

fn validate(state: &AppState, req: CreateInvoice) -> Result<Validated, ApiError> {
    use coffer_domain::AssetLookupError as L;
    let symbol: AssetSymbol =
        req.asset.parse().map_err(|e: coffer_domain::InvalidSymbol| invalid(ErrorCode::UnknownAsset, e.to_string()))?;
    let asset = state.assets.resolve(symbol, req.chain_id.map(ChainId)).map_err(|e| match e {
        L::UnknownChain(_) => invalid(ErrorCode::UnknownChain, e.to_string()),
        L::UnknownAsset { .. } | L::NotOnChain { .. } => invalid(ErrorCode::UnknownAsset, e.to_string()),
        L::Ambiguous { .. } => invalid(ErrorCode::InvalidRequest, e.to_string()),
    })?;
    let Value::String(text) = &req.amount else {
        return Err(invalid(
            ErrorCode::InvalidAmount,
            "amount must be a decimal string such as \"12.50\", not a JSON number",
        ));
    };
    let amount = asset.parse_amount(text).map_err(|e| invalid(ErrorCode::InvalidAmount, e.to_string()))?;
    if amount.is_zero() {
        return Err(invalid(ErrorCode::InvalidAmount, "amount must be greater than zero"));
    }
    if let Some(order_id) = &req.order_id
        && (order_id.is_empty() || order_id.chars().count() > MAX_ORDER_ID)
    {
        return Err(invalid(ErrorCode::InvalidRequest, format!("order_id must be 1 to {MAX_ORDER_ID} characters")));
    }
    if let Some(order_id) = &req.order_id {
        crate::input::plain_text("order_id", order_id)?;
    }
    if let Some(description) = &req.description {
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION {
            return Err(invalid(
                ErrorCode::InvalidRequest,
                format!("description must be 1 to {MAX_DESCRIPTION} characters"),
            ));
        }
        crate::input::plain_text("description", description)?;
    }
    if let Some(metadata) = &req.metadata {
        crate::input::metadata(metadata)?;
    }
    let expiry = req.expires_in_secs.unwrap_or(state.expiry.default_secs);
    if !(60..=state.expiry.max_secs).contains(&expiry) {
        return Err(invalid(
            ErrorCode::InvalidRequest,
            format!("expires_in_secs must be between 60 and {}", state.expiry.max_secs),
        ));
    }
    let return_url = |field: &str, url: Option<String>| {
        url.map(|url| {
            coffer_domain::ReturnUrl::parse(&url)
                .map_err(|e| invalid(ErrorCode::InvalidRequest, format!("{field} {e}")))
        })
        .transpose()
    };
    Ok(Validated {
        asset: asset.clone(),
        amount,
        order_id: req.order_id,
        metadata: req.metadata.unwrap_or_default(),
        expiry_secs: expiry,
        description: req.description,
        success_url: return_url("success_url", req.success_url)?,
        cancel_url: return_url("cancel_url", req.cancel_url)?,
    })
}

/// SHA-256 over the request as understood (not as spelled), so that a retry
/// that differs only in whitespace, key order or `usdt` vs `USDT` matches.
fn fingerprint(validated: &Validated) -> [u8; 32] {
    let Validated { asset, amount, order_id, metadata, expiry_secs: expiry, description, success_url, cancel_url } =
        validated;
    let normal = serde_json::json!({
        "asset": asset.id.to_string(),
        "units": amount.units().to_string(),
        "order_id": order_id,
        "metadata": metadata,
        "expires_in_secs": expiry,
        "description": description,
        "success_url": success_url.as_ref().map(|u| u.as_str()),
        "cancel_url": cancel_url.as_ref().map(|u| u.as_str()),
    });
    Sha256::digest(normal.to_string().as_bytes()).into()
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else { return Ok(None) };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=MAX_IDEMPOTENCY_KEY).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        invalid(
            ErrorCode::InvalidRequest,
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        )
    })
}

error_responses!(
    /// What `POST /v1/invoices` answers when it makes no invoice.
    CreateErrors = [
        AUTHENTICATED,
        JSON_BODY,
        &[InvalidAmount, UnknownAsset, UnknownChain, ControlCharacter, IdempotencyConflict],
        &[MetadataTooManyKeys, MetadataKeyTooLong, MetadataValueTooLong, MetadataNotFlat, MetadataTooLarge],
    ],
    beyond_schema = [MetadataTooLarge]
);

/// Creates an invoice with a fresh deposit address.
#[utoipa::path(post, path = "/v1/invoices", tag = "invoices", operation_id = "create_invoice",
    request_body = CreateInvoice,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "Retry safely: the same key and body return the same invoice; another body with the same \
            key is refused (409 `idempotency_conflict`). 1 to 255 visible ASCII characters (422 `invalid_request`).")),
    security(("api_key" = ["invoices:write"])),
    responses(
        (status = 201, description = "Created (or replayed, with `Idempotent-Replayed: true`)", body = InvoiceView,
            headers(("Location" = String, description = "`/v1/invoices/{id}`"))),
        CreateErrors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    CanWrite(caller): CanWrite,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateInvoice>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let validated = validate(&state, request)?;
    let idempotency = key.map(|key| Idempotency { key, fingerprint: fingerprint(&validated) });
    let token = coffer_domain::CheckoutToken::random().map_err(|e| ApiError::internal(&e))?;
    let deposit = state.addresses.take().await.map_err(|e| {
        tracing::error!(error = %e, "no deposit address available");
        ApiError::new(ErrorCode::Unavailable, "no deposit address available; retry later")
    })?;
    let Validated { amount, order_id, metadata, expiry_secs: expiry, description, success_url, cancel_url, .. } =
        validated;
    let now = Timestamp::now();
    let invoice = Invoice {
        id: InvoiceId::new(),
        merchant_id: caller.merchant_id,
        status: InvoiceStatus::New,
        exceptions: Default::default(),
        amount,
        deposit,
        order_id,
        metadata,
        created_at: now,
        expires_at: now.plus_secs(expiry),
        checkout: coffer_domain::Checkout { token, description, success_url, cancel_url },
    };
    // Watched before it is stored, not after: a client that gives up drops
    // this future at any await, and the store may still commit what was
    // queued. So no step that can be cancelled lies between the commit and
    // the watch, and a stored invoice is always watched. An error, or a
    // request cut short, leaves the address pending: the expiry task unwatches
    // it a minute later if the invoice was not stored after all.
    state.watchers.watch_pending(&invoice);
    let chain = invoice.amount.asset().chain_id;
    let address = invoice.deposit.address;
    let inserted = state.store.insert_invoice(NewInvoice { invoice, idempotency }).await;
    if inserted.is_ok() {
        state.watchers.settle(chain, &address);
    }
    let (invoice, replayed) = match inserted? {
        InsertOutcome::Created(invoice) => {
            state.metrics.invoices_created.inc();
            tracing::debug!(invoice = %invoice.id, index = %invoice.deposit.index, "invoice created");
            (invoice, false)
        }
        InsertOutcome::Replayed(invoice) => {
            // The earlier request may have been cut short before its invoice
            // was watched (by an older gateway, say): watch it again.
            state.watchers.rewatch(&invoice, now);
            state.watchers.unwatch(chain, &deposit.address);
            state.addresses.give_back(deposit);
            (invoice, true)
        }
        InsertOutcome::IdempotencyMismatch => {
            state.watchers.unwatch(chain, &deposit.address);
            state.addresses.give_back(deposit);
            return Err(invalid(
                ErrorCode::IdempotencyConflict,
                "this Idempotency-Key was already used with a different request",
            ));
        }
    };
    let location = format!("/v1/invoices/{}", invoice.id);
    // A new invoice has no payments yet (a replayed one may have some).
    let body = if replayed {
        view(&state, invoice).await?
    } else {
        InvoiceView::new(&invoice, &[], None, &state.assets, &state.public_url)
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

error_responses!(
    /// What `GET /v1/invoices/{id}` answers for no invoice.
    GetErrors = [AUTHENTICATED, &[NotFound]]
);

/// One invoice. Another merchant's invoice answers 404, as an unknown one does.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", operation_id = "get_invoice",
    params(("id" = String, Path, description = "Invoice id, `inv_…`", pattern = "^inv_[0-9a-fA-F]{32}$")),
    security(("api_key" = ["invoices:read"])),
    responses((status = 200, description = "The invoice", body = InvoiceView), GetErrors))]
pub(crate) async fn get(
    State(state): State<AppState>,
    CanRead(caller): CanRead,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<InvoiceView>, ApiError> {
    let id: InvoiceId = id.parse().map_err(|_| ApiError::not_found("invoice"))?;
    let invoice = state.store.invoice(caller.merchant_id, id).await?.ok_or_else(|| ApiError::not_found("invoice"))?;
    Ok(Json(view(&state, invoice).await?))
}

/// Query parameters of the invoice list. Empty values count as absent.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only invoices in this state.
    #[param(schema_with = schemas::invoice_status)]
    status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(schema_with = schemas::page_limit)]
    limit: Option<String>,
    /// `next_cursor` from the previous page.
    #[param(pattern = "^(inv_[0-9a-fA-F]{32})?$")]
    cursor: Option<String>,
}

/// A page of invoices, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvoicePage {
    data: Vec<InvoiceView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(value_type = Option<String>)]
    next_cursor: Option<InvoiceId>,
}

error_responses!(
    /// What `GET /v1/invoices` refuses.
    ListErrors = [AUTHENTICATED, PAGE]
);

/// The merchant's invoices, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", operation_id = "list_invoices", params(ListParams),
    security(("api_key" = ["invoices:read"])),
    responses((status = 200, description = "A page of invoices", body = InvoicePage), ListErrors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    CanRead(caller): CanRead,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<InvoicePage>, ApiError> {
    let limit = page::limit(params.limit)?;
    let status = present(params.status).map(|s| s.parse::<InvoiceStatus>()).transpose().map_err(|e| {
        invalid(ErrorCode::InvalidRequest, format!("{e}; expected new, processing, settled, expired or invalid"))
    })?;
    let before = page::cursor::<InvoiceId>(params.cursor)?;
    // One more than asked tells whether another page follows.
    let query = InvoiceQuery { merchant_id: caller.merchant_id, status, before, limit: limit + 1 };
    let mut invoices = state.store.invoices(query).await?;
    let next_cursor = page::next_cursor(&mut invoices, limit, |i| i.id);
    Ok(Json(InvoicePage { data: views(&state, invoices).await?, next_cursor }))
}

error_responses!(
    /// What `POST /v1/invoices/{id}/invalidate` refuses: no such invoice, or a settled one.
    InvalidateErrors = [AUTHENTICATED, &[NotFound, InvalidState]]
);

/// Invalidates an invoice: the merchant refuses it (a cancelled order, a
/// payment to be refunded). Nothing it received or receives is credited;
/// it is recorded and stays in suspense for a person. Settled invoices
/// cannot be invalidated.
#[utoipa::path(post, path = "/v1/invoices/{id}/invalidate", tag = "invoices", operation_id = "invalidate_invoice",
    params(("id" = String, Path, description = "Invoice id, `inv_…`", pattern = "^inv_[0-9a-fA-F]{32}$")),
    security(("api_key" = ["invoices:write"])),
    responses((status = 200, description = "The invoice, now invalid (also when it already was)", body = InvoiceView),
        InvalidateErrors))]
pub(crate) async fn invalidate(
    State(state): State<AppState>,
    CanWrite(caller): CanWrite,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<InvoiceView>, ApiError> {
    let id: InvoiceId = id.parse().map_err(|_| ApiError::not_found("invoice"))?;
    let invoice = state.store.invoice(caller.merchant_id, id).await?.ok_or_else(|| ApiError::not_found("invoice"))?;
    if invoice.status == InvoiceStatus::Invalid {
        return Ok(Json(view(&state, invoice).await?)); // already: the same answer, safe to retry
    }
    if !invoice.status.can_become(InvoiceStatus::Invalid) {
        return Err(invalid(ErrorCode::InvalidState, format!("a {} invoice cannot be invalidated", invoice.status)));
    }
    let now = Timestamp::now();
    // One view for the answer and the webhook, as the chain watcher's events carry.
    let shown = view(&state, Invoice { status: InvoiceStatus::Invalid, ..invoice.clone() }).await?;
    let event_id = coffer_domain::EventId::new();
    let kind = coffer_domain::EventType::InvoiceInvalid;
    let payload = coffer_watcher::view::event_payload(event_id, kind, now, &shown);
    let change = coffer_store::InvoiceChange {
        invoice_id: id,
        merchant_id: caller.merchant_id,
        from: invoice.status,
        from_exceptions: invoice.exceptions,
        status: InvoiceStatus::Invalid,
        exceptions: invoice.exceptions,
        settlement: None,
        events: vec![coffer_store::NewEvent { id: event_id, kind, payload }],
    };
    // Due at once: the dispatcher, woken below, sends it.
    let changes = coffer_store::InvoiceChanges { fence: None, changes: vec![change], at: now, lease_until: now };
    match state.store.apply_invoice_changes(changes).await {
        Ok(_) => {}
        Err(coffer_store::StoreError::Stale(_)) => {
            return Err(invalid(
                ErrorCode::InvalidState,
                "the invoice changed meanwhile (a payment?); read it and retry",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    // Still watched until its late window closes: what it receives is recorded (and held in suspense).
    state.dispatcher.wake();
    Ok(Json(shown))
}

error_responses!(
    /// What `POST /v1/invoices/{id}/expire` refuses: no such invoice, or one paid in part, settled or invalid.
    ExpireErrors = [AUTHENTICATED, &[NotFound, InvalidState]]
);

/// Expires an invoice now: the shop's cart was abandoned or changed, and
/// its customer must not pay this invoice any more (Stripe's "expire a
/// checkout session"). Only an invoice that has received nothing: its
/// expiry moves to now, and the watcher marks it
/// `expired` within a second or two, once it has read the chain up to now,
/// so a payment already made still counts, and a late one is recorded as
/// for any expired invoice. An expired invoice is answered as it is.
#[utoipa::path(post, path = "/v1/invoices/{id}/expire", tag = "invoices", operation_id = "expire_invoice",
    params(("id" = String, Path, description = "Invoice id, `inv_…`", pattern = "^inv_[0-9a-fA-F]{32}$")),
    security(("api_key" = ["invoices:write"])),
    responses((status = 200, description = "The invoice, its expiry now (also when it was expired already)",
        body = InvoiceView), ExpireErrors))]
pub(crate) async fn expire(
    State(state): State<AppState>,
    CanWrite(caller): CanWrite,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<InvoiceView>, ApiError> {
    let id: InvoiceId = id.parse().map_err(|_| ApiError::not_found("invoice"))?;
    let invoice = match state.store.expire_invoice(caller.merchant_id, id, Timestamp::now()).await? {
        Some(changed) => changed,
        None => {
            let found = state.store.invoice(caller.merchant_id, id).await?;
            let found = found.ok_or_else(|| ApiError::not_found("invoice"))?;
            match found.status {
                InvoiceStatus::Processing => {
                    return Err(invalid(
                        ErrorCode::InvalidState,
                        "this invoice has received a payment; it keeps its window (invalidate it to refuse it)",
                    ));
                }
                InvoiceStatus::Settled | InvoiceStatus::Invalid => {
                    return Err(invalid(ErrorCode::InvalidState, format!("a {} invoice cannot expire", found.status)));
                }
                // Expired already, or due already: the same answer, safe to retry.
                InvoiceStatus::New | InvoiceStatus::Expired => found,
            }
        }
    };
    Ok(Json(view(&state, invoice).await?))
}
