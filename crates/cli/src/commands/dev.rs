//! `coffer dev`: Coffer on embedded defaults, for trying it and for demos.
//!
//! Everything lives in `./.coffer-dev/`: the signer's seed in `signer/`
//! (created by `coffer signer init`, run as a child process so this process
//! never reads the seed: it gets the xpub on a pipe, as a production gateway
//! gets it in its configuration), the SQLite database, the generated
//! `coffer.toml`, and `dev.json` with what a client needs. Running it again
//! reuses all of it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, bail};
use coffer_domain::{MerchantId, Scopes};
use coffer_gateway::{Gateway, GatewayParts, admin};
use serde::{Deserialize, Serialize};

use crate::{shutdown, telemetry};

/// Where `coffer dev` deploys its demo token first on a fresh anvil (the
/// CREATE address of anvil's first account at nonce 0), so the asset list is
/// stable across runs.
const DEV_USDT: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The dev state directory.
    #[arg(long, default_value = ".coffer-dev", value_name = "DIR")]
    dir: PathBuf,
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
}

/// `dev.json`: what a client or a script needs to talk to the dev gateway.
#[derive(Serialize, Deserialize)]
struct DevInfo {
    gateway_url: String,
    api_key: String,
    merchant_id: MerchantId,
    xpub: String,
    config: PathBuf,
    database: PathBuf,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    telemetry::init(coffer_config::LogFormat::Human, "info");
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = args.dir.canonicalize()?;
    let xpub = signer_xpub(&dir.join("signer"))?;

    let config_path = dir.join("coffer.toml");
    std::fs::write(&config_path, dev_config(&dir, args.listen, &xpub))
        .with_context(|| format!("writing {}", config_path.display()))?;
    let config = coffer_config::Config::load(Some(&config_path)).context("the generated dev configuration")?;
    let parts = GatewayParts::from_config(&config).await.context("cannot start the dev gateway")?;

    let info_path = dir.join("dev.json");
    let previous: Option<DevInfo> =
        std::fs::read(&info_path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let (merchant_id, api_key) = match previous {
        Some(p) if p.xpub == xpub && parts.store.merchant(p.merchant_id).await?.is_some() => (p.merchant_id, p.api_key),
        _ => {
            let merchant = admin::create_merchant(&*parts.store, "Demo shop").await?;
            let scopes: Scopes = "invoices:read,invoices:write".parse()?;
            let (token, _) = admin::create_api_key(&*parts.store, merchant.id, scopes, "coffer dev").await?;
            (merchant.id, token.reveal())
        }
    };

    let gateway = Gateway::bind(config.listen_addr, parts)
        .await
        .with_context(|| format!("is another program on {}? pass --listen 127.0.0.1:PORT", config.listen_addr))?;
    let gateway_url = format!("http://{}", gateway.local_addr()?);
    let info = DevInfo {
        gateway_url: gateway_url.clone(),
        api_key: api_key.clone(),
        merchant_id,
        xpub,
        config: config_path,
        database: dir.join("coffer.db"),
    };
    write_private(&info_path, &serde_json::to_vec_pretty(&info)?)?;
    println!(
        "\nCoffer dev gateway on {gateway_url}  (state in {dir}, details in {info})\n\n  \
         curl -s -X POST {gateway_url}/v1/invoices -H 'Authorization: Bearer {api_key}' \\\n    \
         -H 'Content-Type: application/json' -d '{{\"amount\":\"12.50\",\"asset\":\"USDT\"}}'\n\n\
         Ctrl-C stops it.\n",
        dir = dir.display(),
        info = info_path.display(),
    );
    gateway.serve(shutdown::signal()).await?;
    Ok(())
}

/// Runs `coffer signer init` in a child process and reads the xpub it prints.
fn signer_xpub(signer_dir: &Path) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("locating the coffer binary")?;
    let output = std::process::Command::new(exe)
        .args(["signer", "init", "--dir"])
        .arg(signer_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running `coffer signer init`")?;
    if !output.status.success() {
        bail!("`coffer signer init --dir {}` failed ({})", signer_dir.display(), output.status);
    }
    let xpub = String::from_utf8(output.stdout)?.trim().to_owned();
    if !xpub.starts_with("xpub") {
        bail!("`coffer signer init` printed {xpub:?}, not an xpub");
    }
    Ok(xpub)
}

fn dev_config(dir: &Path, listen: SocketAddr, xpub: &str) -> String {
    format!(
        r#"# Written by `coffer dev` on every start; edit a copy, not this file.
data_dir = "{dir}"
listen_addr = "{listen}"
xpub = "{xpub}"

[[chains]]
chain_id = 31337
name = "anvil"
rpc_url = "http://127.0.0.1:8545"
confirmations = 2

[[assets]]
symbol = "ETH"
chain_id = 31337
decimals = 18

[[assets]]
symbol = "USDT"
chain_id = 31337
contract = "{DEV_USDT}"
decimals = 6
"#,
        dir = dir.display()
    )
}

/// Writes a file only its owner can read: dev.json holds an API key.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}
