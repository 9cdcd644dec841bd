//! The in-place path against real SQLite files: reads, writes, transactions, a file locked
//! by another process, and the WAL under steady writes.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::types::Value as Lite;
use sea_orm::{ConnectionTrait as _, DbBackend, DbErr, Statement};

use super::checkpoint::RESTART_FRAMES;
use super::{run, WAL_SIZE_LIMIT};
use crate::config::DatabaseUrl;
use crate::db::Db;

/// Rows read in place come back as sea-orm reads them from the pool: typed NULLs,
/// booleans from boolean columns, integers and text as declared.
#[test]
fn rows_read_in_place_have_the_declared_types() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (s varchar NULL, n bigint NULL, b boolean NOT NULL, x text NOT NULL);
         INSERT INTO t VALUES (NULL, NULL, 1, 'ü'), ('a', -7, 0, '');",
    )
    .unwrap();
    let rows = run(
        &conn,
        "SELECT s, n, b, x, EXISTS(SELECT 1 FROM t WHERE n = ?) AS e FROM t ORDER BY rowid",
        &[Lite::Integer(-7)],
        true,
    )
    .unwrap();
    assert_eq!(rows.len(), 2);
    let first = &rows[0];
    assert_eq!(first.try_get::<Option<String>>("", "s").unwrap(), None);
    assert_eq!(first.try_get::<Option<i64>>("", "n").unwrap(), None);
    assert!(first.try_get::<bool>("", "b").unwrap());
    assert_eq!(first.try_get::<String>("", "x").unwrap(), "ü");
    assert!(crate::store::flag(first, "e").unwrap());
    let second = &rows[1];
    assert_eq!(
        second
            .try_get::<Option<String>>("", "s")
            .unwrap()
            .as_deref(),
        Some("a")
    );
    assert_eq!(second.try_get::<i64>("", "n").unwrap(), -7);
    assert!(!second.try_get::<bool>("", "b").unwrap());
}

#[test]
fn a_write_is_refused_on_a_read_only_path() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (n bigint)").unwrap();
    assert!(run(&conn, "DELETE FROM t", &[], true).is_err());
}

/// Removes a SQLite file with its write-ahead log and shared-memory index.
fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// A fresh SQLite file with one table, through `db::connect` as the server opens it.
async fn file_db(name: &str) -> (Db, PathBuf) {
    file_db_with(name, true).await
}

async fn file_db_with(name: &str, in_place: bool) -> (Db, PathBuf) {
    let path = std::env::temp_dir().join(format!("oidcd-handle-{}-{name}.db", std::process::id()));
    remove_db(&path);
    let url = DatabaseUrl::new(format!("sqlite://{}?mode=rwc", path.display()));
    let pool = crate::db::connect(&url).await.unwrap();
    pool.execute_unprepared("CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL UNIQUE)")
        .await
        .unwrap();
    (Db::new(pool, &url, in_place), path)
}

fn insert(name: &str) -> Statement {
    Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "INSERT INTO t (name) VALUES (?)",
        [name.into()],
    )
}

async fn names(db: &Db) -> Vec<String> {
    db.query_all(Statement::from_string(
        DbBackend::Sqlite,
        "SELECT name FROM t ORDER BY id",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get::<String>("", "name").unwrap())
    .collect()
}

fn is_conflict(err: DbErr) -> bool {
    matches!(
        crate::store::conflict_or_db(err, "it"),
        crate::store::StoreError::Conflict(_)
    )
}

/// With `sqlite_in_place` off, the same file is used through the pool alone, with the same
/// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_in_place_path_off_everything_goes_through_the_pool() {
    let (db, path) = file_db_with("off", false).await;
    assert!(!db.in_place());
    let first = db.execute(insert("a")).await.unwrap();
    assert_eq!((first.last_insert_id(), first.rows_affected()), (1, 1));
    let txn = db.begin().await.unwrap();
    assert_eq!(format!("{txn:?}"), "Txn(pool)");
    txn.execute(insert("b")).await.unwrap();
    assert!(is_conflict(txn.execute(insert("a")).await.unwrap_err()));
    txn.commit().await.unwrap();
    assert_eq!(names(&db).await, ["a", "b"]);
    db.pool().close_by_ref().await.unwrap();
    remove_db(&path);
}

