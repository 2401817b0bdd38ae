//! The signer's own JSON-RPC client for one chain (HTTP, alloy's client).
//!
//! Every call has a deadline, and every failure is a typed [`RpcError`],
//! never a panic. A node is asked nothing until it has said, once, that it
//! serves the chain this client is for: a fact read from another chain's
//! node would be a wrong fact.

use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U64, U128, U256};
use alloy_rpc_client::{ClientBuilder, RpcClient};
use alloy_sol_types::{SolCall, sol};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::build::SignedTx;
use super::fees::FeeSuggestion;
use super::send::SendError;

/// Why a call to the node gave no usable answer. The node's URL (which may
/// carry an API key) never appears in the text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RpcError {
    /// The configured URL is not one this client can use.
    #[error("RPC URL: {0}")]
    Config(String),
    /// The node could not be reached, or its HTTP answer was not JSON-RPC.
    #[error("{method}: the node could not be reached: {reason}")]
    Unreachable {
        /// The JSON-RPC method.
        method: &'static str,
        /// What the transport said.
        reason: String,
    },
    /// The node did not answer within the deadline.
    #[error("{method}: no answer within {after:?}")]
    Timeout {
        /// The JSON-RPC method.
        method: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method}: the node answered error {code}: {message}")]
    Node {
        /// The JSON-RPC method.
        method: &'static str,
        /// The JSON-RPC error code.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The call (`eth_call`, `eth_estimateGas`) would revert.
    #[error("{method}: execution reverted: {message}")]
    Reverted {
        /// The JSON-RPC method.
        method: &'static str,
        /// The node's message (with the revert reason, if any).
        message: String,
    },
    /// The node answered something that is not what the method returns.
    #[error("{method}: malformed answer: {reason}")]
    Malformed {
        /// The JSON-RPC method.
        method: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The node serves another chain than the one configured.
    #[error("the node serves chain {served}, not the configured chain {expected}")]
    WrongChain {
        /// The configured chain.
        expected: u64,
        /// What the node says it serves.
        served: u64,
    },
    /// The latest block has no base fee: the chain does not price gas by
    /// EIP-1559, and the signer sends only EIP-1559 transactions.
    #[error("the latest block has no base fee; the chain does not price gas by EIP-1559")]
    NoBaseFee,
}

impl RpcError {
    /// A stable code for logs and the audit trail.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            RpcError::Config(_) => "rpc.config",
            RpcError::Unreachable { .. } => "rpc.unreachable",
            RpcError::Timeout { .. } => "rpc.timeout",
            RpcError::Node { .. } => "rpc.node_error",
            RpcError::Reverted { .. } => "rpc.reverted",
            RpcError::Malformed { .. } => "rpc.malformed",
            RpcError::WrongChain { .. } => "rpc.wrong_chain",
            RpcError::NoBaseFee => "rpc.no_base_fee",
        }
    }
}

/// Which nonce: of the mined state, or counting the node's pool too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NonceTag {
    /// Transactions mined in the latest block.
    Latest,
    /// Mined, plus those waiting in this node's pool.
    Pending,
}

/// A mined transaction's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MinedReceipt {
    /// The block it is in.
    pub(crate) block_number: u64,
    /// That block's hash (a reorganisation can move the transaction).
    pub(crate) block_hash: B256,
    /// Whether it succeeded; a reverted one was mined, used its nonce and paid its gas.
    pub(crate) success: bool,
    /// Gas it used.
    pub(crate) gas_used: u64,
    /// What it paid per gas (base fee plus tip).
    pub(crate) effective_gas_price: u128,
}

impl MinedReceipt {
    /// What the sender paid for gas: `gas_used × effective_gas_price`.
    pub(crate) fn fee_paid(&self) -> U256 {
        U256::from(self.gas_used) * U256::from(self.effective_gas_price)
    }
}

/// The signer's node for one chain.
pub(crate) struct ChainRpc {
    client: RpcClient,
    chain_id: u64,
    timeout: Duration,
    /// To keep out of error texts.
    url: String,
    /// Set once the node said it serves `chain_id`.
    checked: OnceCell<()>,
}

sol! {
    /// ERC-20 `balanceOf`.
    function balanceOf(address holder) external view returns (uint256);
}

/// The fields of a block header the signer reads: its height and its gas price.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeadFields {
    number: U64,
    base_fee_per_gas: Option<U128>,
}

/// The node's latest block: its height and the fee offer it implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChainHead {
    /// Its height.
    pub(crate) number: u64,
    /// What to offer for gas from it (see [`ChainRpc::fees`]).
    pub(crate) fees: FeeSuggestion,
}

/// Which state a read is of: the latest block, or one block by height
/// (several reads of one block agree with each other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum At {
    /// Whatever the node's latest block is when it answers.
    Latest,
    /// The block at this height.
    Block(u64),
}

impl At {
    fn tag(self) -> Value {
        match self {
            At::Latest => json!("latest"),
            At::Block(number) => json!(U64::from(number)),
        }
    }
}

