#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub, dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const XPUB: &str =
    "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5";

pub fn coffer() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coffer"));
    // Tests set their configuration explicitly; the caller's environment must not leak in.
    for (key, _) in std::env::vars() {
        if key.starts_with("COFFER_") {
            command.env_remove(key);
        }
    }
    command
}

pub fn run_ok(command: &mut Command) -> String {
    let output = command.output().expect("run coffer");
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

pub fn run_err(command: &mut Command) -> Output {
    let output = command.output().expect("run coffer");
    assert!(!output.status.success(), "{command:?} should have failed");
    output
}

pub fn write_config(dir: &Path, database_url: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("coffer.toml");
    std::fs::write(
        &path,
        format!(
            r#"data_dir = "{data}"
listen_addr = "127.0.0.1:0"
database_url = "{database_url}"
xpub = "{XPUB}"
{extra}
[[chains]]
chain_id = 31337
name = "anvil"
rpc_url = "http://127.0.0.1:8545"
confirmations = 1
[[assets]]
symbol = "ETH"
chain_id = 31337
decimals = 18
"#,
            data = dir.display()
        ),
    )
    .unwrap();
    path
}

/// A gateway's configuration for anvil at `rpc` with a USDT at `usdt`,
/// polled every 50 ms; `top` and `chain` are added lines (the database,
/// confirmations, a WebSocket URL, …).
pub fn write_usdt_config(dir: &Path, top: &str, chain: &str, rpc: &str, usdt: impl std::fmt::Display) -> PathBuf {
    let path = dir.join("coffer.toml");
    std::fs::write(
        &path,
        format!(
            r#"data_dir = "{data}"
listen_addr = "127.0.0.1:0"
xpub = "{XPUB}"
log_filter = "warn"
{top}
[[chains]]
chain_id = 31337
name = "anvil"
rpc_url = "{rpc}"
poll_interval_ms = 50
{chain}
[[assets]]
symbol = "USDT"
chain_id = 31337
contract = "{usdt}"
decimals = 6
"#,
            data = dir.display()
        ),
    )
    .unwrap();
    path
}

/// A merchant "Shop" and its key for invoices and balances, made with the CLI.
pub fn shop_key(config: &Path) -> String {
    let merchant = run_ok(coffer().args(["merchant", "create", "--name", "Shop", "--config"]).arg(config));
    let key = run_ok(
        coffer()
            .args(["apikey", "create", "--scopes", "invoices:read,invoices:write,balances:read", "--merchant"])
            .arg(merchant.trim())
            .arg("--config")
            .arg(config),
    );
    key.trim().to_owned()
}

/// A child process killed when the test ends, also when it panics.
pub struct Running {
    pub child: Child,
}

impl Running {
    pub fn spawn(command: &mut Command) -> Self {
        let child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        Self { child }
    }

    /// Reads stdout until the gateway says where it listens.
    pub fn wait_for_listen(&mut self) -> String {
        let stdout = self.child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let Some(line) = lines.next().and_then(Result::ok) else {
            let _ = self.child.wait();
            panic!("the gateway printed nothing; its stderr:\n{}", self.stderr());
        };
        line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned()
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 15 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        }
        text
    }
}

impl Drop for Running {
    /// SIGTERM first, SIGKILL only if it is still there after 10 s: a
    /// `coffer dev` killed outright cannot stop the anvil it started, and a
    /// test that panicked would leave a node running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
