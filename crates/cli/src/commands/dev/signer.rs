//! The dev signer: `coffer signer run` as a child process with its own
//! directory (`.coffer-dev/signer/`), its own database and its own
//! connection to the chain, as it runs on its own host in production. This
//! process never reads the seed: it gets public material on pipes.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use anyhow::{Context as _, bail};
use coffer_devnet::{ANVIL_CHAIN_ID, Anvil};
use coffer_signer_api::RequestKey;

/// The gateway's request key in dev: it proves a request came from the
/// gateway and moves no money by itself (the signer checks every rule).
pub(super) fn gateway_request_key(state_dir: &Path) -> anyhow::Result<(PathBuf, RequestKey)> {
    let path = state_dir.join("gateway-request.key");
    if !path.exists() {
        RequestKey::generate()?.create_file(&path).with_context(|| format!("writing {}", path.display()))?;
    }
    let key = RequestKey::load_file(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok((path, key))
}

/// The cold wallet in dev: an address nobody here holds a key for (in
/// production: a hardware wallet or a multisig). Not an anvil account, so
/// what it holds is only what the treasury moved there.
pub(super) fn cold_address() -> Address {
    Address::repeat_byte(0xc0)
}

/// A running dev signer; stopped with SIGTERM when dropped.
pub(super) struct DevSigner {
    child: Child,
    pub(super) url: String,
}

impl DevSigner {
    pub(super) fn start(
        state_dir: &Path,
        anvil: &Anvil,
        usdt: Address,
        gateway: &RequestKey,
        cold: Address,
    ) -> anyhow::Result<Self> {
        let dir = state_dir.join("signer");
        let config = dir.join("signer.toml");
        let approver = dev_approver(state_dir)?;
        let mut toml = signer_toml(state_dir, &dir, anvil, usdt, gateway, cold);
        toml.push_str(&format!(
            "\n# DEV ONLY: one approver, quorum 1, whose key sits beside the gateway's data. In\n\
             # production each approver's key is on their own device and the quorum is M of N.\n\
             [policy.approvals]\nquorum = 1\n[[policy.approvals.approvers]]\nname = \"dev-approver\"\nkey = \"{approver}\"\n"
        ));
        std::fs::write(&config, toml).with_context(|| format!("writing {}", config.display()))?;
        let exe = std::env::current_exe().context("locating the coffer binary")?;
        let mut child = Command::new(exe)
            .args(["signer", "run", "--config"])
            .arg(&config)
            .env_remove(coffer_signer::PASSPHRASE_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting `coffer signer run`")?;
        let stdout = child.stdout.take().context("the signer's stdout")?;
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).context("reading the signer's first line")?;
        let Some(url) = first.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            bail!("the dev signer did not start (it said {first:?}); see its error above");
        };
        let signer = Self { child, url };
        signer.wait_healthy()?;
        println!(
            "dev signer (its own process, pid {}) on {}, state in {}",
            signer.child.id(),
            signer.url,
            dir.display()
        );
        println!(
            "dev approver (DEV ONLY, quorum 1): coffer freeze --signer {} --key {} --passphrase-file {}",
            signer.url,
            state_dir.join("approver.dev-only.key").display(),
            state_dir.join("signer-passphrase.dev-only").display()
        );
        Ok(signer)
    }

    fn wait_healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = self.url.trim_start_matches("http://").to_owned();
        while std::net::TcpStream::connect(&addr).is_err() {
            if Instant::now() > deadline {
                bail!("the dev signer on {} did not answer within 20 s", self.url);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for DevSigner {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The dev approver's key file (made once, sealed with the dev passphrase),
/// so that a freeze in `coffer dev` can be lifted: `coffer policy approve
/// … --key .coffer-dev/approver.dev-only.key`. Its public key.
fn dev_approver(state_dir: &Path) -> anyhow::Result<coffer_signer_api::PublicKey> {
    let path = state_dir.join("approver.dev-only.key");
    let passphrase = coffer_signer::Passphrase::from_file(&state_dir.join("signer-passphrase.dev-only"))
        .context("reading the dev passphrase")?;
    let key = if path.exists() {
        coffer_signer::ApproverKey::load_file(&path, &passphrase).context("opening the dev approver's key")?
    } else {
        let key = coffer_signer::ApproverKey::generate().context("making the dev approver's key")?;
        key.create_file(&path, &passphrase, coffer_signer::KdfCost::Dev).context("writing the dev approver's key")?;
        key
    };
    Ok(key.public())
}

/// A policy with small limits: enough to try payouts, small enough to see
/// each rule refuse.
fn signer_toml(
    state_dir: &Path,
    dir: &Path,
    anvil: &Anvil,
    usdt: Address,
    gateway: &RequestKey,
    cold: Address,
) -> String {
    format!(
        r#"# Written by `coffer dev` on every start. In production this file lives on the
# signer's own host; nothing in it comes from the gateway.
listen_addr = "127.0.0.1:0"
data_dir = "{dir}"
# DEV ONLY: the seed's passphrase in a file beside it. In production it comes
# from COFFER_SIGNER_PASSPHRASE or a file on the signer host only.
passphrase_file = "{passphrase}"
gateway_public_key = "{gateway}"
poll_ms = 250
bump_after_secs = 30
hot_cap_check_secs = 5

[[chains]]
chain_id = {ANVIL_CHAIN_ID}
rpc_url = "{rpc}"
confirmations = 2
cold_address = "{cold}"

[[assets]]
symbol = "ETH"
chain_id = {ANVIL_CHAIN_ID}
decimals = 18

[[assets]]
symbol = "USDT"
chain_id = {ANVIL_CHAIN_ID}
contract = "{usdt}"
decimals = 6

[policy]
version = 1
cooldown_secs = 0

[[policy.assets]]
chain_id = {ANVIL_CHAIN_ID}
symbol = "ETH"
max_per_payout = "0.5"
hot_cap = "20"
sweep_minimum = "0.001"
global = {{ amount_1h = "2", amount_24h = "5", count_1h = 20, count_24h = 100 }}

[[policy.assets]]
chain_id = {ANVIL_CHAIN_ID}
symbol = "USDT"
max_per_payout = "100"
hot_cap = "1000"
sweep_minimum = "1"
global = {{ amount_1h = "500", amount_24h = "2000", count_1h = 20, count_24h = 100 }}
per_merchant = {{ amount_1h = "300", amount_24h = "1000", count_1h = 10, count_24h = 50 }}

[[policy.chains]]
chain_id = {ANVIL_CHAIN_ID}
fees_1h = "0.05"
fees_24h = "0.2"
top_up_per_sweep = "0.005"
"#,
        dir = dir.display(),
        passphrase = state_dir.join("signer-passphrase.dev-only").display(),
        gateway = gateway.public(),
        rpc = anvil.http_url(),
    )
}
