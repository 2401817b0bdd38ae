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
//! connection thread, and those round trips are most of a write's cost. A
//! write returns the first error it meets; it never carries on after one.
//!
//! **After the commit:** a write may bring an effect for after its commit
//! (the store refreshes its invoice cache so). The writer runs it in its own
//! task once the batch committed, before the caller hears back, whether or
//! not the caller still waits: a caller's future can be dropped at any
//! `.await` (a client that disconnects drops its handler), and an effect
//! left to it would then be lost while the write stands.
//!
//! **SQLite's own rollbacks:** on some errors SQLite rolls back the whole
//! transaction, not just the failing statement, and runs the statements
//! that follow in autocommit, each kept on its own. Measured on the bundled
//! SQLite (3.51): `SQLITE_FULL` from a one-row `INSERT` ends the transaction,
//! savepoint or not; from a multi-row `INSERT`, an `INSERT … SELECT` or an
//! `UPDATE` (statements with a statement journal) it undoes that statement
//! only. SQLite documents the same for `SQLITE_IOERR`, `SQLITE_BUSY` and
//! `SQLITE_NOMEM`. So after a failed write the writer checks that its
//! transaction is still open. If it is gone, nothing of the batch so far was
//! kept and every write that ran is answered so; the writes that had not
//! run yet go into a new transaction. No write ever runs outside one.

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

/// Answers a write that ran once its batch has committed (`Ok`) or not
/// (`Err`, why): runs its after-commit effect, then replies to its caller.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A queued write, whatever it returns.
trait Write: Send {
    /// Runs on the writer's connection; says whether it succeeded (else
    /// why not) and keeps its answer until the batch is settled.
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, (Result<(), String>, Completion)>;

    /// Answers without running: no transaction could be begun.
    fn refuse(self: Box<Self>, reason: String);
}

struct Queued<T, F, A> {
    op: F,
    after_commit: A,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F, A> Write for Queued<T, F, A>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    A: FnOnce(&T) + Send + 'static,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, (Result<(), String>, Completion)> {
        let Self { op, after_commit, reply } = *self;
        Box::pin(async move {
            let result = op(conn).await;
            let outcome = result.as_ref().map(drop).map_err(ToString::to_string);
            let complete: Completion = Box::new(move |batch| {
                let answer = match (batch, result) {
                    (Ok(()), Ok(value)) => {
                        after_commit(&value);
                        Ok(value)
                    }
                    (Ok(()), Err(err)) => Err(err),
                    // Even a write's own error may have been judged on
                    // neighbours that were not kept: the batch's failure is
                    // the truer answer, and a retry the right reaction.
                    (Err(reason), _) => Err(StoreError::CommitFailed(reason)),
                };
                let _ = reply.send(answer);
            });
            (outcome, complete)
        })
    }

    fn refuse(self: Box<Self>, reason: String) {
        let _ = self.reply.send(Err(StoreError::CommitFailed(reason)));
    }
}

struct Job {
    write: Box<dyn Write>,
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
        let (writer, jobs) = Self::channel();
        tokio::spawn(run(conn, jobs));
        writer
    }

    fn channel() -> (Self, mpsc::Receiver<Job>) {
        let (jobs, rx) = mpsc::channel(QUEUE_DEPTH);
        (Self { jobs }, rx)
    }

    /// Runs `op` in the next batch and returns its result once that batch is
    /// durable. `op` must change nothing when it fails (see the module docs).
    pub(super) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.submit(op, false, |_: &T| {}).await
    }

    /// As [`Writer::write`], for a write that may fail after changing
    /// something: it runs in a savepoint that is rolled back on failure.
    pub(super) async fn write_atomic<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.submit(op, true, |_: &T| {}).await
    }

    /// As [`Writer::write`], then `after_commit` with what `op` returned,
    /// run by the writer once `op` succeeded and its batch committed,
    /// before the caller hears back, even if the caller no longer waits.
    pub(super) async fn write_then<T, F, A>(&self, op: F, after_commit: A) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        self.submit(op, false, after_commit).await
    }

    /// As [`Writer::write_atomic`], with an effect after the commit as
    /// [`Writer::write_then`] runs it.
    pub(super) async fn write_atomic_then<T, F, A>(&self, op: F, after_commit: A) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        self.submit(op, true, after_commit).await
    }

    async fn submit<T, F, A>(&self, op: F, savepoint: bool, after_commit: A) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let write = Box::new(Queued { op, after_commit, reply });
        self.jobs.send(Job { write, savepoint }).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut last_restart = std::time::Instant::now();
    loop {
        if batch.is_empty() {
            if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                break;
            }
        } else {
            // Carried over from a batch SQLite rolled back: they go first.
            while batch.len() < MAX_BATCH
                && let Ok(job) = rx.try_recv()
            {
                batch.push(job);
            }
        }
        batch = commit_batch(&mut conn, batch).await;
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

