//! What was spent in the last hour and the last day, as rings of time
//! buckets: a decision costs O(buckets), never O(history).
//!
//! Each key (an asset, an asset and a merchant, a chain's fees) has two
//! sparse rings: 1-minute buckets for the hour, 15-minute buckets for the
//! day, each a sorted `VecDeque` of the buckets that hold something. A sum
//! is **conservative**: a bucket counts while any second of it is inside the
//! window, so the sum is never below what was spent in the last 3600 (or
//! 86 400) seconds, and at most one bucket's width of older spending above
//! it. A spend at `t` stops counting against the hour at `t + 3600 + 60` at
//! the latest. Fixed windows, by contrast, let twice the limit through
//! across a boundary.
//!
//! Time moves forward with the latest `at` recorded (the head): buckets that
//! no longer reach into the window behind the head are dropped, so a ring
//! never holds more than `window / width + 1` buckets (61 and 97). A spend
//! older than the day behind the head is ignored; one out of order but
//! within the window is counted in its bucket (the signer replays its spend
//! ledger at start, from [`Windows::replay_from`]). The rings trust the
//! signer's clock: a clock that jumps forward prunes against the future, so
//! the signer should refuse to decide while `now` is before [`Windows::latest`].

use std::collections::{HashMap, VecDeque};

use coffer_domain::{AssetId, ChainId, MerchantId, U256};

use crate::policy::{DAY, HOUR};

/// Width of the hour ring's buckets, in seconds.
pub const BUCKET_1H_SECS: i64 = 60;
/// Width of the day ring's buckets, in seconds.
pub const BUCKET_24H_SECS: i64 = 900;

/// One window length and its bucket width.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Horizon {
    pub(crate) span: i64,
    pub(crate) width: i64,
}

pub(crate) const HOUR_RING: Horizon = Horizon { span: HOUR, width: BUCKET_1H_SECS };
pub(crate) const DAY_RING: Horizon = Horizon { span: DAY, width: BUCKET_24H_SECS };

impl Horizon {
    /// The start of the bucket holding second `at`.
    fn start(self, at: i64) -> i64 {
        at.saturating_sub(at.rem_euclid(self.width))
    }

    /// Whether the bucket starting at `start` has a second inside the window
    /// ending at `now`, the seconds `now - span + 1 ..= now`.
    fn live(self, start: i64, now: i64) -> bool {
        start.saturating_add(self.width - 1) > now.saturating_sub(self.span)
    }

    /// The most buckets a window can touch.
    #[cfg(test)]
    pub(crate) fn capacity(self) -> usize {
        usize::try_from(self.span / self.width + 1).unwrap_or(usize::MAX)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    start: i64,
    amount: U256,
    count: u64,
}

/// One horizon's buckets, oldest first, only those that hold something.
#[derive(Clone, Debug, Default)]
struct Ring {
    buckets: VecDeque<Bucket>,
}

impl Ring {
    fn add(&mut self, horizon: Horizon, head: i64, at: i64, amount: U256) {
        let start = horizon.start(at);
        if !horizon.live(start, head) {
            return;
        }
        let position = self.buckets.partition_point(|b| b.start < start);
        match self.buckets.get_mut(position) {
            Some(bucket) if bucket.start == start => {
                bucket.amount = bucket.amount.saturating_add(amount);
                bucket.count = bucket.count.saturating_add(1);
            }
            _ => self.buckets.insert(position, Bucket { start, amount, count: 1 }),
        }
        self.prune(horizon, head);
    }

    fn prune(&mut self, horizon: Horizon, head: i64) {
        while self.buckets.front().is_some_and(|b| !horizon.live(b.start, head)) {
            self.buckets.pop_front();
        }
    }

