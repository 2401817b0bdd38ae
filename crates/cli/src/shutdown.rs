//! The signal that stops a long-running command: Ctrl-C or SIGTERM.

/// Completes on the first Ctrl-C (SIGINT) or SIGTERM received after it was
/// called. The handlers are installed by the call itself, not on the first
/// poll: a command that starts children (anvil, the dev signer) calls it
/// before it starts them, so a signal that arrives while it is starting
/// still stops it cleanly instead of killing it with its children orphaned.
pub(crate) fn signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(int) => tracing::info!("Ctrl-C received; finishing in-flight requests"),
                () = wait(term) => tracing::info!("SIGTERM received; finishing in-flight requests"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received; finishing in-flight requests");
        }
    }
}
