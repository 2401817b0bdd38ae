//! A merchant's own pages beside its invoices: balances (from the ledger),
//! payouts (ask for one, through the API's own `request_payout`; status and
//! the signer's verdict), and API keys (create, revoke).
//!
//! Keys are managed only by a session opened with a sign-in link: a session
//! opened with an API key could otherwise mint a key with more scopes than
//! its own.

use axum::Extension;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use coffer_domain::{ApiKeyId, MerchantId, Scope, Scopes};
use coffer_store::{ConsoleRole, PayoutQuery};
use coffer_web::console::{self as web, Row, RowAction, Section, SectionForm};
use serde::Deserialize;

use super::session::{Audience, Signed};
use super::{acting, failed, lacks, merchant_acting, merchant_session, not_found, pages, refused, rendered, secure};
use crate::error::ApiError;
use crate::state::AppState;

/// Most payouts one page lists.
const PAYOUTS_LISTED: u32 = 100;

fn text(value: &serde_json::Value, name: &str) -> String {
    match &value[name] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        other => other.to_string(),
    }
}

pub(super) async fn balances(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
) -> Response {
    let (signed, merchant) = match merchant_session(&state, &headers, audience).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let page = async {
        if !signed.may(Scope::BalancesRead) {
            return Ok(lacks(Scope::BalancesRead));
        }
        let rows = state
            .store
            .merchant_balances(merchant)
            .await?
            .iter()
            .map(|amount| {
                let asset = amount.asset();
                let shown =
                    state.assets.get(asset).map_or_else(|| amount.units().to_string(), |a| a.format_amount(amount));
                let chain =
                    state.chain_names.get(&asset.chain_id).cloned().unwrap_or_else(|| asset.chain_id.to_string());
                Row { key: asset.to_string(), cells: vec![asset.symbol.to_string(), chain, shown], actions: vec![] }
            })
            .collect();
        let section = Section {
            id: "balances".into(),
            intro: vec![
                "What Coffer owes you, from the ledger: settled payments, less payouts reserved or sent.".into(),
            ],
            heads: ["Asset", "Chain", "Available"].map(String::from).to_vec(),
            rows,
            empty: "Nothing yet: a balance appears with the first settled invoice.".into(),
            ..Section::default()
        };
        let chrome = pages::chrome(&state, &signed, None).await?;
        Ok::<_, ApiError>(rendered(web::sections(&chrome, "balances", "Balances", None, &[section])))
    };
    page.await.unwrap_or_else(|e| failed(&e))
}

pub(super) async fn payouts(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Query(done): Query<super::operator::Done>,
) -> Response {
    let (signed, merchant) = match merchant_session(&state, &headers, audience).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let flash = done.code().and_then(pages::flash);
    payouts_page(&state, &signed, merchant, flash).await.unwrap_or_else(|e| failed(&e))
}

