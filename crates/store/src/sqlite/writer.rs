//! The single SQLite writer with group commit.
//!
//! SQLite admits one writer at a time. Rather than let connections queue on
//! the file lock (`SQLITE_BUSY`, sleeps, retries), one task owns the only
//! write connection and takes writes from a channel. Whatever has queued up
//! while the previous commit was being fsynced runs in one `BEGIN IMMEDIATE`
//! transaction. Callers hear back only after `COMMIT` returned: an `Ok` is
//! durable.
//!
//! **Contract for writes:** one failing write must leave its neighbours in
//! the batch intact, so a write that returns `Err` must have changed
//! nothing. A write whose only changing statement is its last one has this
//! for free (SQLite undoes a failed statement); anything else goes through
//! [`Writer::write_atomic`], which wraps it in a savepoint. Savepoints are
//! not the default because each statement is a round trip to sqlx's
//! connection thread, and those round trips are most of a write's cost.

use futures_util::future::BoxFuture;
use sqlx::{Connection, Executor, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::{Result, StoreError};

/// Most writes committed together; bounds the latency one commit adds.
const MAX_BATCH: usize = 512;
/// Writes waiting beyond this make callers wait (backpressure).
const QUEUE_DEPTH: usize = 4096;
/// How often the writer finishes a checkpoint between batches, so that the
/// write-ahead log can start over instead of growing.
const LOG_RESTART_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Reports a write's outcome once its batch has committed (`Ok`) or not (`Err`).
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write: runs on the writer's connection, says whether it succeeded, and
/// keeps its reply until the commit.
type Run = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Completion)> + Send>;

struct Job {
    run: Run,
    /// Wrap in a savepoint (the write may fail after changing something).
    savepoint: bool,
}

/// Sends writes to the writer task.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on `conn`. It stops when every `Writer` is dropped.
    pub(super) fn spawn(conn: SqliteConnection) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(conn, rx));
        Self { jobs }
    }

    /// Runs `op` in the next batch and returns its result once that batch is
    /// durable. `op` must change nothing when it fails (see the module docs).
    pub(super) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.submit(op, false).await
    }

    /// As [`Writer::write`], for a write that may fail after changing
    /// something: it runs in a savepoint that is rolled back on failure.
    pub(super) async fn write_atomic<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.submit(op, true).await
    }

    async fn submit<T, F>(&self, op: F, savepoint: bool) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run: Run = Box::new(move |conn| {
            Box::pin(async move {
                let result = op(conn).await;
                let ok = result.is_ok();
                let complete: Completion = Box::new(move |commit| {
                    let _ = reply.send(match commit {
                        Ok(()) => result,
                        Err(reason) => Err(StoreError::CommitFailed(reason)),
                    });
                });
                (ok, complete)
            })
        });
        self.jobs.send(Job { run, savepoint }).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut last_restart = std::time::Instant::now();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&mut conn, batch.drain(..)).await;
        // After the callers have their answers. The background checkpointer
        // has copied nearly everything; finishing here, between transactions,
        // lets the next transaction rewind the log to its start.
        if last_restart.elapsed() >= LOG_RESTART_EVERY {
            last_restart = std::time::Instant::now();
            if let Err(err) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(error = %err, "SQLite checkpoint in the writer failed");
            }
        }
    }
    if let Err(err) = conn.close().await {
        tracing::warn!(error = %err, "closing the SQLite write connection failed");
    }
}

async fn commit_batch(conn: &mut SqliteConnection, jobs: impl Iterator<Item = Job>) {
    if let Err(err) = conn.execute("BEGIN IMMEDIATE").await {
        // Dropping the jobs drops their reply channels: callers see `Closed`.
        tracing::error!(error = %err, "SQLite refused to begin a write transaction");
        return;
    }
    let mut completions = Vec::new();
    let mut failure: Option<String> = None;
    for job in jobs {
        if failure.is_some() {
            break; // remaining jobs are dropped; their callers see `Closed`
        }
        if job.savepoint
            && let Err(err) = conn.execute("SAVEPOINT write").await
        {
            failure = Some(err.to_string());
            break;
        }
        let (ok, complete) = (job.run)(conn).await;
        completions.push(complete);
        let end = match (job.savepoint, ok) {
            (false, _) => None,
            (true, true) => Some("RELEASE write"),
            (true, false) => Some("ROLLBACK TO write; RELEASE write"),
        };
        if let Some(end) = end
            && let Err(err) = conn.execute(end).await
        {
            failure = Some(err.to_string());
        }
    }
    if failure.is_none()
        && let Err(err) = conn.execute("COMMIT").await
    {
        failure = Some(err.to_string());
    }
    if let Some(reason) = &failure {
        tracing::error!(reason, writes = completions.len(), "SQLite write batch failed; rolling back");
        if let Err(err) = conn.execute("ROLLBACK").await {
            tracing::error!(error = %err, "SQLite rollback failed");
        }
    }
    let outcome = failure.map_or(Ok(()), Err);
    for complete in completions {
        complete(outcome.clone());
    }
}
