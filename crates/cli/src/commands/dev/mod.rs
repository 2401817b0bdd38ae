//! `coffer dev`: the whole of Coffer on one machine, for trying it and for
//! demos: a local chain (anvil, mining a block a second) with the test USDT,
//! and a gateway watching it on SQLite.
//!
//! Everything lives in `./.coffer-dev/`: the signer's encrypted seed in
//! `signer/` (created by `coffer signer init`, run as a child process so this
//! process never reads the seed: it gets the xpub on a pipe, as a production
//! gateway gets it in its configuration) with its dev-only passphrase in
//! `signer-passphrase.dev-only` (random, created once), the chain's state (`anvil-state.json`, so
//! a restart continues the same chain), the SQLite database, the generated
//! `coffer.toml`, and `dev.json` with what a client needs. Running it again
//! reuses all of it. `coffer dev pay` pays an invoice from a dev account
//! (or, `--from`, from any address: a sanctioned one, to see a hold). The
//! operator's routes listen on their own loopback port, their token in
//! `operator-token.dev-only`, so `coffer screening held|release|reject`
//! work against the dev gateway.

mod panel;
mod pay;
mod payout;
mod signer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use alloy_primitives::Address;
use anyhow::{Context as _, bail};
use coffer_devnet::{ANVIL_CHAIN_ID, Anvil, AnvilOptions, TestToken, deploy_test_usdt};
use coffer_domain::{ChainId, MerchantId, Scopes};
use coffer_gateway::{Gateway, GatewayParts, admin};
use serde::{Deserialize, Serialize};

use crate::{shutdown, telemetry};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The dev state directory.
    #[arg(long, default_value = ".coffer-dev", value_name = "DIR", global = true)]
    dir: PathBuf,
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Seconds between blocks on the dev chain.
    #[arg(long, default_value_t = 1, value_name = "SECS")]
    block_time: u64,
    /// Where the dev panel listens (pay, mine, reorganise, expire); default: a free loopback port.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    panel_listen: SocketAddr,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Pay an invoice from an anvil dev account, in the invoice's asset.
    Pay(pay::Args),
    /// Ask for a payout from the demo merchant's balance, and follow it until the signer is done.
    Payout(payout::Args),
}

/// `dev.json`: what a client or a script needs to talk to the dev gateway and chain.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct DevInfo {
    pub(crate) gateway_url: String,
    pub(crate) api_key: String,
    pub(crate) merchant_id: MerchantId,
    pub(crate) xpub: String,
    pub(crate) chain_id: u64,
    pub(crate) rpc_url: String,
    pub(crate) ws_url: String,
    pub(crate) usdt_address: String,
    pub(crate) anvil_pid: u32,
    pub(crate) config: PathBuf,
    pub(crate) database: PathBuf,
    pub(crate) signer_url: String,
    pub(crate) signer_config: PathBuf,
    pub(crate) hot_wallet: String,
    pub(crate) cold_wallet: String,
    /// The operator's routes (`/v1/treasury`, `/v1/operator/…`).
    pub(crate) operator_url: String,
    /// Their bearer token, for `--operator-token-file`.
    pub(crate) operator_token_file: PathBuf,
    /// The dev panel (empty in a dev.json of an older `coffer dev`).
    #[serde(default)]
    pub(crate) panel_url: String,
}

