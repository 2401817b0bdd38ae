//! `coffer bench …`: invoices, settlement, catch-up, payouts, memory, screening, trace.

use std::time::Duration;

use anyhow::Context as _;
use coffer_bench::settlement::SettlementBench;
use coffer_bench::{BenchDatabase, InvoiceBench};

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Start a gateway on a fresh database and measure invoice creation and reads over HTTP.
    Invoices {
        /// Connections, each with one request in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Length of each measured phase, such as `10s`.
        #[arg(long, default_value = "10s", value_parser = parse_secs)]
        duration: Duration,
        /// `sqlite` (a temp file) or a `postgres://` URL (the bench uses a schema of its own).
        #[arg(long, default_value = "sqlite")]
        database: String,
    },
    /// Pay bursts of invoices on anvil and time confirming block -> signed webhook received.
    Settlement {
        /// Invoices paid in each block.
        #[arg(long, default_value_t = 100)]
        burst: usize,
        /// Bursts.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
        /// Confirmations the chain requires (at least 2).
        #[arg(long, default_value_t = 2)]
        confirmations: u32,
        /// `sqlite` or a `postgres://` URL.
        #[arg(long, default_value = "sqlite")]
        database: String,
    },
    /// Start a gateway behind a backlog of blocks and payments; time it against the node's own eth_getLogs.
    Catchup {
        /// Blocks in the backlog (at least the payments; the confirmations are mined on top).
        #[arg(long, default_value_t = 10_000)]
        blocks: u64,
        /// Payments in the backlog, one per block.
        #[arg(long, default_value_t = 10_000)]
        payments: usize,
        /// Open invoices the gateway watches.
        #[arg(long, default_value_t = 100_000)]
        invoices: usize,
        /// Confirmations the chain requires.
        #[arg(long, default_value_t = 12)]
        confirmations: u32,
        /// Blocks per eth_getLogs range.
        #[arg(long, default_value_t = 1000)]
        log_range: u64,
        /// `sqlite` or a `postgres://` URL.
        #[arg(long, default_value = "sqlite")]
        database: String,
    },
    /// Payouts through a gateway and a signer process on anvil, with earlier payouts in the signer's
    /// spend ledger: requests per second and the signer's decision time.
    Payouts {
        /// Earlier payouts in the signer's spend ledger (over the last 30 days).
        #[arg(long, default_value_t = 100_000)]
        history: u64,
        /// Payouts requested in the measured run.
        #[arg(long, default_value_t = 2_000)]
        payouts: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// The gateway's database: `sqlite` or a `postgres://` URL.
        #[arg(long, default_value = "sqlite")]
        database: String,
    },
    /// Parse and load a screening list of many entries, then time a million checks.
    Screening {
        /// Entries in the list.
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
        /// Checks (half listed, half not).
        #[arg(long, default_value_t = 1_000_000)]
        checks: usize,
    },
    /// Stage about 10,000 transfers on anvil and trace five hops, beside the node's own time for the same requests.
    Trace {
        /// Children per address at each level: 10,10,10,9 stages 10,110 transfers.
        #[arg(long, default_value = "10,10,10,9", value_delimiter = ',')]
        fanout: Vec<usize>,
    },
    /// Start a gateway watching many open invoices and read its resident memory.
    Memory {
        /// Open invoices.
        #[arg(long, default_value_t = 1_000_000)]
        invoices: usize,
        /// `sqlite` or a `postgres://` URL.
        #[arg(long, default_value = "sqlite")]
        database: String,
    },
}

fn database(text: &str) -> anyhow::Result<BenchDatabase> {
    match text {
        "sqlite" => Ok(BenchDatabase::Sqlite),
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(BenchDatabase::Postgres(url.to_owned()))
        }
        other => anyhow::bail!("--database takes sqlite or a postgres:// URL, not {other:?}"),
    }
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    let digits = text.strip_suffix('s').unwrap_or(text);
    digits.parse::<u64>().map(Duration::from_secs).map_err(|_| format!("{text:?} is not a duration such as 10s"))
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    let coffer_bin = std::env::current_exe().context("locating the coffer binary")?;
    let (concurrency, duration, database) = match command {
        Command::Invoices { concurrency, duration, database } => (concurrency, duration, database),
        Command::Settlement { burst, rounds, confirmations, database: db } => {
            let bench = SettlementBench { coffer_bin, database: database(&db)?, burst, rounds, confirmations };
            println!(
                "coffer bench settlement: {rounds} bursts of {burst} invoices, {confirmations} confirmations, {db}"
            );
            println!("{}", coffer_bench::settlement::run(&bench).await?);
            return Ok(());
        }
        Command::Catchup { blocks, payments, invoices, confirmations, log_range, database: db } => {
            let bench = coffer_bench::catchup::CatchupBench {
                coffer_bin,
                database: database(&db)?,
                blocks,
                payments,
                invoices,
                confirmations,
                log_range,
            };
            println!("coffer bench catchup: {db}");
            println!("{}", coffer_bench::catchup::run(&bench).await?);
            return Ok(());
        }
        Command::Payouts { history, payouts, concurrency, database: db } => {
            let bench = coffer_bench::payouts::PayoutBench {
                coffer_bin,
                database: database(&db)?,
                history,
                payouts,
                concurrency,
            };
            println!(
                "coffer bench payouts: {payouts} payouts, {concurrency} in flight, {history} in the signer's history, {db}"
            );
            println!("{}", coffer_bench::payouts::run(&bench).await?);
            return Ok(());
        }
        Command::Screening { entries, checks } => {
            println!("coffer bench screening: {entries} entries, {checks} checks");
            let bench = coffer_bench::screening::ScreeningBench { entries, checks };
            println!("{}", coffer_bench::screening::run(&bench).map_err(anyhow::Error::msg)?);
            return Ok(());
        }
        Command::Trace { fanout } => {
            println!("coffer bench trace: a staged graph on anvil (fan-out {fanout:?}), 5 hops forward (FIFO)");
            let report = coffer_bench::trace::run(&coffer_bench::trace::TraceBench { fanout }).await;
            println!("{}", report.map_err(anyhow::Error::msg)?);
            return Ok(());
        }
        Command::Memory { invoices, database: db } => {
            let bench = coffer_bench::memory::MemoryBench { coffer_bin, database: database(&db)?, invoices };
            println!("coffer bench memory: {invoices} open invoices, {db}");
            println!("{}", coffer_bench::memory::run(&bench).await?);
            return Ok(());
        }
    };
    let database = self::database(&database)?;
    let bench =
        InvoiceBench { coffer_bin, database: database.clone(), concurrency, duration, warmup: Duration::from_secs(1) };
    let backend = match database {
        BenchDatabase::Sqlite => "SQLite",
        BenchDatabase::Postgres(_) => "PostgreSQL",
    };
    println!(
        "coffer bench invoices: {backend}, {concurrency} keep-alive connections, {}s per phase",
        duration.as_secs()
    );
    for phase in coffer_bench::run(&bench).await? {
        println!("{phase}");
    }
    Ok(())
}
