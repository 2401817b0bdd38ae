//! Sweeps of settled invoices' deposit addresses, and the treasury's
//! figures beside the books.
//!
//! A deposit is due for a sweep when its invoice settled and what the books
//! hold for it in an asset (its booked payments, less what sweeps not
//! refused or failed took) is at least the asset's minimum, and no sweep of
//! it is in flight (a unique index: one open sweep per deposit and asset,
//! whatever the gateways). A refused sweep counts as taken: the signer said
//! no by its own rule, and asking again each round would only be refused
//! again; a person looks. Outcomes are applied through
//! [`crate::PayoutStore::record_answer`].

use async_trait::async_trait;
use coffer_domain::{Amount, AssetId, DerivationIndex, InvoiceId, Sweep, SweepId, Timestamp, U256};

use crate::Result;

/// A deposit the books say holds enough to sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueSweep {
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// The deposit address's index.
    pub deposit_index: DerivationIndex,
    /// What the books hold for it, not yet swept.
    pub amount: Amount,
    /// What the books say the address holds on chain now, in base units:
    /// its canonical booked payments, less what sweeps took and the gas its
    /// failed sweeps paid. The signer compares it with its own node
    /// (`SweepIntent::claimed`); payments displaced or written off are left
    /// out (their blocks are gone), so the claim never exceeds what an
    /// honest gateway can know is there.
    pub claimed: U256,
}

/// A sweep to create, with its request to the signer.
#[derive(Clone, Debug)]
pub struct NewSweep {
    /// The sweep, `pending`.
    pub sweep: Sweep,
    /// The body of the request to the signer.
    pub intent: String,
}

/// What the ledger and the in-flight requests say of one asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreasuryBooks {
    /// The asset.
    pub asset: AssetId,
    /// What the deposit addresses hold, by the books.
    pub deposits: U256,
    /// What the hot wallet holds, by the books; negative (`None`) is a breach.
    pub hot: Option<U256>,
    /// What the cold address holds, by the books.
    pub cold: Option<U256>,
    /// Reserved for payouts not yet confirmed or failed.
    pub reserved: U256,
    /// Payouts sent and not yet confirmed: gone from the chain's hot balance
    /// (once mined), still on the books.
    pub payouts_in_flight: U256,
    /// Sweeps asked for and not yet confirmed: on the way into a treasury wallet.
    pub sweeps_in_flight: U256,
    /// Network fees booked.
    pub network_fees: U256,
}

/// Sweeps and the treasury's books.
#[async_trait]
pub trait SweepStore: Send + Sync {
    /// Up to `limit` deposits of settled invoices holding at least `minimum`
    /// of `asset` by the books, not swept and with no sweep in flight, oldest first.
    async fn due_sweeps(&self, asset: AssetId, minimum: U256, limit: u32) -> Result<Vec<DueSweep>>;
    /// Creates sweeps and their outbox rows, in one transaction; one whose
    /// deposit has a sweep in flight already (another gateway's) is left
    /// out. Returns those created.
    async fn create_sweeps(&self, sweeps: Vec<NewSweep>, at: Timestamp) -> Result<Vec<Sweep>>;
    /// The sweep with this id.
    async fn sweep(&self, id: SweepId) -> Result<Option<Sweep>>;
    /// The sweeps of an invoice's deposit, oldest first.
    async fn sweeps_of(&self, invoice_id: InvoiceId) -> Result<Vec<Sweep>>;
    /// The treasury's figures per asset, from the running totals and the
    /// payouts and sweeps in flight, read in one snapshot.
    async fn treasury_books(&self) -> Result<Vec<TreasuryBooks>>;
}
