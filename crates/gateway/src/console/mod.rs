//! The web console at `/console`, for merchants and the operator: plain
//! server-rendered forms over the same store reads and service calls as the
//! API (an invoice's page shows the API's own invoice view; redelivery is
//! the API's redelivery, under the same per-merchant limit).
//!
//! Sign-in is a one-time link (`coffer console link`) or an API key; see
//! [`session`] for the cookie and the CSRF rules. Every sign-in, sign-out
//! and action lands on the audit log. The pages run no script at all.

mod account;
mod money;
mod operator;
mod pages;
pub(crate) mod session;
mod webhooks;

use axum::Extension;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use coffer_domain::{DeliveryId, InvoiceId, MerchantId, Scope, Timestamp};
use coffer_store::{ConsoleRole, ConsoleSession, Redelivery};
use coffer_web::console::{self as web, Chrome};
use serde::Deserialize;

use crate::audit;
use crate::error::ApiError;
use crate::state::AppState;
pub(crate) use session::Audience;
use session::Signed;

/// The console's routes, added to the API's router.
pub(crate) fn routes(audience: session::Audience) -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/invoices", get(invoices))
        .route("/console/invoices/{id}", get(invoice))
        .route("/console/invoices/{id}/deliveries/{delivery}/redeliver", post(redeliver))
        .route("/console/merchants", get(merchants))
        .route("/console/chains", get(operator::chains))
        .route("/console/treasury", get(money::treasury))
        .route("/console/signer", get(money::signer))
        .route("/console/holds", get(operator::holds))
        .route("/console/holds/{id}/{decision}", post(operator::decide))
        .route("/console/balances", get(account::balances))
        .route("/console/payouts", get(account::payouts).post(account::create_payout))
        .route("/console/keys", get(account::keys).post(account::create_key))
        .route("/console/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/console/webhooks/{id}/delete", post(webhooks::delete))
        .route("/console/keys/{id}/revoke", post(account::revoke_key))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/{*rest}", get(|| async { not_found() }))
        .layer(axum::Extension(audience))
}

/// Its headers: no script may run, nothing may frame it, nothing is cached.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; \
                   frame-ancestors 'none'";

pub(super) fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Not no-referrer: under it browsers post forms with `Origin: null`,
    // which the origin check must refuse. same-origin leaks nothing out.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

pub(super) fn page(status: StatusCode, html: String) -> Response {
    secure((status, Html(html)).into_response())
}

pub(super) fn rendered(html: Result<String, askama::Error>) -> Response {
    match html {
        Ok(html) => page(StatusCode::OK, html),
        Err(e) => failed(&ApiError::internal(&e)),
    }
}

pub(super) fn failed(error: &ApiError) -> Response {
    tracing::warn!(%error, "a console page failed");
    let body = "The console could not read this just now; try again in a moment.";
    page(StatusCode::SERVICE_UNAVAILABLE, web::message(&Chrome::default(), "Temporarily unavailable", body))
}

pub(super) fn to_sign_in() -> Response {
    secure(Redirect::to("/console/sign-in").into_response())
}

/// The refusal for a session whose API key lacks `scope`.
pub(super) fn lacks(scope: Scope) -> Response {
    refused("insufficient_scope", &format!("The API key this session signed in with lacks {scope}."))
}

/// A refused form: the page says why, with a stable code.
pub(super) fn refused(code: &str, body: &str) -> Response {
    let text = format!("{body} (code: {code})");
    page(StatusCode::FORBIDDEN, web::message(&Chrome::default(), "Refused", &text))
}

/// The live session of a merchant; the sign-in page otherwise, and "no
/// such page" for the operator.
pub(super) async fn merchant_session(
    state: &AppState,
    headers: &HeaderMap,
    audience: Audience,
) -> Result<(Signed, MerchantId), Response> {
    match session::signed_in(state, headers, audience).await {
        Ok(Some(signed)) => match signed.session.role {
            ConsoleRole::Merchant(merchant) => Ok((signed, merchant)),
            ConsoleRole::Operator => Err(not_found()),
        },
        Ok(None) => Err(to_sign_in()),
        Err(e) => Err(failed(&e)),
    }
}

