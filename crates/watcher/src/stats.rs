//! Counters of a chain's watcher, for the metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a chain's watcher has done since start.
#[derive(Debug, Default)]
pub struct WatcherStats {
    /// Steps applied.
    pub steps: AtomicU64,
    /// Payments recorded.
    pub payments: AtomicU64,
    /// Payments booked (confirmed).
    pub bookings: AtomicU64,
    /// Invoices settled.
    pub settlements: AtomicU64,
    /// Reorganisations applied.
    pub reorgs: AtomicU64,
    /// Changes other gateways of the fleet announced (through the database).
    pub heard: AtomicU64,
}

impl WatcherStats {
    pub(crate) fn record(&self, payments: usize, bookings: usize, settlements: usize, reorg: bool) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.payments.fetch_add(payments as u64, Ordering::Relaxed);
        self.bookings.fetch_add(bookings as u64, Ordering::Relaxed);
        self.settlements.fetch_add(settlements as u64, Ordering::Relaxed);
        if reorg {
            self.reorgs.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
