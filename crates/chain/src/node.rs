//! One EVM node, over alloy's JSON-RPC client: HTTP, or WebSocket with a
//! `newHeads` subscription. Every call has a deadline; a failed call drops
//! the connection so the next call reconnects (the follower's caller retries
//! with backoff).
//!
//! Blocks and transactions are read into the few fields Coffer needs rather
//! than alloy's full consensus types, so that chains with transaction types
//! Ethereum does not have (an OP-stack deposit, say) still parse.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, U64, U256};
use alloy_pubsub::Subscription;
use alloy_rpc_client::{ClientBuilder, RpcClient, WsConnect};
use alloy_rpc_types_eth::{Filter, Log};
use coffer_domain::BlockHeader;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Value, json};

use crate::ChainError;
use crate::budget::Budget;

/// A block as the node sends it, read into the fields Coffer needs; its
/// transactions as `Tx` (skipped unread by default: a header-only read).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcBlock<Tx = IgnoredAny> {
    number: U64,
    hash: B256,
    parent_hash: B256,
    timestamp: U64,
    /// Which addresses and topics the block's logs may hold (false positives, never false negatives).
    #[serde(default)]
    pub(crate) logs_bloom: Option<alloy_primitives::Bloom>,
    #[serde(default = "Vec::new")]
    transactions: Vec<Tx>,
}

impl<Tx> RpcBlock<Tx> {
    /// The block's header, and its transactions apart.
    pub(crate) fn split(self) -> (RpcBlock, Vec<Tx>) {
        let RpcBlock { number, hash, parent_hash, timestamp, logs_bloom, transactions } = self;
        (RpcBlock { number, hash, parent_hash, timestamp, logs_bloom, transactions: Vec::new() }, transactions)
    }
}

impl<Tx> From<&RpcBlock<Tx>> for BlockHeader {
    fn from(b: &RpcBlock<Tx>) -> Self {
        BlockHeader { number: b.number.to(), hash: b.hash, parent_hash: b.parent_hash, timestamp: b.timestamp.to() }
    }
}

/// How much of a block's transactions to ask for: what `Tx` can parse.
pub(crate) trait TxDetail {
    /// Whole transactions (else only their hashes).
    const FULL: bool;
}

impl TxDetail for IgnoredAny {
    const FULL: bool = false;
}

impl TxDetail for RpcTransaction {
    const FULL: bool = true;
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

/// A transaction looked up by hash: where it is, too.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcTransactionInBlock {
    #[serde(flatten)]
    tx: RpcTransaction,
    block_hash: Option<B256>,
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
    /// What the provider allows; every request takes from it.
    budget: Arc<Budget>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry an API key.
        f.debug_struct("Node").field("connected", &self.client.is_some()).finish_non_exhaustive()
    }
}

impl Node {
    pub(crate) fn new(url: String, ws_url: Option<String>, timeout: Duration) -> Self {
        Self::with_budget(url, ws_url, timeout, Arc::new(Budget::unlimited()))
    }

    /// A node whose requests keep within `budget`.
    pub(crate) fn with_budget(url: String, ws_url: Option<String>, timeout: Duration, budget: Arc<Budget>) -> Self {
        Self { url, ws_url, timeout, client: None, heads_client: None, heads: None, budget }
    }

    /// A handle for requests, connecting first if need be. Requests made
    /// through it may run concurrently; report a failure with [`Node::failed`].
    pub(crate) async fn requests(&mut self) -> Result<Requests, ChainError> {
        if self.client.is_none() {
            let client = self.connect().await?;
            self.client = Some(client);
        }
        let client = self.client.clone().ok_or(ChainError::Unreachable("not connected".into()))?;
        Ok(Requests { client, timeout: self.timeout, url: self.url.clone(), budget: self.budget.clone() })
    }

