//! Group commit for the engine's store.
//!
//! The engine's connection commits with `synchronous=NORMAL`: a commit is
//! in the WAL (written, ordered, checksummed) when it returns, but not yet
//! on the disk. The rule that keeps it safe: **nothing leaves the signer,
//! no broadcast and no answer, before an `fdatasync` of the WAL that began
//! after every commit it depends on was written** ([`Durability::wait`]).
//! The service waits before each answer and the engine before each
//! broadcast, so a power cut can lose only decisions nobody outside has
//! heard of, and whoever asked asks again (every operation is idempotent
//! on its id, and a lost decision is decided afresh).
//!
//! Why: with `synchronous=FULL` every decision held the decision lock
//! through its own fsync, and on a disk the gateway commits to as well that
//! fsync was 3–8 ms of every decision over 4 ms. Here the lock is released
//! at the commit, and the decisions that committed meanwhile share the
//! next fsync (PostgreSQL's group commit, without its delay).
//!
//! A process crash (SIGKILL) loses nothing either way: what `write` gave
//! the kernel survives the process. The WAL's checksums keep a power cut
//! consistent: SQLite replays the longest valid prefix of commits.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::hooks::Wal;

/// Commits SQLite finished writing to a WAL, by any connection of this
/// process that [`Durability::watch`] watches. One counter for the
/// process, since SQLite's WAL hook takes no state; a commit of another
/// connection only costs a sync that was not needed.
static COMMITS: AtomicU64 = AtomicU64::new(0);

fn counted(_: &Wal, _pages: std::ffi::c_int) -> rusqlite::Result<()> {
    COMMITS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// The WAL beside the file `conn` has open (SQLite's own name for it, so
/// a symlinked database path still finds it).
pub(crate) fn wal_path(conn: &Connection) -> io::Result<std::path::PathBuf> {
    let path = conn.path().filter(|p| !p.is_empty()).ok_or_else(|| io::Error::other("not a file database"))?;
    Ok(Path::new(&format!("{path}-wal")).to_owned())
}

type SyncFn = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;
type CountFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Makes every commit made so far durable, sharing one sync among the
/// callers that wait at the same time, and syncing nothing when nothing
/// was committed since the last sync.
pub(crate) struct Durability {
    inner: Arc<Inner>,
}

struct Inner {
    sync: SyncFn,
    commits: CountFn,
    /// One sync at a time: two at once on one file could split an I/O error
    /// between them, and the one that did not see it would report its
    /// commits durable.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Every commit up to this count is on disk.
    synced: u64,
    /// A sync failed: from then on every wait fails (after a failed fsync
    /// the kernel may have dropped the pages, and a later one would report
    /// them clean: PostgreSQL's "fsyncgate", 2018).
    failed: bool,
}

impl Durability {
    /// For `conn`, open in WAL mode: counts its commits (SQLite's WAL hook
    /// runs once a commit is written, so the count never runs ahead of the
    /// file) and syncs the WAL beside the file SQLite opened, which it keeps
    /// (the same inode, truncated or overwritten in place) while a
    /// connection is open. The hook replaces automatic checkpoints, which
    /// the store does not use; setting `wal_autocheckpoint` on this
    /// connection later would replace the hook and must not be done.
    pub(crate) fn watch(conn: &Connection) -> io::Result<Self> {
        // Read-only is enough for fdatasync on Linux; never create it, so a
        // wrong path fails here rather than syncing a file SQLite never uses.
        let file = Arc::new(File::open(wal_path(conn)?)?);
        // What an earlier process left unsynced (it was killed) is synced
        // before this one says anything.
        file.sync_data()?;
        conn.wal_hook(Some(counted));
        Ok(Self::with(Arc::new(move || file.sync_data()), Arc::new(|| COMMITS.load(Ordering::SeqCst))))
    }

    fn with(sync: SyncFn, commits: CountFn) -> Self {
        Self { inner: Arc::new(Inner { sync, commits, state: Mutex::new(State::default()) }) }
    }

    /// Returns once every commit that returned before this call is on disk,
    /// with the time the sync took when this caller ran it.
    ///
    /// A sync covers every commit counted before it started; a caller whose
    /// commits a finished sync covers returns without one of its own. The
    /// work runs to its end even if the caller goes away (it is not an
    /// await point that can be cut short).
    pub(crate) async fn wait(&self) -> io::Result<Option<Duration>> {
        let wanted = (self.inner.commits)();
        let inner = self.inner.clone();
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            // In place: the worker's other tasks move to another meanwhile.
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| inner.wait_blocking(wanted))
            }
            Err(_) => inner.wait_blocking(wanted),
            // The engine's single thread: the next decisions must not wait
            // for the disk.
            Ok(_) => tokio::task::spawn_blocking(move || inner.wait_blocking(wanted))
                .await
                .map_err(io::Error::other)
                .and_then(|r| r),
        }
    }
}

