//! The hosted checkout page, public at `/pay/{token}`: the page, its
//! event stream and its two static files, with strict security headers.
//!
//! The facts come from the API's own invoice view ([`views`]), so the
//! page and `GET /v1/invoices/{id}` can never disagree; `coffer-web`
//! turns them into words and HTML.

mod facts;
mod headers;
pub(crate) mod return_link;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, Response};
use axum::routing::get;
use coffer_domain::CheckoutToken;
use coffer_web::Lang;
use futures_util::Stream;
use serde::Deserialize;

use crate::state::AppState;

pub(crate) use facts::Loaded;

/// How often an open event stream looks again without a signal (an
/// invalidation or a release happens outside the watcher).
const RECHECK: Duration = Duration::from_secs(5);

/// `?lang=`.
#[derive(Deserialize)]
pub(crate) struct PageQuery {
    lang: Option<String>,
}

/// The checkout routes, added to the API's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/pay/{token}", get(page))
        .route("/pay/{token}/events", get(events))
        .route("/pay/assets/checkout.js", get(script))
        .route("/pay/assets/checkout.css", get(stylesheet))
        .layer(axum::middleware::from_fn(headers::no_cookies))
}

fn lang(query: &PageQuery, headers: &HeaderMap) -> Lang {
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    Lang::negotiate(query.lang.as_deref(), accept)
}

async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&query, &headers);
    let rendered = match load(&state, &token).await {
        Ok(Some(loaded)) => loaded.render_page(lang),
        Ok(None) => return not_found(&state, lang),
        Err(response) => return response,
    };
    match rendered {
        Ok(html) => headers::page(&state, StatusCode::OK, Html(html)),
        Err(e) => unavailable(&state, &e),
    }
}

async fn events(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&query, &headers);
    let Ok(Some(first)) = load(&state, &token).await else { return not_found(&state, lang) };
    let stream = updates(state.clone(), token, lang, first);
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    headers::page(&state, StatusCode::OK, sse)
}

/// Each time the chain's watcher signals (or [`RECHECK`] passes), the
/// fragment is rendered again and sent if it changed; a final state ends
/// the stream with `event: end`.
fn updates(
    state: AppState,
    token: String,
    lang: Lang,
    first: Loaded,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let changes = state.watchers.chain(first.chain_id()).map(|chain| chain.changes.subscribe());
    let mut closing = state.closing.subscribe();
    let begin = (state, token, lang, changes, Some(first), String::new(), false);
    let stream =
        futures_util::stream::unfold(begin, |(state, token, lang, mut changes, mut next, mut last, done)| async move {
            if done {
                return None;
            }
            loop {
                let loaded = match next.take() {
                    Some(loaded) => loaded,
                    None => {
                        match changes.as_mut() {
                            Some(changes) => {
                                let _ = tokio::time::timeout(RECHECK, changes.changed()).await;
                            }
                            None => tokio::time::sleep(RECHECK).await,
                        }
                        match load(&state, &token).await {
                            Ok(Some(loaded)) => loaded,
                            _ => continue,
                        }
                    }
                };
                let Ok(rendered) = loaded.render_fragment(lang) else { continue };
                if rendered.html == last {
                    continue;
                }
                last = rendered.html.clone();
                let event = Event::default().event("state").data(rendered.html);
                let finished = rendered.stage.is_final();
                return Some((Ok(event), (state, token, lang, changes, None, last, finished)));
            }
        });
    // Ends when the gateway shuts down (the browser reconnects elsewhere).
    futures_util::StreamExt::take_until(stream, async move {
        let _ = closing.wait_for(|closing| *closing).await;
    })
}

/// The invoice a token opens; `Ok(None)` for a malformed or unknown token
/// (the same answer: the page does not say which).
async fn load(state: &AppState, token: &str) -> Result<Option<Loaded>, Response> {
    let Ok(token) = token.parse::<CheckoutToken>() else { return Ok(None) };
    facts::load(state, &token).await.map_err(|e| unavailable(state, &e))
}

fn not_found(state: &AppState, lang: Lang) -> Response {
    let body = coffer_web::checkout::not_found(lang);
    headers::page(state, StatusCode::NOT_FOUND, Html(body))
}

fn unavailable(state: &AppState, err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "checkout page unavailable");
    let body = coffer_web::checkout::unavailable();
    headers::page(state, StatusCode::SERVICE_UNAVAILABLE, Html(body))
}

async fn script(State(state): State<AppState>) -> Response {
    headers::asset(&state, "text/javascript; charset=utf-8", coffer_web::CHECKOUT_JS)
}

async fn stylesheet(State(state): State<AppState>) -> Response {
    headers::asset(&state, "text/css; charset=utf-8", coffer_web::CHECKOUT_CSS)
}
