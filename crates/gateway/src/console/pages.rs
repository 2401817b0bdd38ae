//! What each console page shows, read from the store and the API's own
//! invoice view, and turned into the text `coffer-web` lays out.

use coffer_domain::{Account, Amount, Exception, InvoiceId, InvoiceStatus, MerchantId, Side};
use coffer_store::{ConsoleRole, Delivery, InvoiceSearch, StoredEntry};
use coffer_web::console::{
    Chrome, DeliveryLine, EntryLine, InvoiceLine, InvoiceList, MerchantLine, PaymentLine, Story,
};
use serde::Deserialize;

use super::session::Signed;
use crate::error::ApiError;
use crate::routes::invoices::views;
use crate::state::AppState;

/// Most invoices one list shows.
const LIST_LIMIT: u32 = 100;
/// Most invoices read to filter by an exception (exceptions are a bit set
/// the database does not index).
const EXCEPTION_SCAN: u32 = 2000;

/// Where a session starts.
pub(super) fn home(role: ConsoleRole) -> &'static str {
    match role {
        ConsoleRole::Merchant(_) => "/console/invoices",
        ConsoleRole::Operator => "/console/merchants",
    }
}

/// The frame around a signed-in page.
pub(super) async fn chrome(state: &AppState, signed: &Signed, flash: Option<String>) -> Result<Chrome, ApiError> {
    let (who, nav) = match signed.session.role {
        ConsoleRole::Merchant(id) => {
            let name = state.store.merchant(id).await?.map_or_else(|| id.to_string(), |m| m.name);
            (
                name,
                nav(&[
                    ("invoices", "Invoices"),
                    ("balances", "Balances"),
                    ("payouts", "Payouts"),
                    ("webhooks", "Webhooks"),
                    ("keys", "API keys"),
                ]),
            )
        }
        ConsoleRole::Operator => (
            "Operator".to_owned(),
            nav(&[
                ("merchants", "Merchants"),
                ("treasury", "Treasury"),
                ("signer", "Signer"),
                ("chains", "Chains"),
                ("holds", "Held payments"),
            ]),
        ),
    };
    Ok(Chrome { who: Some(who), csrf: signed.csrf.clone(), nav, flash })
}

fn nav(pages: &[(&str, &str)]) -> Vec<(String, String)> {
    pages.iter().map(|(path, label)| (format!("/console/{path}"), (*label).to_owned())).collect()
}