    /// Passes `result` through; a node that did not answer is forgotten, so
    /// the next call reconnects.
    pub(crate) fn failed<T>(&mut self, result: Result<T, ChainError>) -> Result<T, ChainError> {
        if matches!(result, Err(ChainError::Unreachable(_))) {
            self.disconnect();
        }
        result
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
        tokio::time::timeout(self.timeout, ClientBuilder::default().layer(rate_limit_retries()).ws(connect))
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
        Ok(ClientBuilder::default().layer(rate_limit_retries()).http_with_client(http, url))
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

    /// One request, through [`Node::failed`].
    async fn call<R: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static>(
        &mut self,
        method: &'static str,
        params: Value,
    ) -> Result<R, ChainError> {
        let requests = self.requests().await?;
        let answer = requests.call(method, params).await;
        self.failed(answer)
    }

    /// The height of the node's head.
    pub(crate) async fn head_number(&mut self) -> Result<u64, ChainError> {
        Ok(self.call::<U64>("eth_blockNumber", json!([])).await?.to())
    }

    /// The header at `number`, or `None` if the node has no such block (yet).
    pub(crate) async fn header(&mut self, number: u64) -> Result<Option<BlockHeader>, ChainError> {
        let block: Option<RpcBlock> = self.call("eth_getBlockByNumber", json!([U64::from(number), false])).await?;
        Ok(block.as_ref().map(BlockHeader::from))
    }

    /// The logs bloom of the block `hash`, as this node has it (`None`: no
    /// such block here, or it sends no bloom).
    pub(crate) async fn bloom(&mut self, hash: B256) -> Result<Option<alloy_primitives::Bloom>, ChainError> {
        let block: Option<RpcBlock> = self.call("eth_getBlockByHash", json!([hash, false])).await?;
        Ok(block.and_then(|b| b.logs_bloom))
    }

    /// The logs `filter` selects.
    pub(crate) async fn logs(&mut self, filter: &Filter) -> Result<Vec<Log>, ChainError> {
        self.call("eth_getLogs", json!([filter])).await
    }

    /// The transaction `tx` and the block it is in, as this node knows it.
    pub(crate) async fn transaction(&mut self, tx: B256) -> Result<Option<(RpcTransaction, Option<B256>)>, ChainError> {
        let found: Option<RpcTransactionInBlock> = self.call("eth_getTransactionByHash", json!([tx])).await?;
        Ok(found.map(|t| (t.tx, t.block_hash)))
    }

    /// Whether the transaction succeeded, and the block its receipt is in
    /// (`None`: no receipt yet, or reorged away meanwhile).
    pub(crate) async fn receipt(&mut self, tx: B256) -> Result<Option<(bool, B256)>, ChainError> {
        let receipt: Option<RpcReceipt> = self.call("eth_getTransactionReceipt", json!([tx])).await?;
        // Receipts before Byzantium carry a state root instead of a status: those succeeded.
        Ok(receipt.map(|r| (r.status.is_none_or(|s| s == U64::from(1)), r.block_hash)))
    }
}

/// Requests to a connected node; cheap to clone, so that several can be in
/// flight at once. Errors say whether the node answered
/// ([`ChainError::Node`]) or not ([`ChainError::Unreachable`]).
#[derive(Clone)]
pub(crate) struct Requests {
    client: RpcClient,
    timeout: Duration,
    /// To keep out of error texts.
    url: String,
    budget: Arc<Budget>,
}

impl Requests {
    async fn call<R: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<R, ChainError> {
        self.budget.take(1).await?;
        let answer = tokio::time::timeout(self.timeout, self.client.request::<Value, R>(method, params)).await;
        self.answer(method, answer)
    }

    /// What `method` got within the timeout, as our error if anything else.
    fn answer<T>(
        &self,
        method: &str,
        answer: Result<Result<T, alloy_transport::TransportError>, tokio::time::error::Elapsed>,
    ) -> Result<T, ChainError> {
        match answer {
            Ok(Ok(value)) => Ok(value),
            // The node answered, just not with what we asked for.
            Ok(Err(err)) if err.is_error_resp() || err.is_deser_error() => {
                if method == "eth_getLogs"
                    && let Some(payload) = err.as_error_resp()
                    && let Some(suggested) =
                        crate::limits::log_limit(&payload.message, payload.data.as_ref().map(|d| d.get()))
                {
                    let message = redact(&payload.message, &self.url);
                    return Err(ChainError::LogLimit { message, suggested });
                }
                Err(ChainError::Node(format!("{method}: {}", redact(&err.to_string(), &self.url))))
            }
            Ok(Err(err)) => Err(ChainError::Unreachable(format!("{method}: {}", redact(&err.to_string(), &self.url)))),
            Err(_) => Err(ChainError::Unreachable(format!("{method}: no answer within {:?}", self.timeout))),
        }
    }

    /// The logs `filter` selects.
    pub(crate) async fn logs(&self, filter: &Filter) -> Result<Vec<Log>, ChainError> {
        self.call("eth_getLogs", json!([filter])).await
    }

