//! A merchant's webhook endpoints in the console: the list, registering
//! one (its signing secret shown once, in that answer) and deleting one,
//! through the API's own `register` and `remove` (the same URL policy, the
//! same cap, the same payout-events rule), recorded under the session's name.

use axum::Extension;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use coffer_domain::{MerchantId, Scope, WebhookId};
use coffer_web::console::{self as web, Row, RowAction, Section, SectionForm};
use serde::Deserialize;

use super::session::{Audience, Signed};
use super::{failed, lacks, merchant_acting, merchant_session, not_found, pages, rendered, secure};
use crate::error::ApiError;
use crate::routes::webhooks::{register, remove};
use crate::state::AppState;

async fn page(
    state: &AppState,
    signed: &Signed,
    merchant: MerchantId,
    revealed: Option<&str>,
    flash: Option<String>,
) -> Result<Response, ApiError> {
    if !signed.may(Scope::WebhooksRead) {
        return Ok(lacks(Scope::WebhooksRead));
    }
    let writes = signed.may(Scope::WebhooksWrite);
    let rows = state
        .store
        .webhooks(merchant)
        .await?
        .into_iter()
        .map(|endpoint| {
            let events: Vec<&str> = endpoint.events.iter().map(|e| e.as_str()).collect();
            let actions = if writes {
                vec![RowAction {
                    path: format!("/console/webhooks/{}/delete", endpoint.id),
                    label: "Delete".into(),
                    class: "delete".into(),
                    note: None,
                }]
            } else {
                vec![]
            };
            Row {
                key: endpoint.id.to_string(),
                cells: vec![endpoint.id.to_string(), endpoint.url, events.join(", "), endpoint.created_at.to_rfc3339()],
                actions,
            }
        })
        .collect();
    let form = writes.then(|| SectionForm {
        id: "new-webhook".into(),
        path: "/console/webhooks".into(),
        fields: vec![
            ("url".into(), "URL".into(), "https://shop.example/hooks/coffer".into()),
            ("events".into(), "Events".into(), "invoice.settled,invoice.expired".into()),
        ],
        hidden: vec![],
        button: "Register".into(),
    });
    let section = Section {
        id: "webhooks".into(),
        intro: vec![
            "Each delivery is signed with the endpoint's secret; the secret is shown once, when it is registered."
                .into(),
        ],
        heads: ["Endpoint", "URL", "Events", "Registered"].map(String::from).to_vec(),
        rows,
        empty: "No endpoint: the gateway sends no webhook.".into(),
        form,
        ..Section::default()
    };
    let chrome = pages::chrome(state, signed, flash).await?;
    let revealed = revealed.map(|secret| ("The endpoint's signing secret, shown this once:", secret));
    Ok(rendered(web::sections(&chrome, "webhooks", "Webhooks", revealed, &[section])))
}

pub(super) async fn list(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
) -> Response {
    match merchant_session(&state, &headers, audience).await {
        Ok((signed, merchant)) => page(&state, &signed, merchant, None, None).await.unwrap_or_else(|e| failed(&e)),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub(super) struct NewEndpoint {
    csrf: Option<String>,
    url: Option<String>,
    events: Option<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Form(form): Form<NewEndpoint>,
) -> Response {
    let (signed, merchant) = match merchant_acting(&state, &headers, audience, form.csrf.as_deref()).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = async {
        let scopes = signed.scopes();
        if !scopes.contains(Scope::WebhooksWrite) || !scopes.contains(Scope::InvoicesRead) {
            return Ok(Err("This session may not register endpoints (webhooks:write and invoices:read).".to_owned()));
        }
        let events: Vec<String> = form
            .events
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        let url = form.url.unwrap_or_default();
        match register(&state, merchant, scopes, &signed.actor(), url.trim(), &events).await {
            Ok((_, secret)) => Ok(Ok(secret)),
            Err(e) if e.code() == crate::error::ErrorCode::Internal => Err(e),
            Err(e) => Ok(Err(format!("Not registered: {e}"))),
        }
    };
    let shown = match result.await {
        // Shown in this answer, never again.
        Ok(Ok(secret)) => page(&state, &signed, merchant, Some(&secret), None).await,
        Ok(Err(why)) => page(&state, &signed, merchant, None, Some(why)).await,
        Err(e) => Err(e),
    };
    shown.unwrap_or_else(|e| failed(&e))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> Response {
    let (signed, merchant) = match merchant_acting(&state, &headers, audience, form.csrf.as_deref()).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<WebhookId>() else { return not_found() };
    if !signed.may(Scope::WebhooksWrite) {
        return lacks(Scope::WebhooksWrite);
    }
    match remove(&state, merchant, id, &signed.actor()).await {
        Ok(()) => secure(Redirect::to("/console/webhooks").into_response()),
        Err(e) if e.code() == crate::error::ErrorCode::NotFound => not_found(),
        Err(e) => failed(&e),
    }
}
