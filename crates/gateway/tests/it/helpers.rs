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
    app.key = app.key_for(merchant, ALL_SCOPES).await;
    app
}

/// Every scope a key can carry.
pub const ALL_SCOPES: &str =
    "invoices:read,invoices:write,balances:read,webhooks:read,webhooks:write,payouts:read,payouts:write";

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
        (merchant, self.key_for(merchant, ALL_SCOPES).await)
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

/// The gateway's side of a signer: its request key in a file (as
/// `coffer-signer-api` writes it) and the `[signer]` table that names it.
pub struct SignerKeys {
    pub dir: tempfile::TempDir,
    pub key_file: std::path::PathBuf,
    /// The gateway's public request key, which a signer trusts.
    pub gateway: coffer_signer_api::PublicKey,
}

impl SignerKeys {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("request.key");
        let key = coffer_signer_api::RequestKey::generate().unwrap();
        key.create_file(&key_file).unwrap();
        Self { gateway: key.public(), dir, key_file }
    }

    /// A `[signer]` table for a signer at `url` whose answers `identity`
    /// signs, retrying fast (tests wait on what happens, never on a clock).
    pub fn table(&self, url: &str, identity: &coffer_signer_api::PublicKey) -> String {
        format!(
            "[signer]\nurl = \"{url}\"\nrequest_key_file = \"{}\"\nidentity_key = \"{identity}\"\n\
             timeout_secs = 5\nretry_base_ms = 20\nretry_max_secs = 1\npoll_interval_ms = 20\n",
            self.key_file.display()
        )
    }
}

/// `units` base units of the test USDT.
pub fn usdt(units: u64) -> coffer_domain::Amount {
    coffer_domain::Amount::from_units(coffer_store::testing::test_usdt(), coffer_domain::U256::from(units))
}

/// Credits the test merchant with `units` of USDT: an invoice paid and settled.
pub async fn fund(app: &TestApp, units: u64) -> coffer_domain::Invoice {
    let paid = coffer_domain::U256::from(units);
    coffer_store::testing::paid_invoice(&*app.store, app.merchant, usdt(units), paid, true).await.0
}

/// Polls `GET path` with `key` until `done` holds of its JSON (at most about 20 s).
pub async fn until_json(app: &TestApp, key: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..2000 {
        last = app.get_as(key, path).await.json().await.unwrap();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("GET {path} never got there: {last:#}");
}