    /// Amount and count of the buckets live at `now` (newest first, so the
    /// walk stops at the first dead one).
    fn total(&self, horizon: Horizon, now: i64) -> (U256, u64) {
        self.buckets
            .iter()
            .rev()
            .take_while(|b| horizon.live(b.start, now))
            .fold((U256::ZERO, 0), |(amount, count), b| {
                (amount.saturating_add(b.amount), count.saturating_add(b.count))
            })
    }
}

/// A key's two rings.
#[derive(Clone, Debug, Default)]
struct Rings {
    hour: Ring,
    day: Ring,
}

impl Rings {
    fn add(&mut self, head: i64, at: i64, amount: U256) {
        self.hour.add(HOUR_RING, head, at, amount);
        self.day.add(DAY_RING, head, at, amount);
    }

    fn totals(&self, now: i64) -> Totals {
        let (amount_1h, count_1h) = self.hour.total(HOUR_RING, now);
        let (amount_24h, count_24h) = self.day.total(DAY_RING, now);
        Totals { amount_1h, amount_24h, count_1h, count_24h }
    }

    /// Prunes both rings; false when nothing is left (the day ring reaches
    /// back furthest, so an empty day ring means an empty hour ring).
    fn keep(&mut self, head: i64) -> bool {
        self.hour.prune(HOUR_RING, head);
        self.day.prune(DAY_RING, head);
        !self.day.buckets.is_empty()
    }

    fn buckets(&self) -> usize {
        self.hour.buckets.len() + self.day.buckets.len()
    }
}

/// Something the signer committed: a payout, or network fees (a gas
/// top-up's value, or what a fee bump adds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spend {
    /// A signed payout: counts against the asset's global and the merchant's limits.
    Payout {
        /// The asset paid.
        asset: AssetId,
        /// The merchant it was paid for.
        merchant: MerchantId,
        /// Base units.
        amount: U256,
    },
    /// Network fees: count against the chain's fee budget.
    Fee {
        /// The chain.
        chain: ChainId,
        /// Wei.
        amount: U256,
    },
}

/// Spent over the rolling hour and day, conservatively (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Base units in the last hour.
    pub amount_1h: U256,
    /// Base units in the last 24 hours.
    pub amount_24h: U256,
    /// Spends in the last hour.
    pub count_1h: u64,
    /// Spends in the last 24 hours.
    pub count_24h: u64,
}

/// An asset's payouts: by all merchants, and by one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PayoutTotals {
    /// All merchants together.
    pub global: Totals,
    /// The merchant asked about.
    pub merchant: Totals,
}

/// A chain's network fees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeeTotals {
    /// Wei in the last hour.
    pub amount_1h: U256,
    /// Wei in the last 24 hours.
    pub amount_24h: U256,
}

/// Every key's rings. Memory and the cost of a decision depend on what was
/// spent in the last day (how many keys, at most 158 buckets each), never on
/// how long the signer has run.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    head: Option<i64>,
    /// The day bucket of the head at the last sweep of idle keys.
    swept: Option<i64>,
    assets: HashMap<AssetId, Rings>,
    merchants: HashMap<(AssetId, MerchantId), Rings>,
    fees: HashMap<ChainId, Rings>,
    /// Payouts signed under the restricted profile, which it counts its
    /// own limits against (ADR 0013).
    restricted: HashMap<AssetId, Rings>,
}

impl Windows {
    /// Nothing spent.
    pub fn new() -> Self {
        Self::default()
    }

    /// The earliest `at` whose spend can still count at `now`: where the
    /// signer's replay of its spend ledger starts (a little more than 24
    /// hours back, since the oldest day bucket counts whole).
    pub fn replay_from(now: i64) -> i64 {
        DAY_RING.start(now.saturating_sub(DAY - 1))
    }

    /// The latest `at` recorded: time as the windows know it.
    pub fn latest(&self) -> Option<i64> {
        self.head
    }

    /// Counts `spend` at unix second `at`. A spend older than the day
    /// behind the latest one recorded is ignored; an earlier one within it
    /// is counted where it belongs.
    pub fn record(&mut self, at: i64, spend: &Spend) {
        let head = self.head.map_or(at, |head| head.max(at));
        if !DAY_RING.live(DAY_RING.start(at), head) {
            return;
        }
        self.head = Some(head);
        match *spend {
            Spend::Payout { asset, merchant, amount } => {
                self.assets.entry(asset).or_default().add(head, at, amount);
                self.merchants.entry((asset, merchant)).or_default().add(head, at, amount);
            }
            Spend::Fee { chain, amount } => self.fees.entry(chain).or_default().add(head, at, amount),
        }
        self.sweep(head);
    }

