//! The merchant's logo and colours on its checkout page, served by the
//! gateway itself under the page's own token (`/pay/{token}/logo`,
//! `/pay/{token}/theme.css`): no third-party origin, and nothing that
//! names the merchant's id. A token that opens no page, or a merchant with
//! no branding, answers the page's own 404.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_domain::{Branding, CheckoutToken};

use super::headers;
use crate::state::AppState;

async fn branding(state: &AppState, token: &str) -> Result<Option<Branding>, Response> {
    let Ok(token) = token.parse::<CheckoutToken>() else { return Ok(None) };
    let found = async {
        let Some(invoice) = state.store.invoice_by_checkout_token(&token).await? else { return Ok(None) };
        state.store.branding(invoice.merchant_id).await.map(Some)
    };
    found.await.map_err(|e: coffer_store::StoreError| super::unavailable(state, &e))
}

fn gone(state: &AppState) -> Response {
    headers::page(state, StatusCode::NOT_FOUND, "")
}

/// Private: the token is in the URL, so a shared cache must not keep it.
fn cached(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    response
}

pub(super) async fn logo(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match branding(&state, &token).await {
        Ok(Some(Branding { logo: Some(logo), .. })) => {
            let body = ([(header::CONTENT_TYPE, logo.kind().mime())], logo.bytes().to_vec());
            cached(headers::page(&state, StatusCode::OK, body))
        }
        Ok(_) => gone(&state),
        Err(response) => response,
    }
}

pub(super) async fn theme(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match branding(&state, &token).await {
        Ok(Some(Branding { color: Some(color), .. })) => {
            let css = coffer_web::checkout::theme_css(color);
            let body = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response();
            cached(headers::page(&state, StatusCode::OK, body))
        }
        Ok(_) => gone(&state),
        Err(response) => response,
    }
}

/// Where the page finds them, when the merchant has them.
pub(crate) fn paths(branding: &Branding, token: &CheckoutToken) -> (Option<String>, Option<String>) {
    let logo = branding.logo.as_ref().map(|_| format!("/pay/{token}/logo"));
    let theme = branding.color.map(|_| format!("/pay/{token}/theme.css"));
    (logo, theme)
}
