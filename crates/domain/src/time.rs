//! Instants, as whole milliseconds since the Unix epoch (UTC).
//!
//! Milliseconds are what both stores keep (an integer column sorts and
//! compares the same everywhere); RFC 3339 text is what the API shows.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Now, by this host's clock.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Self(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    /// The instant `millis` milliseconds after the epoch.
    pub fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// The instant `secs` seconds after the epoch (a block timestamp), saturating.
    pub fn from_unix_secs(secs: u64) -> Self {
        Self(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant plus `secs` seconds, saturating at the end of time.
    pub fn plus_secs(self, secs: u64) -> Self {
        let millis = i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000);
        Self(self.0.saturating_add(millis))
    }

    /// This instant plus `duration`, saturating at the end of time.
    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)))
    }

    /// This instant minus `duration`, saturating at the start of time.
    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)))
    }

    /// RFC 3339 text in UTC with millisecond precision, e.g. `2026-11-24T09:30:00.125Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| format!("@{}ms", self.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(Timestamp::from_millis(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_millis(1_795_512_600_125).to_rfc3339(), "2026-11-24T09:30:00.125Z");
        assert_eq!(Timestamp::from_millis(1000).plus_secs(900).as_millis(), 901_000);
        assert_eq!(Timestamp::from_millis(i64::MAX).plus_secs(u64::MAX).as_millis(), i64::MAX);
        assert_eq!(Timestamp::from_millis(1000).plus(Duration::from_millis(250)).as_millis(), 1250);
        assert_eq!(Timestamp::from_millis(1000).minus(Duration::from_secs(2)).as_millis(), -1000);
        assert_eq!(Timestamp::from_millis(i64::MIN).minus(Duration::MAX).as_millis(), i64::MIN);
    }
}
