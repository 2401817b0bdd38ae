//! One gateway per SQLite file (ADR 0002), whatever path names the file: a
//! symlink to the file or to its directory is the same database.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_config::Config;
use coffer_gateway::{GatewayParts, StartError};
use coffer_store::Backend;
use coffer_store::testing::{Kind, TestDatabase};

use crate::helpers::{config_text, spawn_app_on};

/// The test configuration with the database at `path`.
fn config_at(db: &TestDatabase, path: &Path) -> Config {
    Config::from_toml(&config_text(db).replace(db.url(), &format!("sqlite://{}", path.display()))).unwrap()
}

fn sqlite_path(db: &TestDatabase) -> PathBuf {
    let Backend::Sqlite(path) = db.backend() else { unreachable!("an SQLite test database") };
    path.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_through_a_symlink_is_refused() {
    let db = Arc::new(TestDatabase::new(Kind::Sqlite).await.unwrap());
    let real = sqlite_path(&db);
    let links = tempfile::tempdir().unwrap();
    let to_file = links.path().join("linked.db");
    std::os::unix::fs::symlink(&real, &to_file).unwrap();
    let to_dir = links.path().join("linked-dir");
    std::os::unix::fs::symlink(real.parent().unwrap(), &to_dir).unwrap();
    let through_dir = to_dir.join(real.file_name().unwrap());

    let first = spawn_app_on(Arc::clone(&db)).await;
    for path in [&to_file, &through_dir] {
        let second = GatewayParts::from_config(&config_at(&db, path)).await.map(drop);
        assert!(
            matches!(second, Err(StartError::SqliteInUse(_))),
            "a gateway on {} (the same file) must be refused: {second:?}",
            path.display()
        );
    }
    first.stop().await;
    // Once the first has stopped, the file is free under any of its names.
    GatewayParts::from_config(&config_at(&db, &to_file)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_gateway_through_a_symlink_locks_the_file_it_points_to() {
    let db = Arc::new(TestDatabase::new(Kind::Sqlite).await.unwrap());
    let real = sqlite_path(&db);
    let links = tempfile::tempdir().unwrap();
    // The database does not exist yet: the link dangles until the gateway creates its target.
    let to_file = links.path().join("linked.db");
    std::os::unix::fs::symlink(&real, &to_file).unwrap();
    let first = GatewayParts::from_config(&config_at(&db, &to_file)).await.unwrap();
    let second = GatewayParts::from_config(&config_at(&db, &real)).await.map(drop);
    assert!(matches!(second, Err(StartError::SqliteInUse(_))), "{second:?}");
    drop(first);
}
