//! A merchant's webhook receiver, as a shop would run it: it verifies each
//! signature and answers 200; the bench notes when each event arrived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use coffer_domain::Timestamp;
use coffer_webhooks::signature::{EVENT_HEADER, SIGNATURE_HEADER, verify};

/// Arrivals by (event type, invoice id).
pub(crate) type Arrivals = Arc<Mutex<HashMap<(String, String), Instant>>>;

pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) arrivals: Arrivals,
    pub(crate) secret: Arc<Mutex<String>>,
    pub(crate) bad_signatures: Arc<Mutex<u64>>,
}

impl Receiver {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let arrivals: Arrivals = Arc::default();
        let secret: Arc<Mutex<String>> = Arc::default();
        let bad_signatures: Arc<Mutex<u64>> = Arc::default();
        let (log, key, bad) = (arrivals.clone(), secret.clone(), bad_signatures.clone());
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (log, key, bad) = (log.clone(), key.clone(), bad.clone());
                async move {
                    let arrived = Instant::now();
                    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let secret = key.lock().map(|s| s.clone()).unwrap_or_default();
                    let now = Timestamp::now().as_millis() / 1000;
                    if verify(&secret, &header(SIGNATURE_HEADER), &body, now, 300).is_err() {
                        if let Ok(mut bad) = bad.lock() {
                            *bad += 1;
                        }
                        return StatusCode::UNAUTHORIZED;
                    }
                    let invoice = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["data"]["invoice"]["id"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    if let Ok(mut log) = log.lock() {
                        log.entry((header(EVENT_HEADER), invoice)).or_insert(arrived);
                    }
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, arrivals, secret, bad_signatures })
    }
}