/// A receipt as the node sends it, read into the fields the signer needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcReceipt {
    /// Absent before Byzantium: such a transaction succeeded.
    status: Option<U64>,
    /// Null on nodes that answer a receipt for a pending transaction.
    block_number: Option<U64>,
    block_hash: Option<B256>,
    gas_used: U64,
    effective_gas_price: Option<U128>,
}

impl std::fmt::Debug for ChainRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry an API key.
        f.debug_struct("ChainRpc").field("chain_id", &self.chain_id).finish_non_exhaustive()
    }
}

impl ChainRpc {
    /// A client for chain `chain_id` at `url` (`http://` or `https://`),
    /// each call answered within `timeout` or failed. No I/O yet: the first
    /// call checks the chain id.
    pub(crate) fn new(url: &str, chain_id: u64, timeout: Duration) -> Result<Self, RpcError> {
        let parsed = url::Url::parse(url).map_err(|e| RpcError::Config(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RpcError::Config(format!("the signer speaks HTTP(S) to its nodes, not {}", parsed.scheme())));
        }
        // No timeout of the HTTP client's own: each call's deadline below
        // cancels it, so an expired call is always `Timeout`.
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .map_err(|e| RpcError::Config(format!("HTTP client: {e}")))?;
        let client = ClientBuilder::default().http_with_client(http, parsed);
        Ok(Self { client, chain_id, timeout, url: url.to_owned(), checked: OnceCell::new() })
    }

    /// The chain id the node says it serves.
    pub(crate) async fn chain_id(&self) -> Result<u64, RpcError> {
        Ok(self.raw_call::<U64>("eth_chainId", json!([])).await?.to())
    }

    /// The height of the node's latest block.
    pub(crate) async fn block_number(&self) -> Result<u64, RpcError> {
        Ok(self.call::<U64>("eth_blockNumber", json!([])).await?.to())
    }

    /// `address`'s balance in wei at the latest block.
    pub(crate) async fn balance(&self, address: Address) -> Result<U256, RpcError> {
        self.balance_at(address, At::Latest).await
    }

    /// `address`'s balance in wei at `at`.
    pub(crate) async fn balance_at(&self, address: Address, at: At) -> Result<U256, RpcError> {
        self.call("eth_getBalance", json!([address, at.tag()])).await
    }

    /// `holder`'s balance of the ERC-20 token at `contract`, in base units,
    /// at the latest block.
    pub(crate) async fn token_balance(&self, contract: Address, holder: Address) -> Result<U256, RpcError> {
        self.token_balance_at(contract, holder, At::Latest).await
    }

    /// `holder`'s balance of the ERC-20 token at `contract` at `at`.
    /// Anything but one 32-byte word is refused (an address without code
    /// answers nothing).
    pub(crate) async fn token_balance_at(&self, contract: Address, holder: Address, at: At) -> Result<U256, RpcError> {
        let data = Bytes::from(balanceOfCall { holder }.abi_encode());
        let answer: Bytes = self.call("eth_call", json!([{"to": contract, "data": data}, at.tag()])).await?;
        if answer.len() != 32 {
            let reason = format!("balanceOf answered {} bytes, not one 32-byte word: is it a token?", answer.len());
            return Err(RpcError::Malformed { method: "eth_call", reason });
        }
        Ok(U256::from_be_slice(&answer))
    }

    /// How many transactions `address` has sent: the next nonce it uses.
    pub(crate) async fn nonce(&self, address: Address, tag: NonceTag) -> Result<u64, RpcError> {
        let tag = match tag {
            NonceTag::Latest => "latest",
            NonceTag::Pending => "pending",
        };
        Ok(self.call::<U64>("eth_getTransactionCount", json!([address, tag])).await?.to())
    }

    /// What to offer for gas now: twice the latest base fee plus the tip
    /// the node suggests (`eth_maxPriorityFeePerGas`). A node without that
    /// method (it answers an error) is asked `eth_gasPrice`, which geth
    /// and its kin compute as base fee plus tip: the tip is what it says
    /// above the base fee.
    pub(crate) async fn fees(&self) -> Result<FeeSuggestion, RpcError> {
        Ok(self.head().await?.fees)
    }

    /// The latest block's height, and the fee offer of [`ChainRpc::fees`] from it.
    pub(crate) async fn head(&self) -> Result<ChainHead, RpcError> {
        let block: Option<HeadFields> = self.call("eth_getBlockByNumber", json!(["latest", false])).await?;
        let block =
            block.ok_or(RpcError::Malformed { method: "eth_getBlockByNumber", reason: "no latest block".into() })?;
        let base: u128 = block.base_fee_per_gas.ok_or(RpcError::NoBaseFee)?.to();
        let tip: u128 = match self.call::<U128>("eth_maxPriorityFeePerGas", json!([])).await {
            Ok(tip) => tip.to(),
            Err(RpcError::Node { .. }) => {
                self.call::<U128>("eth_gasPrice", json!([])).await?.to::<u128>().saturating_sub(base)
            }
            Err(err) => return Err(err),
        };
        Ok(ChainHead { number: block.number.to(), fees: FeeSuggestion::from_base_fee(base, tip) })
    }

