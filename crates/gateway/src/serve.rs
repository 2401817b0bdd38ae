//! Serving HTTP/1.1 connections with the deadlines and the cap that
//! `axum::serve` lacks: without them, clients that send slowly, read slowly
//! or only hold connections open exhaust the process's descriptors (240 such
//! connections once stopped a gateway whose limit was 256).
//!
//! Each connection is in one of four phases, and its watchdog closes it
//! when the phase's deadline passes:
//!
//! - **head**: from the accept, or from the first byte after an idle spell,
//!   the request's head must be complete within `header_timeout`;
//! - **busy**: the handler runs; its body must arrive within `body_timeout`
//!   of being first read ([`DeadlineBody`], answered 408);
//! - **responding**: the answer is being written; a write that makes no
//!   progress for `write_timeout` fails the connection ([`Guarded`]);
//! - **idle**: kept alive with no request, closed after `idle_timeout`.
//!
//! A connection takes a slot before it is accepted, so beyond the cap
//! connections wait in the kernel's queue and cost nothing here. Shutting
//! down stops accepting, lets each request in flight finish (its connection
//! then closes), closes the others at once, and returns when every slot is
//! back.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use crate::metrics::Metrics;

/// Largest buffer hyper keeps per connection: its default, ~400 kB, would
/// let each slow connection hold that much.
const MAX_CONNECTION_BUFFER: usize = 64 * 1024;
/// Largest request head (request line and headers); a larger one is
/// answered 431. nginx's default allows 32 KiB too.
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Descriptors the gateway needs besides its HTTP connections (database,
/// nodes, webhook deliveries), for the warning at start.
const OTHER_DESCRIPTORS: u64 = 128;

/// One listener's deadlines and cap.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    header: Duration,
    body: Duration,
    idle: Duration,
    write: Duration,
    max_connections: usize,
}

impl Limits {
    /// The merchants' listener, and the operator's (same deadlines, its own cap).
    pub(crate) fn from_config(http: &coffer_config::HttpConfig) -> (Self, Self) {
        let secs = Duration::from_secs;
        let api = Self {
            header: secs(http.header_timeout_secs),
            body: secs(http.body_timeout_secs),
            idle: secs(http.idle_timeout_secs),
            write: secs(http.write_timeout_secs),
            max_connections: usize::try_from(http.max_connections).unwrap_or(usize::MAX),
        };
        let operator = Self { max_connections: usize::try_from(http.max_operator_connections).unwrap_or(1), ..api };
        (api, operator)
    }
}

/// A bound listener with what it serves.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) tcp: TcpListener,
    pub(crate) router: Router,
    pub(crate) limits: Limits,
    /// The `listener` label of its metrics: `api` or `operator`.
    pub(crate) name: &'static str,
}

/// Warns when the caps leave too few descriptors for the rest (Linux only).
pub(crate) fn check_descriptors(listeners: &[&Listener]) {
    let Some(limit) = open_file_limit() else { return };
    let caps: u64 = listeners.iter().map(|l| l.limits.max_connections as u64).sum();
    if caps + OTHER_DESCRIPTORS > limit {
        tracing::warn!(
            open_file_limit = limit,
            connection_caps = caps,
            "http.max_connections and http.max_operator_connections leave fewer than {OTHER_DESCRIPTORS} of the \
             process's open files for the database, the nodes and webhooks: raise the limit (ulimit -n, systemd's \
             LimitNOFILE=) or lower the caps"
        );
    }
}

fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves every listener until `shutdown` completes, then waits for their
/// connections to finish.
pub(crate) async fn serve(
    listeners: Vec<Listener>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let runs = listeners.into_iter().map(|listener| run(listener, metrics.clone(), stopped.clone()));
    let trigger = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    tokio::join!(trigger, futures_util::future::join_all(runs));
    Ok(())
}

/// Accepts and serves connections until `stop` turns true, then waits for
/// them to finish.
async fn run(listener: Listener, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let Listener { tcp, router, limits, name } = listener;
    let connections = metrics.connections(name);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let Ok(slot) = slot else { break }; // the semaphore is never closed
        let stream = tokio::select! {
            accepted = tcp.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                // Out of descriptors, most likely: wait rather than spin.
                tracing::error!(error = %err, listener = name, "cannot accept connections; retrying in a second");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.wait_for(|stop| *stop) => break,
                }
            }
        };
        let connection = Arc::new(Connection::new(limits, connections.clone()));
        tokio::spawn(serve_connection(stream, router.clone(), connection, stop.clone(), slot));
    }
    drop(tcp);
    // Every connection holds a slot until it is closed: all back, all done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Where a connection is, and since when.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Head(Instant),
    Busy,
    Responding,
    Idle(Instant),
}

/// What a connection's parts share: its phase and its deadlines.
struct Connection {
    limits: Limits,
    metrics: crate::metrics::ConnectionMetrics,
    phase: Mutex<(Phase, bool)>,
    changed: Notify,
}

impl Connection {
    fn new(limits: Limits, metrics: crate::metrics::ConnectionMetrics) -> Self {
        metrics.opened();
        Self { limits, metrics, phase: Mutex::new((Phase::Head(Instant::now()), false)), changed: Notify::new() }
    }

    /// The phase, and whether bytes arrived since the last request began
    /// (a pipelined head: it starts the header deadline once the answer is out).
    fn with_phase<T>(&self, f: impl FnOnce(&mut Phase, &mut bool) -> T) -> T {
        let mut guard = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        let (phase, read_ahead) = &mut *guard;
        f(phase, read_ahead)
    }

