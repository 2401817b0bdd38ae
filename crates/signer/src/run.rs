//! `coffer signer run`: open the keys, the store and the chains, then serve
//! the API and track transactions until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use coffer_policy::ScreeningSet;

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
    /// A screening list could not be read or parsed.
    #[error("screening list {path}: {message}")]
    Screening {
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

/// The signer's own screening lists: the shipped ones (unless turned off)
/// and its configured files. A file that does not parse stops the start:
/// a signer that silently screened with fewer lists would pay a sanctioned
/// address.
fn load_screening(config: &SignerConfig) -> Result<ScreeningSet, RunError> {
    let mut set = ScreeningSet::new();
    if config.file.screening_builtin {
        for list in coffer_screening::builtin() {
            set.add(list);
        }
    }
    for path in &config.file.screening_lists {
        let error = |message: String| RunError::Screening { path: path.display().to_string(), message };
        let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let list = coffer_screening::parse_list(&name, &bytes, None).map_err(|e| error(e.to_string()))?;
        set.add(list);
    }
    Ok(set)
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
    let screening = load_screening(&config)?;
    let addr = config.file.listen_addr;
    let engine = Engine::open(config, keys, screening, Arc::new(Metrics::default())).await;
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
