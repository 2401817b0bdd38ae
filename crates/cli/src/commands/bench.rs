//! `coffer bench invoices`.

use std::time::Duration;

use anyhow::Context as _;
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
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    let digits = text.strip_suffix('s').unwrap_or(text);
    digits.parse::<u64>().map(Duration::from_secs).map_err(|_| format!("{text:?} is not a duration such as 10s"))
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    let Command::Invoices { concurrency, duration, database } = command;
    let database = match database.as_str() {
        "sqlite" => BenchDatabase::Sqlite,
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            BenchDatabase::Postgres(url.to_owned())
        }
        other => anyhow::bail!("--database takes sqlite or a postgres:// URL, not {other:?}"),
    };
    let bench = InvoiceBench {
        coffer_bin: std::env::current_exe().context("locating the coffer binary")?,
        database: database.clone(),
        concurrency,
        duration,
        warmup: Duration::from_secs(1),
    };
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
