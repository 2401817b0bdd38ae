//! `coffer dev`'s panel: pay an invoice or part of it, mine blocks, stage
//! a reorganisation, expire an invoice now. It is served by `coffer dev`
//! on a loopback listener of its own, never by a gateway; this is only its
//! page.

use askama::Template;

/// An invoice as the panel lists it.
#[derive(Clone, Debug)]
pub struct PanelInvoice {
    /// `inv_…`
    pub id: String,
    /// The shop's order id, or empty.
    pub order_id: String,
    /// "0.01 ETH"
    pub amount: String,
    /// What was received.
    pub paid: String,
    /// Its status.
    pub status: String,
    /// Its checkout page.
    pub checkout_url: String,
}

#[derive(Template)]
#[template(path = "dev_panel.html")]
struct Page<'a> {
    head: u64,
    confirmations: u32,
    invoices: &'a [PanelInvoice],
    flash: Option<&'a str>,
}

/// The panel.
pub fn render(
    head: u64,
    confirmations: u32,
    invoices: &[PanelInvoice],
    flash: Option<&str>,
) -> Result<String, askama::Error> {
    Page { head, confirmations, invoices, flash }.render()
}
