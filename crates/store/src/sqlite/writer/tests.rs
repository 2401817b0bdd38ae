//! The writer on a real SQLite file, with real faults: a database allowed
//! to grow by only a few pages (`max_page_count`) answers `SQLITE_FULL`,
//! which SQLite answers by rolling back the whole transaction when the
//! failing statement is a one-row `INSERT` (see the module docs).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::future::Future as _;
use std::task::{Context, Waker};
use std::time::Duration;

use futures_util::future::{BoxFuture, join4};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _, SqliteConnection};

use super::{Writer, run};
use crate::{Result, StoreError};

fn options(dir: &tempfile::TempDir) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(dir.path().join("writer.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
}

/// A connection to a new file with table `notes`, which may grow by four pages more.
async fn nearly_full(dir: &tempfile::TempDir) -> SqliteConnection {
    let mut conn = options(dir).connect().await.unwrap();
    sqlx::raw_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT NOT NULL, body BLOB)")
        .execute(&mut conn)
        .await
        .unwrap();
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut conn).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {}", pages + 4)))
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// A one-row insert of `note` with a body of `bytes` zeroes.
fn insert(
    note: &'static str,
    bytes: u32,
) -> impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<()>> {
    move |conn| {
        Box::pin(async move {
            sqlx::query("INSERT INTO notes (note, body) VALUES ($1, zeroblob($2))")
                .bind(note)
                .bind(bytes)
                .execute(conn)
                .await?;
            Ok(())
        })
    }
}

async fn notes_in_file(dir: &tempfile::TempDir) -> BTreeSet<String> {
    let mut conn = options(dir).connect().await.unwrap();
    let notes: Vec<String> = sqlx::query_scalar("SELECT note FROM notes").fetch_all(&mut conn).await.unwrap();
    let _ = conn.close().await;
    notes.into_iter().collect()
}

/// Four writes queued before the writer starts, so that they form one
/// batch: a small one, one that fills the disk (in a savepoint if
/// `atomic`), and two small ones behind it.
async fn a_batch_that_fills_the_disk(atomic: bool) -> (BTreeSet<String>, [(&'static str, Result<()>); 4]) {
    let dir = tempfile::tempdir().unwrap();
    let conn = nearly_full(&dir).await;
    let (writer, jobs) = Writer::channel();
    let full = insert("full", 100_000);
    let writes = join4(
        writer.write(insert("before", 1)),
        async { if atomic { writer.write_atomic(full).await } else { writer.write(full).await } },
        writer.write(insert("after", 1)),
        writer.write_atomic(insert("after, atomic", 1)),
    );
    let mut writes = std::pin::pin!(writes);
    // One poll hands all four to the channel, in order.
    assert!(writes.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    tokio::spawn(run(conn, jobs));
    let (before, full, after, after_atomic) = writes.await;
    let answers = [("before", before), ("full", full), ("after", after), ("after, atomic", after_atomic)];
    (notes_in_file(&dir).await, answers)
}

/// Every write answered `Ok` is in the file; every one answered `Err` is not.
fn assert_answers_tell_the_truth(kept: &BTreeSet<String>, answers: &[(&'static str, Result<()>)]) {
    for (note, answer) in answers {
        assert_eq!(answer.is_ok(), kept.contains(*note), "write {note:?} answered {answer:?}; the file holds {kept:?}");
    }
}

fn assert_ran_in_a_new_transaction(answers: &[(&'static str, Result<()>)]) {
    let [before, full, after, after_atomic] = answers else { unreachable!() };
    assert!(matches!(before.1, Err(StoreError::CommitFailed(_))), "rolled back with its batch: {:?}", before.1);
    assert!(full.1.is_err());
    assert!(after.1.is_ok() && after_atomic.1.is_ok(), "queued behind the rollback, run anew: {answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_after_sqlite_rolled_back_the_batch_run_in_a_new_transaction() {
    let (kept, answers) = a_batch_that_fills_the_disk(false).await;
    assert_answers_tell_the_truth(&kept, &answers);
    assert_ran_in_a_new_transaction(&answers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_behind_a_savepoint_sqlite_rolled_back_are_run_not_dropped() {
    let (kept, answers) = a_batch_that_fills_the_disk(true).await;
    assert_answers_tell_the_truth(&kept, &answers);
    assert_ran_in_a_new_transaction(&answers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_cannot_begin_is_answered_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let conn = nearly_full(&dir).await;
    let mut conn = conn;
    sqlx::raw_sql("PRAGMA busy_timeout = 50").execute(&mut conn).await.unwrap();
    let writer = Writer::spawn(conn);
    // Another process holds the write lock for longer than the busy timeout.
    let mut other = options(&dir).connect().await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    let refused = writer.write(insert("refused", 1)).await;
    assert!(matches!(refused, Err(StoreError::CommitFailed(_))), "{refused:?}");
    sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), writer.write(insert("later", 1))).await.unwrap().unwrap();
    assert_eq!(notes_in_file(&dir).await, BTreeSet::from(["later".to_owned()]));
}
