//! Refunds: what of an invoice's money a merchant may send back, and from
//! which account of the books it comes.
//!
//! - A **settled** invoice credited the merchant with everything it
//!   settled with. What was paid over the amount (`paid_over`), and what
//!   was paid late (`paid_late`: a merchant may refuse a late payment, so
//!   all of it), can be refunded from the merchant's balance.
//! - An **invalidated** invoice, or an **expired** one, credited nothing:
//!   what it received waits in suspense (ADR 0005). All of it can be
//!   refunded, from suspense.
//!
//! Only confirmed (booked) payments in the invoice's asset count, and never
//! one screening holds (an operator decides those, ADR 0015), as for
//! every exception (ADR 0009): a refund of money a reorganisation can still
//! take away would pay out what never arrived. A payment in another asset,
//! and what reached a settled invoice after it settled, stay for a person.
//! What earlier refunds of the invoice took is the store's to subtract,
//! under the same lock as its balance check.

use alloy_primitives::U256;

use crate::{Amount, Exception, Invoice, InvoiceStatus, Payment, ReserveSource};

/// The most that may be refunded of an invoice, and from where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refundable {
    /// The account the refund is reserved from.
    pub source: ReserveSource,
    /// The most, before earlier refunds are taken off.
    pub max: Amount,
}

/// What of `invoice` may be refunded given its `payments` (any states:
/// those that do not count are left out), or `None` if nothing may.
pub fn refundable(invoice: &Invoice, payments: &[Payment]) -> Option<Refundable> {
    let asset = invoice.amount.asset();
    let booked = payments.iter().filter(|p| {
        p.invoice_id == invoice.id
            && p.amount.asset() == asset
            && p.state.counts()
            && p.booked_at.is_some()
            && !p.withheld()
    });
    let sum = |filter: &dyn Fn(&&Payment) -> bool| {
        booked.clone().filter(filter).fold(U256::ZERO, |sum, p| sum.saturating_add(p.amount.units()))
    };
    let (source, units) = match invoice.status {
        InvoiceStatus::Invalid | InvoiceStatus::Expired => (ReserveSource::Suspense, sum(&|_| true)),
        InvoiceStatus::Settled => {
            let settled = sum(&|p| p.settled_at.is_some());
            let mut units = U256::ZERO;
            if invoice.exceptions.contains(Exception::PaidOver) {
                units = settled.saturating_sub(invoice.amount.units());
            }
            if invoice.exceptions.contains(Exception::PaidLate) {
                let late = sum(&|p| p.settled_at.is_some() && p.block_time >= invoice.expires_at);
                units = units.saturating_add(late).min(settled);
            }
            (ReserveSource::Merchant, units)
        }
        InvoiceStatus::New | InvoiceStatus::Processing => return None,
    };
    (!units.is_zero()).then(|| Refundable { source, max: Amount::from_units(asset, units) })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use alloy_primitives::{Address, B256};

    use super::*;
    use crate::{
        AssetId, AssetSymbol, BlockRef, ChainId, DepositAddress, DerivationIndex, Exceptions, InvoiceId, MerchantId,
        PaymentId, PaymentState, Timestamp,
    };

    fn usdt() -> AssetId {
        AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str("USDT").unwrap() }
    }

    fn invoice(status: InvoiceStatus, exceptions: &[Exception]) -> Invoice {
        Invoice {
            id: InvoiceId::new(),
            merchant_id: MerchantId::new(),
            status,
            exceptions: exceptions.iter().copied().collect::<Exceptions>(),
            amount: Amount::from_units(usdt(), U256::from(10_000_000u64)),
            deposit: DepositAddress { index: DerivationIndex::try_from(1).unwrap(), address: Address::repeat_byte(1) },
            order_id: None,
            metadata: Default::default(),
            created_at: Timestamp::from_millis(1_000),
            expires_at: Timestamp::from_millis(100_000),
            checkout: crate::Checkout::random().unwrap(),
        }
    }

    fn paid(invoice: &Invoice, units: u64, at_millis: i64, settled: bool) -> Payment {
        let tx = B256::from(U256::from(units + at_millis as u64));
        Payment {
            id: PaymentId::of(ChainId(31337), B256::repeat_byte(1), tx, Some(0)),
            invoice_id: invoice.id,
            amount: Amount::from_units(usdt(), U256::from(units)),
            from: Address::repeat_byte(2),
            to: invoice.deposit.address,
            tx_hash: tx,
            log_index: Some(0),
            call_path: None,
            block: BlockRef { number: 1, hash: B256::repeat_byte(1) },
            block_time: Timestamp::from_millis(at_millis),
            state: PaymentState::Canonical,
            booked_at: Some(Timestamp::from_millis(at_millis)),
            settled_at: settled.then(|| Timestamp::from_millis(at_millis)),
            seen_at: Timestamp::from_millis(at_millis),
            moved_from: None,
            displaced_until: None,
            hold: None,
        }
    }

    fn units(refundable: Option<Refundable>) -> Option<(ReserveSource, u64)> {
        refundable.map(|r| (r.source, r.max.units().to::<u64>()))
    }

    #[test]
    fn an_overpaid_invoice_refunds_the_excess_from_the_merchant() {
        let inv = invoice(InvoiceStatus::Settled, &[Exception::PaidOver]);
        let payments = [paid(&inv, 7_000_000, 5_000, true), paid(&inv, 5_500_000, 6_000, true)];
        assert_eq!(units(refundable(&inv, &payments)), Some((ReserveSource::Merchant, 2_500_000)));
    }

    #[test]
    fn a_late_payment_refunds_in_full_and_an_exact_one_not_at_all() {
        let late = invoice(InvoiceStatus::Settled, &[Exception::PaidLate]);
        let payments = [paid(&late, 4_000_000, 5_000, true), paid(&late, 6_000_000, 200_000, true)];
        assert_eq!(units(refundable(&late, &payments)), Some((ReserveSource::Merchant, 6_000_000)));
        let both = invoice(InvoiceStatus::Settled, &[Exception::PaidLate, Exception::PaidOver]);
        let all_late = [paid(&both, 12_000_000, 200_000, true)];
        assert_eq!(units(refundable(&both, &all_late)), Some((ReserveSource::Merchant, 12_000_000)), "capped");
        let exact = invoice(InvoiceStatus::Settled, &[]);
        assert_eq!(refundable(&exact, &[paid(&exact, 10_000_000, 5_000, true)]), None);
    }

    #[test]
    fn an_invalidated_or_expired_invoice_refunds_what_it_holds_in_suspense() {
        for status in [InvoiceStatus::Invalid, InvoiceStatus::Expired] {
            let inv = invoice(status, &[Exception::PaidPartial]);
            let mut unconfirmed = paid(&inv, 9, 6_000, false);
            unconfirmed.booked_at = None;
            let mut orphaned = paid(&inv, 11, 7_000, false);
            orphaned.state = PaymentState::Orphaned;
            let payments = [paid(&inv, 3_000_000, 5_000, false), unconfirmed, orphaned];
            assert_eq!(units(refundable(&inv, &payments)), Some((ReserveSource::Suspense, 3_000_000)), "{status}");
        }
        let untouched = invoice(InvoiceStatus::Invalid, &[]);
        assert_eq!(refundable(&untouched, &[]), None);
    }

    #[test]
    fn open_invoices_refund_nothing() {
        for status in [InvoiceStatus::New, InvoiceStatus::Processing] {
            let inv = invoice(status, &[Exception::PaidPartial]);
            assert_eq!(refundable(&inv, &[paid(&inv, 3_000_000, 5_000, false)]), None);
        }
    }
}
