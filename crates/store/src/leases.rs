//! Leases for work that must run once in a fleet of gateways sharing one
//! PostgreSQL database (a chain's watcher, its expiry). A lease row names
//! its holder, an expiry taken from the database's clock, and an epoch that
//! grows on every change of holder. A holder's writes carry its
//! [`Fence`] and are refused inside their own transaction once the lease
//! has moved on ([`StoreError::Fenced`]), so a holder that was paused or cut
//! off writes nothing after another took over, even before it notices.
//!
//! On SQLite (one gateway per file, a lock enforces it) taking a lease
//! always succeeds: it is always held by the one process there is.

use std::time::Duration;

use async_trait::async_trait;

use crate::Result;
#[cfg(doc)]
use crate::StoreError;

/// What a holder's writes carry: the lease and the epoch it holds it at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The lease (`chain:1`, `expiry:1`, …).
    pub name: String,
    /// Who holds it (one per gateway process).
    pub holder: String,
    /// Its epoch when taken.
    pub epoch: i64,
}

/// A lease as stored, with the database's clock when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRow {
    /// The lease.
    pub name: String,
    /// Its holder, expired or not.
    pub holder: String,
    /// Its epoch.
    pub epoch: i64,
    /// When the holder took it (ms since the epoch, database clock).
    pub acquired_at_ms: i64,
    /// When the holder last renewed it.
    pub renewed_at_ms: i64,
    /// When it lapses unless renewed.
    pub expires_at_ms: i64,
    /// The database's clock at the read.
    pub now_ms: i64,
}

impl LeaseRow {
    /// Whether it is held at the read's time.
    pub fn held(&self) -> bool {
        self.expires_at_ms > self.now_ms
    }
}

/// Taking, keeping and giving back leases.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes `name` for `holder` for `ttl` if nobody holds it (or, on
    /// SQLite, in any case), at the next epoch; `None` if another holds it.
    async fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Fence>>;
    /// Extends the lease by `ttl` from now if `fence` still holds it;
    /// `false` once it lapsed or moved on (take it again, at a new epoch).
    async fn extend_lease(&self, fence: &Fence, ttl: Duration) -> Result<bool>;
    /// Lets the lease lapse now, if `fence` still holds it (a clean stop:
    /// another gateway takes over at once instead of after the expiry).
    async fn release_lease(&self, fence: &Fence) -> Result<()>;
    /// Every lease, by name.
    async fn leases(&self) -> Result<Vec<LeaseRow>>;
}

macro_rules! lease_sql {
    ($now:literal, $takeover:literal, $share:literal, $guard:expr, $announce:expr) => {
        $crate::leases::LeaseSql {
            guard: $guard,
            announce: $announce,
            take: concat!(
                "INSERT INTO leases (name, holder, epoch, acquired_at_ms, renewed_at_ms, expires_at_ms) \
                 VALUES ($1, $2, 1, ",
                $now,
                ", ",
                $now,
                ", ",
                $now,
                " + $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = leases.epoch + 1, \
                 acquired_at_ms = excluded.acquired_at_ms, renewed_at_ms = excluded.renewed_at_ms, \
                 expires_at_ms = excluded.expires_at_ms WHERE ",
                $takeover,
                " RETURNING epoch"
            ),
            renew: concat!(
                "UPDATE leases SET renewed_at_ms = ",
                $now,
                ", expires_at_ms = ",
                $now,
                " + $4 \
                 WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at_ms > ",
                $now
            ),
            release: concat!(
                "UPDATE leases SET expires_at_ms = ",
                $now,
                " WHERE name = $1 AND holder = $2 AND epoch = $3 \
                 AND expires_at_ms > ",
                $now
            ),
            list: concat!(
                "SELECT name, holder, epoch, acquired_at_ms, renewed_at_ms, expires_at_ms, ",
                $now,
                " FROM leases ORDER BY name"
            ),
            fence: concat!(
                "SELECT epoch FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at_ms > ",
                $now,
                $share
            ),
        }
    };
}

/// The statements, in one dialect.
pub(crate) struct LeaseSql {
    pub(crate) take: &'static str,
    pub(crate) renew: &'static str,
    pub(crate) release: &'static str,
    pub(crate) list: &'static str,
    /// Inside a holder's write transaction: the lease is still its own. On
    /// PostgreSQL `FOR SHARE` keeps a takeover waiting until that write
    /// commits, so no write lands after a takeover.
    pub(crate) fence: &'static str,
    /// Run before `fence` where it locks: a holder frozen or cut off inside
    /// its transaction would otherwise keep the lease row locked, and every
    /// takeover waiting, until the server noticed the dead client (hours,
    /// by TCP keepalive). The server ends such a session instead.
    pub(crate) guard: Option<&'static str>,
    /// Run in a chain step's or an invoice change's transaction: tells the
    /// fleet's other gateways, at the commit, that a chain's invoices may
    /// have changed (`$1`: [`Announced::payload`]), so a checkout page open
    /// on any of them updates at once ([`crate::ChangeFeed`]).
    pub(crate) announce: Option<&'static str>,
}