/// Transactions run in place commit, roll back when dropped or asked to, see their own
/// writes, and report a unique violation as the pool does (as a conflict, leaving the
/// transaction usable); a write outside a transaction reports its id and its conflicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_in_place_commit_roll_back_and_report_conflicts() {
    let (db, path) = file_db("txn").await;
    let first = db.execute(insert("a")).await.unwrap();
    assert_eq!((first.last_insert_id(), first.rows_affected()), (1, 1));

    let txn = db.begin().await.unwrap();
    assert_eq!(format!("{txn:?}"), "Txn(in place)");
    txn.execute(insert("b")).await.unwrap();
    let seen = txn
        .query_one(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT count(*) AS n FROM t",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.try_get::<i64>("", "n").unwrap(), 2);
    assert!(is_conflict(txn.execute(insert("a")).await.unwrap_err()));
    txn.execute(insert("c")).await.unwrap();
    // Not committed yet: other readers do not see it.
    assert_eq!(names(&db).await, ["a"]);
    txn.commit().await.unwrap();
    assert_eq!(names(&db).await, ["a", "b", "c"]);

    let dropped = db.begin().await.unwrap();
    dropped.execute(insert("d")).await.unwrap();
    drop(dropped);
    let rolled_back = db.begin().await.unwrap();
    rolled_back.execute(insert("e")).await.unwrap();
    rolled_back.rollback().await.unwrap();
    assert_eq!(names(&db).await, ["a", "b", "c"]);

    assert!(is_conflict(db.execute(insert("b")).await.unwrap_err()));
    let next = db.execute(insert("f")).await.unwrap();
    assert_eq!(next.rows_affected(), 1);
    assert_eq!(names(&db).await, ["a", "b", "c", "f"]);
    db.pool().close_by_ref().await.unwrap();
    remove_db(&path);
}

/// While another process holds the write lock, transactions and writes go through the
/// pool, whose connections wait for it on their own threads, and all of them land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_locked_elsewhere_is_written_through_the_pool() {
    let (db, path) = file_db("locked").await;
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO t (name) VALUES ('other');")
        .unwrap();
    let in_txn = tokio::spawn({
        let db = db.clone();
        async move {
            let txn = db.begin().await.unwrap();
            let kind = format!("{txn:?}");
            txn.execute(insert("txn")).await.unwrap();
            txn.commit().await.unwrap();
            kind
        }
    });
    let alone = tokio::spawn({
        let db = db.clone();
        async move { db.execute(insert("alone")).await.map(|r| r.rows_affected()) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!in_txn.is_finished() && !alone.is_finished());
    other.execute_batch("COMMIT").unwrap();
    assert_eq!(in_txn.await.unwrap(), "Txn(pool)");
    assert_eq!(alone.await.unwrap().unwrap(), 1);
    let mut all = names(&db).await;
    all.sort();
    assert_eq!(all, ["alone", "other", "txn"]);
    // Once the lock is free, the next transaction runs in place again.
    assert_eq!(format!("{:?}", db.begin().await.unwrap()), "Txn(in place)");
    db.pool().close_by_ref().await.unwrap();
    remove_db(&path);
}

/// Under a steady stream of writes that never pauses, the WAL does not grow without bound:
/// every thousand or so rows written a checkpoint runs, and once the WAL is past
/// `RESTART_FRAMES` one of them makes it start over. It passes that length by what is
/// written while that checkpoint runs, which is timing; past `BACKSTOP_FRAMES` the writer
/// checkpoints itself. Written whole, the WAL would be three times the size its file is cut
/// back to (`WAL_SIZE_LIMIT`); it ends no larger than that size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_and_started_over_under_steady_writes() {
    let (db, path) = file_db("wal").await;
    let frame = 4096 + 24;
    let commits = usize::try_from(3 * RESTART_FRAMES).unwrap();
    for i in 0..commits {
        db.execute(insert(&format!("row {i}"))).await.unwrap();
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let wal = std::fs::metadata(format!("{}-wal", path.display()))
        .unwrap()
        .len();
    // Each commit writes at least the table's page and the index's: never started over,
    // the WAL would hold 2 * `commits` frames, three times the limit.
    assert!(2 * commits * frame > 3 * WAL_SIZE_LIMIT as usize);
    assert!(
        wal <= WAL_SIZE_LIMIT,
        "WAL of {wal} bytes after {commits} commits"
    );
    assert_eq!(names(&db).await.len(), commits);
    db.pool().close_by_ref().await.unwrap();
    remove_db(&path);
}