    /// `method` called once per entry of `params`, in one batch request;
    /// the answers in the same order.
    pub(crate) async fn batch<R>(&self, method: &'static str, params: &[Value]) -> Result<Vec<R>, ChainError>
    where
        R: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
    {
        self.budget.take(params.len() as u64).await?;
        let mut batch = self.client.new_batch();
        let mut waiters = Vec::with_capacity(params.len());
        for param in params {
            waiters.push(batch.add_call::<_, R>(method, param).map_err(|e| ChainError::Node(e.to_string()))?);
        }
        let sent = tokio::time::timeout(self.timeout, async {
            batch.send().await?;
            let mut answers = Vec::with_capacity(waiters.len());
            for waiter in waiters {
                answers.push(waiter.await?);
            }
            Ok::<_, alloy_transport::TransportError>(answers)
        })
        .await;
        self.answer(method, sent)
    }

    /// `eth_call` of `data` on `to` at the head.
    pub(crate) async fn eth_call(&self, to: Address, data: &str) -> Result<alloy_primitives::Bytes, ChainError> {
        self.call("eth_call", json!([{"to": to, "data": data}, "latest"])).await
    }

    /// `eth_getBalance` of `holder` at the head.
    pub(crate) async fn balance(&self, holder: Address) -> Result<U256, ChainError> {
        self.call("eth_getBalance", json!([holder, "latest"])).await
    }

    /// The chain id the node serves.
    pub(crate) async fn chain_id(&self) -> Result<u64, ChainError> {
        Ok(self.call::<U64>("eth_chainId", json!([])).await?.to())
    }

    /// The blocks at `numbers`, in one batch request, with their
    /// transactions as `Tx` (`IgnoredAny` reads headers only).
    pub(crate) async fn blocks<Tx: TxDetail>(&self, numbers: &[u64]) -> Result<Vec<RpcBlock<Tx>>, ChainError>
    where
        RpcBlock<Tx>: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
    {
        let full = Tx::FULL;
        let method = "eth_getBlockByNumber (batch)";
        self.budget.take(numbers.len() as u64).await?;
        let mut batch = self.client.new_batch();
        let mut waiters = Vec::with_capacity(numbers.len());
        for &number in numbers {
            let waiter = batch
                .add_call::<_, Option<RpcBlock<Tx>>>("eth_getBlockByNumber", &(U64::from(number), full))
                .map_err(|e| ChainError::Node(e.to_string()))?;
            waiters.push((number, waiter));
        }
        let sent = tokio::time::timeout(self.timeout, async {
            batch.send().await?;
            let mut blocks = Vec::with_capacity(waiters.len());
            for (number, waiter) in waiters {
                blocks.push((number, waiter.await?));
            }
            Ok::<_, alloy_transport::TransportError>(blocks)
        })
        .await;
        let blocks = self.answer(method, sent)?;
        blocks.into_iter().map(|(number, block)| block.ok_or(ChainError::MissingBlock(number))).collect()
    }
}

/// A provider that says "too many requests" (HTTP 429 or 503, a JSON-RPC
/// rate-limit error) is asked again after the wait it named: the
/// `Retry-After` header, Infura's `backoff_seconds`, "try again in …"
/// (alloy's retry layer, which reads all three), else after 250 ms; at most
/// three times, and always within the request's own deadline, so a provider
/// that stays down still shows as unreachable in seconds.
fn rate_limit_retries() -> alloy_transport::layers::RetryBackoffLayer<RateLimits> {
    alloy_transport::layers::RetryBackoffLayer::new_with_policy(RATE_LIMIT_RETRIES, 250, u64::MAX, RateLimits)
}

/// alloy's rate-limit policy, except for an `eth_getLogs` refused for its
/// size: Infura says that with the same code (-32005) as "slow down", and
/// asking the same range again cannot help; the follower reads a smaller
/// one instead ([`crate::limits`]).
#[derive(Clone, Copy, Debug)]
struct RateLimits;

impl alloy_transport::layers::RetryPolicy for RateLimits {
    fn should_retry(&self, error: &alloy_transport::TransportError) -> bool {
        let too_large = error.as_error_resp().is_some_and(|payload| {
            crate::limits::log_limit(&payload.message, payload.data.as_ref().map(|d| d.get())).is_some()
        });
        !too_large && alloy_transport::layers::RateLimitRetryPolicy::default().should_retry(error)
    }

    fn backoff_hint(&self, error: &alloy_transport::TransportError) -> Option<Duration> {
        alloy_transport::layers::RateLimitRetryPolicy::default().backoff_hint(error)
    }
}

/// See [`rate_limit_retries`].
const RATE_LIMIT_RETRIES: u32 = 3;

fn is_ws(url: &str) -> bool {
    url.starts_with("ws://") || url.starts_with("wss://")
}

/// Error texts may quote the URL, and RPC URLs often embed an API key:
/// as configured, or as the HTTP client prints it once parsed (a `/` added
/// before the query, the default port dropped, the host in lower case).
fn redact(text: &str, url: &str) -> String {
    if url.is_empty() {
        return text.to_owned();
    }
    let parsed = url::Url::parse(url).map(String::from).ok().filter(|p| !p.is_empty() && p != url);
    let text = parsed.map_or_else(|| text.to_owned(), |p| text.replace(&p, "<rpc url>"));
    text.replace(url, "<rpc url>")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_key_in_the_url_is_redacted_as_written_and_as_parsed() {
        let url = "https://Node.example:443?key=SECRET";
        let client_says = "error sending request for url (https://node.example/?key=SECRET)";
        assert_eq!(redact(client_says, url), "error sending request for url (<rpc url>)");
        assert_eq!(redact(&format!("bad {url}"), url), "bad <rpc url>");
        assert_eq!(redact("no url here", url), "no url here");
    }
}
