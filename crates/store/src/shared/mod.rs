//! Implementations both backends share. The SQL works in SQLite and
//! PostgreSQL alike (`$n` placeholders, `ON CONFLICT`, `RETURNING`), and
//! only the connection type differs, so macros write each trait's
//! implementation once for both stores (like [`crate::reads`]).

mod audit;
mod audited_acts;
mod branding;
mod chain;
mod chain_writes;
pub(crate) mod console;
mod ledger;
mod payout_writes;
mod payouts;
mod screening;
mod sweeps;
pub(crate) mod treasury;
mod webhooks;

use std::collections::HashMap;

use coffer_domain::{Account, Exceptions, InvoiceId, InvoiceStatus, Side, Transaction, U256};

pub(crate) use audit::audit_store;
pub(crate) use audited_acts::audited_acts;
pub(crate) use branding::branding_store;
pub(crate) use chain::chain_store;
pub(crate) use chain_writes::chain_writes;
pub(crate) use console::console_store;
pub(crate) use ledger::ledger_store;
pub(crate) use payout_writes::payout_writes;
pub(crate) use payouts::payout_store;
pub(crate) use screening::screening_store;
pub(crate) use sweeps::{sweep_store, sweep_writes};
pub(crate) use webhooks::{attempt_columns, webhook_store};

use crate::{InvoiceChange, StoreError};

/// Most ids in one `IN (…)` list or rows in one multi-row insert: well under
/// SQLite's 32,766 bound parameters even at 16 columns a row.
pub(crate) const MAX_IN: usize = 500;

/// What a write changed in invoices, for the SQLite store's cache.
pub(crate) type ChangedInvoice = (InvoiceId, InvoiceStatus, Exceptions);

pub(crate) fn changed(changes: &[InvoiceChange]) -> Vec<ChangedInvoice> {
    changes.iter().map(|c| (c.invoice_id, c.status, c.exceptions)).collect()
}

/// Base units stored as decimal text.
pub(crate) fn units(text: &str) -> Result<U256, StoreError> {
    U256::from_str_radix(text, 10).map_err(|e| StoreError::corrupt("ledger_balances", e))
}

/// Debit and credit totals per account, summed over a write's postings and
/// added to the stored running totals once, at its end.
#[derive(Default)]
pub(crate) struct Balances {
    totals: HashMap<Account, (U256, U256)>,
}

impl Balances {
    pub(crate) fn add(&mut self, transaction: &Transaction) -> Result<(), StoreError> {
        for entry in transaction.entries() {
            let (debits, credits) = self.totals.entry(entry.account).or_default();
            let sum = match entry.side {
                Side::Debit => debits,
                Side::Credit => credits,
            };
            *sum = sum
                .checked_add(entry.amount.units())
                .ok_or_else(|| StoreError::Conflict(format!("ledger totals of {:?} overflow", entry.account)))?;
        }
        Ok(())
    }

    pub(crate) fn into_totals(self) -> impl Iterator<Item = (Account, (U256, U256))> {
        self.totals.into_iter()
    }
}