impl DevInfo {
    /// The `dev.json` in `dir`, as a running `coffer dev` wrote it.
    pub(crate) fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("dev.json");
        let bytes =
            std::fs::read(&path).with_context(|| format!("reading {} (is `coffer dev` running?)", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not what `coffer dev` writes", path.display()))
    }
}

/// What the gateway's dev configuration says about the treasury.
struct DevTreasury<'a> {
    signer: &'a SignerPublic,
    signer_url: &'a str,
    request_key_file: &'a Path,
    cold: Address,
    /// SHA-256 of the operator token, hex.
    operator_digest: &'a str,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Some(Command::Pay(pay)) => return pay::run(&args.dir, pay).await,
        Some(Command::Payout(payout)) => return payout::run(&args.dir, payout).await,
        None => {}
    }
    telemetry::init(coffer_config::LogFormat::Human, "info");
    // Before any child starts: a SIGTERM while starting stops everything cleanly.
    let stop = shutdown::signal();
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = args.dir.canonicalize()?;
    let signer_public = signer_init(&dir, &dir.join("signer"))?;
    let xpub = signer_public.xpub.clone();
    let (request_key_file, request_key) = signer::gateway_request_key(&dir)?;

    // Each transaction mined at once while setting up (the test USDT's
    // deployment waits for its block), then a block every --block-time.
    let options = AnvilOptions { block_time_secs: None, state_file: Some(dir.join("anvil-state.json")) };
    let anvil = Anvil::spawn(options).await.context("starting the dev chain (anvil)")?;
    let usdt = dev_token(&anvil).await?;
    anvil.rpc().set_interval_mining(args.block_time.max(1)).await.context("setting the dev chain's block time")?;
    let cold = signer::cold_address();
    let dev_signer = signer::DevSigner::start(&dir, &anvil, usdt.address, &request_key, cold)?;
    let config_path = dir.join("coffer.toml");
    let (operator_token_file, operator_digest) = dev_operator_token(&dir)?;
    let treasury = DevTreasury {
        signer: &signer_public,
        signer_url: &dev_signer.url,
        request_key_file: &request_key_file,
        cold,
        operator_digest: &operator_digest,
    };
    std::fs::write(&config_path, dev_config(&dir, args.listen, &xpub, &anvil, usdt.address, &treasury))
        .with_context(|| format!("writing {}", config_path.display()))?;
    let config = coffer_config::Config::load(Some(&config_path)).context("the generated dev configuration")?;
    let parts = GatewayParts::from_config(&config).await.context("cannot start the dev gateway")?;
    keep_the_database_on_this_chain(&parts, &anvil).await?;

    let info_path = dir.join("dev.json");
    let previous: Option<DevInfo> =
        std::fs::read(&info_path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let (merchant_id, api_key) = match previous {
        Some(p) if p.xpub == xpub && parts.store.merchant(p.merchant_id).await?.is_some() => (p.merchant_id, p.api_key),
        _ => {
            let merchant = admin::create_merchant(&*parts.store, "Demo shop").await?;
            let scopes: Scopes = Scopes::from_iter(coffer_domain::Scope::ALL);
            let (token, _) = admin::create_api_key(&*parts.store, merchant.id, scopes, "coffer dev").await?;
            (merchant.id, token.reveal())
        }
    };

    let store = parts.store.clone();
    let panel_config = config.clone();
    let gateway = Gateway::bind(config.listen_addr, parts)
        .await
        .with_context(|| format!("is another program on {}? pass --listen 127.0.0.1:PORT", config.listen_addr))?;
    let gateway_url = format!("http://{}", gateway.local_addr()?);
    let operator_url = gateway.operator_addr().map(|a| format!("http://{a}")).context("the operator listener")?;
    let mut info = DevInfo {
        gateway_url: gateway_url.clone(),
        api_key: api_key.clone(),
        merchant_id,
        xpub,
        chain_id: ANVIL_CHAIN_ID,
        rpc_url: anvil.http_url(),
        ws_url: anvil.ws_url(),
        usdt_address: usdt.address.to_checksum(None),
        anvil_pid: anvil.pid(),
        config: config_path,
        database: dir.join("gateway").join("coffer.db"),
        signer_url: dev_signer.url.clone(),
        signer_config: dir.join("signer").join("signer.toml"),
        hot_wallet: signer_public.hot_wallet.clone(),
        cold_wallet: cold.to_checksum(None),
        operator_url: operator_url.clone(),
        operator_token_file: operator_token_file.clone(),
        panel_url: String::new(),
    };
    let (panel_url, panel) = panel::start(args.panel_listen, info.clone(), panel_config).await?;
    info.panel_url = panel_url.clone();
    write_private(&info_path, &serde_json::to_vec_pretty(&info)?)?;
    let merchant_role = coffer_store::ConsoleRole::Merchant(merchant_id);
    let (console_link, _) = admin::create_console_link(&*store, merchant_role, &gateway_url).await?;
    println!(
        "\nCoffer dev: gateway on {gateway_url}, chain {ANVIL_CHAIN_ID} on {rpc} (a block every {secs} s), \
         test USDT at {usdt}\n(state in {dir}, details in {info_file})\n\n  \
         curl -s -X POST {gateway_url}/v1/invoices -H 'Authorization: Bearer {api_key}' \\\n    \
         -H 'Content-Type: application/json' -d '{{\"amount\":\"12.50\",\"asset\":\"USDT\"}}'\n  \
         coffer dev pay inv_…\n  coffer dev payout --amount 5 --asset USDT --to 0x…\n  \
         coffer screening held --gateway {operator_url} --operator-token-file {token_file}\n\n\
         The dev panel (pay, mine blocks, stage a reorganisation, expire now): {panel_url}\n\n\
         The console, signed in as the demo shop (this link works once, for 15 minutes; \
         `coffer console link` makes another):\n  {console_link}\n\n\
         Ctrl-C stops everything.\n",
        token_file = operator_token_file.display(),
        rpc = anvil.http_url(),
        secs = args.block_time.max(1),
        usdt = usdt.address,
        dir = dir.display(),
        info_file = info_path.display(),
    );
    gateway.serve(stop).await?;
    panel.abort();
    drop(dev_signer); // its own process: SIGTERM, so it finishes what it is writing
    drop(anvil); // saves the chain's state, then stops
    Ok(())
}

