//! Transfers read from a node: ERC-20 `Transfer` logs by `eth_getLogs`
//! (any token, the address as sender or recipient), native transfers by
//! the node's `trace_filter` where it has one (internal calls included),
//! otherwise by scanning the range's blocks once (top-level transactions
//! only). The trace says which it used. Every request is recorded, so a
//! benchmark can time the node serving the same ones alone.
//!
//! Over a short range the native transfers are read once, unfiltered, and
//! indexed here: most nodes (anvil, Reth) answer an address-filtered
//! `trace_filter` by replaying every block of the range, so asking per
//! address costs one replay of the range per address (a 10,000-transfer
//! graph did not finish in 15 minutes that way). Over a long range an
//! unfiltered read would be too large to hold, so it asks per address,
//! which a node with a trace index (Erigon) answers cheaply.

use std::collections::HashMap;

use alloy_primitives::{Address, B256, U256};
use alloy_rpc_client::{ClientBuilder, RpcClient};
use coffer_domain::Timestamp;
use serde_json::{Value, json};

use crate::source::{SourceError, TransferSource};
use crate::{Asset, MemorySource, Transfer, TransferId};

/// `keccak256("Transfer(address,address,uint256)")`.
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// How native transfers are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Native {
    /// `trace_filter` (Reth, Erigon, Nethermind, anvil): internal calls too.
    TraceFilter,
    /// Every block of the range read once: top-level transactions only.
    BlockScan,
}

/// The longest range whose native transfers are read once and indexed
/// (rather than asked for per address).
pub const INDEX_NATIVE_UP_TO_BLOCKS: u64 = 2_048;

/// Blocks per unfiltered `trace_filter` request, so no answer grows huge.
const TRACE_CHUNK_BLOCKS: u64 = 32;

/// A node, over a block range.
pub struct RpcSource {
    client: RpcClient,
    from: u64,
    to: u64,
    tokens: Vec<Address>,
    native: Option<Native>,
    index_up_to: u64,
    indexed: Option<MemorySource>,
    times: HashMap<u64, Timestamp>,
    queries: Vec<(String, Value)>,
}

impl RpcSource {
    /// Reads `url` over blocks `from..=to`; `tokens` limits the ERC-20s
    /// followed (empty: every token).
    pub fn new(url: &str, from: u64, to: u64, tokens: Vec<Address>) -> Result<Self, SourceError> {
        let url = url.parse().map_err(|e| SourceError(format!("RPC URL {url:?}: {e}")))?;
        let client = ClientBuilder::default().http(url);
        Ok(Self {
            client,
            from,
            to,
            tokens,
            native: None,
            index_up_to: INDEX_NATIVE_UP_TO_BLOCKS,
            indexed: None,
            times: HashMap::new(),
            queries: Vec::new(),
        })
    }

    /// Reads native transfers once for the whole range when it spans at
    /// most `blocks` blocks (0: always per address).
    pub fn index_native_up_to(mut self, blocks: u64) -> Self {
        self.index_up_to = blocks;
        self
    }

    /// The node's head block number.
    pub async fn head(url: &str) -> Result<u64, SourceError> {
        let mut source = Self::new(url, 0, 0, Vec::new())?;
        let head = source.call("eth_blockNumber", json!([])).await?;
        number(&head).ok_or_else(|| SourceError(format!("eth_blockNumber answered {head}")))
    }

    /// Every request made, in order: (method, params).
    pub fn queries(&self) -> &[(String, Value)] {
        &self.queries
    }

    /// Sends one request as this source would (for a benchmark's replay).
    pub async fn raw(&self, method: &str, params: &Value) -> Result<Value, SourceError> {
        self.client
            .request::<_, Value>(method.to_owned(), params.clone())
            .await
            .map_err(|e| SourceError(format!("{method}: {e}")))
    }

    async fn call(&mut self, method: &str, params: Value) -> Result<Value, SourceError> {
        self.queries.push((method.to_owned(), params.clone()));
        self.raw(method, &params).await
    }

    fn range(&self) -> (String, String) {
        (format!("0x{:x}", self.from), format!("0x{:x}", self.to))
    }

