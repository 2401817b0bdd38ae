//! Time's part of the lifecycle, beside the chain's: invoices whose window
//! closes without full payment expire (`invoice.expired`), and expired ones
//! whose late-payment window has closed stop being watched.
//!
//! This runs as its own task so that a long catch-up never delays an
//! expiry. It writes with the same compare-and-set on each invoice's status
//! as the chain steps, so when both touch one invoice at once, one of the
//! two writes is refused and recomputed: nothing is applied on stale data.

use std::time::Duration;

use coffer_domain::{InvoiceId, InvoiceStatus, Timestamp};
use coffer_store::InvoiceChanges;
use tokio::sync::watch;

use crate::chain_watcher::{Shared, pause};
use crate::plan::change_for;

/// How often expiries are looked for.
const TICK: Duration = Duration::from_secs(1);
/// How often aged-out expired invoices are dropped from the watch list.
const PRUNE_EVERY: u32 = 60;
/// Most invoices expired in one write.
const BATCH: u32 = 500;

pub(crate) async fn run(shared: Shared, mut stop: watch::Receiver<bool>) {
    let mut ticks = 0u32;
    let mut pruned_to = Timestamp::from_millis(0);
    let mut backoff = Duration::from_millis(100);
    loop {
        let result = async {
            while expire_due(&shared).await? == BATCH as usize {}
            if ticks.is_multiple_of(PRUNE_EVERY) {
                pruned_to = prune(&shared, pruned_to).await?;
            }
            Ok::<_, coffer_store::StoreError>(())
        }
        .await;
        ticks = ticks.wrapping_add(1);
        match result {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(err) => {
                tracing::warn!(chain = %shared.chain_id(), error = %err, "expiring invoices failed; retrying");
                if pause(&mut stop, &mut backoff).await {
                    return;
                }
                continue;
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Expires the invoices whose window has closed; returns how many it expired.
///
/// "Closed" is judged by how far the chain has been read, not by the wall
/// clock alone: while the watcher is behind (catching up, or the node is
/// away), a payment in a block from before the expiry may not be seen yet,
/// and expiring meanwhile would tell the merchant "expired" for a paid invoice.
async fn expire_due(shared: &Shared) -> Result<usize, coffer_store::StoreError> {
    let now = Timestamp::now();
    let Some(cutoff) = shared.health.seen_until(now) else { return Ok(0) };
    let due = shared.store.invoices_due_to_expire(shared.chain_id(), cutoff, BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let ids: Vec<InvoiceId> = due.iter().map(|i| i.id).collect();
    let mut payments = shared.store.payments_by_invoice(&ids).await?;
    let mut changes = Vec::new();
    for invoice in &due {
        let list = payments.entry(invoice.id).or_default();
        // No head: only what the chain steps have booked counts as confirmed
        // here (the watcher's tip in memory may be ahead of, or after a
        // reorganisation behind, what the store holds).
        match change_for(shared.rules(), invoice, list, None, cutoff, now) {
            // Only expiry is decided here; payments are the chain step's to judge.
            Ok(Some(change)) if change.status == InvoiceStatus::Expired => changes.push(change),
            Ok(_) => {}
            Err(err) => tracing::error!(invoice = %invoice.id, error = %err, "cannot assess an invoice for expiry"),
        }
    }
    let count = changes.len();
    if count > 0 {
        let applied = shared
            .store
            .apply_invoice_changes(InvoiceChanges {
                fence: shared.fence.clone(),
                changes,
                at: now,
                lease_until: shared.lease_until(now),
            })
            .await?;
        tracing::info!(chain = %shared.chain_id(), count, "invoices expired");
        shared.dispatch(applied.deliveries);
        shared.changes.raise();
    }
    Ok(count)
}

/// Stops watching final invoices whose late-payment window closed since
/// `from`, in the chain's time (see [`expire_due`]).
async fn prune(shared: &Shared, from: Timestamp) -> Result<Timestamp, coffer_store::StoreError> {
    let Some(seen_until) = shared.health.seen_until(Timestamp::now()) else { return Ok(from) };
    let to = seen_until.minus(shared.settings.late_window);
    if to <= from {
        return Ok(from);
    }
    for address in shared.store.aged_out_between(shared.chain_id(), from, to).await? {
        shared.watchlist.remove(&address);
    }
    sweep_unstored(shared).await?;
    shared.health.set_watched(shared.watchlist.len() as u64);
    Ok(to)
}

/// How long an address watched for an invoice about to be stored may wait
/// for the store's answer before the invoice is looked up.
const PENDING_GRACE: Duration = Duration::from_secs(60);

/// Unwatches the addresses watched for invoices whose insert never finished
/// and that were not stored: a request cut short must not leave an entry for
/// ever. One that was stored after all stays watched.
async fn sweep_unstored(shared: &Shared) -> Result<(), coffer_store::StoreError> {
    let old = shared.watchlist.take_pending_older_than(PENDING_GRACE);
    if old.is_empty() {
        return Ok(());
    }
    let ids: Vec<InvoiceId> = old.iter().map(|(_, id)| *id).collect();
    let stored: std::collections::HashSet<InvoiceId> =
        shared.store.invoices_by_ids(&ids).await?.into_iter().map(|i| i.id).collect();
    for (address, id) in old {
        if !stored.contains(&id) && shared.watchlist.get(&address) == Some(id) {
            shared.watchlist.remove(&address);
        }
    }
    Ok(())
}