/// The test USDT: deployed on a fresh chain, found again on a continued one.
async fn dev_token(anvil: &Anvil) -> anyhow::Result<TestToken> {
    let rpc = anvil.rpc();
    let deployer = rpc.accounts().await?[0];
    // anvil's first account deploys it first, so it lands at that account's
    // nonce-0 CREATE address; a continued chain has it there already.
    let expected = deployer.create(0);
    if rpc.has_code(expected).await? {
        return Ok(TestToken::at(expected, deployer));
    }
    deploy_test_usdt(rpc).await.context("deploying the test USDT")
}

/// A dev database whose cursor is on another chain than this anvil (its
/// state file was deleted, say) would halt the watcher on a "reorganisation"
/// of the whole chain: start a fresh database instead, keeping the old one.
async fn keep_the_database_on_this_chain(parts: &GatewayParts, anvil: &Anvil) -> anyhow::Result<()> {
    let Some(cursor) = parts.store.chain_cursor(ChainId(ANVIL_CHAIN_ID)).await? else { return Ok(()) };
    let on_chain = anvil.rpc().block_number().await? >= cursor.number
        && anvil.rpc().block_hash(cursor.number).await? == cursor.hash;
    if !on_chain {
        bail!(
            "the dev database follows another chain than this one (was {} deleted?); remove the .coffer-dev \
             directory (or pass another --dir) to start over",
            "anvil-state.json"
        );
    }
    Ok(())
}

/// What `coffer signer init` prints: the public half of the dev signer.
struct SignerPublic {
    /// The deposit account xpub, for the gateway's configuration.
    xpub: String,
    /// The hot wallet's address.
    hot_wallet: String,
    /// The signer's identity public key (`ed25519:…`).
    identity: String,
}

/// DEV-ONLY: the passphrase of the dev signer's seed, random, created once
/// beside it in the dev state directory, so `coffer dev` starts without a
/// question. A real signer's passphrase never sits next to its seed.
const DEV_PASSPHRASE_FILE: &str = "signer-passphrase.dev-only";

/// The dev passphrase file in `dir`, created (0600, 32 random bytes as hex)
/// unless it is there already.
fn dev_passphrase_file(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(DEV_PASSPHRASE_FILE);
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("the OS random number generator failed: {e}"))?;
    let text: String = secret.iter().map(|b| format!("{b:02x}")).chain(["\n".to_owned()]).collect();
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    Ok(path)
}

