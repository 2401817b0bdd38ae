//! The load generator: one task per connection, one request in flight per
//! connection, HTTP/1.1 keep-alive, latencies into HDR histograms.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::PhaseReport;

pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) api_key: String,
}

struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    authorization: String,
    host: String,
}

impl Connection {
    async fn open(target: &Target) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { sender, authorization: format!("Bearer {}", target.api_key), host: target.addr.to_string() })
    }

    async fn send(&mut self, method: Method, path: &str, body: Option<Bytes>) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", &self.authorization);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

fn report(name: &'static str, hist: &Histogram<u64>, errors: u64, elapsed: Duration) -> PhaseReport {
    PhaseReport {
        name,
        ok: hist.len(),
        errors,
        per_second: hist.len() as f64 / elapsed.as_secs_f64(),
        micros: [hist.value_at_quantile(0.50), hist.value_at_quantile(0.99), hist.value_at_quantile(0.999), hist.max()],
    }
}

#[derive(serde::Deserialize)]
struct Created {
    id: String,
}

/// Creates invoices on `concurrency` connections for `duration`.
pub(crate) async fn create_phase(
    target: &Target,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<(PhaseReport, Vec<String>)> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let mut conn = Connection::open(target).await.context("connecting to the gateway")?;
        workers.push(tokio::spawn(async move {
            let mut hist = histogram();
            let mut ids = Vec::new();
            let mut errors = 0u64;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let body = format!(r#"{{"amount":"{worker}.{n:06}","asset":"USDT","order_id":"bench-{worker}-{n}"}}"#);
                let sent = Instant::now();
                match conn.send(Method::POST, "/v1/invoices", Some(Bytes::from(body))).await {
                    Ok((StatusCode::CREATED, bytes)) => {
                        hist.record(sent.elapsed().as_micros() as u64).ok();
                        if let Ok(created) = serde_json::from_slice::<Created>(&bytes) {
                            ids.push(created.id);
                        }
                    }
                    Ok(_) | Err(_) => errors += 1,
                }
            }
            (hist, ids, errors)
        }));
    }
    let mut total = histogram();
    let mut all_ids = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (hist, ids, errs) = worker.await?;
        total.add(&hist).ok();
        all_ids.extend(ids);
        errors += errs;
    }
    Ok((report("POST /v1/invoices", &total, errors, started.elapsed()), all_ids))
}

/// Reads invoices by id, round-robin over `ids`, for `duration`.
pub(crate) async fn read_phase(
    target: &Target,
    concurrency: usize,
    duration: Duration,
    ids: &[String],
) -> anyhow::Result<PhaseReport> {
    anyhow::ensure!(!ids.is_empty(), "no invoices were created, so none can be read");
    let paths: Arc<Vec<String>> = Arc::new(ids.iter().map(|id| format!("/v1/invoices/{id}")).collect());
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let mut conn = Connection::open(target).await?;
        let (paths, cursor) = (paths.clone(), cursor.clone());
        workers.push(tokio::spawn(async move {
            let mut hist = histogram();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let path = &paths[cursor.fetch_add(7919, Ordering::Relaxed) % paths.len()];
                let sent = Instant::now();
                match conn.send(Method::GET, path, None).await {
                    Ok((StatusCode::OK, _)) => {
                        hist.record(sent.elapsed().as_micros() as u64).ok();
                    }
                    Ok(_) | Err(_) => errors += 1,
                }
            }
            (hist, errors)
        }));
    }
    let mut total = histogram();
    let mut errors = 0;
    for worker in workers {
        let (hist, errs) = worker.await?;
        total.add(&hist).ok();
        errors += errs;
    }
    Ok(report("GET /v1/invoices/{id}", &total, errors, started.elapsed()))
}
