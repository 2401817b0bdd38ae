//! The sweep scheduler: every so often, settled deposits that the books say
//! hold at least their asset's minimum are handed to the signer (through
//! the outbox, as payouts are). The signer derives each address and reads
//! its balance itself; the gateway names only the deposit.

use std::sync::Arc;
use std::time::Duration;

use coffer_domain::{Amount, AssetBook, AssetId, AssetKind, PayoutStatus, Sweep, SweepId, Timestamp};
use coffer_signer_api::SweepIntent;
use coffer_store::{NewSweep, Store};

use crate::outbox::Outbox;

/// Most deposits of one asset handed over in one round.
const PER_ROUND: u32 = 100;

/// What the scheduler needs.
#[derive(Debug)]
pub(crate) struct Sweeper {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) assets: Arc<AssetBook>,
    /// Each swept asset's minimum.
    pub(crate) minimums: Vec<Amount>,
    pub(crate) interval: Duration,
    pub(crate) outbox: Arc<Outbox>,
}

/// The chain's native coin, in which a sweep's fees are booked.
pub(crate) fn native(assets: &AssetBook, of: AssetId) -> Option<AssetId> {
    assets.iter().find(|a| a.id.chain_id == of.chain_id && a.kind == AssetKind::Native).map(|a| a.id)
}

impl Sweeper {
    /// Runs until `stop` completes.
    pub(crate) async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = self.round() => {}
                () = &mut stop => return,
            }
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = &mut stop => return,
            }
        }
    }

    async fn round(&self) {
        let mut created = 0;
        for minimum in &self.minimums {
            match self.sweep(*minimum).await {
                Ok(count) => created += count,
                Err(err) => tracing::warn!(asset = %minimum.asset(), error = %err, "cannot schedule sweeps; retrying"),
            }
        }
        if created > 0 {
            tracing::info!(sweeps = created, "sweeps handed to the signer");
            self.outbox.wake();
        }
    }

    async fn sweep(&self, minimum: Amount) -> Result<usize, String> {
        let asset = minimum.asset();
        let Some(fee_asset) = native(&self.assets, asset) else {
            return Err(format!("chain {} has no native coin configured to book sweep fees in", asset.chain_id));
        };
        let due = self.store.due_sweeps(asset, minimum.units(), PER_ROUND).await.map_err(|e| e.to_string())?;
        let now = Timestamp::now();
        let sweeps = due
            .into_iter()
            .map(|due| {
                let sweep = Sweep {
                    id: SweepId::new(),
                    invoice_id: due.invoice_id,
                    deposit_index: due.deposit_index,
                    amount: due.amount,
                    fee_asset,
                    status: PayoutStatus::Pending,
                    tx_hash: None,
                    to_cold: None,
                    moved: None,
                    network_fee: None,
                    note: None,
                    created_at: now,
                    updated_at: now,
                };
                // What the books say the address holds: the signer checks it
                // against its own node, so a gateway claiming deposits that
                // are not on chain trips its freeze (ADR 0013).
                let intent = SweepIntent {
                    claimed: Some(due.claimed),
                    id: sweep.id,
                    chain_id: asset.chain_id,
                    asset: asset.symbol,
                    index: due.deposit_index,
                };
                let intent = serde_json::to_string(&intent).map_err(|e| e.to_string())?;
                Ok(NewSweep { sweep, intent })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let created = self.store.create_sweeps(sweeps, now).await.map_err(|e| e.to_string())?;
        Ok(created.len())
    }
}
