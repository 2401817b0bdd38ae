//! An anvil process on a free loopback port, stopped when dropped (also
//! when a test panics and unwinds).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::{DevnetError, Rpc, anvil_binary};

/// How to start anvil.
#[derive(Clone, Debug, Default)]
pub struct AnvilOptions {
    /// Mine a block every this many seconds (as well as on each transaction);
    /// `None` mines only on transactions.
    pub block_time_secs: Option<u64>,
    /// Keep the chain (blocks included) in this file: loaded at start, saved
    /// every few seconds and when anvil is stopped, so a restart continues it.
    pub state_file: Option<std::path::PathBuf>,
}

/// A running anvil.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    port: u16,
    rpc: Rpc,
    /// Stop with SIGTERM (anvil then saves its state) rather than SIGKILL.
    graceful: bool,
}

const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Anvil {
    /// Starts anvil on `127.0.0.1` at a port it picks, and waits until its RPC answers.
    pub async fn spawn(options: AnvilOptions) -> Result<Self, DevnetError> {
        let binary = anvil_binary()?;
        let mut command = Command::new(&binary);
        command.args(["--host", "127.0.0.1", "--port", "0"]);
        if let Some(secs) = options.block_time_secs {
            command.args(["--block-time", &secs.to_string()]);
        }
        if let Some(state) = &options.state_file {
            command.arg("--state").arg(state).args(["--state-interval", "5"]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| DevnetError::Start(format!("{}: {e}", binary.display())))?;
        // From here on, whatever fails or panics drops `anvil`, which kills the
        // process (a bare `Child` would be left running).
        let mut anvil = Self { child, port: 0, rpc: Rpc::new(""), graceful: options.state_file.is_some() };
        let stdout = anvil.child.stdout.take().ok_or_else(|| DevnetError::Start("no stdout".into()))?;
        // anvil logs every transaction on stdout: keep draining it, or it
        // blocks once the pipe is full. The first `Listening on` line carries the port.
        let (port_tx, port_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Listening on ")
                    && let Some(tx) = port_tx.take()
                {
                    let _ = tx.send(addr.rsplit(':').next().and_then(|p| p.trim().parse::<u16>().ok()));
                }
                tracing::trace!(target: "anvil", "{line}");
            }
        });
        let port = port_rx
            .recv_timeout(START_TIMEOUT)
            .ok()
            .flatten()
            .ok_or_else(|| DevnetError::Start("anvil printed no `Listening on` line".into()))?;
        anvil.port = port;
        anvil.rpc = Rpc::new(anvil.http_url());
        let deadline = Instant::now() + START_TIMEOUT;
        while anvil.rpc.call("eth_chainId", json!([])).await.is_err() {
            if Instant::now() > deadline {
                return Err(DevnetError::Start("the RPC did not answer within 30 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(anvil)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:PORT` (anvil serves WebSocket on the same port).
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Its JSON-RPC endpoint.
    pub fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    /// The operating system's id of the process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if self.graceful && self.terminate_gracefully() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// SIGTERM, so that anvil saves its state, then up to 5 s to exit.
    /// (`kill(1)`: the workspace forbids the unsafe code a direct signal needs.)
    fn terminate_gracefully(&mut self) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !sent {
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}
