//! A fresh database with one merchant and key, and a gateway process on it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use coffer_domain::Scopes;
use coffer_gateway::admin;
use coffer_store::Backend;
use sqlx::Connection as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// An arbitrary account xpub (BIP-32 test vector 1 at depth 3): the bench derives addresses, never spends.
const BENCH_XPUB: &str =
    "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5";

/// Where the benchmark's gateway keeps its data.
#[derive(Clone, Debug)]
pub enum BenchDatabase {
    /// A new SQLite file in a temp directory, on the same disk as the temp dir.
    Sqlite,
    /// A PostgreSQL server; the bench works in a schema of its own and drops it after.
    Postgres(String),
}

pub(crate) struct Environment {
    dir: tempfile::TempDir,
    database_url: String,
    backend: Backend,
    pg_schema: Option<(String, String)>,
    pub(crate) api_key: String,
    pub(crate) merchant: coffer_domain::MerchantId,
}

/// The configuration of chain 31337 on `anvil` with the test USDT at
/// `usdt`: requests over HTTP, new heads over WebSocket, `confirmations`,
/// and `chain_extra` (more `[[chains]]` keys) and `top` (settings and
/// sections that precede the chain, such as `[webhooks]`).
pub(crate) fn anvil_chain(
    anvil: &coffer_devnet::Anvil,
    usdt: alloy_primitives::Address,
    confirmations: u32,
    top: &str,
    chain_extra: &str,
) -> String {
    format!(
        r#"{top}
[[chains]]
chain_id = 31337
name = "anvil"
rpc_url = "{http}"
ws_url = "{ws}"
confirmations = {confirmations}
{chain_extra}
[[assets]]
symbol = "USDT"
chain_id = 31337
contract = "{usdt}"
decimals = 6
"#,
        http = anvil.http_url(),
        ws = anvil.ws_url(),
    )
}

/// The chain section of the invoice bench: no node listens there; the
/// gateway's watcher retries in the background, as it would in production.
pub(crate) const NO_CHAIN: &str = r#"[[chains]]
chain_id = 31337
name = "anvil"
rpc_url = "http://127.0.0.1:8545"
confirmations = 1
[[assets]]
symbol = "USDT"
chain_id = 31337
contract = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
decimals = 6
"#;

pub(crate) struct RunningGateway {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Environment {
    pub(crate) async fn prepare(database: &BenchDatabase) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("coffer-bench").tempdir()?;
        let (database_url, backend, pg_schema) = match database {
            BenchDatabase::Sqlite => {
                let path = dir.path().join("coffer.db");
                (format!("sqlite://{}", path.display()), Backend::Sqlite(path), None)
            }
            BenchDatabase::Postgres(url) => {
                let schema = format!("coffer_bench_{}", uuid::Uuid::now_v7().simple());
                let mut conn = sqlx::PgConnection::connect(url).await.context("connecting to PostgreSQL")?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await?;
                let sep = if url.contains('?') { '&' } else { '?' };
                let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
                (scoped.clone(), Backend::Postgres(scoped), Some((url.clone(), schema)))
            }
        };
        let store = coffer_store::open(&backend).await?;
        let merchant = admin::create_merchant(&*store, "Bench shop").await?;
        let scopes = Scopes::from_iter(coffer_domain::Scope::ALL);
        let (token, _) = admin::create_api_key(&*store, merchant.id, scopes, "bench").await?;
        drop(store);
        Ok(Self { dir, database_url, backend, pg_schema, api_key: token.reveal(), merchant: merchant.id })
    }

    /// The bench's temp directory (its other processes keep their files here).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The bench's database, opened in this process (to fill it before the gateway starts).
    pub(crate) async fn store(&self) -> anyhow::Result<std::sync::Arc<dyn coffer_store::Store>> {
        Ok(coffer_store::open(&self.backend).await?)
    }

    /// Starts `coffer gateway` with `chains` (TOML: chains, assets, webhooks) as its chain configuration.
    pub(crate) async fn start_gateway(&self, coffer_bin: &Path, chains: &str) -> anyhow::Result<RunningGateway> {
        self.start_gateway_on(coffer_bin, chains, BENCH_XPUB).await
    }

    /// [`Environment::start_gateway`] deriving deposits from `xpub` (a real signer's, for sweeps).
    pub(crate) async fn start_gateway_on(
        &self,
        coffer_bin: &Path,
        chains: &str,
        xpub: &str,
    ) -> anyhow::Result<RunningGateway> {
        let config = self.dir.path().join("coffer.toml");
        std::fs::write(
            &config,
            format!(
                r#"data_dir = "{dir}"
listen_addr = "127.0.0.1:0"
database_url = "{url}"
xpub = "{xpub}"
log_filter = "error"
{chains}"#,
                dir = self.dir.path().display(),
                url = self.database_url
            ),
        )?;
        let mut child = Command::new(coffer_bin)
            .args(["gateway", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", coffer_bin.display()))?;
        let stdout = child.stdout.take().context("gateway stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the gateway did not start within 30 s")??
            .context("the gateway exited before listening")?;
        let Some(addr) = line.strip_prefix("listening on http://") else {
            bail!("unexpected gateway output: {line}");
        };
        Ok(RunningGateway { addr: addr.parse()?, child })
    }

    pub(crate) async fn cleanup(self) {
        if let Some((url, schema)) = &self.pg_schema
            && let Ok(mut conn) = sqlx::PgConnection::connect(url).await
        {
            let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await;
        }
    }
}

impl RunningGateway {
    /// The gateway's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, then wait: the gateway drains and exits.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}