async fn payouts_page(
    state: &AppState,
    signed: &Signed,
    merchant: MerchantId,
    flash: Option<String>,
) -> Result<Response, ApiError> {
    if !signed.may(Scope::PayoutsRead) {
        return Ok(lacks(Scope::PayoutsRead));
    }
    let query = PayoutQuery {
        merchant_id: merchant,
        status: None,
        asset: None,
        chain_id: None,
        before: None,
        limit: PAYOUTS_LISTED,
    };
    let rows = state
        .store
        .payouts(query)
        .await?
        .iter()
        .map(|payout| {
            // The API's own view of it, so the two never disagree.
            let view =
                serde_json::to_value(crate::payout_view::PayoutView::new(payout, &state.assets)).unwrap_or_default();
            let verdict = match &payout.refusal {
                Some(refusal) => format!("refused: {} ({})", refusal.message, refusal.rule),
                None => payout.failure.clone().unwrap_or_else(|| "—".into()),
            };
            Row {
                key: payout.id.to_string(),
                cells: vec![
                    payout.created_at.to_rfc3339(),
                    payout.id.to_string(),
                    format!("{} {}", text(&view, "amount"), text(&view, "asset")),
                    payout.destination.to_checksum(None),
                    text(&view, "status"),
                    verdict,
                    payout.tx_hash.map_or_else(|| "—".into(), |tx| tx.to_string()),
                ],
                actions: vec![],
            }
        })
        .collect();
    // Asking moves money: only a session that may (a link's, or a key's with payouts:write).
    let form = if state.outbox.is_some() && signed.may(Scope::PayoutsWrite) {
        // One key per form shown: a double submit reserves once.
        Some(SectionForm {
            id: "new-payout".into(),
            path: "/console/payouts".into(),
            fields: vec![
                ("amount".into(), "Amount".into(), "12.5".into()),
                ("asset".into(), "Asset".into(), "USDT".into()),
                ("destination".into(), "To".into(), "0x…".into()),
            ],
            hidden: vec![("idempotency_key".into(), format!("console-{}", super::session::secret()?))],
            button: "Ask for a payout".into(),
        })
    } else {
        None
    };
    let heads = ["Asked", "Payout", "Amount", "To", "Status", "Signer's verdict", "Transaction"];
    let section = Section {
        id: "payouts".into(),
        intro: vec![
            "The amount is reserved at once; the signer decides by its own policy, and a refusal gives back the \
             reservation with the rule that refused it."
                .into(),
        ],
        heads: heads.map(String::from).to_vec(),
        rows,
        empty: "No payout yet.".into(),
        form,
        ..Section::default()
    };
    let chrome = pages::chrome(state, signed, flash).await?;
    Ok(rendered(web::sections(&chrome, "payouts", "Payouts", None, &[section])))
}

#[derive(Deserialize)]
pub(super) struct NewPayout {
    csrf: Option<String>,
    amount: Option<String>,
    asset: Option<String>,
    destination: Option<String>,
    idempotency_key: Option<String>,
}

pub(super) async fn create_payout(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Form(form): Form<NewPayout>,
) -> Response {
    let (signed, merchant) = match merchant_acting(&state, &headers, audience, form.csrf.as_deref()).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !signed.may(Scope::PayoutsWrite) {
        return lacks(Scope::PayoutsWrite);
    }
    let key = form
        .idempotency_key
        .filter(|k| k.starts_with("console-") && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_graphic()));
    let request = crate::routes::payouts::CreatePayout {
        amount: serde_json::Value::String(form.amount.unwrap_or_default().trim().to_owned()),
        asset: form.asset.unwrap_or_default().trim().to_owned(),
        chain_id: None,
        destination: form.destination.unwrap_or_default().trim().to_owned(),
        refund_of: None,
    };
    match crate::routes::payouts::request_payout(&state, merchant, &signed.actor(), request, key).await {
        Ok(_) => secure(Redirect::to("/console/payouts?done=payout_reserved").into_response()),
        // The API's own refusal, with its stable code.
        Err(e) => {
            let flash = Some(format!("No payout: {e}"));
            payouts_page(&state, &signed, merchant, flash).await.unwrap_or_else(|e| failed(&e))
        }
    }
}

/// The keys page, with a new key's token shown once when one was just made.
async fn keys_page(
    state: &AppState,
    signed: &Signed,
    merchant: MerchantId,
    revealed: Option<&str>,
    flash: Option<String>,
) -> Result<Response, ApiError> {
    let manages = signed.key.is_none();
    let rows = state
        .store
        .api_keys(merchant)
        .await?
        .into_iter()
        .map(|key| {
            let live = key.revoked_at.is_none();
            let actions = if live && manages {
                vec![RowAction {
                    path: format!("/console/keys/{}/revoke", key.id),
                    label: "Revoke".into(),
                    class: "revoke".into(),
                    note: None,
                }]
            } else {
                vec![]
            };
            let status = key.revoked_at.map_or_else(|| "active".into(), |at| format!("revoked {}", at.to_rfc3339()));
            Row {
                key: key.id.to_string(),
                cells: vec![key.id.to_string(), key.label, key.scopes.to_string(), key.created_at.to_rfc3339(), status],
                actions,
            }
        })
        .collect();
    let form = manages.then(|| SectionForm {
        id: "new-key".into(),
        path: "/console/keys".into(),
        fields: vec![
            ("label".into(), "Label".into(), "where it is used".into()),
            ("scopes".into(), "Scopes".into(), "invoices:read,invoices:write".into()),
        ],
        hidden: vec![],
        button: "Create a key".into(),
    });
    let intro = if manages {
        "A key is shown once, when it is made; only its digest is kept. Revoking it stops it on every gateway within seconds."
    } else {
        "This session signed in with an API key: keys are managed from a sign-in link (`coffer console link`)."
    };
    let section = Section {
        id: "keys".into(),
        intro: vec![intro.into()],
        heads: ["Key", "Label", "Scopes", "Created", "Status"].map(String::from).to_vec(),
        rows,
        empty: "No key.".into(),
        form,
        ..Section::default()
    };
    let chrome = pages::chrome(state, signed, flash).await?;
    let revealed = revealed.map(|token| ("Your new key, shown this once:", token));
    Ok(rendered(web::sections(&chrome, "keys", "API keys", revealed, &[section])))
}

