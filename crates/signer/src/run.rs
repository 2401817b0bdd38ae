//! `coffer signer run`: open the keys, the store and the chains, then serve
//! the API and track transactions until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use coffer_policy::Denylist;

use crate::config::SignerConfig;
use crate::engine::{Engine, EngineError};
use crate::engine_thread::EngineThread;
use crate::metrics::Metrics;
use crate::{OpenOutcome, Passphrase, SignerError, SignerHome};

/// Why the signer did not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The keys would not open.
    #[error(transparent)]
    Keys(#[from] SignerError),
    /// A denylist file could not be read or parsed.
    #[error("denylist {path}: {message}")]
    Denylist {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The engine would not open (its store, or a chain's client).
    #[error("{0}")]
    Engine(String),
    /// Listening or serving failed.
    #[error("serving on {addr}: {source}")]
    Serve {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

fn load_denylist(config: &SignerConfig) -> Result<Denylist, RunError> {
    let mut denylist = Denylist::default();
    for path in &config.file.denylist_files {
        let error = |message: String| RunError::Denylist { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let list = Denylist::parse(&name, &text).map_err(|e| error(e.to_string()))?;
        denylist.extend(list);
    }
    Ok(denylist)
}

/// Opens everything and serves until `shutdown` resolves. `on_listening`
/// is told the bound address (port 0 picks one).
pub async fn run(
    config: SignerConfig,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let passphrase = Passphrase::resolve(config.file.passphrase_file.as_deref())?;
    let (opened, keys) = SignerHome::at(&config.file.data_dir).open(passphrase.as_ref())?;
    if let OpenOutcome::EncryptedLegacy = opened {
        tracing::warn!(dir = %config.file.data_dir.display(), "the plain dev seed was encrypted in place");
    }
    let denylist = load_denylist(&config)?;
    let addr = config.file.listen_addr;
    let engine = Engine::open(config, keys, denylist, Arc::new(Metrics::default())).await;
    let engine = Arc::new(engine.map_err(|e: EngineError| RunError::Engine(e.to_string()))?);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| RunError::Serve { addr, source })?;
    let local = listener.local_addr().map_err(|source| RunError::Serve { addr, source })?;
    on_listening(local);
    let engine_thread = EngineThread::start().map_err(|e| RunError::Engine(format!("the engine's thread: {e}")))?;
    let decider = engine_thread.handle();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tracker = decider.spawn(engine.clone().run_tracker({
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    }));
    let views = decider.spawn(engine.clone().run_views({
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    }));
    let served = axum::serve(listener, crate::service::router(engine, decider))
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await;
    let _ = tracker.await;
    let _ = views.await;
    engine_thread.stop().await;
    served.map_err(|source| RunError::Serve { addr: local, source })
}
