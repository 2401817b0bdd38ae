//! Minimal JSON-RPC over HTTP, for driving anvil from `coffer dev` and tests.

use serde_json::{Value, json};

/// A JSON-RPC call that failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The HTTP request failed.
    #[error("{method}: {source}")]
    Transport {
        /// The method called.
        method: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The node answered with an error.
    #[error("{method}: node error {error}")]
    Node {
        /// The method called.
        method: String,
        /// The node's error object.
        error: Value,
    },
}

/// A JSON-RPC endpoint.
#[derive(Clone, Debug)]
pub struct Rpc {
    url: String,
    http: reqwest::Client,
}

impl Rpc {
    /// An endpoint at `url` (`http://127.0.0.1:PORT`).
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), http: reqwest::Client::new() }
    }

    /// Calls `method` with `params` and returns its `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let transport = |source| RpcError::Transport { method: method.to_owned(), source };
        let response: Value =
            self.http.post(&self.url).json(&body).send().await.map_err(transport)?.json().await.map_err(transport)?;
        match response.get("error") {
            Some(error) => Err(RpcError::Node { method: method.to_owned(), error: error.clone() }),
            None => Ok(response.get("result").cloned().unwrap_or(Value::Null)),
        }
    }
}