    /// The gas `from` calling `to` with `value` and `input` would use at
    /// the latest block; [`RpcError::Reverted`] if the call would revert.
    /// No fee fields: the node does not check that `from` can pay for gas.
    pub(crate) async fn estimate_gas(
        &self,
        from: Address,
        to: Address,
        value: U256,
        input: &Bytes,
    ) -> Result<u64, RpcError> {
        // `data`, not `input`: every node takes `data`.
        let call = json!({"from": from, "to": to, "value": value, "data": input});
        Ok(self.call::<U64>("eth_estimateGas", json!([call])).await?.to())
    }

    /// Broadcasts `tx`; its hash once the node's pool took it.
    pub(crate) async fn send_raw(&self, tx: &SignedTx) -> Result<B256, SendError> {
        match self.call::<B256>("eth_sendRawTransaction", json!([tx.raw])).await {
            Ok(hash) if hash == tx.hash => Ok(hash),
            Ok(hash) => Err(SendError::Other(format!("the node answered hash {hash} for transaction {}", tx.hash))),
            Err(RpcError::Node { code, message, .. }) => Err(SendError::from_node(code, &message)),
            Err(err) => Err(SendError::Rpc(err)),
        }
    }

    /// The receipt of `hash`, once mined (`None`: pending, unknown, or
    /// reorganised out).
    pub(crate) async fn receipt(&self, hash: B256) -> Result<Option<MinedReceipt>, RpcError> {
        let receipt: Option<RpcReceipt> = self.call("eth_getTransactionReceipt", json!([hash])).await?;
        let Some(receipt) = receipt else { return Ok(None) };
        let (Some(number), Some(block_hash)) = (receipt.block_number, receipt.block_hash) else { return Ok(None) };
        let malformed =
            |reason: &str| RpcError::Malformed { method: "eth_getTransactionReceipt", reason: reason.into() };
        Ok(Some(MinedReceipt {
            block_number: number.to(),
            block_hash,
            success: receipt.status.is_none_or(|s| s == U64::from(1)),
            gas_used: receipt.gas_used.to(),
            effective_gas_price: receipt.effective_gas_price.ok_or_else(|| malformed("no effectiveGasPrice"))?.to(),
        }))
    }

    /// Whether the node knows `hash` at all: in its pool or mined.
    pub(crate) async fn transaction_known(&self, hash: B256) -> Result<bool, RpcError> {
        let tx: Option<IgnoredAny> = self.call("eth_getTransactionByHash", json!([hash])).await?;
        Ok(tx.is_some())
    }

    /// `method`, on a node known to serve our chain.
    async fn call<R: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<R, RpcError> {
        self.checked
            .get_or_try_init(|| async {
                let served = self.chain_id().await?;
                if served == self.chain_id {
                    Ok(())
                } else {
                    Err(RpcError::WrongChain { expected: self.chain_id, served })
                }
            })
            .await?;
        self.raw_call(method, params).await
    }

    /// `method`, within the deadline, its failure typed.
    async fn raw_call<R: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<R, RpcError> {
        let answer = tokio::time::timeout(self.timeout, self.client.request::<Value, R>(method, params)).await;
        let redact = |text: &str| redact(text, &self.url);
        match answer {
            Ok(Ok(value)) => Ok(value),
            Err(_) => Err(RpcError::Timeout { method, after: self.timeout }),
            Ok(Err(err)) => match err.as_error_resp() {
                Some(payload) => {
                    let message = redact(&payload.message);
                    // geth answers code 3 with the revert data; others only say so.
                    if payload.code == 3 || message.to_ascii_lowercase().contains("execution reverted") {
                        Err(RpcError::Reverted { method, message })
                    } else {
                        Err(RpcError::Node { method, code: payload.code, message })
                    }
                }
                None if err.is_deser_error() || err.is_null_resp() => {
                    Err(RpcError::Malformed { method, reason: redact(&err.to_string()) })
                }
                None => Err(RpcError::Unreachable { method, reason: redact(&with_causes(&err)) }),
            },
        }
    }
}

/// `err` and what caused it: "error sending request" alone does not say
/// whether the connection was refused, reset or its name did not resolve.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

/// Error texts may quote the URL, and RPC URLs often embed an API key: as
/// configured, or as the HTTP client prints it once parsed (a `/` added
/// before the query, the default port dropped, the host in lower case).
/// (As `coffer-chain`'s node does; the signer does not link that crate.)
fn redact(text: &str, url: &str) -> String {
    let parsed = url::Url::parse(url).map(String::from).ok().filter(|p| !p.is_empty() && p != url);
    let text = parsed.map_or_else(|| text.to_owned(), |p| text.replace(&p, "<rpc url>"));
    text.replace(url, "<rpc url>")
}
