//! The hosted checkout page, public at `/pay/{token}`: the page, its
//! event stream and its two static files, with strict security headers.
//!
//! The facts come from the API's own invoice view ([`views`]), so the
//! page and `GET /v1/invoices/{id}` can never disagree; `coffer-web`
//! turns them into words and HTML.

mod branding;
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
pub(crate) use headers::csp_header;

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
        .route("/pay/{token}/logo", get(branding::logo))
        .route("/pay/{token}/theme.css", get(branding::theme))
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
    let stream = updates(state.clone(), lang, first);
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    headers::page(&state, StatusCode::OK, sse)
}

/// Each time the chain's watcher signals (or [`RECHECK`] passes), the
/// invoice is read again and its fragment sent if it changed; a final state
/// sends its fragment, then `event: end` (the script closes the stream
/// rather than let the browser reconnect), and ends it.
fn updates(state: AppState, lang: Lang, first: Loaded) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let changes = state.watchers.chain(first.chain_id()).map(|chain| chain.changes.subscribe());
    let mut closing = state.closing.subscribe();
    let begin =
        Open { state, lang, changes, current: first, fresh: true, last: String::new(), done: false, ended: false };
    let stream = futures_util::stream::unfold(begin, |mut s| async move {
        if s.done {
            if s.ended {
                return None;
            }
            s.ended = true;
            return Some((Ok(Event::default().event("end").data("final")), s));
        }
        loop {
            if !s.fresh {
                match s.changes.as_mut() {
                    Some(changes) => {
                        let _ = tokio::time::timeout(RECHECK, changes.changed()).await;
                    }
                    None => tokio::time::sleep(RECHECK).await,
                }
                match s.current.refresh(&s.state).await {
                    Ok(Some(loaded)) => s.current = loaded,
                    _ => continue,
                }
            }
            s.fresh = false;
            let Ok(rendered) = s.current.render_fragment(s.lang) else { continue };
            if rendered.html == s.last {
                continue;
            }
            s.last.clone_from(&rendered.html);
            s.done = rendered.stage.is_final();
            return Some((Ok(Event::default().event("state").data(rendered.html)), s));
        }
    });
    // Ends when the gateway shuts down (the browser reconnects elsewhere).
    futures_util::StreamExt::take_until(stream, async move {
        let _ = closing.wait_for(|closing| *closing).await;
    })
}

/// An open event stream's place.
struct Open {
    state: AppState,
    lang: Lang,
    changes: Option<tokio::sync::watch::Receiver<u64>>,
    current: Loaded,
    /// `current` has just been read and not yet rendered.
    fresh: bool,
    last: String,
    /// A final state was sent; `ended`: and then `event: end`.
    done: bool,
    ended: bool,
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