/// PostgreSQL: the database's clock; a takeover needs the lease lapsed.
pub(crate) const PG: LeaseSql = lease_sql!(
    "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    "leases.expires_at_ms <= excluded.acquired_at_ms",
    " FOR SHARE",
    Some("SET LOCAL idle_in_transaction_session_timeout = 2000"),
    Some("SELECT pg_notify('coffer_changes_' || current_schema(), $1)")
);
/// SQLite: one process, so a lease is always taken (the previous holder is
/// this file's last gateway, gone: the file lock says so).
pub(crate) const SQLITE: LeaseSql =
    lease_sql!("CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)", "1 = 1", "", None, None);

/// [`LeaseStore`] for a store with `lease_write` (a connection for one
/// statement) and `lease_reads` (a pool), in the dialect `$sql`.
macro_rules! lease_store {
    ($store:ty, $conn:ty, $sql:expr) => {
        #[async_trait::async_trait]
        impl $crate::LeaseStore for $store {
            async fn take_lease(
                &self,
                name: &str,
                holder: &str,
                ttl: std::time::Duration,
            ) -> $crate::Result<Option<$crate::Fence>> {
                let (name, holder) = (name.to_owned(), holder.to_owned());
                let ttl = $crate::leases::ttl_ms(ttl);
                self.lease_write(move |conn: &mut $conn| {
                    Box::pin(async move {
                        let epoch: Option<i64> = sqlx::query_scalar($sql.take)
                            .bind(&name)
                            .bind(&holder)
                            .bind(ttl)
                            .fetch_optional(&mut *conn)
                            .await?;
                        Ok(epoch.map(|epoch| $crate::Fence { name, holder, epoch }))
                    })
                })
                .await
            }

            async fn extend_lease(&self, fence: &$crate::Fence, ttl: std::time::Duration) -> $crate::Result<bool> {
                let fence = fence.clone();
                let ttl = $crate::leases::ttl_ms(ttl);
                self.lease_write(move |conn: &mut $conn| {
                    Box::pin(async move {
                        let done = sqlx::query($sql.renew)
                            .bind(&fence.name)
                            .bind(&fence.holder)
                            .bind(fence.epoch)
                            .bind(ttl)
                            .execute(&mut *conn)
                            .await?;
                        Ok(done.rows_affected() == 1)
                    })
                })
                .await
            }

            async fn release_lease(&self, fence: &$crate::Fence) -> $crate::Result<()> {
                let fence = fence.clone();
                self.lease_write(move |conn: &mut $conn| {
                    Box::pin(async move {
                        sqlx::query($sql.release)
                            .bind(&fence.name)
                            .bind(&fence.holder)
                            .bind(fence.epoch)
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                })
                .await
            }

            async fn leases(&self) -> $crate::Result<Vec<$crate::LeaseRow>> {
                let rows: Vec<(String, String, i64, i64, i64, i64, i64)> =
                    sqlx::query_as($sql.list).fetch_all(self.lease_reads()).await?;
                Ok(rows
                    .into_iter()
                    .map(|(name, holder, epoch, acquired_at_ms, renewed_at_ms, expires_at_ms, now_ms)| {
                        $crate::LeaseRow { name, holder, epoch, acquired_at_ms, renewed_at_ms, expires_at_ms, now_ms }
                    })
                    .collect())
            }
        }
    };
}
pub(crate) use lease_store;

/// A lease's length in ms, as bound.
pub(crate) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4)
}

/// A gateway's announcement that a chain's invoices may have changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announced {
    /// The chain (`None`: any chain's).
    pub chain: Option<coffer_domain::ChainId>,
    /// The lease holder that wrote it, when the write was fenced: a
    /// gateway ignores its own (it raised its signal already).
    pub by: Option<String>,
}

impl Announced {
    /// The notice's payload: the chain id or `*`, then the holder if any.
    pub(crate) fn payload(chain: &str, by: Option<&str>) -> String {
        by.map_or_else(|| chain.to_owned(), |by| format!("{chain} {by}"))
    }

    fn parse(payload: &str) -> Self {
        let (chain, by) = payload.split_once(' ').map_or((payload, None), |(c, b)| (c, Some(b.to_owned())));
        Self { chain: chain.parse::<u64>().ok().map(coffer_domain::ChainId), by }
    }
}

/// What the fleet's gateways announce they changed. Only PostgreSQL has one.
#[async_trait]
pub trait ChangeFeed: Send {
    /// The next announcement. Announcements made while the connection was
    /// down are lost (listeners re-read on a timer anyway).
    async fn next(&mut self) -> Result<Announced>;
}

/// The PostgreSQL feed: `LISTEN coffer_changes_<schema>` on a connection of
/// its own (sqlx reconnects it). Per schema, so two deployments sharing one
/// database do not hear each other.
pub(crate) struct PgChangeFeed(pub(crate) sqlx::postgres::PgListener);

#[async_trait]
impl ChangeFeed for PgChangeFeed {
    async fn next(&mut self) -> Result<Announced> {
        let notification = self.0.recv().await?;
        Ok(Announced::parse(notification.payload()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_names_its_chain_and_its_writer() {
        let one = Announced::parse(&Announced::payload("31337", Some("gw-1:42:1700")));
        assert_eq!(one, Announced { chain: Some(coffer_domain::ChainId(31337)), by: Some("gw-1:42:1700".into()) });
        assert_eq!(Announced::parse(&Announced::payload("*", None)), Announced { chain: None, by: None });
    }
}
