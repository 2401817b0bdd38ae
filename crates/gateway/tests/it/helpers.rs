#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub, dead_code)]

use std::str::FromStr;
use std::sync::Arc;

use coffer_config::Config;
use coffer_domain::{MerchantId, Scopes};
use coffer_gateway::{Gateway, GatewayParts, admin};
use coffer_store::Store;
use coffer_store::testing::{Kind, TestDatabase};
use serde_json::Value;
use tokio::sync::oneshot;

/// BIP-32 test vector 1 at depth 3 (m/0'/1/2'); any account-level xpub will do.
pub const XPUB: &str =
    "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5";
pub const USDT: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";

pub fn config(db: &TestDatabase) -> Config {
    Config::from_toml(&config_text(db)).expect("test config is valid")
}

pub fn config_text(db: &TestDatabase) -> String {
    format!(
        r#"
        database_url = "{url}"
        xpub = "{XPUB}"
        [[chains]]
        chain_id = 31337
        name = "anvil"
        rpc_url = "http://127.0.0.1:8545"
        confirmations = 2
        [[chains]]
        chain_id = 1
        name = "mainnet"
        rpc_url = "http://127.0.0.1:8546"
        confirmations = 12
        [[assets]]
        symbol = "ETH"
        chain_id = 31337
        decimals = 18
        [[assets]]
        symbol = "USDT"
        chain_id = 31337
        contract = "{USDT}"
        decimals = 6
        [[assets]]
        symbol = "USDC"
        chain_id = 31337
        contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        decimals = 6
        [[assets]]
        symbol = "USDC"
        chain_id = 1
        contract = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
        decimals = 6
        "#,
        url = db.url()
    )
}

/// A running gateway with one merchant and a read-write key.
pub struct TestApp {
    pub base: String,
    /// `http://` and the operator listener's address, when one is configured.
    pub operator: Option<String>,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub merchant: MerchantId,
    pub key: String,
    pub db: Arc<TestDatabase>,
    pub watchers: coffer_watcher::Watchers,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app(kind: Kind) -> Option<TestApp> {
    let db = Arc::new(TestDatabase::new(kind).await?);
    Some(spawn_app_on(db).await)
}

/// Another gateway process on the same database.
pub async fn spawn_app_on(db: Arc<TestDatabase>) -> TestApp {
    let config = config(&db);
    spawn_app_with(db, &config).await
}

/// A gateway with this configuration, and a new merchant with a key of every scope.
pub async fn spawn_app_with(db: Arc<TestDatabase>, config: &Config) -> TestApp {
    let parts = GatewayParts::from_config(config).await.expect("open the store");
    let store = parts.store.clone();
    let watchers = parts.watchers.clone();
    let gateway = Gateway::bind("127.0.0.1:0".parse().unwrap(), parts).await.expect("bind");
    let base = format!("http://{}", gateway.local_addr().unwrap());
    let operator = gateway.operator_addr().map(|addr| format!("http://{addr}"));
    let (tx, rx) = oneshot::channel();
    let served = tokio::spawn(gateway.serve(async move {
        let _ = rx.await;
    }));
    let merchant = admin::create_merchant(&*store, "Acme").await.unwrap().id;
    let mut app = TestApp {
        base,
        operator,
        client: reqwest::Client::new(),
        store,
        merchant,
        key: String::new(),
        db,
        watchers,
        shutdown: Some(tx),
        served: Some(served),
    };
    app.key = app.key_for(merchant, "invoices:read,invoices:write,balances:read,webhooks:read,webhooks:write").await;
    app
}

/// A gateway whose configuration is the test one with `top` (top-level
/// settings) before it and `tables` after it.
pub async fn spawn_app_configured(kind: Kind, top: &str, tables: &str) -> Option<TestApp> {
    let db = Arc::new(TestDatabase::new(kind).await?);
    let text = format!("{top}\n{}\n{tables}", config_text(&db));
    let config = Config::from_toml(&text).expect("test config is valid");
    Some(spawn_app_with(db, &config).await)
}

impl TestApp {
    /// Stops the gateway as SIGTERM would, and waits until it has (the
    /// watchers and the SQLite lock included).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap().unwrap();
        }
    }

    pub async fn key_for(&self, merchant: MerchantId, scopes: &str) -> String {
        let (token, _) =
            admin::create_api_key(&*self.store, merchant, Scopes::from_str(scopes).unwrap(), "test").await.unwrap();
        token.reveal()
    }

    pub async fn other_merchant(&self) -> (MerchantId, String) {
        let merchant = admin::create_merchant(&*self.store, "Other").await.unwrap().id;
        (
            merchant,
            self.key_for(merchant, "invoices:read,invoices:write,balances:read,webhooks:read,webhooks:write").await,
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn create(&self, body: Value) -> reqwest::Response {
        self.client.post(self.url("/v1/invoices")).bearer_auth(&self.key).json(&body).send().await.unwrap()
    }

    pub async fn create_ok(&self, body: Value) -> Value {
        let response = self.create(body).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(&self.key).json(&body).send().await.unwrap()
    }

    /// POSTs and asserts a 2xx answer; returns its JSON.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        let response = self.post(path, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn get_as(&self, key: &str, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(key).send().await.unwrap()
    }

    /// Every invoice of the test merchant, through the API.
    pub async fn all_invoices(&self) -> Vec<Value> {
        let page: Value = self.get_as(&self.key, "/v1/invoices?limit=100").await.json().await.unwrap();
        page["data"].as_array().unwrap().clone()
    }
}

/// Asserts a JSON error answer and returns its message.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status(), status, "expected {status} {code}");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().expect("a message").to_owned();
    assert!(!message.is_empty());
    message
}
