//! The operator's money pages: the treasury (the books beside what the
//! chain says each wallet holds, the view `GET /v1/treasury` answers) and
//! the signer (its freeze and profile as last read, and the payouts
//! waiting for approvers, with the command each approver runs on their
//! own device: the console holds no approver key and approves nothing).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use coffer_domain::PayoutStatus;
use coffer_store::PayoutQuery;
use coffer_web::console::{self as web, Row, Section};
use serde_json::Value;

use super::operator::operator_session;
use super::session::Audience;
use super::{failed, pages, rendered};
use crate::error::ApiError;
use crate::state::AppState;

/// Most waiting payouts listed per merchant.
const WAITING_LISTED: u32 = 100;

/// A figure of the API's view as text: "12.5", or base units, or "—".
fn figure(value: &Value) -> String {
    match (&value["amount"], &value["units"]) {
        (Value::String(amount), _) => amount.clone(),
        (_, Value::String(units)) => format!("{units} base units"),
        _ => "—".into(),
    }
}

fn reading(value: &Value) -> String {
    match value["state"].as_str() {
        Some("holds") => figure(&value["holds"]),
        Some("unreadable") => format!("unreadable: {}", value["error"].as_str().unwrap_or("?")),
        Some(other) => other.to_owned(),
        None => "—".into(),
    }
}

pub(super) async fn treasury(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
) -> Response {
    let signed = match operator_session(&state, &headers, audience).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let page = async {
        let lines = crate::treasury::lines(&*state.store, &state.assets, &state.treasury).await?;
        let rows = lines
            .iter()
            .map(|line| {
                let v = serde_json::to_value(crate::routes::treasury::view(&state.assets, line)).unwrap_or_default();
                let agrees = match v["agrees"].as_bool() {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "unknown",
                };
                Row {
                    key: format!("{}:{}", v["chain_id"], v["asset"].as_str().unwrap_or_default()),
                    cells: vec![
                        format!("{} ({})", v["asset"].as_str().unwrap_or_default(), v["chain_id"]),
                        figure(&v["deposits"]),
                        figure(&v["hot"]),
                        reading(&v["chain_hot"]),
                        figure(&v["cold"]),
                        reading(&v["chain_cold"]),
                        figure(&v["reserved"]),
                        format!("{} / {}", figure(&v["payouts_in_flight"]), figure(&v["sweeps_in_flight"])),
                        agrees.to_owned(),
                    ],
                    actions: vec![],
                }
            })
            .collect();
        let heads = [
            "Asset",
            "Deposits (books)",
            "Hot (books)",
            "Hot (chain)",
            "Cold (books)",
            "Cold (chain)",
            "Reserved",
            "In flight (payouts / sweeps)",
            "Agree",
        ];
        let section = Section {
            id: "treasury".into(),
            intro: vec!["The books beside the chain, per wallet; they agree within what is in flight.".into()],
            heads: heads.map(String::from).to_vec(),
            rows,
            empty: "No asset is configured.".into(),
            ..Section::default()
        };
        let chrome = pages::chrome(&state, &signed, None).await?;
        Ok::<_, ApiError>(rendered(web::sections(&chrome, "treasury", "Treasury", None, &[section])))
    };
    page.await.unwrap_or_else(|e| failed(&e))
}

pub(super) async fn signer(
    State(state): State<AppState>,
    Extension(audience): Extension<Audience>,
    headers: HeaderMap,
) -> Response {
    let signed = match operator_session(&state, &headers, audience).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    // The commands name the address this page was reached at.
    let here = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| state.public_url.to_string(), |host| format!("http://{host}"));
    let page = async {
        let controls = match &state.control {
            Some(control) => control.last().await?,
            None => None,
        };
        let mut intro = Vec::new();
        match (&state.control, controls) {
            (None, _) => intro.push("No signer is configured: this gateway makes no payouts.".to_owned()),
            (Some(_), None) => intro.push("The signer's controls have not been read yet.".to_owned()),
            (Some(_), Some(reading)) => {
                let v = serde_json::to_value(crate::routes::operator::SignerView::new(&reading)).unwrap_or_default();
                let c = &v["controls"];
                intro.push(format!(
                    "Profile {}, policy version {}, approver quorum {}; read {}.",
                    c["profile"].as_str().unwrap_or("?"),
                    c["policy_version"],
                    c["quorum"],
                    v["read_at"].as_str().unwrap_or("?"),
                ));
                match c["frozen"].as_object() {
                    Some(f) => intro.push(format!(
                        "FROZEN since {} ({}): {}. Every payout is refused and sweeps go to cold until the \
                         approvers' quorum lifts it: coffer policy propose unfreeze, then coffer policy approve.",
                        f.get("since").and_then(Value::as_str).unwrap_or("?"),
                        f.get("reason").and_then(Value::as_str).unwrap_or("?"),
                        f.get("message").and_then(Value::as_str).unwrap_or(""),
                    )),
                    None => intro.push(format!(
                        "Not frozen. Any one approver freezes it: coffer freeze --key YOUR.key --gateway {here} \
                         --reason \"…\""
                    )),
                }
            }
        }
        let mut rows = Vec::new();
        for merchant in state.store.merchants().await? {
            let query = PayoutQuery {
                merchant_id: merchant.id,
                status: Some(PayoutStatus::PendingApproval),
                asset: None,
                chain_id: None,
                before: None,
                limit: WAITING_LISTED,
            };
            for payout in state.store.payouts(query).await? {
                let v = serde_json::to_value(crate::payout_view::PayoutView::new(&payout, &state.assets))
                    .unwrap_or_default();
                let approvals = payout.approval.as_ref().map_or_else(
                    || "—".to_owned(),
                    |round| {
                        let by =
                            if round.approved_by.is_empty() { "none yet".into() } else { round.approved_by.join(", ") };
                        format!(
                            "{} of {} ({by}); until {}",
                            round.approved_by.len(),
                            round.quorum,
                            round.expires_at.to_rfc3339()
                        )
                    },
                );
                rows.push(Row {
                    key: payout.id.to_string(),
                    cells: vec![
                        payout.id.to_string(),
                        merchant.name.clone(),
                        format!("{} {}", v["amount"].as_str().unwrap_or("?"), v["asset"].as_str().unwrap_or("")),
                        payout.destination.to_checksum(None),
                        approvals,
                        format!("coffer approve {} --key YOUR.key --gateway {here}", payout.id),
                    ],
                    actions: vec![],
                });
            }
        }
        let state_section = Section { id: "controls".into(), title: "Controls".into(), intro, ..Section::default() };
        let waiting = Section {
            id: "approvals".into(),
            title: "Waiting for approvers".into(),
            intro: vec![
                "Each approver runs the command on their own device (with COFFER_OPERATOR_TOKEN set): it shows the \
                 payout's fields, recomputes the digest it signs and compares it with the gateway's."
                    .into(),
            ],
            heads: ["Payout", "Merchant", "Amount", "To", "Approvals", "Command"].map(String::from).to_vec(),
            rows,
            empty: "No payout is waiting for approvers.".into(),
            ..Section::default()
        };
        let chrome = pages::chrome(&state, &signed, None).await?;
        Ok::<_, ApiError>(rendered(web::sections(&chrome, "signer", "Signer", None, &[state_section, waiting])))
    };
    page.await.unwrap_or_else(|e| failed(&e))
}
