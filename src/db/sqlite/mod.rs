//! The second SQLite driver: statements run in place with rusqlite, on the calling thread,
//! under sea-orm's `ConnectionTrait` (see [`crate::db::Db`]), beside the sqlx pool that
//! sea-orm drives. `sqlite_in_place = false` turns it off: everything then goes through the
//! pool.
//!
//! Why: sqlx runs each SQLite connection on a thread of its own, so every statement is a
//! round trip between threads (two, with the check sqlx makes as the connection goes back to
//! the pool). For the point reads and small writes that make up the hot paths, those
//! hand-offs cost several times the statement itself: about 90 us of CPU against 12 us for
//! the same read run in place, and a transaction pays them for each of its statements.
//!
//! Reads: a `SELECT` made outside a transaction runs on the calling thread, on that thread's
//! own read-only connection to the file. So a connection, its page cache and its prepared
//! statements stay with one worker (and its core) rather than passing between the workers,
//! as the write connection and a shared set of readers did before. A read-only connection
//! drops its page cache whenever anything was written since its last read, and reads again
//! what it needs, from the system's page cache. In WAL mode a reader never waits for the
//! writer, and it sees every transaction committed before it starts.
//!
//! Writes: SQLite has one writer at a time, so the process keeps one read-write connection,
//! taken in turn (`Turn`: a task waiting for it parks, it does not block a thread). A write
//! outside a transaction runs on it in autocommit; `Db::begin` opens `BEGIN IMMEDIATE` on
//! it, so the transaction holds the write lock from its first statement and never has to
//! upgrade a read snapshot. Each statement still runs on the calling thread; nothing in a
//! transaction waits on anything but its own statements.
//!
//! Neither path ever waits inside SQLite (busy timeout zero): when another process holds the
//! lock, or anything else goes wrong before a transaction has begun, the statement or the
//! transaction goes through the pool as before, whose connections wait on their own threads.
//! So callers get the same answers and the same errors either way. The writer does not
//! checkpoint the WAL on the calling thread: every thousand or so rows written, passive
//! checkpoint passes run through the pool, and now and then a last one on the write connection
//! on a blocking thread (`checkpoint`); only when those fall far behind does the
//! writer checkpoint after its own commit (`BACKSTOP_FRAMES`). PostgreSQL and in-memory SQLite
//! use the pool for everything.

mod checkpoint;
mod error;
mod transaction;
mod turn;
pub(crate) mod values;
mod writer;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use rusqlite::types::Value as Lite;
use rusqlite::OpenFlags;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{DatabaseConnection, ExecResult, ProxyRow, QueryResult, Statement};

use self::checkpoint::BACKSTOP_FRAMES;
use self::turn::{Turn, TurnGuard};
use self::values::Column;
use self::writer::Writer;
use crate::config::DatabaseUrl;

pub(crate) use self::checkpoint::WAL_SIZE_LIMIT;
pub(crate) use self::transaction::InPlaceTxn;

/// How long a write waits for the process's write connection before going through the pool
/// (which then waits on SQLite's busy timeout): as long as that timeout.
const WRITER_WAIT: Duration = Duration::from_secs(5);

