//! `coffer dev`'s panel, on a loopback port of its own (`panel_url` in
//! dev.json): pay an invoice or part of it, mine blocks, stage a
//! reorganisation, expire an invoice now. It makes every state of an
//! invoice reachable by hand, and the browser tests use it. It is a client
//! of the dev gateway's public API and of anvil, like `coffer dev pay`, so
//! a production gateway has none of it: no route, no code path.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use coffer_devnet::Rpc;
use coffer_web::dev_panel::{PanelInvoice, render};
use serde::Deserialize;
use serde_json::Value;

use super::DevInfo;
use super::pay::pay;

#[derive(Clone)]
struct Panel {
    info: Arc<DevInfo>,
    config: Arc<coffer_config::Config>,
    origin: Arc<str>,
    http: reqwest::Client,
    /// What the last action did, shown once.
    flash: Arc<Mutex<Option<String>>>,
}

/// Binds the panel; it serves until the returned task is aborted.
pub(crate) async fn start(
    addr: SocketAddr,
    info: DevInfo,
    config: coffer_config::Config,
) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the dev panel on {addr}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let panel = Panel {
        info: Arc::new(info),
        config: Arc::new(config),
        origin: url.clone().into(),
        http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build()?,
        flash: Arc::default(),
    };
    let router = Router::new()
        .route("/", get(page))
        .route("/assets/console.css", get(stylesheet))
        .route("/pay", post(pay_invoice))
        .route("/expire", post(expire))
        .route("/mine", post(mine))
        .route("/reorg", post(reorg))
        .layer(axum::middleware::from_fn_with_state(panel.clone(), guard))
        .with_state(panel);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the dev panel stopped");
        }
    });
    Ok((url, task))
}

/// Every answer: only for requests addressed to the panel's own address (a
/// DNS-rebinding page names another host), never framed, no script.
async fn guard(State(panel): State<Panel>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    if host.is_none_or(|host| panel.origin.strip_prefix("http://") != Some(host)) {
        return (StatusCode::MISDIRECTED_REQUEST, "the dev panel answers at its own address only").into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("same-origin"));
    response
}

fn is_invoice_id(text: &str) -> bool {
    text.parse::<coffer_domain::InvoiceId>().is_ok()
}

impl Panel {
    fn rpc(&self) -> Rpc {
        Rpc::new(self.info.rpc_url.clone())
    }

    fn say(&self, text: String) -> Response {
        if let Ok(mut flash) = self.flash.lock() {
            *flash = Some(text);
        }
        Redirect::to("/").into_response()
    }

    /// Refuses a post another site made (the panel moves dev money).
    fn posted_by_its_own_page(&self, headers: &HeaderMap) -> bool {
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        !matches!(site, Some("cross-site" | "same-site")) && origin.is_none_or(|o| o == &*self.origin)
    }

    async fn api(&self, method: reqwest::Method, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.info.gateway_url);
        let response = self.http.request(method, &url).bearer_auth(&self.info.api_key).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            anyhow::bail!("{}", body["error"]["message"].as_str().unwrap_or("the gateway refused"));
        }
        Ok(body)
    }
}

async fn page(State(panel): State<Panel>) -> Response {
    let flash = panel.flash.lock().ok().and_then(|mut f| f.take());
    let loaded = async {
        let head = panel.rpc().block_number().await?;
        let page = panel.api(reqwest::Method::GET, "/v1/invoices?limit=20").await?;
        anyhow::Ok((head, page))
    };
    let (head, page) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => {
            return (StatusCode::SERVICE_UNAVAILABLE, format!("the dev chain or gateway did not answer: {e}"))
                .into_response();
        }
    };
    let text = |v: &Value, name: &str| v[name].as_str().unwrap_or_default().to_owned();
    let invoices: Vec<PanelInvoice> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| PanelInvoice {
            id: text(i, "id"),
            order_id: text(i, "order_id"),
            amount: format!("{} {}", text(i, "amount"), text(i, "asset")),
            paid: format!("{} {}", text(i, "paid"), text(i, "asset")),
            status: text(i, "status"),
            checkout_url: text(i, "checkout_url"),
        })
        .collect();
    let confirmations = panel.config.chains.first().map_or(0, |c| c.confirmations);
    match render(head, confirmations, &invoices, flash.as_deref()) {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], coffer_web::console::CONSOLE_CSS).into_response()
}

fn refused() -> Response {
    (StatusCode::FORBIDDEN, "the dev panel takes posts from its own page only").into_response()
}

#[derive(Deserialize)]
struct PayForm {
    invoice: String,
    amount: Option<String>,
}

async fn pay_invoice(State(panel): State<Panel>, headers: HeaderMap, Form(form): Form<PayForm>) -> Response {
    if !panel.posted_by_its_own_page(&headers) {
        return refused();
    }
    if !is_invoice_id(&form.invoice) {
        return panel.say("Not paid: that is not an invoice id.".to_owned());
    }
    let amount = form.amount.as_deref().map(str::trim).filter(|a| !a.is_empty());
    // Mined at once: the panel works with any block time, even "never".
    let said = match pay(&panel.info, &panel.config, &form.invoice, amount, None, true).await {
        Ok(p) => {
            format!("Paid {} {} to {} in block {}.", p.amount, p.symbol, form.invoice, p.block.unwrap_or_default())
        }
        Err(e) => format!("Not paid: {e:#}"),
    };
    panel.say(said)
}

#[derive(Deserialize)]
struct InvoiceForm {
    invoice: String,
}

async fn expire(State(panel): State<Panel>, headers: HeaderMap, Form(form): Form<InvoiceForm>) -> Response {
    if !panel.posted_by_its_own_page(&headers) {
        return refused();
    }
    if !is_invoice_id(&form.invoice) {
        return panel.say("Not expired: that is not an invoice id.".to_owned());
    }
    let expired = panel.api(reqwest::Method::POST, &format!("/v1/invoices/{}/expire", form.invoice)).await;
    let said = match expired {
        // A block after the new expiry, so the chain's time has passed it too.
        Ok(_) => match panel.rpc().mine_at_wall_clock().await {
            Ok(()) => format!("{} expires now; the watcher marks it within a second.", form.invoice),
            Err(e) => format!("{} expires now, but mining a block failed: {e}", form.invoice),
        },
        Err(e) => format!("Not expired: {e:#}"),
    };
    panel.say(said)
}

#[derive(Deserialize)]
struct MineForm {
    blocks: u64,
}

async fn mine(State(panel): State<Panel>, headers: HeaderMap, Form(form): Form<MineForm>) -> Response {
    if !panel.posted_by_its_own_page(&headers) {
        return refused();
    }
    let blocks = form.blocks.clamp(1, 100);
    let said = match panel.rpc().mine(blocks).await {
        Ok(()) => format!("Mined {blocks} block(s)."),
        Err(e) => format!("Not mined: {e}"),
    };
    panel.say(said)
}

#[derive(Deserialize)]
struct ReorgForm {
    depth: u64,
}

async fn reorg(State(panel): State<Panel>, headers: HeaderMap, Form(form): Form<ReorgForm>) -> Response {
    if !panel.posted_by_its_own_page(&headers) {
        return refused();
    }
    let depth = form.depth.clamp(1, 64);
    let said = match panel.rpc().reorg(depth).await {
        Ok(()) => format!("The newest {depth} block(s) were replaced by empty ones."),
        Err(e) => format!("No reorganisation: {e}"),
    };
    panel.say(said)
}