impl Inner {
    fn wait_blocking(&self, wanted: u64) -> io::Result<Option<Duration>> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.failed {
            return Err(io::Error::other("an earlier sync of the signer's database failed"));
        }
        if state.synced >= wanted {
            return Ok(None);
        }
        let covers = (self.commits)();
        let started = Instant::now();
        match (self.sync)() {
            Ok(()) => {
                state.synced = covers;
                Ok(Some(started.elapsed()))
            }
            Err(e) => {
                state.failed = true;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A stand-in disk: `written` is what commits handed the kernel,
    /// `durable` what the last sync made durable. The store's own sync is
    /// an fdatasync, whose effect on a disk no test here can observe.
    #[derive(Default)]
    struct Disk {
        written: AtomicU64,
        durable: Mutex<u64>,
        syncs: AtomicU64,
    }

    fn on(disk: &Arc<Disk>) -> Durability {
        let (d, c) = (disk.clone(), disk.clone());
        Durability::with(
            Arc::new(move || {
                let upto = d.written.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                let mut durable = d.durable.lock().unwrap();
                assert!(upto >= *durable, "two syncs overlapped");
                *durable = upto;
                drop(durable);
                d.syncs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
            Arc::new(move || c.written.load(Ordering::SeqCst)),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nobody_returns_before_its_commit_is_durable_and_waiters_share_syncs() {
        let disk = Arc::new(Disk::default());
        let durability = Arc::new(on(&disk));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (disk, durability) = (disk.clone(), durability.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..20 {
                    let mine = disk.written.fetch_add(1, Ordering::SeqCst) + 1;
                    durability.wait().await.unwrap();
                    let durable = *disk.durable.lock().unwrap();
                    assert!(durable >= mine, "commit {mine} answered while only {durable} were durable");
                    tokio::task::yield_now().await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let syncs = disk.syncs.load(Ordering::SeqCst);
        assert!(syncs < 64 * 20, "{syncs} syncs for {} commits: none was shared", 64 * 20);
        durability.wait().await.unwrap();
        assert_eq!(disk.syncs.load(Ordering::SeqCst), syncs, "nothing was committed, yet it synced");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_failed_sync_every_wait_fails_even_where_a_later_sync_would_succeed() {
        let calls = Arc::new(AtomicU64::new(0));
        let (c, commits) = (calls.clone(), Arc::new(AtomicU64::new(1)));
        let counted = commits.clone();
        let durability = Durability::with(
            Arc::new(move || if c.fetch_add(1, Ordering::SeqCst) == 0 { Err(io::Error::other("EIO")) } else { Ok(()) }),
            Arc::new(move || counted.load(Ordering::SeqCst)),
        );
        assert!(durability.wait().await.is_err());
        commits.fetch_add(1, Ordering::SeqCst);
        assert!(durability.wait().await.is_err(), "a sync after a failed one was trusted");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "it synced again after a failure");
    }

    #[tokio::test]
    async fn every_commit_of_the_store_is_counted_and_then_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signer.db");
        let (conn, durability) = crate::store::open_grouped(&path).unwrap();
        let before = COMMITS.load(Ordering::SeqCst);
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        assert!(COMMITS.load(Ordering::SeqCst) > before, "an autocommit statement was not counted");
        assert!(durability.wait().await.unwrap().is_some(), "a commit was left unsynced");
        assert!(durability.inner.state.lock().unwrap().synced > before);
        let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
        assert_eq!(synchronous, 1, "the engine's connection commits with synchronous=NORMAL");
    }

    #[test]
    fn the_wal_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        // Not in WAL mode: SQLite keeps no -wal file beside it.
        let conn = Connection::open(dir.path().join("signer.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let error = Durability::watch(&conn).err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
