//! One EVM node, over alloy's JSON-RPC client: HTTP, or WebSocket with a
//! `newHeads` subscription. Every call has a deadline; a failed call drops
//! the connection so the next call reconnects (the follower's caller retries
//! with backoff).
//!
//! Blocks and transactions are read into the few fields Coffer needs rather
//! than alloy's full consensus types, so that chains with transaction types
//! Ethereum does not have (an OP-stack deposit, say) still parse.

use std::time::Duration;

use alloy_primitives::{Address, B256, U64, U256};
use alloy_pubsub::Subscription;
use alloy_rpc_client::{ClientBuilder, RpcClient, WsConnect};
use alloy_rpc_types_eth::{Filter, Log};
use coffer_domain::BlockHeader;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::ChainError;

/// A block's header fields, as the node sends them.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcHeader {
    number: U64,
    hash: B256,
    parent_hash: B256,
    timestamp: U64,
    /// Which addresses and topics the block's logs may hold (false positives, never false negatives).
    #[serde(default)]
    pub(crate) logs_bloom: Option<alloy_primitives::Bloom>,
}

impl From<&RpcHeader> for BlockHeader {
    fn from(h: &RpcHeader) -> Self {
        BlockHeader { number: h.number.to(), hash: h.hash, parent_hash: h.parent_hash, timestamp: h.timestamp.to() }
    }
}

/// A transaction's value-moving fields.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RpcTransaction {
    pub(crate) hash: B256,
    pub(crate) from: Address,
    pub(crate) to: Option<Address>,
    #[serde(default)]
    pub(crate) value: U256,
}

/// A block, with its transactions when asked for them (else their hashes).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RpcBlock {
    #[serde(flatten)]
    pub(crate) header: RpcHeader,
    #[serde(default)]
    transactions: Vec<TxEntry>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum TxEntry {
    Full(RpcTransaction),
    Hash(#[allow(dead_code)] B256),
}

impl RpcBlock {
    /// Its transactions, if the block was read with them.
    pub(crate) fn transactions(&self) -> impl Iterator<Item = &RpcTransaction> {
        self.transactions.iter().filter_map(|t| match t {
            TxEntry::Full(tx) => Some(tx),
            TxEntry::Hash(_) => None,
        })
    }
}

/// The part of a receipt that says whether a transaction succeeded, and where.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcReceipt {
    status: Option<U64>,
    block_hash: B256,
}

/// A connection to a node: requests over `url`, new heads from a
/// subscription over `ws_url` (or over `url` itself when it is a WebSocket).
pub(crate) struct Node {
    url: String,
    ws_url: Option<String>,
    timeout: Duration,
    client: Option<RpcClient>,
    /// The client holding the subscription when it is not `client`.
    heads_client: Option<RpcClient>,
    heads: Option<Subscription<Value>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry an API key.
        f.debug_struct("Node").field("connected", &self.client.is_some()).finish_non_exhaustive()
    }
}

impl Node {
    pub(crate) fn new(url: String, ws_url: Option<String>, timeout: Duration) -> Self {
        Self { url, ws_url, timeout, client: None, heads_client: None, heads: None }
    }

    async fn client(&mut self) -> Result<&RpcClient, ChainError> {
        if self.client.is_none() {
            let client = self.connect().await?;
            self.client = Some(client);
        }
        self.client.as_ref().ok_or(ChainError::Unreachable("not connected".into()))
    }

    async fn connect(&mut self) -> Result<RpcClient, ChainError> {
        let client = if is_ws(&self.url) { self.websocket(&self.url).await? } else { self.http()? };
        // Requests go where `url` says; heads come by subscription where a
        // WebSocket is available. With requests over HTTP, the subscription's
        // connection carries only notifications: a node that leaves Nagle's
        // algorithm on (anvil does) then cannot hold a notification back
        // behind an unacknowledged response, which costs ~40 ms a block.
        self.heads = match self.ws_url.clone() {
            Some(ws) => {
                let heads_client = self.websocket(&ws).await?;
                let heads = self.subscribe(&heads_client).await;
                self.heads_client = Some(heads_client);
                heads
            }
            None if is_ws(&self.url) => self.subscribe(&client).await,
            None => None,
        };
        Ok(client)
    }

    async fn websocket(&self, url: &str) -> Result<RpcClient, ChainError> {
        // Our caller retries with its own backoff and reports in health;
        // alloy's own reconnect loop would only hide the outage.
        let connect = WsConnect::new(url.to_owned()).with_max_retries(0);
        tokio::time::timeout(self.timeout, ClientBuilder::default().ws(connect))
            .await
            .map_err(|_| ChainError::Unreachable("WebSocket connect timed out".into()))?
            .map_err(|e| ChainError::Unreachable(redact(&redact(&e.to_string(), url), &self.url)))
    }

