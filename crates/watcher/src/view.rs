//! An invoice as merchants see it, in the API (`GET /v1/invoices/{id}`) and
//! in webhook payloads alike: one struct for both, so they cannot drift.

use coffer_domain::{
    Asset, AssetBook, EventId, EventType, Hold, Invoice, InvoiceId, Payment, Timestamp, U256, confirmations,
    payment_uri,
};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// An invoice with its payments.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    /// `inv_…`
    #[schema(value_type = String, example = "inv_0195f3a0c1b27c3e9a4d5e6f70812345")]
    pub id: InvoiceId,
    /// `new`, `processing`, `settled`, `expired` or `invalid`.
    #[schema(example = "new")]
    pub status: &'static str,
    /// Any of `paid_partial`, `paid_over`, `paid_late`, `wrong_asset`, `held`
    /// (a payment's sender is on a screening list: see its `hold`).
    #[schema(example = json!(["paid_partial"]))]
    pub exceptions: Vec<&'static str>,
    /// The price in the asset's unit, as a decimal string; `null` only if the
    /// asset has since been removed from the configuration.
    #[schema(example = "12.5")]
    pub amount: Option<String>,
    /// The price in the asset's base units (for USDT, millionths), as a decimal string.
    #[schema(example = "12500000")]
    pub amount_units: String,
    /// Paid so far in the invoice's asset, confirmed or not (decimal string).
    #[schema(example = "5")]
    pub paid: Option<String>,
    /// The same in base units.
    #[schema(example = "5000000")]
    pub paid_units: String,
    /// Asset symbol.
    #[schema(example = "USDT")]
    pub asset: String,
    /// EVM chain id.
    #[schema(example = 31337)]
    pub chain_id: u64,
    /// Where to pay: unique to this invoice (EIP-55 checksummed).
    pub address: String,
    /// EIP-681 payment request for wallets and QR codes; `null` as for `amount`.
    pub payment_uri: Option<String>,
    /// The hosted checkout page to send the customer to. Its token is
    /// random and unrelated to the id: the link opens this invoice only.
    #[schema(example = "https://pay.example.com/pay/3f9a0c4e1b7d2a6f8e5c0b9d4a3e7f1c2b6d8a0e4f9c3b7a")]
    pub checkout_url: String,
    /// Payments to the address that count, oldest first: those on the
    /// canonical chain, and booked ones whose block a reorganisation deeper
    /// than the confirmations removed (`state` says which). A payment whose
    /// block a reorganisation removed before it was booked is not listed.
    pub payments: Vec<PaymentView>,
    /// The merchant's reference.
    pub order_id: Option<String>,
    /// What the customer pays for, as shown on the checkout page.
    pub description: Option<String>,
    /// The merchant's JSON object.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// RFC 3339.
    pub expires_at: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One payment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// `pay_…`: how an operator names it (`coffer screening release`).
    #[schema(example = "pay_5f0c6a8e2b4d4c1e9a7b3d2f1e0c9b8a")]
    pub id: String,
    /// Transaction hash.
    pub tx_hash: String,
    /// Index of the ERC-20 `Transfer` log in its block; `null` for a native transfer.
    pub log_index: Option<u64>,
    /// For ETH a contract sent (an internal call, a self-destruct): its
    /// position in the transaction's call tree, as trace APIs number it
    /// (`"0.1"`); `null` otherwise.
    pub call_path: Option<String>,
    /// Block height.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// The asset paid in (may differ from the invoice's: see `credited`).
    pub asset: String,
    /// Decimal string in that asset's unit.
    pub amount: Option<String>,
    /// Base units.
    pub amount_units: String,
    /// The sender.
    pub from: String,
    /// Blocks on top of the payment's, counting its own.
    pub confirmations: u64,
    /// Whether it has the confirmations the chain requires and is booked.
    pub confirmed: bool,
    /// Whether it counts towards the invoice: in its asset, and not held by
    /// screening. A payment in another asset is recorded and left for a
    /// person, never credited; a held one waits for an operator.
    pub credited: bool,
    /// Whether its block came at or after the invoice's expiry.
    pub late: bool,
    /// When Coffer first saw it (RFC 3339).
    pub seen_at: String,
    /// `canonical`; `displaced` when a reorganisation deeper than the
    /// confirmations took its block after it was booked (it still counts
    /// while the same transfer is looked for on the new chain); or
    /// `written_off` when it never came back and the operator bore the loss
    /// (it still counts for the merchant).
    #[schema(example = "canonical")]
    pub state: &'static str,
    /// Set when screening matched the sender: the payment is not credited
    /// while `held` or once `rejected`; `released` counts as any payment.
    pub hold: Option<HoldView>,
}