/// DEV-ONLY: the operator token, created once beside the dev state
/// (0600); its SHA-256 goes into the generated configuration.
const DEV_OPERATOR_TOKEN_FILE: &str = "operator-token.dev-only";

/// The dev operator token's file and digest, the token created unless it is there.
fn dev_operator_token(dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    use sha2::{Digest as _, Sha256};
    let path = dir.join(DEV_OPERATOR_TOKEN_FILE);
    let token = match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => {
            let (token, _) = admin::operator_token()?;
            write_private(&path, format!("{token}\n").as_bytes())?;
            token
        }
    };
    Ok((path, hex::encode(Sha256::digest(token.as_bytes()))))
}

/// Runs `coffer signer init` in a child process (dev KDF cost, the dev
/// passphrase file) and reads the public lines it prints.
fn signer_init(state_dir: &Path, signer_dir: &Path) -> anyhow::Result<SignerPublic> {
    let passphrase_file = dev_passphrase_file(state_dir)?;
    let exe = std::env::current_exe().context("locating the coffer binary")?;
    let output = std::process::Command::new(exe)
        .args(["signer", "init", "--dev-kdf", "--dir"])
        .arg(signer_dir)
        .arg("--passphrase-file")
        .arg(&passphrase_file)
        .env_remove(coffer_signer::PASSPHRASE_ENV)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running `coffer signer init`")?;
    if !output.status.success() {
        bail!("`coffer signer init --dir {}` failed ({})", signer_dir.display(), output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    let line = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::to_owned)
            .with_context(|| format!("`coffer signer init` printed no `{name}` line: {stdout:?}"))
    };
    let signer = SignerPublic { xpub: line("xpub")?, hot_wallet: line("hot_wallet")?, identity: line("identity")? };
    if !signer.xpub.starts_with("xpub") {
        bail!("`coffer signer init` printed {:?}, not an xpub", signer.xpub);
    }
    Ok(signer)
}

fn dev_config(dir: &Path, listen: SocketAddr, xpub: &str, anvil: &Anvil, usdt: Address, t: &DevTreasury<'_>) -> String {
    format!(
        r#"# Written by `coffer dev` on every start; edit a copy, not this file.
# The gateway's own directory: no key of the treasury is in it.
data_dir = "{dir}/gateway"
listen_addr = "{listen}"
xpub = "{xpub}"
# The operator's routes on a port of their own (dev: any free one; dev.json says which).
operator_listen_addr = "127.0.0.1:0"
operator_token_sha256 = "{operator_digest}"

# A development box: webhooks may go to receivers on this machine.
[webhooks]
allow_private_urls = true

[[chains]]
chain_id = {ANVIL_CHAIN_ID}
name = "anvil"
rpc_url = "{http}"
ws_url = "{ws}"
confirmations = 2
poll_interval_ms = 200
start_block = 0
cold_address = "{cold}"

# The signer runs as its own process (`.coffer-dev/signer/`); the gateway
# signs its requests with a key that moves no money by itself.
[signer]
url = "{signer_url}"
request_key_file = "{request_key_file}"
identity_key = "{identity}"
hot_wallet = "{hot}"
poll_interval_ms = 500
retry_base_ms = 200

[sweeps]
interval_secs = 10
minimums = [
    {{ asset = "ETH", chain_id = {ANVIL_CHAIN_ID}, amount = "0.001" }},
    {{ asset = "USDT", chain_id = {ANVIL_CHAIN_ID}, amount = "1" }},
]

[[assets]]
symbol = "ETH"
chain_id = {ANVIL_CHAIN_ID}
decimals = 18

[[assets]]
symbol = "USDT"
chain_id = {ANVIL_CHAIN_ID}
contract = "{usdt}"
decimals = 6
"#,
        dir = dir.display(),
        http = anvil.http_url(),
        ws = anvil.ws_url(),
        cold = t.cold,
        signer_url = t.signer_url,
        request_key_file = t.request_key_file.display(),
        identity = t.signer.identity,
        hot = t.signer.hot_wallet,
        operator_digest = t.operator_digest,
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
