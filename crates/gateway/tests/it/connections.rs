//! Connections as an attacker holds them: heads sent halfway, bodies that
//! never end, answers never read, idle connections kept open, and more of
//! them than the gateway allows. Raw TCP, since an HTTP client would not
//! misbehave. The database does not matter here: SQLite only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use coffer_store::testing::Kind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_configured};

/// A generous bound on every wait: past it the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);
const HALF_A_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: coffer\r\nX-Slow: ";

fn host(base: &str) -> &str {
    base.trim_start_matches("http://")
}

async fn half_sent(base: &str) -> TcpStream {
    let mut stream = TcpStream::connect(host(base)).await.unwrap();
    stream.write_all(HALF_A_HEAD).await.unwrap();
    stream
}

/// Reads until the server closes the connection; what it sent first.
async fn until_closed(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break, // end of stream, or a reset: closed either way
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.unwrap_or_else(|_| panic!("the server never closed {what}"));
    received
}

async fn scrape(app: &TestApp, base: &str) -> String {
    app.client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// A metric's value, 0 when absent.
fn value(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0, |v| v.parse::<f64>().unwrap() as u64)
}

/// Waits until a metric reaches `at_least`.
async fn until_metric(app: &TestApp, base: &str, series: &str, at_least: u64) -> String {
    let wait = async {
        loop {
            let metrics = scrape(app, base).await;
            if value(&metrics, series) >= at_least {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(PATIENCE, wait).await.unwrap_or_else(|_| panic!("{series} never reached {at_least}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_heads_are_closed_by_the_server_while_honest_clients_are_served() {
    let tables = "[http]\nheader_timeout_secs = 1\nmax_connections = 64";
    let Some(app) = spawn_app_configured(Kind::Sqlite, "", tables).await else { return };
    let mut slow = Vec::new();
    for _ in 0..24 {
        slow.push(half_sent(&app.base).await);
    }
    let honest = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(honest.status(), 200, "served beside 24 half-sent heads");
    for stream in &mut slow {
        let sent = until_closed(stream, "a connection whose head never ended").await;
        assert!(sent.is_empty() || sent.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&sent));
    }
    let metrics =
        until_metric(&app, &app.base, r#"coffer_http_timeouts_total{listener="api",kind="header"}"#, 24).await;
    assert_eq!(value(&metrics, r#"coffer_http_timeouts_total{listener="api",kind="header"}"#), 24);
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200, "and still serving");

    // Nor can a head be large: a connection's buffer is bounded.
    let mut huge = TcpStream::connect(host(&app.base)).await.unwrap();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: coffer\r\nX-Pad: {}\r\n\r\n", "x".repeat(33 * 1024));
    let _ = huge.write_all(head.as_bytes()).await; // the server may close before it has read it all
    let answer = until_closed(&mut huge, "a connection with a 33 KiB head").await;
    assert!(answer.starts_with(b"HTTP/1.1 431"), "{}", String::from_utf8_lossy(&answer[..answer.len().min(200)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_and_a_freed_slot_serves_the_next_in_line() {
    // Long deadlines: here only the cap and the clients decide.
    let tables = "[http]\nheader_timeout_secs = 600\nidle_timeout_secs = 600\nmax_connections = 2";
    let top = "operator_listen_addr = \"127.0.0.1:0\"";
    let Some(app) = spawn_app_configured(Kind::Sqlite, top, tables).await else { return };
    let (first, second) = (half_sent(&app.base).await, half_sent(&app.base).await);
    // Connected after them, so behind them in the kernel's queue of connections.
    let mut honest = TcpStream::connect(host(&app.base)).await.unwrap();
    honest.write_all(b"GET /v1/invoices HTTP/1.1\r\nHost: coffer\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut waiting = half_sent(&app.base).await;

    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), honest.read(&mut byte)).await;
    assert!(early.is_err(), "a connection beyond the cap of 2 was served: {early:?}");
    let operator = app.operator.clone().expect("an operator listener");
    let open = r#"coffer_http_connections_open{listener="api"}"#;
    let metrics = until_metric(&app, &operator, open, 2).await;
    assert_eq!(value(&metrics, open), 2, "the operator listener answers while the API's is full");
    assert_eq!(value(&metrics, r#"coffer_http_connections_total{listener="api"}"#), 2);

    drop(first);
    let answer = until_closed(&mut honest, "the honest connection").await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "served once a slot was free: {answer}");
    // The honest client's slot, freed in turn, goes to the next in line.
    let metrics = until_metric(&app, &operator, r#"coffer_http_connections_total{listener="api"}"#, 4).await;
    assert_eq!(value(&metrics, open), 2, "{metrics}");
    drop(second);
    waiting.write_all(b"x\r\nConnection: close\r\n\r\n").await.unwrap();
    let served = until_closed(&mut waiting, "the last connection").await;
    let served = String::from_utf8_lossy(&served);
    // Served: /healthz lives on the operator's address here, so the API's answers 404.
    assert!(served.starts_with("HTTP/1.1 404") && served.contains(r#""code":"not_found""#), "{served}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed() {
    let tables = "[http]\nidle_timeout_secs = 1";
    let Some(app) = spawn_app_configured(Kind::Sqlite, "", tables).await else { return };
    let mut stream = TcpStream::connect(host(&app.base)).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: coffer\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await.unwrap().unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    until_closed(&mut stream, "an idle kept-alive connection").await;
    let idle = r#"coffer_http_timeouts_total{listener="api",kind="idle"}"#;
    assert_eq!(value(&until_metric(&app, &app.base, idle, 1).await, idle), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_ends_is_answered_408_and_closed() {
    let tables = "[http]\nbody_timeout_secs = 1";
    let Some(app) = spawn_app_configured(Kind::Sqlite, "", tables).await else { return };
    let mut stream = TcpStream::connect(host(&app.base)).await.unwrap();
    let head = format!(
        "POST /v1/invoices HTTP/1.1\r\nHost: coffer\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"amount\":",
        app.key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(&mut stream, "a connection whose body never ended").await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    assert!(app.all_invoices().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answers_is_dropped() {
    let tables = "[http]\nwrite_timeout_secs = 1";
    let Some(app) = spawn_app_configured(Kind::Sqlite, "", tables).await else { return };
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap(); // a small window, so the server's writes stall soon
    let mut stream = socket.connect(host(&app.base).parse().unwrap()).await.unwrap();
    // 1,000 pipelined requests for the API description (tens of kB each), never read:
    // far more than the sockets' buffers hold.
    let requests = b"GET /openapi.json HTTP/1.1\r\nHost: coffer\r\n\r\n".repeat(1000);
    stream.write_all(&requests).await.unwrap();
    let write = r#"coffer_http_timeouts_total{listener="api",kind="write"}"#;
    until_metric(&app, &app.base, write, 1).await;
    let received = until_closed(&mut stream, "a connection that never read").await;
    let answers = String::from_utf8_lossy(&received).matches("HTTP/1.1 200").count();
    assert!(answers < 1000, "the server gave up on the reader: {answers} answers of 1,000 arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_and_closes_idle_connections() {
    let tables = "[http]\nheader_timeout_secs = 600\nidle_timeout_secs = 600\nbody_timeout_secs = 600";
    let Some(app) = spawn_app_configured(Kind::Sqlite, "", tables).await else { return };
    let (key, base) = (app.key.clone(), app.base.clone());
    let mut in_flight = TcpStream::connect(host(&base)).await.unwrap();
    let body = r#"{"amount":"1","asset":"USDT"}"#;
    // With `Expect: 100-continue` the server says when the handler starts reading the body.
    let head = format!(
        "POST /v1/invoices HTTP/1.1\r\nHost: coffer\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(PATIENCE, in_flight.read(&mut buf)).await.unwrap().unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&buf[..n]));
    in_flight.write_all(&body.as_bytes()[..10]).await.unwrap();
    let mut idle = half_sent(&base).await;
    let open = r#"coffer_http_connections_open{listener="api"}"#;
    until_metric(&app, &base, open, 3).await; // the two, and the scrape's own

    let stopped = tokio::spawn(app.stop());
    // A head never finished is closed at once, not after its deadline.
    until_closed(&mut idle, "an unfinished head at shutdown").await;
    in_flight.write_all(&body.as_bytes()[10..]).await.unwrap();
    let answer = until_closed(&mut in_flight, "the request in flight").await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "the request in flight was finished: {answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "and its connection closed: {answer}");
    tokio::time::timeout(PATIENCE, stopped).await.expect("the gateway stopped").unwrap();
}