/// What an action's `?done=` says, for known codes only (the text is ours).
pub(super) fn flash(code: &str) -> Option<String> {
    let text = match code {
        "redelivered" => "Queued again: the delivery is sent now, and shows below as a new row.",
        "pending" => "Not queued: a delivery of this event to this endpoint is still being retried.",
        "rate_limited" => "Not queued: too many redeliveries this minute; try again shortly.",
        "released" => "Released: the payment counts from now on.",
        "payout_reserved" => "Reserved and handed to the signer: its verdict shows below as it comes.",
        "rejected" => "Rejected: the payment stays on the held account.",
        "note_needed" => "Not decided: say why, in 1 to 1000 characters (it goes on the audit log).",
        "not_decided" => "Not decided: the payment is no longer held, or changed meanwhile; see the list.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// The invoice list's filters, from the query string.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    exception: Option<String>,
    q: Option<String>,
}

pub(super) async fn invoice_list(
    state: &AppState,
    merchant: MerchantId,
    query: &ListQuery,
) -> Result<InvoiceList, ApiError> {
    let status: Option<InvoiceStatus> = query.status.as_deref().and_then(|s| s.parse().ok());
    let exception: Option<Exception> =
        query.exception.as_deref().and_then(|e| Exception::ALL.into_iter().find(|x| x.as_str() == e));
    let text = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
    let limit = if exception.is_some() { EXCEPTION_SCAN } else { LIST_LIMIT + 1 };
    let search = InvoiceSearch { merchant_id: merchant, status, text: text.clone(), limit };
    let mut found = state.store.search_invoices(&search).await?;
    if let Some(exception) = exception {
        found.retain(|i| i.exceptions.contains(exception));
    }
    let more = found.len() > LIST_LIMIT as usize;
    found.truncate(LIST_LIMIT as usize);
    let rows = views(state, found)
        .await?
        .into_iter()
        .map(|v| InvoiceLine {
            created: v.created_at.clone(),
            order_id: v.order_id.clone().unwrap_or_default(),
            amount: format!("{} {}", v.amount.as_deref().unwrap_or(&v.amount_units), v.asset),
            paid: format!("{} {}", v.paid.as_deref().unwrap_or(&v.paid_units), v.asset),
            status: v.status.to_owned(),
            exceptions: v.exceptions.join(", "),
            id: v.id.to_string(),
        })
        .collect();
    let option = |value: &str, label: &str, on: bool| (value.to_owned(), label.to_owned(), on);
    let mut statuses = vec![option("", "any", status.is_none())];
    statuses.extend(InvoiceStatus::ALL.iter().map(|s| option(s.as_str(), s.as_str(), Some(*s) == status)));
    let mut exceptions = vec![option("", "any", exception.is_none())];
    exceptions.extend(Exception::ALL.iter().map(|e| option(e.as_str(), e.as_str(), Some(*e) == exception)));
    Ok(InvoiceList { statuses, exceptions, q: text.unwrap_or_default(), rows, more })
}

/// One invoice's story, if it is the merchant's.
pub(super) async fn story(
    state: &AppState,
    signed: &Signed,
    merchant: MerchantId,
    id: InvoiceId,
) -> Result<Option<Story>, ApiError> {
    let Some(invoice) = state.store.invoice(merchant, id).await? else { return Ok(None) };
    let chain = invoice.amount.asset().chain_id;
    let confirmations = state.watchers.chain(chain).map_or(1, |c| c.confirmations);
    let chain_name = state.chain_names.get(&chain).cloned().unwrap_or_else(|| format!("chain {chain}"));
    let Some(view) = views(state, vec![invoice.clone()]).await?.pop() else { return Ok(None) };
    let entries = state.store.invoice_entries(merchant, id).await?;
    // Webhook endpoints and deliveries, as the API shows them: to a key
    // session only with webhooks:read (endpoint URLs may carry tokens).
    let webhooks = signed.may(coffer_domain::Scope::WebhooksRead);
    let (deliveries, endpoints) = if webhooks {
        (state.store.invoice_deliveries(merchant, id).await?, state.store.webhooks(merchant).await?)
    } else {
        (Vec::new(), Vec::new())
    };
    let unit = |text: &Option<String>, units: &str| format!("{} {}", text.as_deref().unwrap_or(units), view.asset);
    let mut facts = vec![
        ("Status".to_owned(), view.status.to_owned()),
        ("Exceptions".to_owned(), if view.exceptions.is_empty() { "none".into() } else { view.exceptions.join(", ") }),
        ("Amount".to_owned(), unit(&view.amount, &view.amount_units)),
        ("Paid".to_owned(), unit(&view.paid, &view.paid_units)),
        ("Chain".to_owned(), format!("{chain_name} ({chain})")),
        ("Deposit address".to_owned(), view.address.clone()),
        ("Order id".to_owned(), view.order_id.clone().unwrap_or_else(|| "—".into())),
        ("Created".to_owned(), view.created_at.clone()),
        ("Expires".to_owned(), view.expires_at.clone()),
    ];
    if let Some(description) = &view.description {
        facts.insert(7, ("Description".to_owned(), description.clone()));
    }
    let payments = view
        .payments
        .iter()
        .map(|p| PaymentLine {
            seen: p.seen_at.clone(),
            amount: unit(&p.amount, &p.amount_units),
            from: p.from.clone(),
            tx: p.tx_hash.clone(),
            block: format!("{} ({})", p.block_number, short(&p.block_hash)),
            confirmations: if p.state == "canonical" {
                format!("{} of {confirmations}", p.confirmations)
            } else {
                "—".to_owned()
            },
            state: payment_state(p),
        })
        .collect();
    let endpoint_url = |d: &Delivery| {
        endpoints
            .iter()
            .find(|e| e.id == d.endpoint_id)
            .map_or_else(|| format!("{} (deleted)", d.endpoint_id), |e| e.url.clone())
    };
    let deliveries = deliveries
        .iter()
        .map(|d| DeliveryLine {
            id: d.id.to_string(),
            created: d.created_at.to_rfc3339(),
            event: d.event_type.as_str().to_owned(),
            endpoint: endpoint_url(d),
            state: d.state.as_str().to_owned(),
            attempts: d.attempts.to_string(),
            last: match (&d.last_status, &d.last_error) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(error)) => error.clone(),
                (None, None) => "—".to_owned(),
            },
        })
        .collect();
    Ok(Some(Story {
        webhooks_hidden: !webhooks,
        id: id.to_string(),
        facts,
        checkout_url: view.checkout_url.clone(),
        payments,
        entries: entries.iter().map(|e| entry_line(state, merchant, e)).collect(),
        deliveries,
    }))
}