pub(super) fn not_found() -> Response {
    page(StatusCode::NOT_FOUND, web::message(&Chrome::default(), "No such page", "Nothing here for this session."))
}

async fn home(State(state): State<AppState>, Extension(audience): Extension<Audience>, headers: HeaderMap) -> Response {
    match session::signed_in(&state, &headers, audience).await {
        Ok(Some(signed)) => secure(Redirect::to(pages::home(signed.session.role)).into_response()),
        Ok(None) => to_sign_in(),
        Err(e) => failed(&e),
    }
}

#[derive(Deserialize)]
struct SignInQuery {
    link: Option<String>,
}

async fn sign_in_page(Query(query): Query<SignInQuery>) -> Response {
    let link = query.link.filter(|l| l.len() == 48 && l.bytes().all(|b| b.is_ascii_hexdigit()));
    rendered(web::sign_in(link.as_deref(), None))
}

#[derive(Deserialize)]
struct SignInForm {
    link: Option<String>,
    api_key: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !session::same_origin(&state, &headers, audience) {
        return refused("cross_site", "This form came from another site.");
    }
    let now = Timestamp::now();
    let (role, opened_by, link) = if let Some(link) = form.link.as_deref() {
        let digest = session::digest(link);
        match state.store.console_link(digest).await {
            Ok(Some((found, false))) if found.expires_at > now && audience.serves(found.role) => {
                (found.role, "link".to_owned(), Some(digest))
            }
            Ok(_) => return sign_in_refused(),
            Err(e) => return failed(&e.into()),
        }
    } else if let Some(key) = form.api_key.as_deref() {
        match session::verify_key(&state, key).await {
            Some(record) if audience.merchants && record.scopes.contains(Scope::InvoicesRead) => {
                (ConsoleRole::Merchant(record.merchant_id), format!("api_key:{}", record.id), None)
            }
            _ => return sign_in_refused(),
        }
    } else {
        return sign_in_refused();
    };
    let secret = match session::secret() {
        Ok(secret) => secret,
        Err(e) => return failed(&e),
    };
    let session = ConsoleSession {
        digest: session::digest(&secret),
        role,
        opened_by,
        created_at: now,
        expires_at: now.plus(session::SESSION_LIFETIME),
        ended_at: None,
    };
    let record = audit::console_signed_in(&session, &session::actor(&session.digest));
    match state.store.open_console_session_audited(&session, link, &record).await {
        Ok(Some(_)) => {
            let mut response = Redirect::to(pages::home(role)).into_response();
            response.headers_mut().insert(header::SET_COOKIE, session::set_cookie(&state, audience, Some(&secret)));
            secure(response)
        }
        Ok(None) => sign_in_refused(), // the link was used meanwhile
        Err(e) => failed(&e.into()),
    }
}

/// One answer for every way a sign-in can be wrong.
fn sign_in_refused() -> Response {
    let flash = "That link or key does not sign in: a link works once and for 15 minutes; a key must be \
                 unrevoked and may read invoices."
        .to_owned();
    secure((StatusCode::UNAUTHORIZED, Html(web::sign_in(None, Some(flash)).unwrap_or_default())).into_response())
}

/// Every form's token.
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: Option<String>,
}

/// The session a form post acts for, once its origin and token pass.
pub(super) async fn acting(
    state: &AppState,
    headers: &HeaderMap,
    audience: Audience,
    csrf: Option<&str>,
) -> Result<Signed, Response> {
    if !session::same_origin(state, headers, audience) {
        return Err(refused("cross_site", "This form came from another site."));
    }
    let signed = match session::signed_in(state, headers, audience).await {
        Ok(Some(signed)) => signed,
        Ok(None) => return Err(to_sign_in()),
        Err(e) => return Err(failed(&e)),
    };
    if !session::csrf_matches(&signed, csrf) {
        return Err(refused("csrf_token_invalid", "This form is out of date or was not made by the console."));
    }
    Ok(signed)
}

/// [`acting`], for a merchant's session only ("no such page" for the operator's).
pub(super) async fn merchant_acting(
    state: &AppState,
    headers: &HeaderMap,
    audience: Audience,
    csrf: Option<&str>,
) -> Result<(Signed, MerchantId), Response> {
    let signed = acting(state, headers, audience, csrf).await?;
    match signed.session.role {
        ConsoleRole::Merchant(merchant) => Ok((signed, merchant)),
        ConsoleRole::Operator => Err(not_found()),
    }
}

