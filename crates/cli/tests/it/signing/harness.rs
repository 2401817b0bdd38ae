#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

//! A treasury on a real anvil: a `coffer signer run` child process with its
//! own directory, database and node connection, and the test standing in
//! for the gateway host (it holds the gateway's request key, as an attacker
//! who owns that host would).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use coffer_devnet::{Anvil, AnvilOptions, TestToken, deploy_test_usdt};
use coffer_signer_api::{AnswerVerifier, PublicKey, RequestKey, RequestParts};
use serde_json::{Value, json};

use crate::support::{Running, coffer, run_ok};

pub const PASSPHRASE: &str = "a test passphrase, long enough";

/// What the test's policy allows (amounts in whole units of the asset).
pub struct Limits {
    pub usdt_per_payout: &'static str,
    pub usdt_1h: &'static str,
    pub usdt_count_1h: u64,
    pub usdt_hot_cap: &'static str,
    pub eth_hot_cap: &'static str,
    pub cooldown_secs: u64,
    pub bump_after_secs: u64,
    pub fees_1h: &'static str,
    /// How often the signer reads its view of the chain and tracks.
    pub poll_ms: u64,
    /// More lines for USDT's `[[policy.assets]]` entry (`approval_above = "100"`).
    pub usdt_extra: String,
    /// More `[policy.*]` tables: approvals, anomaly, restricted.
    pub policy_extra: String,
    /// More top-level settings (`screening_lists = [...]`).
    pub top_extra: String,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            usdt_per_payout: "1000",
            usdt_1h: "5000",
            usdt_count_1h: 100,
            usdt_hot_cap: "1000000",
            eth_hot_cap: "1000",
            cooldown_secs: 0,
            bump_after_secs: 600,
            fees_1h: "1",
            poll_ms: 100,
            usdt_extra: String::new(),
            policy_extra: String::new(),
            top_extra: String::new(),
        }
    }
}

pub struct Treasury {
    pub anvil: Anvil,
    pub token: TestToken,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub signer: Option<Running>,
    pub url: String,
    pub key: RequestKey,
    pub identity: PublicKey,
    pub xpub: String,
    pub hot: Address,
    pub cold: Address,
    miner: Option<tokio::task::JoinHandle<()>>,
}

