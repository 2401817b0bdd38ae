//! A shop on a real chain: anvil with the test USDT, a gateway watching it,
//! and a webhook receiver that checks every signature.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub, dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use axum::http::{HeaderMap, StatusCode};
use coffer_config::Config;
use coffer_devnet::{Anvil, AnvilOptions, TestToken, deploy_test_usdt};
use coffer_domain::Timestamp;
use coffer_store::testing::{Kind, TestDatabase};
use coffer_webhooks::signature::{DELIVERY_HEADER, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, verify};
use serde_json::{Value, json};

use crate::helpers::{TestApp, XPUB, spawn_app_with};

/// A webhook as the receiver got it.
#[derive(Clone, Debug)]
pub struct Received {
    pub event_type: String,
    pub event_id: String,
    pub delivery_id: String,
    pub body: Value,
    pub signature_valid: bool,
}

/// A webhook receiver on loopback: it answers 500 to the first `fail_first`
/// requests, then 200, and checks each signature with the secret it was given.
#[derive(Clone)]
pub struct Hooks {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub fail_first: Arc<AtomicUsize>,
    pub secret: Arc<Mutex<String>>,
}

impl Hooks {
    pub async fn start() -> Self {
        let hooks =
            Hooks { url: String::new(), received: Arc::default(), fail_first: Arc::default(), secret: Arc::default() };
        let state = hooks.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let header =
                        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let secret = state.secret.lock().unwrap().clone();
                    let now = Timestamp::now().as_millis() / 1000;
                    let valid = verify(&secret, &header(SIGNATURE_HEADER), &body, now, 300).is_ok();
                    let failing =
                        state.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                    if !failing {
                        state.received.lock().unwrap().push(Received {
                            event_type: header(EVENT_HEADER),
                            event_id: header(EVENT_ID_HEADER),
                            delivery_id: header(DELIVERY_HEADER),
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            signature_valid: valid,
                        });
                    }
                    if failing { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hooks { url, ..hooks }
    }

    /// Event types received for `invoice`, once each (retries and redeliveries
    /// carry the same event id), in order of arrival.
    pub fn events_for(&self, invoice: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let mut types = Vec::new();
        for r in self.received.lock().unwrap().iter() {
            if r.body["data"]["invoice"]["id"] == invoice && !seen.contains(&r.event_id) {
                seen.push(r.event_id.clone());
                types.push(r.event_type.clone());
            }
        }
        types
    }
}

pub struct Shop {
    pub app: TestApp,
    pub anvil: Anvil,
    pub token: TestToken,
    pub payer: Address,
    pub hooks: Hooks,
    pub webhook_id: String,
}

pub fn shop_config(db: &TestDatabase, rpc_url: &str, token: Address, confirmations: u32) -> Config {
    shop_config_with(db, rpc_url, token, confirmations, &ChainOptions::default())
}

/// How a shop's chain differs from the default one.
#[derive(Clone, Debug, Default)]
pub struct ChainOptions {
    /// Requests over HTTP only, polled: no WebSocket subscription (a proxy
    /// that speaks HTTP alone sits in front of the node).
    pub http_only: bool,
    /// More lines of the `[[chains]]` table (`log_range = 8`, say).
    pub extra: String,
    /// The USDT asset's `decimals` in the configuration (6 if `None`).
    pub usdt_decimals: Option<u8>,
    /// How often the node is polled without a subscription (50 ms if `None`).
    pub poll_ms: Option<u64>,
}

pub fn shop_config_with(
    db: &TestDatabase,
    rpc_url: &str,
    token: Address,
    confirmations: u32,
    options: &ChainOptions,
) -> Config {
    Config::from_toml(&format!(
        r#"
        database_url = "{url}"
        xpub = "{XPUB}"
        [webhooks]
        allow_private_urls = true
        retry_base_ms = 50
        retry_max_secs = 1
        timeout_secs = 5
        [[chains]]
        chain_id = 31337
        name = "anvil"
        rpc_url = "{rpc_url}"
        {ws}
        confirmations = {confirmations}
        poll_interval_ms = {poll}
        {extra}
        [[assets]]
        symbol = "ETH"
        chain_id = 31337
        decimals = 18
        [[assets]]
        symbol = "USDT"
        chain_id = 31337
        contract = "{token}"
        decimals = {decimals}
        "#,
        url = db.url(),
        // Over HTTP with a WebSocket subscription, as production nodes are used;
        // a ws:// URL alone (the proxy test) carries both.
        ws = if rpc_url.starts_with("http") && !options.http_only {
            format!("ws_url = \"{}\"", rpc_url.replacen("http", "ws", 1))
        } else {
            String::new()
        },
        extra = options.extra,
        decimals = options.usdt_decimals.unwrap_or(6),
        poll = options.poll_ms.unwrap_or(50),
    ))
    .expect("shop config is valid")
}

/// A shop whose gateway watches a fresh anvil over WebSocket.
pub async fn shop(kind: Kind, confirmations: u32) -> Option<Shop> {
    let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
    let url = anvil.http_url();
    shop_with(kind, confirmations, anvil, url).await
}

/// A shop whose gateway reaches `anvil` at `rpc_url` (through a proxy, say).
pub async fn shop_with(kind: Kind, confirmations: u32, anvil: Anvil, rpc_url: String) -> Option<Shop> {
    shop_with_options(kind, confirmations, anvil, rpc_url, &ChainOptions::default()).await
}

/// [`shop_with`], its chain configured with `options`.
pub async fn shop_with_options(
    kind: Kind,
    confirmations: u32,
    anvil: Anvil,
    rpc_url: String,
    options: &ChainOptions,
) -> Option<Shop> {
    let shop = unfollowed_shop(kind, confirmations, anvil, rpc_url, options).await?;
    shop.until_following().await;
    Some(shop)
}

/// A shop whose gateway has started but may not follow the chain yet (its
/// node unreachable, say).
pub async fn unfollowed_shop(
    kind: Kind,
    confirmations: u32,
    anvil: Anvil,
    rpc_url: String,
    options: &ChainOptions,
) -> Option<Shop> {
    unfollowed_shop_configured(kind, confirmations, anvil, rpc_url, options, |_| {}).await
}

/// [`unfollowed_shop`], its configuration changed by `configure` first.
pub async fn unfollowed_shop_configured(
    kind: Kind,
    confirmations: u32,
    anvil: Anvil,
    rpc_url: String,
    options: &ChainOptions,
    configure: impl FnOnce(&mut Config),
) -> Option<Shop> {
    let db = Arc::new(TestDatabase::new(kind).await?);
    let rpc = anvil.rpc();
    let token = deploy_test_usdt(rpc).await.unwrap();
    let payer = rpc.accounts().await.unwrap()[1];
    token.mint(rpc, payer, U256::from(1_000_000_000_000u64)).await.unwrap();
    let mut config = shop_config_with(&db, &rpc_url, token.address, confirmations, options);
    configure(&mut config);
    let app = spawn_app_with(db, &config).await;
    let hooks = Hooks::start().await;
    let all = coffer_domain::EventType::ALL.map(|e| e.as_str());
    let created = app.post_ok("/v1/webhooks", json!({"url": hooks.url, "events": all})).await;
    *hooks.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();
    let webhook_id = created["id"].as_str().unwrap().to_owned();
    Some(Shop { app, anvil, token, payer, hooks, webhook_id })
}

impl Shop {
    /// `/healthz`: on the operator's listener when the gateway has one.
    fn health_url(&self) -> String {
        format!("{}/healthz", self.app.operator.as_deref().unwrap_or(&self.app.base))
    }

