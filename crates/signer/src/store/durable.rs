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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use tokio::sync::watch;

/// Commits SQLite finished writing to a WAL, by any connection of this
/// process that [`Durability::watch`] watches. One counter for the
/// process, since SQLite's WAL hook takes no state; a commit of another
/// connection only costs a sync that was not needed.
static COMMITS: AtomicU64 = AtomicU64::new(0);

fn counted(_: &Wal, _pages: std::ffi::c_int) -> rusqlite::Result<()> {
    COMMITS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

type SyncFn = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;
type CountFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What the syncs have done, in commits counted.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    /// Every commit up to this count is on disk.
    synced: u64,
    /// The most a sync now running (or finished) will cover.
    started: u64,
}

/// Makes every commit made so far durable, sharing one sync among the
/// callers that wait at the same time, and syncing nothing when nothing
/// was committed since the last sync.
pub(crate) struct Durability {
    sync: SyncFn,
    commits: CountFn,
    progress: watch::Sender<Progress>,
}

impl Durability {
    /// For `conn`, open on the database at `db_path` in WAL mode: counts its
    /// commits (SQLite's WAL hook runs once the commit is written, so the
    /// count never runs ahead of the file) and syncs the WAL beside it,
    /// which SQLite keeps (the same inode, truncated or overwritten in
    /// place) while a connection is open. The WAL hook replaces automatic
    /// checkpoints, which the store does not use.
    pub(crate) fn watch(conn: &Connection, db_path: &Path) -> io::Result<Self> {
        let mut wal = db_path.as_os_str().to_owned();
        wal.push("-wal");
        // Read-only is enough for fdatasync on Linux; never create it, so a
        // wrong path fails here rather than syncing a file SQLite never uses.
        let file = Arc::new(File::open(Path::new(&wal))?);
        conn.wal_hook(Some(counted));
        Ok(Self::with(Arc::new(move || file.sync_data()), Arc::new(|| COMMITS.load(Ordering::SeqCst))))
    }

    fn with(sync: SyncFn, commits: CountFn) -> Self {
        Self { sync, commits, progress: watch::Sender::new(Progress::default()) }
    }

    /// Returns once every commit that returned before this call is on disk,
    /// with the time the sync took when this caller ran it.
    ///
    /// A sync covers every commit counted before it started. A caller waits
    /// for a running sync only if that one covers it, and starts its own
    /// otherwise, so no caller waits longer than one sync after its commit.
    pub(crate) async fn wait(&self) -> io::Result<Option<Duration>> {
        let wanted = (self.commits)();
        let mut seen = self.progress.subscribe();
        loop {
            let mut covers = None;
            self.progress.send_if_modified(|p| {
                if p.synced < wanted && p.started < wanted {
                    let count = (self.commits)();
                    p.started = count;
                    covers = Some(count);
                }
                false
            });
            if let Some(covers) = covers {
                return self.sync_up_to(covers).await.map(Some);
            }
            if seen.borrow_and_update().synced >= wanted {
                return Ok(None);
            }
            // A running sync covers this caller: its end (or its failure,
            // which sends `started` back so the next one starts afresh).
            seen.changed().await.map_err(io::Error::other)?;
        }
    }

    async fn sync_up_to(&self, covers: u64) -> io::Result<Duration> {
        let started = Instant::now();
        let done = run_blocking(&self.sync).await;
        match done {
            Ok(()) => {
                self.progress.send_modify(|p| p.synced = p.synced.max(covers));
                Ok(started.elapsed())
            }
            Err(e) => {
                self.progress.send_modify(|p| p.started = p.synced);
                Err(e)
            }
        }
    }
}

/// Runs the sync without stalling other tasks: in place on a
/// multi-threaded runtime (its other tasks move to another worker
/// meanwhile), on the blocking pool from the engine's single thread, where
/// the next decisions would otherwise wait for the disk.
async fn run_blocking(sync: &SyncFn) -> io::Result<()> {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| sync()),
        Err(_) => sync(),
        Ok(_) => {
            let sync = sync.clone();
            tokio::task::spawn_blocking(move || sync()).await.map_err(io::Error::other).and_then(|r| r)
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
                // Syncs may overlap: what one made durable stays durable.
                let mut durable = d.durable.lock().unwrap();
                *durable = (*durable).max(upto);
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

    #[tokio::test]
    async fn a_failed_sync_is_an_error_and_the_next_caller_syncs_again() {
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let durability = Durability::with(
            Arc::new(move || if c.fetch_add(1, Ordering::SeqCst) == 0 { Err(io::Error::other("EIO")) } else { Ok(()) }),
            Arc::new(|| 1),
        );
        assert!(durability.wait().await.is_err());
        durability.wait().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn every_commit_of_the_store_is_counted_and_then_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signer.db");
        let (conn, durability) = crate::store::open_grouped(&path).unwrap();
        let before = COMMITS.load(Ordering::SeqCst);
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        assert!(COMMITS.load(Ordering::SeqCst) > before, "an autocommit statement was not counted");
        durability.wait().await.unwrap();
        assert!(durability.progress.borrow().synced > before);
        let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
        assert_eq!(synchronous, 1, "the engine's connection commits with synchronous=NORMAL");
    }

    #[test]
    fn the_wal_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open_in_memory().unwrap();
        let error = Durability::watch(&conn, &dir.path().join("signer.db")).err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