/// A payment's screening hold.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HoldView {
    /// `held`, `released` or `rejected`.
    #[schema(example = "held")]
    pub state: &'static str,
    /// The list entry's category (`sanction`, `heist`, `phishing`, `mixer`, …).
    #[schema(example = "sanction")]
    pub category: String,
    /// Where the entry is: `list:line`.
    #[schema(example = "ultrasoundmoney_ofac_ethereum_addresses.csv:2")]
    pub source: String,
    /// The entry's label, if it has one.
    #[schema(example = "LAZARUS GROUP")]
    pub label: Option<String>,
    /// For indirect exposure: the listed address, then each hop to the sender.
    pub path: Vec<String>,
    /// When an operator decided (RFC 3339), and the reason given.
    pub decided_at: Option<String>,
    /// The operator's reason.
    pub note: Option<String>,
}

impl HoldView {
    fn new(hold: &Hold) -> Self {
        Self {
            state: hold.state.as_str(),
            category: hold.reason.category.clone(),
            source: hold.reason.source(),
            label: hold.reason.label.clone(),
            path: hold.reason.path.iter().map(|a| a.to_checksum(None)).collect(),
            decided_at: hold.decided.as_ref().map(|(at, _)| at.to_rfc3339()),
            note: hold.decided.as_ref().map(|(_, note)| note.clone()),
        }
    }
}

impl InvoiceView {
    /// The view of `invoice` with its canonical `payments`, the chain's
    /// processed head `head` (for confirmations), using `assets` for decimals
    /// and the gateway's public origin `public_url` for `checkout_url`.
    pub fn new(
        invoice: &Invoice,
        payments: &[Payment],
        head: Option<u64>,
        assets: &AssetBook,
        public_url: &str,
    ) -> Self {
        // Payments are stored only from processed blocks, so the processed head
        // is at least the newest of them, whatever a reader's copy of the head
        // says (the API's comes from the watcher a moment after the commit).
        let head = payments.iter().map(|p| p.block.number).max().max(head);
        let asset = assets.get(invoice.amount.asset());
        let address = invoice.deposit.address;
        let paid: U256 = payments
            .iter()
            .filter(|p| p.amount.asset() == invoice.amount.asset() && !p.withheld())
            .fold(U256::ZERO, |sum, p| sum.saturating_add(p.amount.units()));
        Self {
            id: invoice.id,
            status: invoice.status.as_str(),
            exceptions: invoice.exceptions.iter().map(|e| e.as_str()).collect(),
            amount: asset.map(|a| a.format_amount(&invoice.amount)),
            amount_units: invoice.amount.units().to_string(),
            paid: asset.map(|a| coffer_domain::format_units(paid, a.decimals)),
            paid_units: paid.to_string(),
            asset: invoice.amount.asset().symbol.to_string(),
            chain_id: invoice.amount.asset().chain_id.0,
            address: address.to_checksum(None),
            payment_uri: asset.map(|a| payment_uri(a, address, &invoice.amount)),
            checkout_url: format!("{public_url}/pay/{}", invoice.checkout.token),
            payments: payments
                .iter()
                .map(|p| PaymentView::new(invoice, p, head, assets.get(p.amount.asset())))
                .collect(),
            order_id: invoice.order_id.clone(),
            description: invoice.checkout.description.clone(),
            metadata: invoice.metadata.clone(),
            expires_at: invoice.expires_at.to_rfc3339(),
            created_at: invoice.created_at.to_rfc3339(),
        }
    }
}

impl PaymentView {
    fn new(invoice: &Invoice, payment: &Payment, head: Option<u64>, asset: Option<&Asset>) -> Self {
        Self {
            id: payment.id.to_string(),
            tx_hash: payment.tx_hash.to_string(),
            log_index: payment.log_index,
            call_path: payment.call_path.clone(),
            block_number: payment.block.number,
            block_hash: payment.block.hash.to_string(),
            asset: payment.amount.asset().symbol.to_string(),
            amount: asset.map(|a| a.format_amount(&payment.amount)),
            amount_units: payment.amount.units().to_string(),
            from: payment.from.to_checksum(None),
            confirmations: head.map_or(0, |head| confirmations(payment.block.number, head)),
            confirmed: payment.booked_at.is_some(),
            credited: payment.amount.asset() == invoice.amount.asset() && !payment.withheld(),
            late: payment.block_time >= invoice.expires_at,
            seen_at: payment.seen_at.to_rfc3339(),
            state: payment.state.as_str(),
            hold: payment.hold.as_ref().map(HoldView::new),
        }
    }
}

/// A webhook's body.
#[derive(Serialize, ToSchema)]
pub struct EventBody<'a> {
    /// `evt_…`: the same in every delivery of this event (deduplicate on it).
    #[schema(value_type = String)]
    pub id: EventId,
    /// `invoice.settled`, …
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "invoice.settled")]
    pub kind: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// What the event is about.
    pub data: EventData<'a>,
}

/// An event's subject.
#[derive(Serialize, ToSchema)]
pub struct EventData<'a> {
    /// The invoice as it stands after the change.
    pub invoice: &'a InvoiceView,
}

/// The JSON body of event `id` of type `kind` about `invoice`.
pub fn event_payload(id: EventId, kind: EventType, at: Timestamp, invoice: &InvoiceView) -> String {
    let body = EventBody { id, kind: kind.as_str(), created_at: at.to_rfc3339(), data: EventData { invoice } };
    // Serialising plain data (strings, numbers, a JSON map) cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}