/// One signer answer, its signature checked.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Treasury {
    /// anvil, the test USDT, an initialised signer directory and its config;
    /// the signer is not started yet (see [`Treasury::start`]).
    pub async fn new(limits: Limits) -> Self {
        let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
        let token = deploy_test_usdt(anvil.rpc()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let passphrase = dir.path().join("passphrase");
        std::fs::write(&passphrase, PASSPHRASE).unwrap();
        let signer_dir = dir.path().join("signer");
        let printed = run_ok(
            coffer()
                .args(["signer", "init", "--dev-kdf", "--dir"])
                .arg(&signer_dir)
                .arg("--passphrase-file")
                .arg(&passphrase),
        );
        let field = |name: &str| {
            printed
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("init printed no {name}: {printed}"))
                .to_owned()
        };
        let key = RequestKey::generate().unwrap();
        let cold = Address::repeat_byte(0xc0);
        let config = dir.path().join("signer.toml");
        std::fs::write(&config, signer_toml(dir.path(), &anvil, &token, &key, cold, &limits)).unwrap();
        let hot: Address = field("hot_wallet").parse().unwrap();
        let treasury = Self {
            identity: field("identity").parse().unwrap(),
            xpub: field("xpub"),
            hot,
            cold,
            anvil,
            token,
            dir,
            config,
            signer: None,
            url: String::new(),
            key,
            miner: None,
        };
        treasury.mine_every(Duration::from_millis(100))
    }

    fn mine_every(mut self, every: Duration) -> Self {
        let rpc = coffer_devnet::Rpc::new(self.anvil.http_url());
        self.miner = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = rpc.call("anvil_mine", json!(["0x1"])).await;
            }
        }));
        self
    }

    /// Stops mining blocks (and anvil's own mining on each transaction).
    pub async fn stop_mining(&mut self) {
        if let Some(miner) = self.miner.take() {
            miner.abort();
        }
        self.anvil.rpc().set_automine(false).await.unwrap();
    }

    /// Mining again, a block every 100 ms and one per transaction.
    pub async fn resume_mining(self) -> Self {
        self.anvil.rpc().set_automine(true).await.unwrap();
        self.mine_every(Duration::from_millis(100))
    }

    /// Starts (or restarts) the signer process and waits for its API.
    pub async fn start(&mut self) {
        // The signer's log goes where the test's output goes: a failure shows why.
        let child = coffer()
            .args(["signer", "run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut running = Running { child };
        self.url = running.wait_for_listen();
        self.signer = Some(running);
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{}/healthz", self.url)).await.map(|r| r.status().as_u16()).ok() != Some(200) {
            assert!(Instant::now() < deadline, "the signer never became healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut running) = self.signer.take() {
            running.child.kill().unwrap();
            running.child.wait().unwrap();
        }
    }

    pub async fn fund_hot(&self, eth: u64, usdt_units: u64) {
        let wei = U256::from(eth) * U256::from(10u64).pow(U256::from(18u64));
        self.anvil.rpc().call("anvil_setBalance", json!([self.hot, format!("{wei:#x}")])).await.unwrap();
        if usdt_units > 0 {
            self.token.mint(self.anvil.rpc(), self.hot, U256::from(usdt_units)).await.unwrap();
        }
    }

    /// Sends a request signed with `key` at `timestamp`, and checks the
    /// answer's signature against the signer's identity.
    pub async fn send_as(&self, key: &RequestKey, method: &str, path: &str, body: &Value, timestamp: i64) -> Answer {
        let bytes = if method == "GET" { Vec::new() } else { serde_json::to_vec(body).unwrap() };
        let signed = key.sign(&RequestParts { method, path, body: &bytes }, timestamp, [0; 32]).unwrap();
        self.send_signed(method, path, bytes, &signed.to_pairs(), &signed.nonce).await
    }

    pub async fn send_signed(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        headers: &[(&'static str, String)],
        nonce: &[u8; 16],
    ) -> Answer {
        let client = reqwest::Client::new();
        let url = format!("{}{path}", self.url);
        let mut request = if method == "GET" { client.get(url) } else { client.post(url).body(body) };
        request = request.header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let signature = response
            .headers()
            .get("coffer-signer-signature")
            .map(|v| v.to_str().unwrap().to_owned())
            .expect("every answer is signed");
        let bytes = response.bytes().await.unwrap();
        AnswerVerifier(self.identity).verify(status, &bytes, nonce, &signature).expect("the answer's signature");
        Answer { status, body: serde_json::from_slice(&bytes).unwrap() }
    }

    pub async fn send(&self, method: &str, path: &str, body: &Value) -> Answer {
        self.send_as(&self.key, method, path, body, now()).await
    }

    /// Asks for a payout as the gateway would.
    pub async fn pay(&self, id: &str, asset: &str, amount: U256, to: Address) -> Answer {
        let body = json!({ "id": id, "merchant": merchant(), "chain_id": 31337, "asset": asset,
            "amount": amount.to_string(), "destination": to });
        self.send("POST", "/v1/payouts", &body).await
    }

    pub async fn sweep(&self, id: &str, asset: &str, index: u32) -> Answer {
        self.send("POST", "/v1/sweeps", &json!({ "id": id, "chain_id": 31337, "asset": asset, "index": index })).await
    }

    /// Sends `body` to `path` unsigned by the gateway (approvers' calls),
    /// and checks the answer's signature (over a zero nonce).
    pub async fn send_unsigned(&self, method: &str, path: &str, body: &Value) -> Answer {
        let bytes = if method == "GET" { Vec::new() } else { serde_json::to_vec(body).unwrap() };
        self.send_signed(method, path, bytes, &[], &[0; 16]).await
    }

    pub async fn status(&self, id: &str) -> Answer {
        self.send("GET", &format!("/v1/requests/{id}"), &Value::Null).await
    }

    /// Polls a request until its state is `state` (or final), within 30 s.
    pub async fn wait_for(&self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self.status(id).await;
            assert_eq!(answer.status, 200, "{answer:?}");
            let current = answer.body["state"].as_str().unwrap().to_owned();
            if current == state || ["confirmed", "failed", "refused"].contains(&current.as_str()) {
                assert_eq!(current, state, "{}", answer.body);
                return answer.body;
            }
            assert!(Instant::now() < deadline, "{id} stayed {current}: {}", answer.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn usdt(&self, holder: Address) -> U256 {
        self.token.balance_of(self.anvil.rpc(), holder).await.unwrap()
    }

    pub async fn eth(&self, holder: Address) -> U256 {
        self.anvil.rpc().balance(holder).await.unwrap()
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().try_into().unwrap()
}

/// The one merchant these tests pay for.
pub fn merchant() -> &'static str {
    "mer_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b"
}

pub fn payout_id() -> String {
    format!("po_{}", uuid_hex())
}

pub fn sweep_id() -> String {
    format!("swp_{}", uuid_hex())
}

fn uuid_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom_fill(&mut bytes);
    // A version-7-shaped UUID: the id parser accepts any valid UUID.
    hex(&bytes)
}

fn getrandom_fill(bytes: &mut [u8]) {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom").unwrap().read_exact(bytes).unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `amount` whole USDT in base units.
pub fn usdt(whole: u64) -> U256 {
    U256::from(whole) * U256::from(1_000_000u64)
}

fn signer_toml(dir: &Path, anvil: &Anvil, token: &TestToken, key: &RequestKey, cold: Address, l: &Limits) -> String {
    format!(
        r#"listen_addr = "127.0.0.1:0"
data_dir = "{dir}/signer"
passphrase_file = "{dir}/passphrase"
gateway_public_key = "{public}"
poll_ms = {poll_ms}
bump_after_secs = {bump}
hot_cap_check_secs = 1
{top_extra}

[[chains]]
chain_id = 31337
rpc_url = "{rpc}"
confirmations = 2
cold_address = "{cold}"

[[assets]]
symbol = "ETH"
chain_id = 31337
decimals = 18

[[assets]]
symbol = "USDT"
chain_id = 31337
contract = "{usdt}"
decimals = 6

[policy]
version = 1
cooldown_secs = {cooldown}

[[policy.assets]]
chain_id = 31337
symbol = "ETH"
max_per_payout = "1"
hot_cap = "{eth_cap}"
sweep_minimum = "0.001"
global = {{ amount_1h = "5", amount_24h = "20", count_1h = 100, count_24h = 1000 }}

[[policy.assets]]
chain_id = 31337
symbol = "USDT"
max_per_payout = "{per_payout}"
hot_cap = "{usdt_cap}"
sweep_minimum = "1"
global = {{ amount_1h = "{usdt_1h}", amount_24h = "{usdt_1h}", count_1h = {count_1h}, count_24h = {count_1h} }}
{usdt_extra}

[[policy.chains]]
chain_id = 31337
fees_1h = "{fees_1h}"
fees_24h = "{fees_1h}"
top_up_per_sweep = "0.01"

{policy_extra}
"#,
        dir = dir.display(),
        public = key.public(),
        bump = l.bump_after_secs,
        rpc = anvil.http_url(),
        usdt = token.address,
        cooldown = l.cooldown_secs,
        eth_cap = l.eth_hot_cap,
        per_payout = l.usdt_per_payout,
        usdt_cap = l.usdt_hot_cap,
        usdt_1h = l.usdt_1h,
        count_1h = l.usdt_count_1h,
        fees_1h = l.fees_1h,
        poll_ms = l.poll_ms,
        usdt_extra = l.usdt_extra,
        top_extra = l.top_extra,
        policy_extra = l.policy_extra,
    )
}