fn short(hash: &str) -> String {
    if hash.len() > 14 { format!("{}…{}", &hash[..8], &hash[hash.len() - 4..]) } else { hash.to_owned() }
}

fn payment_state(p: &coffer_watcher::view::PaymentView) -> String {
    let mut state = match p.state {
        "canonical" if p.confirmed => "confirmed".to_owned(),
        "canonical" => "confirming".to_owned(),
        "orphaned" => "reorganised away".to_owned(),
        other => other.replace('_', " "),
    };
    if p.late {
        state.push_str(", late");
    }
    if let Some(hold) = &p.hold {
        state.push_str(&format!(", {} ({})", hold.state, hold.category));
    }
    state
}

fn entry_line(state: &AppState, merchant: MerchantId, entry: &StoredEntry) -> EntryLine {
    let amount = amount_text(state, &entry.amount);
    let (debit, credit) = match entry.side {
        Side::Debit => (amount, String::new()),
        Side::Credit => (String::new(), amount),
    };
    EntryLine {
        kind: entry.kind.as_str().replace('_', " "),
        account: account_name(&entry.account, merchant),
        debit,
        credit,
    }
}

fn amount_text(state: &AppState, amount: &Amount) -> String {
    let asset = amount.asset();
    match state.assets.get(asset) {
        Some(found) => format!("{} {}", found.format_amount(amount), asset.symbol),
        None => format!("{} base units of {}", amount.units(), asset.symbol),
    }
}

/// An account as a merchant reads it; another merchant's account is never
/// on one invoice's lines, but would be named only as "another merchant".
fn account_name(account: &Account, merchant: MerchantId) -> String {
    match account {
        Account::Deposits(_) => "Deposits".into(),
        Account::Merchant(m, _) if *m == merchant => "Your balance".into(),
        Account::Merchant(..) => "Another merchant".into(),
        Account::Suspense(_) => "Suspense".into(),
        Account::Losses(_) => "Losses".into(),
        Account::Hot(_) => "Hot wallet".into(),
        Account::Cold(_) => "Cold wallet".into(),
        Account::PayoutsReserved(..) => "Reserved for payouts".into(),
        Account::NetworkFees(_) => "Network fees".into(),
        Account::Held(_) => "Held for review".into(),
    }
}

/// The operator's list of merchants.
pub(super) async fn merchant_lines(state: &AppState) -> Result<Vec<MerchantLine>, ApiError> {
    let mut lines = Vec::new();
    for merchant in state.store.merchants().await? {
        let balances = state.store.merchant_balances(merchant.id).await?;
        let balances: Vec<String> = balances.iter().map(|a| amount_text(state, a)).collect();
        lines.push(MerchantLine {
            name: merchant.name,
            id: merchant.id.to_string(),
            created: merchant.created_at.to_rfc3339(),
            balances: if balances.is_empty() { "nothing yet".into() } else { balances.join(", ") },
        });
    }
    Ok(lines)
}
