//! What the checkout page shows, read through the API's own invoice view.

use coffer_domain::{Asset, ChainId, CheckoutToken, Invoice, InvoiceStatus, Timestamp, U256};
use coffer_store::WebhookEndpoint;
use coffer_watcher::view::InvoiceView;
use coffer_web::Lang;

use super::return_link;
use crate::error::ApiError;
use crate::routes::invoices::views;
use crate::state::AppState;

/// One read of everything the page needs.
#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    invoice: Invoice,
    view: InvoiceView,
    asset: Asset,
    merchant: String,
    chain_name: String,
    confirmations: u32,
    endpoint: Option<WebhookEndpoint>,
    /// Where the merchant's logo and theme are served, if it has them.
    branding: (Option<String>, Option<String>),
}

/// The invoice `token` opens, with its view; `None` if none does (or its
/// asset is no longer configured: the page cannot say what to pay).
pub(crate) async fn load(state: &AppState, token: &CheckoutToken) -> Result<Option<Loaded>, ApiError> {
    let Some(invoice) = state.store.invoice_by_checkout_token(token).await? else { return Ok(None) };
    let Some(asset) = state.assets.get(invoice.amount.asset()).cloned() else { return Ok(None) };
    let merchant = state.store.merchant(invoice.merchant_id).await?.map(|m| m.name).unwrap_or_default();
    // The oldest endpoint signs return links: the shop knows it by the id in the link.
    let mut endpoints = state.store.webhooks(invoice.merchant_id).await?;
    endpoints.sort_by_key(|e| (e.created_at, e.id.to_string()));
    let chain = invoice.amount.asset().chain_id;
    let chain_name = state.chain_names.get(&chain).cloned().unwrap_or_else(|| format!("chain {chain}"));
    let confirmations = state.watchers.chain(chain).map_or(1, |c| c.confirmations);
    let view = view(state, &invoice).await?;
    let branding = super::branding::paths(&state.store.branding(invoice.merchant_id).await?, &invoice.checkout.token);
    Ok(Some(Loaded {
        branding,
        invoice,
        view,
        asset,
        merchant,
        chain_name,
        confirmations,
        endpoint: endpoints.into_iter().next(),
    }))
}

/// The API's view of `invoice`.
async fn view(state: &AppState, invoice: &Invoice) -> Result<InvoiceView, ApiError> {
    let mut one = views(state, vec![invoice.clone()]).await?;
    one.pop().ok_or_else(|| ApiError::internal(&"an invoice without its view"))
}

impl Loaded {
    /// The invoice and its view read again, for an open event stream: the
    /// merchant, the chain and the signing endpoint stay as first read, so
    /// each block costs an open page the invoice's reads alone.
    pub(crate) async fn refresh(&self, state: &AppState) -> Result<Option<Loaded>, ApiError> {
        let token = &self.invoice.checkout.token;
        let Some(invoice) = state.store.invoice_by_checkout_token(token).await? else { return Ok(None) };
        let view = view(state, &invoice).await?;
        Ok(Some(Loaded { invoice, view, ..self.clone() }))
    }

    /// The chain the invoice is on.
    pub(crate) fn chain_id(&self) -> ChainId {
        self.invoice.amount.asset().chain_id
    }

    pub(crate) fn render_page(&self, lang: Lang) -> Result<String, askama::Error> {
        coffer_web::page(&self.facts(lang)).map(|r| r.html)
    }

    pub(crate) fn render_fragment(&self, lang: Lang) -> Result<coffer_web::Rendered, askama::Error> {
        coffer_web::fragment(&self.facts(lang))
    }

    fn facts(&self, lang: Lang) -> coffer_web::Facts<'_> {
        let (invoice, view) = (&self.invoice, &self.view);
        let now = Timestamp::now();
        let counted: Vec<_> = view.payments.iter().filter(|p| p.credited).collect();
        let waiting = counted.iter().filter(|p| !p.confirmed).map(|p| p.confirmations).min();
        let held = view.payments.iter().any(|p| p.hold.as_ref().is_some_and(|h| h.state != "released"));
        let token = &invoice.checkout.token;
        let link = |url: &Option<coffer_domain::ReturnUrl>| {
            url.as_ref().map(|url| return_link::build(url, invoice.id, invoice.status, self.endpoint.as_ref(), now))
        };
        coffer_web::Facts {
            lang,
            merchant: &self.merchant,
            order_id: invoice.order_id.as_deref(),
            description: invoice.checkout.description.as_deref(),
            chain_name: &self.chain_name,
            asset: &self.asset,
            address: invoice.deposit.address,
            amount: invoice.amount.units(),
            paid: view.paid_units.parse::<U256>().unwrap_or_default(),
            status: invoice.status,
            exceptions: invoice.exceptions,
            held,
            confirmations: (invoice.status == InvoiceStatus::Processing)
                .then(|| (waiting.unwrap_or(u64::from(self.confirmations)), self.confirmations)),
            block_secs: block_secs(self.chain_id()),
            transactions: counted.iter().map(|p| p.tx_hash.clone()).collect(),
            paid_at: counted.iter().map(|p| p.seen_at.clone()).max(),
            invoice_id: invoice.id.to_string(),
            now,
            expires_at: invoice.expires_at,
            page_path: format!("/pay/{token}"),
            events_path: format!("/pay/{token}/events?lang={}", lang.tag()),
            success_link: link(&invoice.checkout.success_url),
            cancel_link: link(&invoice.checkout.cancel_url),
            logo_path: self.branding.0.clone(),
            theme_path: self.branding.1.clone(),
        }
    }
}

/// Typical seconds between blocks, for "about T left"; an estimate.
fn block_secs(chain: ChainId) -> u64 {
    match chain.0 {
        1 | 11155111 | 17000 => 12,
        10 | 8453 | 137 | 80002 | 84532 => 2,
        56 | 97 => 3,
        42161 | 421614 => 1,
        _ => 2,
    }
}
