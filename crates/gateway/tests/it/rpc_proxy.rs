//! A JSON-RPC proxy in front of anvil that behaves like a provider with
//! limits: it refuses `eth_getLogs` queries spanning too many blocks or
//! returning too many results (with the providers' own words), can add
//! latency, can answer 429 with `Retry-After` (and logs when each such
//! request came back), and can go away. A real provider cannot be reached from here,
//! so this stands in for one; the node behind it is a real anvil.

#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// What the provider refuses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Most blocks one `eth_getLogs` may span (refused like QuickNode: no range suggested).
    pub max_log_blocks: Option<u64>,
    /// Most logs one `eth_getLogs` may return (refused like Infura, with a range that would do).
    pub max_log_results: Option<usize>,
    /// Added to every request.
    pub latency: Duration,
    /// Every this many requests, answer 429 with `Retry-After: 1` instead.
    pub throttle_every: Option<u64>,
}

pub struct RpcProxy {
    pub url: String,
    up: Arc<AtomicBool>,
    /// The widest `eth_getLogs` range asked for, in blocks.
    pub widest: Arc<AtomicU64>,
    /// Every `eth_getLogs` refused, as (from, to).
    pub refused: Arc<Mutex<Vec<(u64, u64)>>>,
    throttle: Arc<Throttle>,
}

/// The 429s sent, and how long after each the same request came back.
#[derive(Default)]
struct Throttle {
    requests: AtomicU64,
    /// Bodies answered 429, not seen again yet, with when.
    waiting: Mutex<HashMap<String, Instant>>,
    /// For each throttled request that came back: after how long.
    gaps: Mutex<Vec<Duration>>,
    sent: AtomicU64,
}

struct State {
    node: String,
    client: reqwest::Client,
    limits: Limits,
    up: Arc<AtomicBool>,
    widest: Arc<AtomicU64>,
    refused: Arc<Mutex<Vec<(u64, u64)>>>,
    throttle: Arc<Throttle>,
}

fn number(value: &Value) -> Option<u64> {
    u64::from_str_radix(value.as_str()?.trim_start_matches("0x"), 16).ok()
}

impl State {
    async fn forward(&self, call: &Value) -> Value {
        let answer = self.client.post(&self.node).json(call).send().await.unwrap();
        answer.json().await.unwrap()
    }

    async fn answer(&self, call: Value) -> Value {
        if call["method"] != "eth_getLogs" {
            return self.forward(&call).await;
        }
        let filter = &call["params"][0];
        let (Some(from), Some(to)) = (number(&filter["fromBlock"]), number(&filter["toBlock"])) else {
            return self.forward(&call).await; // by block hash: one block
        };
        let span = to.saturating_sub(from) + 1;
        self.widest.fetch_max(span, Ordering::SeqCst);
        let refuse = |message: String| {
            self.refused.lock().unwrap().push((from, to));
            json!({"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32005, "message": message}})
        };
        if let Some(max) = self.limits.max_log_blocks
            && span > max
        {
            return refuse(format!("eth_getLogs is limited to a {max} range"));
        }
        let answer = self.forward(&call).await;
        if let Some(max) = self.limits.max_log_results
            && let Some(logs) = answer["result"].as_array()
            && logs.len() > max
        {
            // The range that would do: up to the block of the last log that fits.
            let last_fitting = logs.get(max).and_then(|log| number(&log["blockNumber"])).unwrap_or(from);
            let end = last_fitting.saturating_sub(1).max(from);
            return refuse(format!(
                "query returned more than {max} results. Try with this block range [0x{from:x}, 0x{end:x}]."
            ));
        }
        answer
    }
}

impl RpcProxy {
    /// Serves on a free loopback port, forwarding to `node` (anvil's HTTP URL).
    pub async fn start(node: String, limits: Limits) -> Self {
        let up = Arc::new(AtomicBool::new(true));
        let widest = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let throttle = Arc::new(Throttle::default());
        let state = Arc::new(State {
            node,
            client: reqwest::Client::new(),
            limits,
            up: up.clone(),
            widest: widest.clone(),
            refused: refused.clone(),
            throttle: throttle.clone(),
        });
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |Json(body): Json<Value>| {
                let state = state.clone();
                async move {
                    tokio::time::sleep(state.limits.latency).await;
                    if !state.up.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    if let Some(every) = state.limits.throttle_every {
                        let key = body.to_string();
                        let throttle = &state.throttle;
                        if let Some(at) = throttle.waiting.lock().unwrap().remove(&key) {
                            throttle.gaps.lock().unwrap().push(at.elapsed());
                        } else if (throttle.requests.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(every) {
                            throttle.waiting.lock().unwrap().insert(key, Instant::now());
                            throttle.sent.fetch_add(1, Ordering::SeqCst);
                            let headers = [("retry-after", "1")];
                            return (StatusCode::TOO_MANY_REQUESTS, headers, "Too Many Requests").into_response();
                        }
                    }
                    let answer = match body {
                        Value::Array(calls) => {
                            let mut answers = Vec::with_capacity(calls.len());
                            for call in calls {
                                answers.push(state.answer(call).await);
                            }
                            Value::Array(answers)
                        }
                        call => state.answer(call).await,
                    };
                    Json(answer).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, up, widest, refused, throttle }
    }

    /// How many 429s were sent, and after how long each throttled request came back.
    pub fn throttled(&self) -> (u64, Vec<Duration>) {
        (self.throttle.sent.load(Ordering::SeqCst), self.throttle.gaps.lock().unwrap().clone())
    }

    /// Answers 503 to everything until [`RpcProxy::up`].
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
    }

    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    pub fn widest(&self) -> u64 {
        self.widest.load(Ordering::SeqCst)
    }

    pub fn refused(&self) -> Vec<(u64, u64)> {
        self.refused.lock().unwrap().clone()
    }
}
