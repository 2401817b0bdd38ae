//! Many open invoices, written straight to the store before the gateway
//! starts (the API would take minutes for a million; the watcher loads them
//! the same way whoever wrote them). Their addresses are random: no one will
//! derive keys for them, and the bench pays some of them on a dev chain.

use std::str::FromStr as _;

use anyhow::Context as _;
use coffer_domain::{
    Address, Amount, AssetId, AssetSymbol, ChainId, DepositAddress, DerivationIndex, Exceptions, Invoice, InvoiceId,
    InvoiceStatus, MerchantId, Timestamp, U256,
};
use coffer_store::{NewInvoice, Store};
use futures_util::StreamExt as _;

/// Invoices of one merchant, one asset, one price.
pub(crate) struct FillSpec {
    pub(crate) merchant: MerchantId,
    pub(crate) token: &'static str,
    pub(crate) chain_id: u64,
    pub(crate) units: u64,
}

/// Writes in flight at once: the SQLite writer commits them in groups.
const IN_FLIGHT: usize = 1024;
/// Derivation indices far above what the gateway's address pool hands out.
const FIRST_INDEX: u64 = 1_000_000_000;

/// Writes `count` open invoices; returns their deposit addresses in order.
pub(crate) async fn fill(store: &dyn Store, spec: &FillSpec, count: usize) -> anyhow::Result<Vec<Address>> {
    let asset = AssetId { chain_id: ChainId(spec.chain_id), symbol: AssetSymbol::from_str(spec.token)? };
    let now = Timestamp::now();
    let invoices: Vec<Invoice> = (0..count)
        .map(|i| {
            let mut bytes = [0u8; 20];
            getrandom::fill(&mut bytes).context("randomness for addresses")?;
            let index = DerivationIndex::try_from(FIRST_INDEX + i as u64).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(Invoice {
                id: InvoiceId::new(),
                merchant_id: spec.merchant,
                status: InvoiceStatus::New,
                exceptions: Exceptions::default(),
                amount: Amount::from_units(asset, U256::from(spec.units)),
                deposit: DepositAddress { index, address: Address::from(bytes) },
                order_id: None,
                metadata: serde_json::Map::new(),
                created_at: now,
                expires_at: now.plus_secs(7 * 24 * 3600),
                checkout: coffer_domain::Checkout::random()?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let addresses = invoices.iter().map(|i| i.deposit.address).collect();
    let mut writes = futures_util::stream::iter(invoices)
        .map(|invoice| store.insert_invoice(NewInvoice { invoice, idempotency: None }))
        .buffer_unordered(IN_FLIGHT);
    while let Some(written) = writes.next().await {
        written.context("writing an invoice")?;
    }
    Ok(addresses)
}
