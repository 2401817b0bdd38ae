//! How often a merchant may ask for redeliveries: a minute's worth at once,
//! then one every `60 s / per_minute` (the generic cell rate algorithm: one
//! instant per merchant, the time its allowance is spent until).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use coffer_domain::MerchantId;

/// Merchants remembered before the fully rested ones are forgotten.
const REMEMBERED: usize = 10_000;

/// A per-merchant rate limit.
#[derive(Debug)]
pub(crate) struct RateLimit {
    /// Time one request costs.
    interval: Duration,
    /// How far ahead of now a merchant's allowance may be spent.
    burst: Duration,
    spent_until: Mutex<HashMap<MerchantId, Instant>>,
}

impl RateLimit {
    /// `per_minute` requests a minute, as many at once.
    pub(crate) fn per_minute(per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        let interval = Duration::from_secs(60) / per_minute;
        Self { interval, burst: interval * (per_minute - 1), spent_until: Mutex::default() }
    }

    /// Admits a request of `merchant` at `now`, or says how long until one would be.
    pub(crate) fn admit(&self, merchant: MerchantId, now: Instant) -> Result<(), Duration> {
        let mut spent = self.spent_until.lock().unwrap_or_else(PoisonError::into_inner);
        if spent.len() >= REMEMBERED {
            spent.retain(|_, until| *until > now);
        }
        let until = spent.get(&merchant).copied().filter(|until| *until > now).unwrap_or(now);
        let ahead = until - now;
        if ahead > self.burst {
            return Err(ahead - self.burst);
        }
        spent.insert(merchant, until + self.interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minutes_worth_at_once_then_one_per_interval_each_merchant_alone() {
        let limit = RateLimit::per_minute(60);
        let (acme, other) = (MerchantId::new(), MerchantId::new());
        let start = Instant::now();
        for n in 0..60 {
            assert_eq!(limit.admit(acme, start), Ok(()), "request {n}");
        }
        assert_eq!(limit.admit(acme, start), Err(Duration::from_secs(1)));
        assert_eq!(limit.admit(other, start), Ok(()), "another merchant has its own allowance");
        let later = start + Duration::from_millis(400);
        assert_eq!(limit.admit(acme, later), Err(Duration::from_millis(600)));
        assert_eq!(limit.admit(acme, start + Duration::from_secs(1)), Ok(()), "one more each second");
        assert!(limit.admit(acme, start + Duration::from_secs(1)).is_err());
        for n in 0..60 {
            assert_eq!(limit.admit(acme, start + Duration::from_secs(61)), Ok(()), "rested: request {n}");
        }
    }
}
