//! The signal that stops a long-running command: Ctrl-C or SIGTERM.

/// Completes on the first Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; finishing in-flight requests"),
        () = term => tracing::info!("SIGTERM received; finishing in-flight requests"),
    }
}