    /// Counts a payout signed under the restricted profile: against every
    /// window as [`Windows::record`] does, and against restricted's own.
    pub fn record_restricted(&mut self, at: i64, spend: &Spend) {
        self.record(at, spend);
        if let (Some(head), Spend::Payout { asset, amount, .. }) = (self.head, *spend) {
            self.restricted.entry(asset).or_default().add(head, at, amount);
        }
    }

    /// Payouts of `asset` signed under the restricted profile, at `now`.
    pub fn restricted_totals(&self, asset: AssetId, now: i64) -> Totals {
        self.restricted.get(&asset).map(|r| r.totals(now)).unwrap_or_default()
    }

    /// Once per day bucket of time, drops the keys with nothing left in the
    /// day, so a merchant that went quiet costs nothing (O(keys) every 15 minutes).
    fn sweep(&mut self, head: i64) {
        let bucket = DAY_RING.start(head);
        if self.swept == Some(bucket) {
            return;
        }
        self.swept = Some(bucket);
        self.assets.retain(|_, rings| rings.keep(head));
        self.merchants.retain(|_, rings| rings.keep(head));
        self.fees.retain(|_, rings| rings.keep(head));
        self.restricted.retain(|_, rings| rings.keep(head));
    }

    /// Payouts of `asset` at `now`, by everyone and by `merchant`.
    pub fn payout_totals(&self, asset: AssetId, merchant: MerchantId, now: i64) -> PayoutTotals {
        let totals = |rings: Option<&Rings>| rings.map(|r| r.totals(now)).unwrap_or_default();
        PayoutTotals {
            global: totals(self.assets.get(&asset)),
            merchant: totals(self.merchants.get(&(asset, merchant))),
        }
    }

    /// Payouts of `asset` by everyone in the last `span` seconds (at most an
    /// hour), from the hour ring, as conservatively as its totals.
    pub fn payout_amount_within(&self, asset: AssetId, span: i64, now: i64) -> U256 {
        let horizon = Horizon { span: span.clamp(BUCKET_1H_SECS, HOUR), width: BUCKET_1H_SECS };
        self.assets.get(&asset).map_or(U256::ZERO, |rings| rings.hour.total(horizon, now).0)
    }

    /// Payouts of `asset` by everyone in the last day.
    pub fn payout_amount_within_day(&self, asset: AssetId, now: i64) -> U256 {
        self.assets.get(&asset).map_or(U256::ZERO, |rings| rings.day.total(DAY_RING, now).0)
    }

    /// Network fees on `chain` at `now`.
    pub fn fee_totals(&self, chain: ChainId, now: i64) -> FeeTotals {
        let totals = self.fees.get(&chain).map(|r| r.totals(now)).unwrap_or_default();
        FeeTotals { amount_1h: totals.amount_1h, amount_24h: totals.amount_24h }
    }

    fn rings(&self) -> impl Iterator<Item = &Rings> {
        self.assets.values().chain(self.merchants.values()).chain(self.fees.values()).chain(self.restricted.values())
    }

    /// Buckets held across every key: the memory the windows use, for metrics and tests.
    pub fn buckets_held(&self) -> usize {
        self.rings().map(Rings::buckets).sum()
    }

    /// Keys (assets, merchants of an asset, chains) with something in the last day.
    pub fn keys_held(&self) -> usize {
        self.assets.len() + self.merchants.len() + self.fees.len() + self.restricted.len()
    }

    /// The largest hour ring and the largest day ring, in buckets.
    #[cfg(test)]
    pub(crate) fn largest_rings(&self) -> (usize, usize) {
        self.rings().fold((0, 0), |(hour, day), r| (hour.max(r.hour.buckets.len()), day.max(r.day.buckets.len())))
    }
}
