//! A provider's request budget: requests per second (spaced evenly, so a
//! burst of header batches does not trip the provider's own limiter) and
//! per day (spent, the provider is passed over until the next UTC day).
//! Providers count a batch as one request per call, and so does this.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::ChainError;

/// One provider's budget, shared by every request made to it.
#[derive(Debug)]
pub(crate) struct Budget {
    per_second: Option<u32>,
    per_day: Option<u64>,
    state: Mutex<Spent>,
    /// Calls made since start (a batch counts each call).
    pub(crate) calls: AtomicU64,
}

#[derive(Debug)]
struct Spent {
    /// The earliest time the next call may go.
    next_slot: Instant,
    /// Days since the Unix epoch, UTC, of `today`.
    day: u64,
    today: u64,
}

impl Budget {
    pub(crate) fn new(per_second: Option<u32>, per_day: Option<u64>) -> Self {
        let spent = Spent { next_slot: Instant::now(), day: utc_day(), today: 0 };
        Self { per_second: per_second.filter(|n| *n > 0), per_day, state: Mutex::new(spent), calls: AtomicU64::new(0) }
    }

    /// No limit at all (a node of one's own).
    pub(crate) fn unlimited() -> Self {
        Self::new(None, None)
    }

    /// Takes `calls` from the budget, waiting for their slot under the rate;
    /// refused (as the provider being unavailable, so another is used) once
    /// the day's calls are spent.
    pub(crate) async fn take(&self, calls: u64) -> Result<(), ChainError> {
        let wait = {
            let mut spent = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let day = utc_day();
            if day != spent.day {
                spent.day = day;
                spent.today = 0;
            }
            if let Some(per_day) = self.per_day
                && spent.today.saturating_add(calls) > per_day
            {
                return Err(ChainError::Unreachable(format!(
                    "the provider's daily budget of {per_day} requests is spent (until 00:00 UTC)"
                )));
            }
            spent.today += calls;
            let now = Instant::now();
            let slot = spent.next_slot.max(now);
            if let Some(per_second) = self.per_second {
                spent.next_slot = slot + Duration::from_secs_f64(calls as f64 / f64::from(per_second));
            }
            slot - now
        };
        self.calls.fetch_add(calls, Ordering::Relaxed);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

fn utc_day() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_by_the_rate_and_refused_past_the_day() {
        let budget = Budget::new(Some(10), Some(25));
        let started = tokio::time::Instant::now();
        for _ in 0..20 {
            budget.take(1).await.unwrap();
        }
        // 20 calls at 10 a second: the 20th goes 1.9 s after the first.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1890) && took < Duration::from_millis(2000), "{took:?}");
        budget.take(5).await.unwrap();
        assert!(matches!(budget.take(1).await, Err(ChainError::Unreachable(_))), "the 26th call of the day");
        assert_eq!(budget.calls.load(Ordering::Relaxed), 25);
    }
}