    /// The chain's entry in `/healthz`.
    pub async fn chain_health(&self) -> Value {
        let health: Value = self.app.client.get(self.health_url()).send().await.unwrap().json().await.unwrap();
        health["chains"][0].clone()
    }

    /// Waits until the watcher has a cursor (it starts from the head).
    pub async fn until_following(&self) {
        let mut health = Value::Null;
        for _ in 0..500 {
            health = self.app.client.get(self.health_url()).send().await.unwrap().json().await.unwrap();
            if health["chains"][0]["cursor"].is_u64() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the watcher never started following: {health:#}");
    }

    pub async fn invoice(&self, asset: &str, amount: &str) -> Value {
        self.app.create_ok(json!({"amount": amount, "asset": asset})).await
    }

    /// Pays `units` of `asset` to the invoice's address and waits for the block.
    pub async fn pay(&self, invoice: &Value, asset: &str, units: u64) -> B256 {
        let to: Address = invoice["address"].as_str().unwrap().parse().unwrap();
        let rpc = self.anvil.rpc();
        let tx = match asset {
            "ETH" => rpc.send_eth(self.payer, to, U256::from(units)).await.unwrap(),
            _ => self.token.send_transfer(rpc, self.payer, to, U256::from(units)).await.unwrap(),
        };
        rpc.wait_for_receipt(tx).await.unwrap();
        tx
    }

    pub async fn mine(&self, blocks: u64) {
        self.anvil.rpc().mine(blocks).await.unwrap();
    }

    pub async fn get(&self, id: &str) -> Value {
        let response = self.app.get_as(&self.app.key, &format!("/v1/invoices/{id}")).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Polls the invoice until `done` holds (10 s at most).
    pub async fn until(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..1000 {
            last = self.get(id).await;
            if done(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("invoice never became {what}: {last:#}");
    }

    pub async fn until_status(&self, id: &str, status: &str) -> Value {
        self.until(id, status, |i| i["status"] == status).await
    }

    /// Waits until the receiver holds `count` distinct events for the invoice.
    pub async fn until_events(&self, id: &str, count: usize) -> Vec<String> {
        for _ in 0..1000 {
            let events = self.hooks.events_for(id);
            if events.len() >= count {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {count} webhooks for {id}: {:?}", self.hooks.events_for(id));
    }

    /// The merchant's balance in `asset`, in base units ("0" when none).
    pub async fn balance(&self, asset: &str) -> String {
        let body: Value = self.app.get_as(&self.app.key, "/v1/balances").await.json().await.unwrap();
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["asset"] == asset)
            .map_or("0".to_owned(), |b| b["available_units"].as_str().unwrap().to_owned())
    }

    /// `coffer ledger check`'s invariants hold, and every webhook's signature verified.
    pub async fn assert_books(&self) {
        let report = coffer_watcher::audit::check_ledger(&*self.app.store).await.unwrap();
        assert!(report.is_sound(), "ledger breaches: {:#?}", report.breaches);
        let received = self.hooks.received.lock().unwrap().clone();
        assert!(received.iter().all(|r| r.signature_valid), "a webhook failed its signature check: {received:#?}");
    }
}
