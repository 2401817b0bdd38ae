//! A spawned read that is cancelled when whoever awaits it gives up.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

use crate::ChainError;

/// A request running on its own task (so that several run, and their
/// answers parse, in parallel), aborted when dropped: a segment that stops
/// early, at a reorganisation say, leaves no reads behind.
pub(crate) struct Task<T>(JoinHandle<Result<T, ChainError>>);

impl<T: Send + 'static> Task<T> {
    pub(crate) fn spawn(read: impl Future<Output = Result<T, ChainError>> + Send + 'static) -> Self {
        Self(tokio::spawn(read))
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, ChainError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(result) => result,
            // A bug in a read must stop the follower as loudly as it would
            // have without the task, not be retried as a passing failure.
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(ChainError::Node(format!("a read task was cancelled: {err}"))),
        })
    }
}

impl<T> std::fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("finished", &self.0.is_finished()).finish()
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
