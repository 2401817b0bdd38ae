//! Money on the books for tests: an invoice paid, its payment booked and
//! (if asked) the invoice settled, in one chain step on top of the chain's
//! cursor, as a watcher would apply it.

use std::str::FromStr as _;

use coffer_domain::{
    Address, Amount, AssetId, AssetSymbol, B256, BlockRef, ChainId, DepositAddress, DerivationIndex, Exception,
    Exceptions, Invoice, InvoiceId, InvoiceStatus, LedgerTxId, MerchantId, Payment, PaymentId, PaymentState, Timestamp,
    Transaction, U256,
};

use crate::{Booking, ChainStep, InvoiceChange, LedgerPosting, NewInvoice, Settlement};

/// USDT on chain 31337, as the tests configure it.
///
/// # Panics
/// Never: the symbol is valid.
#[allow(clippy::unwrap_used)]
pub fn test_usdt() -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("USDT").unwrap() }
}

/// A new invoice of `merchant` asking `asked`, paid `paid` base units of its
/// asset in one confirmed payment, booked; with `settle`, settled (and
/// `paid_over` if it was), else left `new` with its money in suspense.
///
/// # Panics
/// If the store refuses any of it.
#[allow(clippy::unwrap_used)]
pub async fn paid_invoice(
    store: &dyn crate::Store,
    merchant: MerchantId,
    asked: Amount,
    paid: U256,
    settle: bool,
) -> (Invoice, Payment) {
    let asset = asked.asset();
    let chain = asset.chain_id;
    let index = store.reserve_deposit_indices(1).await.unwrap().start;
    let invoice = Invoice {
        id: InvoiceId::new(),
        merchant_id: merchant,
        status: InvoiceStatus::New,
        exceptions: Exceptions::default(),
        amount: asked,
        deposit: DepositAddress {
            index: DerivationIndex::try_from(u64::from(index)).unwrap(),
            address: Address::left_padding_from(&index.to_be_bytes()),
        },
        order_id: None,
        metadata: serde_json::Map::new(),
        created_at: Timestamp::now(),
        expires_at: Timestamp::now().plus_secs(900),
        checkout: coffer_domain::Checkout::random().unwrap(),
    };
    store.insert_invoice(NewInvoice { invoice: invoice.clone(), idempotency: None }).await.unwrap();
    let parent = store.chain_cursor(chain).await.unwrap();
    let number = parent.map_or(1, |p| p.number + 1);
    let tip = BlockRef { number, hash: B256::from_slice(&[uuid::Uuid::now_v7().as_bytes().as_slice(); 2].concat()) };
    let tx_hash = B256::from_slice(&[uuid::Uuid::now_v7().as_bytes().as_slice(); 2].concat());
    let amount = Amount::from_units(asset, paid);
    let now = Timestamp::now();
    let payment = Payment {
        id: PaymentId::of(chain, tip.hash, tx_hash, Some(0)),
        invoice_id: invoice.id,
        amount,
        from: Address::repeat_byte(0xaa),
        to: invoice.deposit.address,
        tx_hash,
        log_index: Some(0),
        call_path: None,
        block: tip,
        block_time: now,
        state: PaymentState::Canonical,
        booked_at: None,
        settled_at: None,
        seen_at: now,
        moved_from: None,
        displaced_until: None,
        hold: None,
    };
    let mut changes = Vec::new();
    let mut settled = invoice.clone();
    if settle {
        let mut exceptions = Exceptions::default();
        if paid > asked.units() {
            exceptions.insert(Exception::PaidOver);
        }
        changes.push(InvoiceChange {
            invoice_id: invoice.id,
            merchant_id: merchant,
            from: InvoiceStatus::New,
            from_exceptions: Exceptions::default(),
            status: InvoiceStatus::Settled,
            exceptions,
            settlement: Some(Settlement {
                posting: LedgerPosting {
                    id: LedgerTxId::new(),
                    transaction: Transaction::settlement(merchant, amount).unwrap(),
                },
                payments: vec![payment.id],
            }),
            events: Vec::new(),
        });
        settled.status = InvoiceStatus::Settled;
        settled.exceptions = exceptions;
    }
    let step = ChainStep {
        fence: None,
        chain_id: chain,
        parent,
        tip,
        revert_above: None,
        displace_until: number + 2,
        remember: Vec::new(),
        forget_below: 0,
        payments: vec![payment.clone()],
        bookings: vec![Booking {
            payment_id: payment.id,
            invoice_id: invoice.id,
            receipt: LedgerPosting { id: LedgerTxId::new(), transaction: Transaction::receipt(amount).unwrap() },
        }],
        recoveries: Vec::new(),
        changes,
        at: now,
        lease_until: now,
    };
    store.apply_chain_step(step).await.unwrap();
    let booked = Payment { booked_at: Some(now), settled_at: settle.then_some(now), ..payment };
    (settled, booked)
}
