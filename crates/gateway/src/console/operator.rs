//! The operator's console pages: each chain's watcher as `/healthz` sees
//! it, and the payments screening held, with release and reject (the
//! operator routes' own decision, `holds::decide`, under the session's
//! actor name on the audit log).

use axum::Extension;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use coffer_domain::HoldState;
use coffer_store::ConsoleRole;
use coffer_web::console::{self as web, Row, RowAction, Section};
use serde::Deserialize;

use super::session::{self, Audience, Signed};
use super::{acting, failed, not_found, pages, rendered, secure, to_sign_in};
use crate::error::ApiError;
use crate::state::AppState;

/// Most held payments one page lists.
const HOLDS_LISTED: u32 = 500;

pub(super) async fn operator_session(
    state: &AppState,
    headers: &HeaderMap,
    audience: Audience,
) -> Result<Signed, Response> {
    match session::signed_in(state, headers, audience).await {
        Ok(Some(signed)) if signed.session.role == ConsoleRole::Operator => Ok(signed),
        Ok(Some(_)) => Err(not_found()),
        Ok(None) => Err(to_sign_in()),
        Err(e) => Err(failed(&e)),
    }
}

#[derive(Deserialize)]
pub(super) struct Done {
    done: Option<String>,
}

impl Done {
    pub(super) fn code(&self) -> Option<&str> {
        self.done.as_deref()
    }
}

pub(super) async fn chains(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
) -> Response {
    let signed = match operator_session(&state, &headers, audience).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let rows = state
        .watchers
        .chains()
        .map(|(chain_id, handle)| {
            let h = handle.health.snapshot();
            let number = |n: Option<u64>| n.map_or_else(|| "—".to_owned(), |n| n.to_string());
            let name = state.chain_names.get(&chain_id).cloned().unwrap_or_default();
            Row {
                key: chain_id.to_string(),
                cells: vec![
                    format!("{name} ({chain_id})"),
                    h.state.as_str().to_owned(),
                    number(h.head),
                    number(h.tip),
                    number(h.head.zip(h.tip).map(|(head, tip)| head.saturating_sub(tip))),
                    h.reorgs.to_string(),
                    h.watched.to_string(),
                    h.halt.map_or_else(|| "—".to_owned(), |c| c.as_str().to_owned()),
                    h.last_error.unwrap_or_else(|| "—".to_owned()),
                ],
                actions: Vec::new(),
            }
        })
        .collect();
    let heads = ["Chain", "State", "Head", "Read up to", "Lag", "Reorganisations", "Watched", "Halt", "Last error"];
    let section = Section {
        id: "chains".into(),
        intro: vec!["A halted chain waits for a person: `coffer chain status` and `coffer chain resolve`.".into()],
        heads: heads.map(String::from).to_vec(),
        rows,
        empty: "No chain is configured.".into(),
        ..Section::default()
    };
    let page = async {
        let chrome = pages::chrome(&state, &signed, None).await?;
        Ok::<_, ApiError>(rendered(web::sections(&chrome, "chains", "Chain health", None, &[section])))
    };
    page.await.unwrap_or_else(|e| failed(&e))
}

pub(super) async fn holds(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Response {
    let signed = match operator_session(&state, &headers, audience).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let page = async {
        let held = state.store.payments_on_hold(HoldState::Held, HOLDS_LISTED).await?;
        let rows = held
            .iter()
            .map(|p| {
                let hold = p.hold.as_ref();
                let amount = state.assets.get(p.amount.asset()).map_or_else(
                    || format!("{} base units", p.amount.units()),
                    |a| format!("{} {}", a.format_amount(&p.amount), p.amount.asset().symbol),
                );
                let decide = |decision: &str, label: &str| RowAction {
                    path: format!("/console/holds/{}/{decision}", p.id),
                    label: label.into(),
                    class: decision.into(),
                    note: Some("why (goes on the audit log)".into()),
                };
                Row {
                    key: p.id.to_string(),
                    cells: vec![
                        p.id.to_string(),
                        p.invoice_id.to_string(),
                        amount,
                        p.from.to_checksum(None),
                        hold.map(|h| format!("{} ({})", h.reason.category, h.reason.source())).unwrap_or_default(),
                        hold.and_then(|h| h.reason.label.clone()).unwrap_or_default(),
                        if p.booked_at.is_some() { "booked to held" } else { "confirming" }.into(),
                    ],
                    actions: vec![decide("release", "Release"), decide("reject", "Reject")],
                }
            })
            .collect();
        let heads = ["Payment", "Invoice", "Amount", "From", "Listed by", "Label", "Books"];
        let section = Section {
            id: "holds".into(),
            intro: vec![
                "Released: it counts from now on, as if never held. Rejected: never credited; it stays on the held \
                 account for a refund or a report."
                    .into(),
            ],
            heads: heads.map(String::from).to_vec(),
            rows,
            empty: "No payment is held.".into(),
            ..Section::default()
        };
        let flash = done.done.as_deref().and_then(pages::flash);
        let chrome = pages::chrome(&state, &signed, flash).await?;
        Ok::<_, ApiError>(rendered(web::sections(&chrome, "holds", "Held payments", None, &[section])))
    };
    page.await.unwrap_or_else(|e| failed(&e))
}

#[derive(Deserialize)]
pub(super) struct DecideForm {
    csrf: Option<String>,
    note: Option<String>,
}

pub(super) async fn decide(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
    Path((id, decision)): Path<(String, String)>,
    Form(form): Form<DecideForm>,
) -> Response {
    let signed = match acting(&state, &headers, audience, form.csrf.as_deref()).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    if signed.session.role != ConsoleRole::Operator {
        return not_found();
    }
    let release = match decision.as_str() {
        "release" => true,
        "reject" => false,
        _ => return not_found(),
    };
    let Ok(short) = crate::holds::parse_payment(&id) else { return not_found() };
    let note = form.note.unwrap_or_default();
    let done = if note.trim().is_empty() || note.chars().count() > 1000 {
        "note_needed"
    } else {
        match crate::holds::decide(&state, short, release, note.trim(), &signed.actor()).await {
            Ok(_) if release => "released",
            Ok(_) => "rejected",
            Err(e) => {
                tracing::info!(error = %e, "a hold decision from the console was refused");
                "not_decided"
            }
        }
    };
    secure(Redirect::to(&format!("/console/holds?done={done}")).into_response())
}