pub(super) async fn keys(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
) -> Response {
    let (signed, merchant) = match merchant_session(&state, &headers, audience).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    keys_page(&state, &signed, merchant, None, None).await.unwrap_or_else(|e| failed(&e))
}

#[derive(Deserialize)]
pub(super) struct NewKey {
    csrf: Option<String>,
    label: Option<String>,
    scopes: Option<String>,
}

/// The merchant of a session that may manage keys: opened by a link.
/// Otherwise, the answer to give (a function: a `Response` is large).
fn key_manager(signed: &Signed) -> Result<MerchantId, fn() -> Response> {
    match signed.session.role {
        ConsoleRole::Merchant(merchant) if signed.key.is_none() => Ok(merchant),
        ConsoleRole::Merchant(_) => Err(key_session_refused),
        ConsoleRole::Operator => Err(not_found),
    }
}

fn key_session_refused() -> Response {
    refused(
        "key_session_cannot_manage_keys",
        "A session opened with an API key cannot create or revoke keys; sign in with a link.",
    )
}

pub(super) async fn create_key(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Form(form): Form<NewKey>,
) -> Response {
    let signed = match acting(&state, &headers, audience, form.csrf.as_deref()).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let merchant = match key_manager(&signed) {
        Ok(merchant) => merchant,
        Err(answer) => return answer(),
    };
    let scopes = match form.scopes.as_deref().unwrap_or_default().parse::<Scopes>() {
        Ok(scopes) => scopes,
        Err(e) => {
            let flash = Some(format!("No key made: {e}."));
            return keys_page(&state, &signed, merchant, None, flash).await.unwrap_or_else(|e| failed(&e));
        }
    };
    let label = form.label.unwrap_or_default();
    let made = crate::admin::create_api_key_by(&*state.store, merchant, scopes, label.trim(), &signed.actor()).await;
    let response = match made {
        // Shown in this answer, never again: no redirect could carry it.
        Ok((token, _)) => keys_page(&state, &signed, merchant, Some(&token.reveal()), None).await,
        Err(e) => keys_page(&state, &signed, merchant, None, Some(format!("No key made: {e}."))).await,
    };
    response.unwrap_or_else(|e| failed(&e))
}

pub(super) async fn revoke_key(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> Response {
    let signed = match acting(&state, &headers, audience, form.csrf.as_deref()).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let merchant = match key_manager(&signed) {
        Ok(merchant) => merchant,
        Err(answer) => return answer(),
    };
    let Ok(id) = id.parse::<ApiKeyId>() else { return not_found() };
    // Only the merchant's own key, and the same answer for another's as for none.
    match state.store.api_key(id).await {
        Ok(Some(key)) if key.merchant_id == merchant => {}
        Ok(_) => return not_found(),
        Err(e) => return failed(&e.into()),
    }
    match crate::admin::revoke_api_key_by(&*state.store, id, &signed.actor()).await {
        Ok(()) | Err(crate::admin::AdminError::NoSuchKey(_)) => secure(Redirect::to("/console/keys").into_response()),
        Err(e) => failed(&ApiError::internal(&e)),
    }
}
