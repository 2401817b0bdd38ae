//! Coffer's benchmarks, each against a real gateway process on a fresh
//! database. Figures are measured, never asserted: the README records them.
//!
//! - `coffer bench invoices`: HTTP/1.1 keep-alive load on loopback;
//!   throughput and latency of creating and reading invoices.
//! - `coffer bench settlement`: confirming block → signed webhook received.
//! - `coffer bench catchup`: a backlog of blocks and payments, next to the
//!   time the node needs to serve the same `eth_getLogs` ranges.
//! - `coffer bench memory`: resident memory while watching many invoices.
//! - `coffer bench payouts`: payouts through the gateway and the signer,
//!   with a large history in the signer's spend ledger; its decision time.
//! - `coffer drill coinspaid` ([`drill`]): an attacker who owns the gateway
//!   host against the signer's policy; what it took, and how fast it froze.

mod api;
pub mod catchup;
mod client;
pub mod drill;
mod fill;
pub mod memory;
pub mod payouts;
mod receiver;
pub mod screening;
pub mod settlement;
mod setup;
mod signer_process;
pub mod trace;

use std::path::PathBuf;
use std::time::Duration;

pub use setup::BenchDatabase;

/// What to measure.
#[derive(Clone, Debug)]
pub struct InvoiceBench {
    /// The `coffer` binary to start the gateway from.
    pub coffer_bin: PathBuf,
    /// SQLite (a temp file) or a PostgreSQL server (a fresh schema in it).
    pub database: BenchDatabase,
    /// Connections, each with one request in flight.
    pub concurrency: usize,
    /// Length of each measured phase.
    pub duration: Duration,
    /// Unmeasured load before measuring.
    pub warmup: Duration,
}

/// The figures of one phase.
#[derive(Clone, Debug)]
pub struct PhaseReport {
    /// `POST /v1/invoices` or `GET /v1/invoices/{id}`.
    pub name: &'static str,
    /// Successful requests.
    pub ok: u64,
    /// Requests that failed or answered an unexpected status.
    pub errors: u64,
    /// Successful requests per second.
    pub per_second: f64,
    /// Latency percentiles in microseconds: p50, p99, p99.9, max.
    pub micros: [u64; 4],
}

impl std::fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        write!(
            f,
            "{:<24} {:>9.0} req/s  ok {:>8}  errors {:>4}  p50 {:>6.2} ms  p99 {:>6.2} ms  p99.9 {:>6.2} ms  max {:>7.2} ms",
            self.name,
            self.per_second,
            self.ok,
            self.errors,
            ms(self.micros[0]),
            ms(self.micros[1]),
            ms(self.micros[2]),
            ms(self.micros[3]),
        )
    }
}

/// Runs the benchmark: creations, then reads of the invoices created.
pub async fn run(bench: &InvoiceBench) -> anyhow::Result<[PhaseReport; 2]> {
    let env = setup::Environment::prepare(&bench.database).await?;
    let gateway = env.start_gateway(&bench.coffer_bin, setup::NO_CHAIN).await?;
    let target = client::Target { addr: gateway.addr, api_key: env.api_key.clone() };

    client::create_phase(&target, bench.concurrency, bench.warmup).await?;
    let (create, ids) = client::create_phase(&target, bench.concurrency, bench.duration).await?;
    let read = client::read_phase(&target, bench.concurrency, bench.duration, &ids).await?;
    gateway.stop().await;
    env.cleanup().await;
    Ok([create, read])
}
