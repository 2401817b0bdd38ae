//! A JSON-RPC proxy in front of anvil that behaves like a provider with
//! limits: it refuses `eth_getLogs` queries spanning too many blocks or
//! returning too many results (with the providers' own words), can add
//! latency, can answer 429 with `Retry-After` (and logs when each such
//! request came back), can go away, can lag behind the node (its head and
//! what it serves held back, silently), and can lie: invent a token
//! `Transfer` log in a real block. A real provider cannot be reached from here,
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
    chaos: Arc<Chaos>,
}

/// Misbehaviour switched on and off while the proxy runs.
#[derive(Default)]
struct Chaos {
    /// Blocks its head is held behind the node's.
    behind: AtomicU64,
    /// The log it invents, if it lies.
    lie: Mutex<Option<Lie>>,
    /// `eth_getLogs` answers it sent with the invented log.
    lies_told: AtomicU64,
}

/// An invented ERC-20 `Transfer` of `value` to `to` by `token`, in block `block`.
#[derive(Clone)]
struct Lie {
    token: String,
    to: String,
    value: u64,
    block: u64,
    /// The block's real hash, once it is mined.
    hash: Option<String>,
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
    chaos: Arc<Chaos>,
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
        let behind = self.chaos.behind.load(Ordering::SeqCst);
        if behind > 0
            && let Some(held) = self.held_back(&call, behind).await
        {
            return held;
        }
        if call["method"] != "eth_getLogs" {
            return self.forward(&call).await;
        }
        let mut answer = self.logs(call.clone()).await;
        self.lie_in(&call, &mut answer).await;
        answer
    }

    /// What a node `behind` blocks behind the real one says, where that differs.
    async fn held_back(&self, call: &Value, behind: u64) -> Option<Value> {
        let real = self.forward(&json!({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []})).await;
        let head = number(&real["result"])?.saturating_sub(behind);
        let reply = |result: Value| json!({"jsonrpc": "2.0", "id": call["id"], "result": result});
        match call["method"].as_str()? {
            "eth_blockNumber" => Some(reply(json!(format!("0x{head:x}")))),
            "eth_getBlockByNumber" if number(&call["params"][0]).is_some_and(|n| n > head) => Some(reply(Value::Null)),
            "eth_getLogs" => {
                let to = number(&call["params"][0]["toBlock"])?;
                if to <= head {
                    return None;
                }
                let from = number(&call["params"][0]["fromBlock"]).unwrap_or(0);
                if from > head {
                    return Some(reply(json!([])));
                }
                // A lagging index: silently only what it has.
                let mut clipped = call.clone();
                clipped["params"][0]["toBlock"] = json!(format!("0x{head:x}"));
                Some(self.logs(clipped).await)
            }
            _ => None,
        }
    }

    /// Adds the invented log to an `eth_getLogs` answer that covers its block.
    async fn lie_in(&self, call: &Value, answer: &mut Value) {
        let Some(mut lie) = self.chaos.lie.lock().unwrap().clone() else { return };
        if lie.hash.is_none() {
            let block = json!({"jsonrpc": "2.0", "id": 0, "method": "eth_getBlockByNumber",
                "params": [format!("0x{:x}", lie.block), false]});
            let Some(hash) = self.forward(&block).await["result"]["hash"].as_str().map(str::to_owned) else { return };
            lie.hash = Some(hash.clone());
            if let Some(stored) = self.chaos.lie.lock().unwrap().as_mut() {
                stored.hash = Some(hash);
            }
        }
        let filter = &call["params"][0];
        let covers = match (number(&filter["fromBlock"]), number(&filter["toBlock"])) {
            (Some(from), Some(to)) => (from..=to).contains(&lie.block),
            _ => filter["blockHash"].as_str() == lie.hash.as_deref(),
        };
        let Some(logs) = answer["result"].as_array_mut() else { return };
        if !covers {
            return;
        }
        let word = |hex: &str| format!("0x{:0>64}", hex.trim_start_matches("0x").to_lowercase());
        logs.push(json!({
            "address": lie.token,
            "topics": [
                "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                word("0x00000000000000000000000000000000000000aa"),
                word(&lie.to),
            ],
            "data": word(&format!("{:x}", lie.value)),
            "blockNumber": format!("0x{:x}", lie.block),
            "blockHash": lie.hash,
            "transactionHash": "0x1111111111111111111111111111111111111111111111111111111111111111",
            "transactionIndex": "0x0",
            "logIndex": "0x63",
            "removed": false,
        }));
        self.chaos.lies_told.fetch_add(1, Ordering::SeqCst);
    }

    /// An `eth_getLogs` call, within the provider's limits.
    async fn logs(&self, call: Value) -> Value {
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
        let chaos = Arc::new(Chaos::default());
        let state = Arc::new(State {
            chaos: chaos.clone(),
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
        Self { url, up, widest, refused, throttle, chaos }
    }

    /// From now on, holds its head (and what it serves) `blocks` behind the node's.
    pub fn lag(&self, blocks: u64) {
        self.chaos.behind.store(blocks, Ordering::SeqCst);
    }

    /// From now on, returns an invented `Transfer` of `value` base units of
    /// `token` to `to` in block `block` (once mined), with the block's real hash.
    pub fn lie(&self, token: alloy_primitives::Address, to: &str, value: u64, block: u64) {
        let lie = Lie { token: format!("{token:#x}"), to: to.to_owned(), value, block, hash: None };
        *self.chaos.lie.lock().unwrap() = Some(lie);
    }

    /// Stops lying.
    pub fn honest(&self) {
        *self.chaos.lie.lock().unwrap() = None;
    }

    /// How many answers held the invented log.
    pub fn lies_told(&self) -> u64 {
        self.chaos.lies_told.load(Ordering::SeqCst)
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
