//! The README's webhook receiver (`docs/examples/webhook_receiver.py`), run
//! as a shop runs it: registered with `POST /v1/webhooks`, then started by
//! hand with the secret that answer carried. It checks signatures with its
//! own HMAC code, not ours.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::Running;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/webhook_receiver.py");

pub(crate) struct DocumentedReceiver {
    pub(crate) url: String,
    pub(crate) webhook_id: String,
    lines: mpsc::UnboundedReceiver<String>,
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
        // The port is chosen before the receiver starts, because the secret it
        // is started with comes from registering its URL. Another process may
        // take the port in between: then the receiver exits, and we try anew.
        for _ in 0..5 {
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
            let webhook_id = created["id"].as_str().unwrap().to_owned();
            let secret = created["secret"].as_str().expect("the secret, once");

            // Its stderr goes to the test's, so a traceback is seen.
            let child = Command::new("python3")
                .arg(EXAMPLE)
                .arg(port.to_string())
                .arg(secret)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start python3");
            let mut process = Running { child };
            let stdout = process.child.stdout.take().unwrap();
            let (tx, lines) = mpsc::unbounded_channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut receiver = Self { url, webhook_id, lines, _process: process };
            match receiver.next_line(Duration::from_secs(10)).await {
                Some(first) if first == format!("listening on {}", receiver.url) => return Some(receiver),
                Some(first) => panic!("unexpected first line from the receiver: {first:?}"),
                None => {
                    eprintln!("the receiver did not start on {}; trying another port", receiver.url);
                    let path = format!("{base}/v1/webhooks/{}", receiver.webhook_id);
                    assert!(client.delete(path).bearer_auth(key).send().await.unwrap().status().is_success());
                }
            }
        }
        panic!("the documented receiver did not start in five tries (see its stderr above)");
    }

    /// Its next line of output, if one comes within `wait`.
    pub(crate) async fn next_line(&mut self, wait: Duration) -> Option<String> {
        tokio::time::timeout(wait, self.lines.recv()).await.ok().flatten()
    }

    /// Waits for a line starting with `prefix`; panics with every line seen if none comes.
    pub(crate) async fn expect_line(&mut self, prefix: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some(line) = self.next_line(deadline.saturating_duration_since(Instant::now())).await {
            if line.starts_with(prefix) {
                return line;
            }
            seen.push(line);
        }
        panic!("no line {prefix:?} from the receiver within {wait:?}; it printed {seen:#?}");
    }
}
