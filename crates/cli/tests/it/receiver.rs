//! The README's webhook receiver (`docs/examples/webhook_receiver.py`), run
//! as a shop runs it: registered with `POST /v1/webhooks`, then started by
//! hand with the secret that answer carried. It checks signatures with its
//! own HMAC code, not ours.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Running;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/webhook_receiver.py");

pub(crate) struct DocumentedReceiver {
    pub(crate) url: String,
    pub(crate) webhook_id: String,
    lines: mpsc::Receiver<String>,
    _process: Running,
}

impl DocumentedReceiver {
    /// Registers a receiver for `events` and starts it; `None` when the test
    /// command found no python3 (`COFFER_TEST_PYTHON=skip`, said loudly there).
    pub(crate) async fn start(client: &reqwest::Client, base: &str, key: &str, events: &[&str]) -> Option<Self> {
        if std::env::var("COFFER_TEST_PYTHON").is_ok_and(|v| v == "skip") {
            eprintln!("SKIPPED: the documented Python receiver (no python3)");
            return None;
        }
        // The port is chosen before the receiver starts because the secret
        // it is started with comes from registering its URL.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/hooks");
        let created = client
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(key)
            .json(&json!({"url": url, "events": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        let secret = created["secret"].as_str().expect("the secret, once").to_owned();

        let mut process = Running::spawn(Command::new("python3").arg(EXAMPLE).arg(port.to_string()).arg(&secret));
        let stdout = process.child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let receiver = Self { url, webhook_id: created["id"].as_str().unwrap().to_owned(), lines, _process: process };
        let first = receiver.next_line(Duration::from_secs(10)).expect("the receiver printed nothing");
        assert_eq!(first, format!("listening on {}", receiver.url));
        Some(receiver)
    }

    /// Its next line of output, if one comes within `wait`.
    pub(crate) fn next_line(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    /// Waits for a line starting with `prefix`; panics with every line seen if none comes.
    pub(crate) fn expect_line(&self, prefix: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some(line) = self.next_line(deadline.saturating_duration_since(Instant::now())) {
            if line.starts_with(prefix) {
                return line;
            }
            seen.push(line);
        }
        panic!("no line {prefix:?} from the receiver within {wait:?}; it printed {seen:#?}");
    }
}
