//! Where transfers come from: a node (see [`crate::rpc`]), or memory (a
//! CSV export, a test's staged graph).

use std::collections::HashMap;
use std::future::Future;

use alloy_primitives::{Address, B256};

use crate::Transfer;

/// A source that could not answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Transfers by address and by transaction, within the source's block range.
pub trait TransferSource {
    /// Every transfer into or out of `address`.
    fn history(&mut self, address: Address) -> impl Future<Output = Result<Vec<Transfer>, SourceError>> + Send;
    /// The transfers transaction `tx` made.
    fn transaction(&mut self, tx: B256) -> impl Future<Output = Result<Vec<Transfer>, SourceError>> + Send;
    /// How it found native transfers, for the output ("the node's trace_filter").
    fn note(&self) -> String;
}

/// Transfers held in memory, indexed both ways.
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    transfers: Vec<Transfer>,
    by_address: HashMap<Address, Vec<usize>>,
    by_tx: HashMap<B256, Vec<usize>>,
    note: String,
}

impl MemorySource {
    /// Indexes `transfers`; `note` says where they came from.
    pub fn new(transfers: Vec<Transfer>, note: impl Into<String>) -> Self {
        let mut by_address: HashMap<Address, Vec<usize>> = HashMap::new();
        let mut by_tx: HashMap<B256, Vec<usize>> = HashMap::new();
        for (i, t) in transfers.iter().enumerate() {
            by_address.entry(t.from).or_default().push(i);
            if t.to != t.from {
                by_address.entry(t.to).or_default().push(i);
            }
            by_tx.entry(t.id.tx).or_default().push(i);
        }
        Self { transfers, by_address, by_tx, note: note.into() }
    }

    /// Every transfer held.
    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    fn pick(&self, indexes: Option<&Vec<usize>>) -> Vec<Transfer> {
        indexes.into_iter().flatten().map(|&i| self.transfers[i].clone()).collect()
    }
}

impl TransferSource for MemorySource {
    async fn history(&mut self, address: Address) -> Result<Vec<Transfer>, SourceError> {
        Ok(self.pick(self.by_address.get(&address)))
    }

    async fn transaction(&mut self, tx: B256) -> Result<Vec<Transfer>, SourceError> {
        Ok(self.pick(self.by_tx.get(&tx)))
    }

    fn note(&self) -> String {
        self.note.clone()
    }
}
