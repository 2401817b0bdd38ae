//! A chain's watcher and its expiry run on one gateway of a fleet at a
//! time: the one holding the chain's lease (`chain:<id>`, in the store's
//! `leases` table). The others stand by and take the lease when it lapses.
//!
//! The holder renews every third of the lease's length and steps down
//! (stops its jobs) when a renewal says the lease moved on, when it could
//! not renew for so long that the lease may have lapsed, or when its node
//! has been unreachable for three leases (another gateway's may not be).
//! Stepping down is only the polite half: every write of the jobs carries
//! the lease's [`Fence`], and the store refuses it inside its own
//! transaction once the lease has moved on, so a holder that was paused,
//! partitioned or slow writes nothing after another took over even before
//! it notices.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_chain::{ChainHealth, HealthState};
use coffer_store::{Fence, Store};
use tokio::sync::watch;

/// Who this gateway is in the fleet, and how long its leases last.
#[derive(Clone, Debug)]
pub struct FleetSettings {
    /// This process: unique per start (`host:pid:start-ms`).
    pub holder: Arc<str>,
    /// A lease's length; a takeover after a holder vanishes waits this long.
    pub lease: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let holder = format!("{}:{}:{started}", host.trim(), std::process::id());
        Self { holder: Arc::from(holder), lease: Duration::from_secs(10) }
    }
}

/// How holding a lease ended.
enum Ended {
    /// The gateway is stopping: the lease is given back.
    Stopping,
    /// It moved on, or may have: step down and stand by.
    Lost,
    /// This gateway cannot reach the chain's node: give the lease to one
    /// that may, and stand aside for a lease before taking it again.
    Unreachable,
}

/// A holder whose node has been unreachable this many leases long gives
/// the lease up (its node may be the only one down).
const UNREACHABLE_LEASES: u32 = 3;

/// Runs `job` whenever this gateway holds `name`, until `stop`.
pub(crate) async fn lead<F, Fut>(
    store: Arc<dyn Store>,
    name: String,
    fleet: FleetSettings,
    health: Arc<ChainHealth>,
    mut stop: watch::Receiver<bool>,
    mut job: F,
) where
    F: FnMut(Fence, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let renew_every = fleet.lease / 3;
    loop {
        if *stop.borrow() {
            return;
        }
        // Bounded here too: the lease pool's timeouts are the server's, and
        // a partitioned database never hears the statement.
        let taken = match tokio::time::timeout(renew_every, store.take_lease(&name, &fleet.holder, fleet.lease)).await {
            Ok(Ok(Some(fence))) => Some(fence),
            Ok(Ok(None)) => {
                health.standby();
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(lease = %name, error = %e, "cannot take the lease; trying again");
                health.failed(&format!("taking the lease {name}: {e}"));
                None
            }
            Err(_) => {
                tracing::warn!(lease = %name, "taking the lease timed out; trying again");
                health.failed(&format!("taking the lease {name}: no answer from the database"));
                None
            }
        };
        let Some(fence) = taken else {
            if wait(&mut stop, renew_every).await {
                return;
            }
            continue;
        };
        tracing::info!(lease = %name, epoch = fence.epoch, holder = %fleet.holder, "took the lease");
        health.leading(fence.epoch);
        let (end_job, job_stop) = watch::channel(false);
        let mut running = tokio::spawn(job(fence.clone(), job_stop));
        // The lease lasts at least `lease` from when the last renewal was asked.
        let mut asked_ok = Instant::now();
        let ended = loop {
            tokio::select! {
                _ = stop.changed() => break Ended::Stopping,
                _ = &mut running => break Ended::Lost,
                () = tokio::time::sleep(renew_every) => {}
            }
            let asked = Instant::now();
            match tokio::time::timeout(renew_every, store.extend_lease(&fence, fleet.lease)).await {
                Ok(Ok(true)) => asked_ok = asked,
                Ok(Ok(false)) => {
                    tracing::warn!(lease = %name, epoch = fence.epoch, "the lease moved on; stepping down");
                    break Ended::Lost;
                }
                Ok(Err(e)) => tracing::warn!(lease = %name, error = %e, "cannot renew the lease"),
                Err(_) => tracing::warn!(lease = %name, "renewing the lease timed out"),
            }
            if asked_ok.elapsed() + renew_every >= fleet.lease {
                tracing::warn!(lease = %name, epoch = fence.epoch, "the lease may have lapsed; stepping down");
                break Ended::Lost;
            }
            let now = health.snapshot();
            if now.state == HealthState::Unreachable && now.since_progress > fleet.lease * UNREACHABLE_LEASES {
                tracing::warn!(lease = %name, epoch = fence.epoch, "the chain's node is unreachable from here; giving the lease up");
                break Ended::Unreachable;
            }
        };
        let _ = end_job.send(true);
        // A job stuck on a database that does not answer is aborted: what
        // it had not committed is rolled back, and its next holder repeats it.
        // Half a renewal: a holder that lost touch steps down two renewals
        // after its last one, so its job has stopped before the lease can lapse.
        if tokio::time::timeout(renew_every / 2, &mut running).await.is_err() {
            tracing::warn!(lease = %name, epoch = fence.epoch, "the job did not stop in time; aborting it");
            running.abort();
            let _ = running.await;
        }
        if matches!(ended, Ended::Lost) {
            tracing::warn!(lease = %name, epoch = fence.epoch, "stepped down: the job has stopped; standing by");
        }
        // Given back in every case: on a stop another gateway takes over at
        // once; after a job that ended by itself (it panicked) this one can
        // take it again at once; a lease that moved on is not touched.
        match tokio::time::timeout(renew_every, store.release_lease(&fence)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(lease = %name, error = %e, "cannot give the lease back; it lapses by itself"),
            Err(_) => tracing::warn!(lease = %name, "giving the lease back timed out; it lapses by itself"),
        }
        match ended {
            Ended::Stopping => return,
            Ended::Lost => health.standby(),
            Ended::Unreachable => {
                health.standby();
                if wait(&mut stop, fleet.lease).await {
                    return;
                }
            }
        }
    }
}

/// Sleeps `pause`, or less if `stop` turns true; whether it did.
async fn wait(stop: &mut watch::Receiver<bool>, pause: Duration) -> bool {
    tokio::select! {
        _ = stop.changed() => true,
        () = tokio::time::sleep(pause) => *stop.borrow(),
    }
}
