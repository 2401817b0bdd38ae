//! Screening a payment's sender when the watcher first sees it (ADR 0015).
//! The lists live outside the watcher (the gateway loads and reloads
//! them); the watcher only asks, for each new payment, whether its sender
//! is one to hold.

use std::fmt;

use coffer_domain::{Address, HoldReason};

/// Decides whether a payment from `sender` is held, and why.
pub trait Screener: fmt::Debug + Send + Sync {
    /// The hit that holds a payment from `sender`, if any. Called once per
    /// new payment, inside a step: it must be fast and do no I/O.
    fn screen(&self, sender: &Address) -> Option<HoldReason>;
}

/// Screens nothing: no lists configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoScreening;

impl Screener for NoScreening {
    fn screen(&self, _sender: &Address) -> Option<HoldReason> {
        None
    }
}