/// The statement's parameters for SQLite, or `None` when one is of a kind left to the pool.
fn params(stmt: &Statement) -> Option<Vec<Lite>> {
    let Some(values) = &stmt.values else {
        return Some(Vec::new());
    };
    let params = values
        .0
        .iter()
        .map(values::to_sqlite)
        .collect::<Option<Vec<_>>>();
    if params.is_none() {
        tracing::debug!(sql = %stmt.sql, "a parameter of this kind goes through the pool");
    }
    params
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

thread_local! {
    /// Each thread's read-only connections, one per SQLite file it reads in place (a server
    /// has one): a connection, with its page cache and prepared statements, stays on the
    /// thread that uses it instead of moving between the runtime's workers.
    static READERS: RefCell<Vec<(Weak<InPlace>, rusqlite::Connection)>> =
        const { RefCell::new(Vec::new()) };
}

/// One SQLite file used in place: its read-write connection, with the turn that takes it
/// (the read-only connections are the threads' own, in [`READERS`]).
pub(crate) struct InPlace {
    path: PathBuf,
    turn: Arc<Turn>,
    /// The write connection while no one holds the turn (`None` until first opened, and
    /// after an error, so the next write opens a fresh one).
    writer: Mutex<Option<rusqlite::Connection>>,
    written: AtomicU64,
    checkpointing: Arc<AtomicBool>,
}

impl InPlace {
    /// `None` unless `url` names a SQLite file (an in-memory database is private to the
    /// connection that made it).
    pub(crate) fn for_url(url: &DatabaseUrl) -> Option<Self> {
        let raw = url.expose();
        if !url.is_sqlite() || raw.contains(":memory:") || raw.contains("mode=memory") {
            return None;
        }
        let options = SqliteConnectOptions::from_str(raw).ok()?;
        Some(Self {
            path: options.get_filename().to_path_buf(),
            turn: Arc::new(Turn::default()),
            writer: Mutex::new(None),
            written: AtomicU64::new(0),
            checkpointing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Runs `read` on this thread's read-only connection to the file (opened when first
    /// needed); `None` when it cannot be opened or the read fails: use the pool. A busy
    /// database leaves the connection as it was; after anything else it is dropped, and the
    /// next read opens a fresh one.
    fn read<T>(
        self: &Arc<Self>,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        READERS.with(|readers| {
            let mut readers = readers.try_borrow_mut().ok()?;
            let me = Arc::as_ptr(self);
            let at = match readers.iter().position(|(file, _)| file.as_ptr() == me) {
                Some(at) => at,
                None => {
                    // Connections to files whose handle is gone (a server that stopped).
                    readers.retain(|(file, _)| file.strong_count() > 0);
                    match self.open(false) {
                        Ok(conn) => readers.push((Arc::downgrade(self), conn)),
                        Err(error) => {
                            tracing::warn!(%error, "cannot open a read-only SQLite connection");
                            return None;
                        }
                    }
                    readers.len() - 1
                }
            };
            let (_, conn) = readers.get(at)?;
            match read(conn) {
                Ok(rows) => Some(rows),
                Err(error) => {
                    if !is_busy(&error) {
                        readers.swap_remove(at);
                    }
                    tracing::debug!(%error, "read in place failed; reading through the pool");
                    None
                }
            }
        })
    }

    fn open(&self, write: bool) -> rusqlite::Result<rusqlite::Connection> {
        let mode = if write {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        };
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            mode | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait on the calling thread: a busy database goes through the pool, whose
        // connections wait on their own threads.
        conn.busy_timeout(Duration::ZERO)?;
        conn.set_prepared_statement_cache_capacity(64);
        if write {
            // As the pool's connections are set up (`db::connect`), except that checkpoints
            // are made on purpose (`committed`), not after any commit, but for the backstop.
            conn.execute_batch(&format!(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA wal_autocheckpoint = {BACKSTOP_FRAMES}; \
                     PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
            ))?;
        }
        Ok(conn)
    }

    /// Waits for the write connection; `None` when it cannot be had (waited too long,
    /// cannot open it): use the pool.
    async fn writer(self: &Arc<Self>) -> Option<Writer> {
        let turn = tokio::time::timeout(WRITER_WAIT, self.turn.take())
            .await
            .ok()?;
        self.writer_for(turn)
    }

    fn writer_for(self: &Arc<Self>, turn: TurnGuard) -> Option<Writer> {
        let slot = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let conn = match slot {
            Some(conn) => conn,
            None => match self.open(true) {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(%error, "cannot open a read-write SQLite connection");
                    return None;
                }
            },
        };
        Some(Writer {
            conn: Mutex::new(Some(conn)),
            file: self.clone(),
            _turn: turn,
        })
    }

    /// Runs `stmt` in place when it is a plain read; `None` means use the pool.
    pub(crate) fn query(self: &Arc<Self>, stmt: &Statement) -> Option<Vec<QueryResult>> {
        let is_select = stmt
            .sql
            .trim_start()
            .get(..6)
            .is_some_and(|head| head.eq_ignore_ascii_case("select"));
        if !is_select {
            return None;
        }
        let params = params(stmt)?;
        self.read(|conn| run(conn, &stmt.sql, &params, true))
    }

    /// Runs the write `stmt` in place in autocommit; `None` means use the pool. A statement
    /// that fails in autocommit has changed nothing, so the pool runs it again and reports
    /// its error as it always has (a constraint violation, say).
    pub(crate) async fn execute(
        self: &Arc<Self>,
        pool: &DatabaseConnection,
        stmt: &Statement,
    ) -> Option<ExecResult> {
        let params = params(stmt)?;
        let writer = self.writer().await?;
        match writer.execute(&stmt.sql, &params) {
            Ok(result) => {
                drop(writer);
                self.committed(pool, result.rows_affected().max(1));
                Some(result)
            }
            Err(error) => {
                writer.failed(&error, "a write");
                None
            }
        }
    }

    /// Opens a transaction in place (`BEGIN IMMEDIATE` on the write connection); `None`
    /// when the file is locked by another process, or anything else goes wrong before it
    /// has begun: use the pool.
    pub(crate) async fn begin(self: &Arc<Self>, pool: &DatabaseConnection) -> Option<InPlaceTxn> {
        let writer = self.writer().await?;
        match writer.batch("BEGIN IMMEDIATE") {
            Ok(()) => Some(InPlaceTxn::new(writer, pool.clone(), self.clone())),
            Err(error) => {
                writer.failed(&error, "a transaction");
                None
            }
        }
    }
}

fn run(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Lite],
    read_only: bool,
) -> rusqlite::Result<Vec<QueryResult>> {
    let mut stmt = conn.prepare_cached(sql)?;
    if read_only && !stmt.readonly() {
        return Err(rusqlite::Error::InvalidQuery);
    }
    let columns: Vec<(String, Column)> = stmt
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), Column::of(c.decl_type())))
        .collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = BTreeMap::new();
        for (i, (name, column)) in columns.iter().enumerate() {
            values.insert(name.clone(), values::from_sqlite(row.get_ref(i)?, *column)?);
        }
        out.push(QueryResult::from(ProxyRow::new(values)));
    }
    Ok(out)
}