/// Runs `jobs` in one transaction and answers those that ran. Returns the
/// ones that had not run yet when the transaction was lost, for the next.
async fn commit_batch(conn: &mut SqliteConnection, jobs: Vec<Job>) -> Vec<Job> {
    if let Err(err) = conn.execute("BEGIN IMMEDIATE").await {
        let reason = format!("SQLite refused to begin a write transaction: {err}");
        tracing::error!(reason, writes = jobs.len(), "SQLite write batch refused; nothing of it was run");
        for job in jobs {
            job.write.refuse(reason.clone());
        }
        return Vec::new();
    }
    let mut ran = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    while let Some(job) = jobs.next() {
        match run_one(conn, job).await {
            Ran::Intact(complete) => ran.push(complete),
            Ran::Lost(complete, reason) => {
                ran.push(complete);
                abandon(conn, ran, &reason).await;
                return jobs.collect();
            }
            Ran::NotRun(job, reason) => {
                abandon(conn, ran, &reason).await;
                return std::iter::once(job).chain(jobs).collect();
            }
        }
    }
    match conn.execute("COMMIT").await {
        Ok(_) => {
            for complete in ran {
                complete(Ok(()));
            }
        }
        Err(err) => {
            if is_no_transaction(&err) {
                // Only a write that carried on after an error gets here; the
                // statements it ran after the rollback were kept on their own.
                tracing::error!("the SQLite transaction ended unnoticed: a write ignored an error");
            }
            abandon(conn, ran, &format!("COMMIT failed: {err}")).await;
        }
    }
    Vec::new()
}

/// What running one write left of the batch's transaction.
enum Ran {
    /// Still open: the write succeeded, or failed and changed nothing.
    Intact(Completion),
    /// Gone, or in doubt: nothing of the batch may be kept (why).
    Lost(Completion, String),
    /// The write could not start, and the transaction is in doubt.
    NotRun(Job, String),
}

async fn run_one(conn: &mut SqliteConnection, job: Job) -> Ran {
    let savepoint = job.savepoint;
    if savepoint && let Err(err) = conn.execute("SAVEPOINT write").await {
        return Ran::NotRun(job, format!("SAVEPOINT failed: {err}"));
    }
    let (outcome, complete) = job.write.run(conn).await;
    // A savepoint can be released or rolled back to only inside its
    // transaction, which tells as much as the probe.
    let open = match (savepoint, &outcome) {
        (false, Ok(())) => Ok(()),
        (false, Err(_)) => transaction_open(conn).await,
        (true, Ok(())) => conn.execute("RELEASE write").await.map(drop).map_err(|e| e.to_string()),
        (true, Err(_)) => conn.execute("ROLLBACK TO write; RELEASE write").await.map(drop).map_err(|e| e.to_string()),
    };
    match (open, outcome) {
        (Ok(()), _) => Ran::Intact(complete),
        (Err(lost), Err(failed)) => {
            Ran::Lost(complete, format!("the transaction ended with a failed write ({failed}): {lost}"))
        }
        (Err(lost), Ok(())) => Ran::Lost(complete, format!("the transaction is in doubt: {lost}")),
    }
}

/// `Ok` if the batch's transaction is still open. `BEGIN` tells: SQLite
/// refuses it inside a transaction; outside one it opens an empty one,
/// which [`abandon`] then ends.
async fn transaction_open(conn: &mut SqliteConnection) -> Result<(), String> {
    match conn.execute("BEGIN").await {
        Err(sqlx::Error::Database(db)) if db.message().contains("within a transaction") => Ok(()),
        Ok(_) => Err("SQLite rolled it back".to_owned()),
        Err(err) => Err(format!("could not tell whether it is still open: {err}")),
    }
}

/// Rolls back what is left of the batch's transaction and answers the
/// writes that ran: nothing of them was kept.
async fn abandon(conn: &mut SqliteConnection, ran: Vec<Completion>, reason: &str) {
    tracing::error!(reason, writes = ran.len(), "SQLite write batch failed; rolled back");
    if let Err(err) = conn.execute("ROLLBACK").await
        && !is_no_transaction(&err)
    {
        tracing::error!(error = %err, "SQLite rollback failed");
    }
    for complete in ran {
        complete(Err(reason.to_owned()));
    }
}

/// SQLite's answer to `COMMIT` or `ROLLBACK` outside a transaction.
fn is_no_transaction(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.message().contains("no transaction is active"))
}

#[cfg(test)]
mod tests;