    async fn logs(&mut self, address: Address) -> Result<Vec<Transfer>, SourceError> {
        let (from, to) = self.range();
        let topic = format!("0x{:0>64}", hex_of(address));
        let mut out = Vec::new();
        for topics in [json!([TRANSFER_TOPIC, topic]), json!([TRANSFER_TOPIC, null, topic])] {
            let mut filter = json!({"fromBlock": from, "toBlock": to, "topics": topics});
            if !self.tokens.is_empty() {
                filter["address"] = json!(self.tokens);
            }
            let logs = self.call("eth_getLogs", json!([filter])).await?;
            for log in logs.as_array().into_iter().flatten() {
                if let Some(t) = self.log_transfer(log).await? {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }

    async fn log_transfer(&mut self, log: &Value) -> Result<Option<Transfer>, SourceError> {
        let topics: Vec<&str> = log["topics"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        // ERC-721 transfers index the token id too (four topics): not money.
        if topics.len() != 3 || log["removed"] == json!(true) {
            return Ok(None);
        }
        let word = |t: &str| t.get(26..).and_then(|h| format!("0x{h}").parse::<Address>().ok());
        let (Some(from), Some(to), Some(token)) =
            (word(topics[1]), word(topics[2]), log["address"].as_str().and_then(|a| a.parse().ok()))
        else {
            return Ok(None);
        };
        let amount = log["data"].as_str().and_then(|d| U256::from_str_radix(d.trim_start_matches("0x"), 16).ok());
        let (Some(amount), Some(block), Some(tx)) =
            (amount, number(&log["blockNumber"]), hash(&log["transactionHash"]))
        else {
            return Ok(None);
        };
        let (position, index) = (number(&log["transactionIndex"]).unwrap_or(0), number(&log["logIndex"]).unwrap_or(0));
        let time = match number(&log["blockTimestamp"]) {
            Some(secs) => Timestamp::from_unix_secs(secs),
            None => self.time(block).await?,
        };
        let id = TransferId { tx, index: index + 1 };
        Ok(Some(Transfer {
            id,
            block,
            seq: (position << 24) + index + 1,
            time,
            from,
            to,
            asset: Asset::Token(token),
            amount,
        }))
    }

    async fn time(&mut self, block: u64) -> Result<Timestamp, SourceError> {
        if let Some(time) = self.times.get(&block) {
            return Ok(*time);
        }
        let header = self.call("eth_getBlockByNumber", json!([format!("0x{block:x}"), false])).await?;
        let time = number(&header["timestamp"])
            .map(Timestamp::from_unix_secs)
            .ok_or_else(|| SourceError(format!("block {block} has no timestamp (is it within the node's chain?)")))?;
        self.times.insert(block, time);
        Ok(time)
    }

    async fn native_transfers(&mut self, address: Address) -> Result<Vec<Transfer>, SourceError> {
        if self.indexed.is_none() && self.native != Some(Native::BlockScan) {
            let whole_range = self.to.saturating_sub(self.from) < self.index_up_to;
            let found = if whole_range { self.traced_range().await } else { self.traced(address).await };
            match found {
                Ok(Found::Range(index)) => {
                    self.native = Some(Native::TraceFilter);
                    self.indexed = Some(index);
                }
                Ok(Found::Address(found)) => {
                    self.native = Some(Native::TraceFilter);
                    return Ok(found);
                }
                Err(e) if self.native == Some(Native::TraceFilter) => return Err(e),
                Err(_) => self.native = Some(Native::BlockScan),
            }
        }
        if self.indexed.is_none() {
            let scanned = self.scan().await?;
            self.indexed = Some(scanned);
        }
        match self.indexed.as_mut() {
            Some(indexed) => indexed.history(address).await,
            None => Ok(Vec::new()),
        }
    }

    /// Every native transfer of the range, in chunks of blocks.
    async fn traced_range(&mut self) -> Result<Found, SourceError> {
        let mut out = Vec::new();
        let mut start = self.from;
        while start <= self.to {
            let end = start.saturating_add(TRACE_CHUNK_BLOCKS - 1).min(self.to);
            let filter = json!([{ "fromBlock": format!("0x{start:x}"), "toBlock": format!("0x{end:x}") }]);
            let traces = self.call("trace_filter", filter).await?;
            for trace in traces.as_array().into_iter().flatten() {
                if let Some(t) = self.call_transfer(trace).await? {
                    out.push(t);
                }
            }
            start = end + 1;
        }
        Ok(Found::Range(MemorySource::new(out, "trace_filter")))
    }

    async fn traced(&mut self, address: Address) -> Result<Found, SourceError> {
        let (from, to) = self.range();
        let mut out = Vec::new();
        for side in ["fromAddress", "toAddress"] {
            let filter = json!([{ "fromBlock": from, "toBlock": to, side: [address] }]);
            let traces = self.call("trace_filter", filter).await?;
            for trace in traces.as_array().into_iter().flatten() {
                if let Some(t) = self.call_transfer(trace).await? {
                    out.push(t);
                }
            }
        }
        Ok(Found::Address(out))
    }

    async fn call_transfer(&mut self, trace: &Value) -> Result<Option<Transfer>, SourceError> {
        let action = &trace["action"];
        let plain_call = trace["type"] == "call" && action["callType"].as_str().is_none_or(|c| c == "call");
        if !plain_call || !trace["error"].is_null() {
            return Ok(None);
        }
        let value = action["value"].as_str().and_then(|v| U256::from_str_radix(v.trim_start_matches("0x"), 16).ok());
        let (Some(value), Some(from), Some(to)) = (value, address_of(&action["from"]), address_of(&action["to"]))
        else {
            return Ok(None);
        };
        // A call that moves no ether is a contract call, not a transfer
        // (the block scan leaves those out too); token spam is in the logs.
        if value.is_zero() {
            return Ok(None);
        }
        let (Some(block), Some(tx)) = (number(&trace["blockNumber"]), hash(&trace["transactionHash"])) else {
            return Ok(None);
        };
        // A call's place in its transaction's call tree, folded into one number.
        let place = trace["traceAddress"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .fold(0u64, |acc, step| acc.wrapping_mul(1_000).wrapping_add(step + 1));
        let position = number(&trace["transactionPosition"]).unwrap_or(0);
        let time = self.time(block).await?;
        let id = TransferId { tx, index: (1 << 40) + place };
        Ok(Some(Transfer { id, block, seq: position << 24, time, from, to, asset: Asset::Native, amount: value }))
    }

    async fn scan(&mut self) -> Result<MemorySource, SourceError> {
        let mut transfers = Vec::new();
        for block in self.from..=self.to {
            let body = self.call("eth_getBlockByNumber", json!([format!("0x{block:x}"), true])).await?;
            let time = number(&body["timestamp"]).map(Timestamp::from_unix_secs).unwrap_or(Timestamp::from_millis(0));
            self.times.insert(block, time);
            transfers.extend(
                body["transactions"].as_array().into_iter().flatten().filter_map(|tx| top_level(tx, block, time)),
            );
        }
        Ok(MemorySource::new(transfers, "block scan"))
    }
}

impl TransferSource for RpcSource {
    async fn history(&mut self, address: Address) -> Result<Vec<Transfer>, SourceError> {
        let mut transfers = self.logs(address).await?;
        transfers.extend(self.native_transfers(address).await?);
        Ok(transfers)
    }

    async fn transaction(&mut self, tx: B256) -> Result<Vec<Transfer>, SourceError> {
        let receipt = self.call("eth_getTransactionReceipt", json!([tx])).await?;
        if receipt.is_null() {
            return Err(SourceError(format!("the node knows no transaction {tx}")));
        }
        let mut out = Vec::new();
        for log in receipt["logs"].as_array().cloned().unwrap_or_default() {
            if log["topics"][0].as_str() == Some(TRANSFER_TOPIC)
                && let Some(t) = self.log_transfer(&log).await?
            {
                out.push(t);
            }
        }
        if receipt["status"].as_str() == Some("0x1") {
            let body = self.call("eth_getTransactionByHash", json!([tx])).await?;
            if let Some(block) = number(&body["blockNumber"]) {
                let time = self.time(block).await?;
                out.extend(top_level(&body, block, time));
            }
        }
        Ok(out)
    }

    fn note(&self) -> String {
        let how = match self.native {
            Some(Native::TraceFilter) => {
                "native transfers from the node's trace API (trace_filter, internal calls included)"
            }
            Some(Native::BlockScan) => {
                "native transfers by a block scan (the node has no trace API; top-level transactions only)"
            }
            None => "native transfers: none read",
        };
        format!("blocks {}..={} over JSON-RPC; ERC-20 from Transfer logs; {how}", self.from, self.to)
    }
}

/// What one `trace_filter` read found.
enum Found {
    /// The whole range's native transfers, indexed.
    Range(MemorySource),
    /// One address's.
    Address(Vec<Transfer>),
}

/// A transaction's own ether value, as a transfer (none if it moved none).
fn top_level(tx: &Value, block: u64, time: Timestamp) -> Option<Transfer> {
    let amount = tx["value"].as_str().and_then(|v| U256::from_str_radix(v.trim_start_matches("0x"), 16).ok())?;
    let (from, to, hash) = (address_of(&tx["from"])?, address_of(&tx["to"])?, hash(&tx["hash"])?);
    let seq = number(&tx["transactionIndex"]).unwrap_or(0) << 24;
    let id = TransferId { tx: hash, index: 1 << 40 };
    (!amount.is_zero()).then_some(Transfer { id, block, seq, time, from, to, asset: Asset::Native, amount })
}

fn number(value: &Value) -> Option<u64> {
    value.as_str().and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()).or_else(|| value.as_u64())
}

fn hash(value: &Value) -> Option<B256> {
    value.as_str().and_then(|s| s.parse().ok())
}

fn address_of(value: &Value) -> Option<Address> {
    value.as_str().and_then(|s| s.parse().ok())
}

fn hex_of(address: Address) -> String {
    format!("{address:x}")
}