async fn sign_out(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let signed = match acting(&state, &headers, audience, form.csrf.as_deref()).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let now = Timestamp::now();
    let record = audit::console_signed_out(signed.session.role, &signed.actor(), now);
    if let Err(e) = state.store.end_console_session_audited(signed.session.digest, now, &record).await {
        return failed(&e.into());
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::set_cookie(&state, audience, None));
    secure(response)
}

async fn invoices(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Query(query): Query<pages::ListQuery>,
) -> Response {
    let (signed, merchant) = match merchant_session(&state, &headers, audience).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let page = async {
        let chrome = pages::chrome(&state, &signed, None).await?;
        let list = pages::invoice_list(&state, merchant, &query).await?;
        Ok::<_, ApiError>(rendered(web::invoices(&chrome, &list)))
    };
    page.await.unwrap_or_else(|e| failed(&e))
}

#[derive(Deserialize)]
struct Flash {
    done: Option<String>,
}

async fn invoice(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let (signed, merchant) = match merchant_session(&state, &headers, audience).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<InvoiceId>() else { return not_found() };
    let page = async {
        let Some(story) = pages::story(&state, &signed, merchant, id).await? else { return Ok(not_found()) };
        let flash = flash.done.as_deref().and_then(pages::flash);
        let chrome = pages::chrome(&state, &signed, flash).await?;
        Ok::<_, ApiError>(rendered(web::invoice(&chrome, &story)))
    };
    page.await.unwrap_or_else(|e| failed(&e))
}

async fn redeliver(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Path((id, delivery)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (signed, merchant) = match merchant_acting(&state, &headers, audience, form.csrf.as_deref()).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (Ok(id), Ok(delivery)) = (id.parse::<InvoiceId>(), delivery.parse::<DeliveryId>()) else {
        return not_found();
    };
    if !signed.may(Scope::WebhooksWrite) {
        return lacks(Scope::WebhooksWrite);
    }
    // The delivery must be one of this invoice's, of this merchant's.
    let deliveries = match state.store.invoice_deliveries(merchant, id).await {
        Ok(deliveries) => deliveries,
        Err(e) => return failed(&e.into()),
    };
    let Some(found) = deliveries.iter().find(|d| d.id == delivery) else { return not_found() };
    if state.dispatcher.admit_redelivery(merchant).is_err() {
        return back_to(id, "rate_limited");
    }
    let now = Timestamp::now();
    let outcome = match state.store.redeliver(merchant, found.endpoint_id, delivery, now).await {
        Ok(outcome) => outcome,
        Err(e) => return failed(&e.into()),
    };
    match outcome {
        Redelivery::Queued(created) => {
            state.dispatcher.wake();
            let record = audit::console_redelivered(merchant, &signed.actor(), id, delivery, created.id, now);
            if let Err(e) = state.store.append(&record).await {
                return failed(&e.into());
            }
            back_to(id, "redelivered")
        }
        Redelivery::AlreadyPending(_) => back_to(id, "pending"),
        Redelivery::NotFound => not_found(),
    }
}

/// Post/redirect/get: back to the invoice, saying what happened.
pub(super) fn back_to(id: InvoiceId, done: &str) -> Response {
    secure(Redirect::to(&format!("/console/invoices/{id}?done={done}")).into_response())
}

async fn merchants(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
) -> Response {
    match session::signed_in(&state, &headers, audience).await {
        Ok(Some(signed)) if signed.session.role == ConsoleRole::Operator => {
            let page = async {
                let chrome = pages::chrome(&state, &signed, None).await?;
                let lines = pages::merchant_lines(&state).await?;
                Ok::<_, ApiError>(rendered(web::merchants(&chrome, &lines)))
            };
            page.await.unwrap_or_else(|e| failed(&e))
        }
        Ok(Some(_)) => not_found(),
        Ok(None) => to_sign_in(),
        Err(e) => failed(&e),
    }
}

async fn stylesheet() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], web::CONSOLE_CSS).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    secure(response)
}
