//! A webhook receiver that holds every request until the test lets go.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use coffer_webhooks::signature::DELIVERY_HEADER;
use tokio::sync::watch;

/// Requests are recorded on arrival (their `Coffer-Delivery`), then held
/// while `hold` is set; each is answered 204 once released.
#[derive(Clone)]
pub(crate) struct Holding {
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<String>>>,
    held: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
}

impl Holding {
    pub(crate) async fn start() -> Self {
        let (release, _) = watch::channel(false);
        let holding = Self { url: String::new(), seen: Arc::default(), held: Arc::default(), release };
        let state = holding.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap| {
                let state = state.clone();
                async move {
                    let id = headers.get(DELIVERY_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    state.seen.lock().unwrap().push(id);
                    state.held.fetch_add(1, Ordering::SeqCst);
                    let mut released = state.release.subscribe();
                    let _ = released.wait_for(|released| *released).await;
                    state.held.fetch_sub(1, Ordering::SeqCst);
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, ..holding }
    }

    /// The deliveries received, in order of arrival (each attempt once).
    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests being held now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Lets every held request, and every later one, through.
    pub(crate) fn release(&self) {
        self.release.send_replace(true);
    }

    /// Waits until `count` requests are held (10 s at most).
    pub(crate) async fn until_held(&self, count: usize) {
        until(&format!("{count} requests held"), || async { self.held() >= count }).await;
    }
}

/// Polls `done` every 10 ms, for 10 s at most.
pub(crate) async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    for _ in 0..1000 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}