    fn bytes_read(&self) {
        let started_head = self.with_phase(|phase, read_ahead| match phase {
            Phase::Idle(_) => {
                *phase = Phase::Head(Instant::now());
                true
            }
            Phase::Head(_) => false,
            Phase::Busy | Phase::Responding => {
                *read_ahead = true;
                false
            }
        });
        if started_head {
            self.changed.notify_one();
        }
    }

    /// No notification: a busy connection has no deadline, so the watchdog
    /// may as well wake at the one it had and find it gone.
    fn request_started(&self) {
        self.with_phase(|phase, read_ahead| {
            *phase = Phase::Busy;
            *read_ahead = false;
        });
    }

    fn handler_done(&self) {
        self.with_phase(|phase, _| {
            if matches!(phase, Phase::Busy) {
                *phase = Phase::Responding;
            }
        });
    }

    /// hyper flushes after writing an answer: it is out.
    fn flushed(&self) {
        let now_idle = self.with_phase(|phase, read_ahead| {
            if !matches!(phase, Phase::Responding) {
                return false;
            }
            *phase = if std::mem::take(read_ahead) { Phase::Head(Instant::now()) } else { Phase::Idle(Instant::now()) };
            true
        });
        if now_idle {
            self.changed.notify_one();
        }
    }

    fn deadline(&self) -> Option<(Instant, &'static str)> {
        self.with_phase(|phase, _| match *phase {
            Phase::Head(since) => Some((since + self.limits.header, "header")),
            Phase::Idle(since) => Some((since + self.limits.idle, "idle")),
            Phase::Busy | Phase::Responding => None,
        })
    }

    /// Whether closing now would cut a request or its answer short.
    fn in_request(&self) -> bool {
        self.with_phase(|phase, _| matches!(phase, Phase::Busy | Phase::Responding))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.metrics.closed();
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    connection: Arc<Connection>,
    mut stop: watch::Receiver<bool>,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    let io = TokioIo::new(Guarded { stream, connection: connection.clone(), stalled: None });
    let handler = connection.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        handler.request_started();
        handle(router.clone(), handler.clone(), request)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // The head deadline is the watchdog's: hyper's would also end idle connections.
    http.header_read_timeout(None).max_buf_size(MAX_CONNECTION_BUFFER).max_header_size(MAX_HEAD_BYTES);
    let served = http.serve_connection(io, service);
    tokio::pin!(served);
    let mut stopping = false;
    loop {
        let deadline = connection.deadline();
        let expiry = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = served.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                break;
            }
            () = connection.changed.notified() => {}
            () = expiry => {
                // The phase may have moved on since the deadline was read.
                if let Some((_, kind)) = connection.deadline().filter(|(at, _)| *at <= Instant::now()) {
                    connection.metrics.timed_out(kind);
                    tracing::debug!(kind, "closing a connection past its deadline");
                    break;
                }
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                served.as_mut().graceful_shutdown();
            }
        }
        if stopping && !connection.in_request() {
            break; // nothing in flight: closing loses nothing
        }
    }
}

async fn handle(
    router: Router,
    connection: Arc<Connection>,
    request: hyper::Request<Incoming>,
) -> Result<Response, Infallible> {
    struct Done(Arc<Connection>);
    impl Drop for Done {
        fn drop(&mut self) {
            self.0.handler_done();
        }
    }
    let done = Done(connection.clone());
    let limit = connection.limits.body;
    let request: Request =
        request.map(|body| Body::new(DeadlineBody { body, limit, deadline: None, expired: false, connection }));
    let response = router.oneshot(request).await;
    drop(done);
    response
}

/// The request body did not arrive within the body deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub(crate) struct BodyTimedOut(Duration);

/// A request body with one deadline for all of it, from its first read:
/// a client sending a byte now and then cannot hold the handler.
struct DeadlineBody {
    body: Incoming,
    limit: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    expired: bool,
    connection: Arc<Connection>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit)))));
        }
        let limit = this.limit;
        let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|frame| frame.map_err(Into::into))),
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                this.expired = true;
                this.connection.metrics.timed_out("body");
                Poll::Ready(Some(Err(Box::new(BodyTimedOut(limit)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, telling the connection when bytes arrive and when an answer
/// is out, and failing writes that make no progress for the write deadline.
struct Guarded {
    stream: TcpStream,
    connection: Arc<Connection>,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    /// Passes a write's outcome on; a write still pending past the deadline fails.
    fn unless_stalled<T>(&mut self, cx: &mut Context<'_>, outcome: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if outcome.is_ready() {
            self.stalled = None;
            return outcome;
        }
        let limit = self.connection.limits.write;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if stalled.as_mut().poll(cx).is_ready() {
            self.stalled = None;
            self.connection.metrics.timed_out("write");
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading")));
        }
        Poll::Pending
    }
}

impl AsyncRead for Guarded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let outcome = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(outcome, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.connection.bytes_read();
        }
        outcome
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_write(cx, bytes);
        this.unless_stalled(cx, outcome)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.unless_stalled(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_flush(cx);
        let outcome = this.unless_stalled(cx, outcome);
        if matches!(outcome, Poll::Ready(Ok(()))) {
            this.connection.flushed();
        }
        outcome
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.unless_stalled(cx, outcome)
    }
}