    fn http(&self) -> Result<RpcClient, ChainError> {
        let url = self.url.parse::<url::Url>().map_err(|e| ChainError::Config(format!("RPC URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ChainError::Config(format!("HTTP client: {e}")))?;
        Ok(ClientBuilder::default().http_with_client(http, url))
    }

    /// A `newHeads` subscription; `None` if the node refuses one (it is then polled).
    async fn subscribe(&self, client: &RpcClient) -> Option<Subscription<Value>> {
        let subscribed =
            tokio::time::timeout(self.timeout, client.request::<_, B256>("eth_subscribe", ("newHeads",))).await;
        match subscribed {
            Ok(Ok(id)) => Some(client.get_subscription(id).await),
            _ => {
                tracing::info!("the node refused a newHeads subscription; polling instead");
                None
            }
        }
    }

    /// Forgets the connection: the next call reconnects.
    pub(crate) fn disconnect(&mut self) {
        self.client = None;
        self.heads_client = None;
        self.heads = None;
    }

    /// Whether new heads arrive by subscription.
    pub(crate) fn subscribed(&self) -> bool {
        self.heads.is_some()
    }

    /// Waits up to `wait` for a new-head notification; `true` if one came.
    /// Without a subscription it just waits (the caller then polls).
    pub(crate) async fn next_head(&mut self, wait: Duration) -> bool {
        let Some(heads) = self.heads.as_mut() else {
            tokio::time::sleep(wait).await;
            return false;
        };
        match tokio::time::timeout(wait, heads.recv()).await {
            Ok(Ok(_)) => {
                // Several heads may have queued; one look at the chain covers them all.
                while heads.try_recv().is_ok() {}
                true
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => true,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                tracing::warn!("the node closed the newHeads subscription; reconnecting");
                self.disconnect();
                false
            }
            Err(_) => false,
        }
    }

    async fn call<R: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static>(
        &mut self,
        method: &'static str,
        params: Value,
    ) -> Result<R, ChainError> {
        let timeout = self.timeout;
        let client = self.client().await?;
        let result = tokio::time::timeout(timeout, client.request::<Value, R>(method, params)).await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                let message = format!("{method}: {}", redact(&err.to_string(), &self.url));
                if err.is_error_resp() || err.is_deser_error() {
                    // The node answered, just not with what we asked for.
                    Err(ChainError::Node(message))
                } else {
                    self.disconnect();
                    Err(ChainError::Unreachable(message))
                }
            }
            Err(_) => {
                self.disconnect();
                Err(ChainError::Unreachable(format!("{method}: no answer within {timeout:?}")))
            }
        }
    }

    /// The chain id the node serves.
    pub(crate) async fn chain_id(&mut self) -> Result<u64, ChainError> {
        Ok(self.call::<U64>("eth_chainId", json!([])).await?.to())
    }

    /// The height of the node's head.
    pub(crate) async fn head_number(&mut self) -> Result<u64, ChainError> {
        Ok(self.call::<U64>("eth_blockNumber", json!([])).await?.to())
    }

    /// The header at `number`, or `None` if the node has no such block (yet).
    pub(crate) async fn header(&mut self, number: u64) -> Result<Option<BlockHeader>, ChainError> {
        let header: Option<RpcHeader> = self.call("eth_getBlockByNumber", json!([U64::from(number), false])).await?;
        Ok(header.as_ref().map(BlockHeader::from))
    }

    /// The headers, or blocks with transactions, at `numbers`, in one batch request.
    pub(crate) async fn blocks(&mut self, numbers: &[u64], full: bool) -> Result<Vec<RpcBlock>, ChainError> {
        let timeout = self.timeout;
        let client = self.client().await?;
        let mut batch = client.new_batch();
        let mut waiters = Vec::with_capacity(numbers.len());
        for &number in numbers {
            let waiter = batch
                .add_call::<_, Option<RpcBlock>>("eth_getBlockByNumber", &(U64::from(number), full))
                .map_err(|e| ChainError::Node(e.to_string()))?;
            waiters.push((number, waiter));
        }
        let sent = tokio::time::timeout(timeout, async {
            batch.send().await?;
            let mut blocks = Vec::with_capacity(waiters.len());
            for (number, waiter) in waiters {
                blocks.push((number, waiter.await?));
            }
            Ok::<_, alloy_transport::TransportError>(blocks)
        })
        .await;
        match sent {
            Ok(Ok(blocks)) => {
                blocks.into_iter().map(|(number, block)| block.ok_or(ChainError::MissingBlock(number))).collect()
            }
            Ok(Err(err)) if err.is_error_resp() || err.is_deser_error() => {
                Err(ChainError::Node(format!("eth_getBlockByNumber (batch): {err}")))
            }
            Ok(Err(err)) => {
                self.disconnect();
                Err(ChainError::Unreachable(format!("eth_getBlockByNumber (batch): {err}")))
            }
            Err(_) => {
                self.disconnect();
                Err(ChainError::Unreachable(format!("eth_getBlockByNumber (batch): no answer within {timeout:?}")))
            }
        }
    }

    /// The logs `filter` selects.
    pub(crate) async fn logs(&mut self, filter: &Filter) -> Result<Vec<Log>, ChainError> {
        self.call("eth_getLogs", json!([filter])).await
    }

    /// Whether the transaction succeeded, and the block its receipt is in
    /// (`None`: no receipt yet, or reorged away meanwhile).
    pub(crate) async fn receipt(&mut self, tx: B256) -> Result<Option<(bool, B256)>, ChainError> {
        let receipt: Option<RpcReceipt> = self.call("eth_getTransactionReceipt", json!([tx])).await?;
        // Receipts before Byzantium carry a state root instead of a status: those succeeded.
        Ok(receipt.map(|r| (r.status.is_none_or(|s| s == U64::from(1)), r.block_hash)))
    }
}

fn is_ws(url: &str) -> bool {
    url.starts_with("ws://") || url.starts_with("wss://")
}

/// Error texts may quote the URL, and RPC URLs often embed an API key.
fn redact(text: &str, url: &str) -> String {
    if url.is_empty() { text.to_owned() } else { text.replace(url, "<rpc url>") }
}
