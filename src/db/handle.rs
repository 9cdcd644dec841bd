//! `Db`, the handle the server queries through: the connection pool, plus on a SQLite file a
//! connection for writes and a read-only connection per thread, on which statements run in
//! place.
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
//! on a blocking thread (`InPlace::committed`); only when those fall far behind does the
//! writer checkpoint after its own commit (`BACKSTOP_FRAMES`). PostgreSQL and in-memory SQLite
//! use the pool for everything.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use rusqlite::types::{Value as Lite, ValueRef};
use rusqlite::OpenFlags;
use sea_orm::sqlx::error::{DatabaseError, ErrorKind};
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    ProxyExecResult, ProxyRow, QueryResult, RuntimeErr, Statement, TransactionTrait as _, Value,
};
use tokio::sync::Notify;

use crate::config::DatabaseUrl;

/// How long a write waits for the process's write connection before going through the pool
/// (which then waits on SQLite's busy timeout): as long as that timeout.
const WRITER_WAIT: Duration = Duration::from_secs(5);

/// Rows written in place (each statement counts at least one) between two passive WAL
/// checkpoints: a row changes a page or two of a table and its indexes, so about what
/// SQLite's own automatic checkpoint allows (1000 pages), whether the writes come as many
/// small transactions or a few large ones.
const CHECKPOINT_EVERY: u64 = 1000;

/// Passive passes of one checkpoint at most, before its last (see [`InPlace::committed`]):
/// enough for the backlog to shrink to what a quick pass leaves, even after a large one
/// (another process's bulk writes).
const CHECKPOINT_PASSES: u32 = 8;

/// A pass that copied fewer frames than this, or took less time than that, leaves a small
/// enough backlog; the last pass is made when fewer than this are left uncopied (or once the
/// WAL is past [`OUTRUN_FRAMES`], whatever is left).
const SMALL_BACKLOG: i64 = 256;
const QUICK_CHECKPOINT: Duration = Duration::from_millis(2);

/// The WAL's length (in frames: 64 MiB with the default 4 KiB pages) past which a checkpoint
/// holds writes for a moment, so that the WAL starts over.
const RESTART_FRAMES: i64 = 16 * 1024;

/// Past this length (80 MiB) the writes have outrun the passes that let them go on: the
/// checkpoint stops making those and makes the last pass at once, whatever it has to copy.
const OUTRUN_FRAMES: i64 = RESTART_FRAMES * 5 / 4;

/// Past this length (96 MiB) the write connection checkpoints by itself after each commit
/// (SQLite's own automatic checkpoint, passive), holding its turn: the backstop for a machine
/// whose disk or cores keep the checkpoints above from keeping up (one pass waiting out a
/// slow fsync while the writes go on), so that the WAL still starts over before it reaches
/// the size its file is cut back to. Otherwise the writer never checkpoints on the calling
/// thread.
const BACKSTOP_FRAMES: i64 = RESTART_FRAMES * 3 / 2;

/// The size the WAL's file is cut back to when it starts over (`journal_size_limit`): it
/// otherwise keeps the largest size it ever reached (after a bulk write, say). Twice the
/// restart length, so that routine restarts do not cut the file only to grow it again.
pub(super) const WAL_SIZE_LIMIT: u64 = 2 * RESTART_FRAMES.unsigned_abs() * 4096;

const CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";

/// The pool, and on a SQLite file the connections used in place. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: DatabaseConnection,
    file: Option<Arc<InPlace>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("pool", &self.pool)
            .field("in_place", &self.file.is_some())
            .finish()
    }
}

impl Db {
    /// Wraps `pool`. On a SQLite file, statements run in place on connections opened when
    /// first needed: a read-only connection for each thread that reads (the runtime has one
    /// worker per core), and one read-write connection. Elsewhere everything uses the pool.
    pub fn new(pool: DatabaseConnection, url: &DatabaseUrl) -> Self {
        let file = InPlace::for_url(url).map(Arc::new);
        Self { pool, file }
    }

    /// The pool itself, for what only it offers (closing, pinging).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// Opens a transaction: in place on a SQLite file (`BEGIN IMMEDIATE` on the write
    /// connection), else, or when the file is locked by another process, through the pool.
    pub async fn begin(&self) -> Result<Txn, DbErr> {
        if let Some(file) = &self.file {
            if let Some(writer) = file.writer().await {
                match writer.batch("BEGIN IMMEDIATE") {
                    Ok(()) => {
                        return Ok(Txn(TxnInner::InPlace(InPlaceTxn {
                            writer: Some(writer),
                            written: AtomicU64::new(0),
                            pool: self.pool.clone(),
                            file: file.clone(),
                        })))
                    }
                    Err(error) => writer.failed(&error, "a transaction"),
                }
            }
        }
        Ok(Txn(TxnInner::Pool(self.pool.begin().await?)))
    }

    /// Runs `stmt` in place when it is a plain read; `None` means use the pool.
    fn read_in_place(&self, stmt: &Statement) -> Option<Vec<QueryResult>> {
        let file = self.file.as_ref()?;
        let is_select = stmt
            .sql
            .trim_start()
            .get(..6)
            .is_some_and(|head| head.eq_ignore_ascii_case("select"));
        if !is_select {
            return None;
        }
        let params = params(stmt)?;
        file.read(|conn| run(conn, &stmt.sql, &params, true))
    }

    /// Runs the write `stmt` in place in autocommit; `None` means use the pool. A statement
    /// that fails in autocommit has changed nothing, so the pool runs it again and reports
    /// its error as it always has (a constraint violation, say).
    async fn write_in_place(&self, stmt: &Statement) -> Option<ExecResult> {
        let file = self.file.as_ref()?;
        let params = params(stmt)?;
        let writer = file.writer().await?;
        match writer.execute(&stmt.sql, &params) {
            Ok(result) => {
                drop(writer);
                file.committed(&self.pool, result.rows_affected().max(1));
                Some(result)
            }
            Err(error) => {
                writer.failed(&error, "a write");
                None
            }
        }
    }
}

/// The statement's parameters for SQLite, or `None` when one is of a kind left to the pool.
fn params(stmt: &Statement) -> Option<Vec<Lite>> {
    let Some(values) = &stmt.values else {
        return Some(Vec::new());
    };
    let params = values.0.iter().map(to_sqlite).collect::<Option<Vec<_>>>();
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
struct InPlace {
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
    fn for_url(url: &DatabaseUrl) -> Option<Self> {
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

    /// Counts the rows a commit made in place wrote and, every so often, checkpoints the WAL
    /// (passive: it does not wait for readers).
    ///
    /// The checkpoint copies what the WAL holds through the pool, on its thread, while writes
    /// go on, and again while a pass has much to copy: each copies what was written during
    /// the one before, so the backlog shrinks to what a quick pass leaves. Below
    /// [`RESTART_FRAMES`] that is all, and nothing waits: a WAL that a checkpoint catches up
    /// with between two writes starts over by itself. Past it, a last pass holds the turn and
    /// copies the last few pages, so the checkpoint reaches the end of the WAL and the next
    /// write starts it over: under a steady stream of writes the WAL stays ahead of every
    /// checkpoint that lets writes go on, and would grow without bound. Writes wait for that
    /// pass: the copy and two fsyncs, milliseconds, and tens of them on a busy disk. So it is
    /// made rarely rather than on every checkpoint, and normally only when what it has to copy
    /// is small (no reader held the passes back); once the WAL is past [`OUTRUN_FRAMES`] the
    /// writes are outrunning the passes, and it is made whatever is left to copy. A blocking
    /// thread takes the turn for it and gives it back as soon as it is done, so the turn is
    /// not also held while a task waits behind the requests queued on the runtime's workers.
    /// Should all this still fall behind, the write connection's own automatic checkpoint
    /// ([`BACKSTOP_FRAMES`]) catches the WAL before its file reaches [`WAL_SIZE_LIMIT`].
    fn committed(self: &Arc<Self>, pool: &DatabaseConnection, rows: u64) {
        if self.written.fetch_add(rows, Ordering::Relaxed) + rows < CHECKPOINT_EVERY
            || self.checkpointing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.written.store(0, Ordering::Relaxed);
        let (pool, file) = (pool.clone(), self.clone());
        tokio::spawn(async move {
            let _done = ClearOnDrop(&file.checkpointing);
            let started = Instant::now();
            match file.checkpoint(&pool).await {
                Ok(done) => tracing::debug!(took = ?started.elapsed(), ?done, "WAL checkpointed"),
                Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
            }
        });
    }

    /// See [`Self::committed`].
    async fn checkpoint(self: &Arc<Self>, pool: &DatabaseConnection) -> Result<Checkpoint, String> {
        let mut done = Checkpoint::default();
        let mut copied = 0;
        while done.passes < CHECKPOINT_PASSES {
            done.passes += 1;
            let pass = Instant::now();
            let row = pool
                .query_one(Statement::from_string(DbBackend::Sqlite, CHECKPOINT))
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the checkpoint returned no row")?;
            // `busy`, `log` (frames in the WAL), `checkpointed` (frames copied so far).
            let column = |i| row.try_get_by_index::<i64>(i).map_err(|e| e.to_string());
            if column(0)? != 0 {
                // Another checkpoint is under way (another process's): it does the job.
                done.busy = true;
                return Ok(done);
            }
            let (log, checkpointed) = (column(1)?, column(2)?);
            let progress = checkpointed - copied;
            (done.frames, done.left, copied) = (log, log - checkpointed, checkpointed);
            if progress < SMALL_BACKLOG
                || pass.elapsed() < QUICK_CHECKPOINT
                || done.frames >= OUTRUN_FRAMES
            {
                break;
            }
        }
        if done.frames >= RESTART_FRAMES
            && (done.left < SMALL_BACKLOG || done.frames >= OUTRUN_FRAMES)
        {
            let (held, busy) = self.last_checkpoint().await?;
            (done.held, done.busy) = (Some(held), busy);
        }
        Ok(done)
    }

    /// The checkpoint's last pass, on the write connection with its turn, taken and given
    /// back on a blocking thread; how long the turn was held, and whether another checkpoint
    /// (another process's) was under way instead.
    async fn last_checkpoint(self: &Arc<Self>) -> Result<(Duration, bool), String> {
        let file = self.clone();
        let runtime = tokio::runtime::Handle::current();
        let pass = move || {
            let turn = runtime.block_on(file.turn.take_for_checkpoint());
            let held = Instant::now();
            let writer = file
                .writer_for(turn)
                .ok_or("the write connection cannot be opened")?;
            let busy =
                match writer.with(|conn| conn.query_row(CHECKPOINT, [], |r| r.get::<_, i64>(0))) {
                    Ok(busy) => busy != 0,
                    Err(error) if is_busy(&error) => true,
                    Err(error) => {
                        writer.discard();
                        return Err(error.to_string());
                    }
                };
            drop(writer);
            Ok((held.elapsed(), busy))
        };
        tokio::task::spawn_blocking(pass)
            .await
            .map_err(|e| e.to_string())?
    }
}

/// What a checkpoint did (logged at debug level).
#[derive(Debug, Default)]
struct Checkpoint {
    passes: u32,
    /// Frames in the WAL at the last passive pass, and how many of them it left uncopied.
    frames: i64,
    left: i64,
    /// How long writes waited for the last pass, when one was made.
    held: Option<Duration>,
    /// Another checkpoint was under way.
    busy: bool,
}

/// Clears a flag when dropped, however the code holding it ends.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Whose turn it is to use the write connection. A free turn goes to whoever asks first,
/// not to the longest waiter: a turn handed to a waiting task would sit with it until its
/// worker thread gets round to running it, behind whatever that thread is busy with (a
/// signature takes a quarter of a millisecond), while every other writer waits too. Waiters
/// park; each release wakes one, which tries again. A checkpoint's last pass goes ahead of
/// them: once it asks, the turn is left free for it.
#[derive(Default)]
struct Turn {
    taken: AtomicBool,
    freed: Notify,
    /// Set while a checkpoint waits for the turn: other writers leave it free for the
    /// checkpoint, which a steady stream of writes could otherwise keep from it for good.
    reserved: AtomicBool,
    freed_for_checkpoint: Notify,
}

impl Turn {
    fn try_take(self: &Arc<Self>) -> Option<TurnGuard> {
        if self.reserved.load(Ordering::SeqCst) {
            return None;
        }
        self.grab()
    }

    fn grab(self: &Arc<Self>) -> Option<TurnGuard> {
        self.taken
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
            .then(|| TurnGuard(self.clone()))
    }

    async fn take(self: &Arc<Self>) -> TurnGuard {
        self.wait(&self.freed, Self::try_take).await
    }

    /// The turn for a checkpoint (one at a time): ahead of every other writer.
    async fn take_for_checkpoint(self: &Arc<Self>) -> TurnGuard {
        self.reserved.store(true, Ordering::SeqCst);
        let _reserved = ClearOnDrop(&self.reserved);
        self.wait(&self.freed_for_checkpoint, Self::grab).await
    }

    /// Tries `attempt` until it gets the turn, parked on `freed` in between.
    async fn wait(
        self: &Arc<Self>,
        freed: &Notify,
        attempt: fn(&Arc<Self>) -> Option<TurnGuard>,
    ) -> TurnGuard {
        loop {
            if let Some(turn) = attempt(self) {
                return turn;
            }
            // Registered before looking again, so a release in between is not missed.
            let freed = freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(turn) = attempt(self) {
                return turn;
            }
            freed.await;
        }
    }
}

/// A turn taken; dropping it frees the turn and wakes one waiter (and a checkpoint waiting
/// for it, which other waiters leave it to).
struct TurnGuard(Arc<Turn>);

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.0.taken.store(false, Ordering::SeqCst);
        if self.0.reserved.load(Ordering::SeqCst) {
            self.0.freed_for_checkpoint.notify_one();
        }
        self.0.freed.notify_one();
    }
}

/// The write connection, held with its turn; it goes back to its slot when dropped.
struct Writer {
    /// Always `Some` until dropped (or discarded after an error). A mutex only so that a
    /// transaction holding it can be shared (`ConnectionTrait` needs `Sync`); it is never
    /// contended.
    conn: Mutex<Option<rusqlite::Connection>>,
    file: Arc<InPlace>,
    _turn: TurnGuard,
}

impl Writer {
    fn with<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(conn.as_ref().ok_or(rusqlite::Error::InvalidQuery)?)
    }

    /// Runs one statement without parameters (`BEGIN IMMEDIATE`, `COMMIT`, `ROLLBACK`),
    /// prepared once per connection rather than parsed on every transaction.
    fn batch(&self, sql: &str) -> rusqlite::Result<()> {
        self.with(|conn| conn.prepare_cached(sql)?.execute([]).map(drop))
    }

    fn execute(&self, sql: &str, params: &[Lite]) -> rusqlite::Result<ExecResult> {
        self.with(|conn| {
            let rows_affected = conn
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(params.iter()))?;
            Ok(exec_result(conn, rows_affected as u64))
        })
    }

    /// After an error: a busy database leaves the connection as it was; after anything else
    /// it is discarded, and the next write opens a fresh one.
    fn failed(self, error: &rusqlite::Error, what: &str) {
        if !is_busy(error) {
            self.discard();
        }
        tracing::debug!(%error, "{what} in place failed; going through the pool");
    }

    fn discard(&self) {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// What a write run in place on `conn` reports, as sea-orm reads it from the pool.
fn exec_result(conn: &rusqlite::Connection, rows_affected: u64) -> ExecResult {
    ExecResult::from(ProxyExecResult {
        last_insert_id: u64::try_from(conn.last_insert_rowid()).unwrap_or(0),
        rows_affected,
    })
}

impl Drop for Writer {
    fn drop(&mut self) {
        let conn = self
            .conn
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if conn.is_some() {
            *self
                .file
                .writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = conn;
        }
    }
}

/// A bound parameter, or `None` for a kind this path leaves to the pool.
fn to_sqlite(value: &Value) -> Option<Lite> {
    Some(match value {
        Value::Bool(v) => v.map_or(Lite::Null, |b| Lite::Integer(i64::from(b))),
        Value::TinyInt(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::SmallInt(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::Int(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::BigInt(v) => v.map_or(Lite::Null, Lite::Integer),
        Value::TinyUnsigned(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::SmallUnsigned(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::Unsigned(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        // `LIMIT 1` of every `.one()`.
        Value::BigUnsigned(v) => match v {
            Some(n) => Lite::Integer(i64::try_from(*n).ok()?),
            None => Lite::Null,
        },
        Value::Double(v) => v.map_or(Lite::Null, Lite::Real),
        Value::String(v) => v.as_ref().map_or(Lite::Null, |s| Lite::Text(s.to_string())),
        Value::Bytes(v) => v.as_ref().map_or(Lite::Null, |b| Lite::Blob(b.to_vec())),
        _ => return None,
    })
}

/// A column's value as sea-orm expects it from a row, typed by the column's declared type
/// (as the schema's migrations declare them). An expression's result has no declared type:
/// integers come back as `BigInt` (see `store::flag` for the boolean ones).
fn from_sqlite(value: ValueRef<'_>, declared: Option<&str>) -> rusqlite::Result<Value> {
    let declared = declared.unwrap_or_default();
    let has = |needle: &str| {
        declared
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    let is_bool = has("bool");
    Ok(match value {
        ValueRef::Null if is_bool => Value::Bool(None),
        ValueRef::Null if has("char") || has("text") || has("clob") => Value::String(None),
        ValueRef::Null if has("blob") || has("binary") => Value::Bytes(None),
        ValueRef::Null if has("real") || has("floa") || has("doub") => Value::Double(None),
        ValueRef::Null => Value::BigInt(None),
        ValueRef::Integer(n) if is_bool => Value::Bool(Some(n != 0)),
        ValueRef::Integer(n) => Value::BigInt(Some(n)),
        ValueRef::Real(x) => Value::Double(Some(x)),
        ValueRef::Text(bytes) => Value::String(Some(Box::new(
            std::str::from_utf8(bytes)
                .map_err(rusqlite::Error::Utf8Error)?
                .to_owned(),
        ))),
        ValueRef::Blob(bytes) => Value::Bytes(Some(Box::new(bytes.to_vec()))),
    })
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
    let columns: Vec<(String, Option<String>)> = stmt
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.decl_type().map(str::to_owned)))
        .collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = BTreeMap::new();
        for (i, (name, declared)) in columns.iter().enumerate() {
            values.insert(
                name.clone(),
                from_sqlite(row.get_ref(i)?, declared.as_deref())?,
            );
        }
        out.push(QueryResult::from(ProxyRow::new(values)));
    }
    Ok(out)
}

/// A transaction from `Db::begin`: in place on the write connection, or the pool's.
/// Dropped without `commit`, it rolls back.
pub struct Txn(TxnInner);

enum TxnInner {
    InPlace(InPlaceTxn),
    Pool(DatabaseTransaction),
}

struct InPlaceTxn {
    /// `None` once committed or rolled back.
    writer: Option<Writer>,
    /// Rows written so far (each statement counts at least one).
    written: AtomicU64,
    pool: DatabaseConnection,
    file: Arc<InPlace>,
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            TxnInner::InPlace(_) => "Txn(in place)",
            TxnInner::Pool(_) => "Txn(pool)",
        })
    }
}

impl Txn {
    pub async fn commit(self) -> Result<(), DbErr> {
        match self.0 {
            TxnInner::Pool(txn) => txn.commit().await,
            TxnInner::InPlace(mut txn) => {
                let writer = txn.writer.take().ok_or_else(finished)?;
                match writer.batch("COMMIT") {
                    Ok(()) => {
                        drop(writer);
                        txn.file
                            .committed(&txn.pool, txn.written.load(Ordering::Relaxed).max(1));
                        Ok(())
                    }
                    Err(error) => {
                        rollback(&writer);
                        Err(exec_error(&error))
                    }
                }
            }
        }
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        match self.0 {
            TxnInner::Pool(txn) => txn.rollback().await,
            TxnInner::InPlace(mut txn) => {
                let writer = txn.writer.take().ok_or_else(finished)?;
                writer.batch("ROLLBACK").map_err(|e| {
                    writer.discard();
                    exec_error(&e)
                })
            }
        }
    }
}

impl InPlaceTxn {
    fn writer(&self) -> Result<&Writer, DbErr> {
        self.writer.as_ref().ok_or_else(finished)
    }

    fn query(&self, stmt: &Statement) -> Result<Vec<QueryResult>, DbErr> {
        let params = params(stmt).ok_or_else(unhandled)?;
        self.writer()?
            .with(|conn| run(conn, &stmt.sql, &params, false))
            .map_err(|e| query_error(&e))
    }
}

impl Drop for InPlaceTxn {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            rollback(&writer);
        }
    }
}

/// Ends the transaction on `writer`; a connection that cannot is discarded (closing it
/// rolls back), so the next write starts clean.
fn rollback(writer: &Writer) {
    if let Err(error) = writer.batch("ROLLBACK") {
        tracing::warn!(%error, "rollback in place failed; the connection is discarded");
        writer.discard();
    }
}

fn finished() -> DbErr {
    DbErr::Custom("the transaction has already ended".into())
}

fn unhandled() -> DbErr {
    DbErr::Custom("a parameter of a kind SQLite does not store".into())
}

/// An error from a statement run in place, as sqlx would report it: a database error with
/// SQLite's extended result code, so `sqlx`'s and sea-orm's checks (busy, unique violation)
/// read it the same way.
#[derive(Debug)]
struct InPlaceError {
    message: String,
    code: Option<i32>,
}

impl std::fmt::Display for InPlaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "(code: {code}) {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for InPlaceError {}

impl DatabaseError for InPlaceError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.code.map(|c| c.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        use rusqlite::ffi;
        match self.code {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

fn runtime_error(error: &rusqlite::Error) -> RuntimeErr {
    let code = match error {
        rusqlite::Error::SqliteFailure(e, _) => Some(e.extended_code),
        _ => None,
    };
    RuntimeErr::SqlxError(sea_orm::sqlx::Error::Database(Box::new(InPlaceError {
        message: error.to_string(),
        code,
    })))
}

fn exec_error(error: &rusqlite::Error) -> DbErr {
    DbErr::Exec(runtime_error(error))
}

fn query_error(error: &rusqlite::Error) -> DbErr {
    DbErr::Query(runtime_error(error))
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            TxnInner::InPlace(txn) => txn.pool.get_database_backend(),
            TxnInner::Pool(txn) => txn.get_database_backend(),
        }
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.0 {
            TxnInner::InPlace(txn) => {
                let params = params(&stmt).ok_or_else(unhandled)?;
                let result = txn
                    .writer()?
                    .execute(&stmt.sql, &params)
                    .map_err(|e| exec_error(&e))?;
                txn.written
                    .fetch_add(result.rows_affected().max(1), Ordering::Relaxed);
                Ok(result)
            }
            TxnInner::Pool(txn) => txn.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.0 {
            TxnInner::InPlace(txn) => txn
                .writer()?
                .with(|conn| {
                    conn.execute_batch(sql)?;
                    Ok(exec_result(conn, conn.changes()))
                })
                .map_err(|e| exec_error(&e)),
            TxnInner::Pool(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.0 {
            TxnInner::InPlace(txn) => Ok(txn.query(&stmt)?.into_iter().next()),
            TxnInner::Pool(txn) => txn.query_one(stmt).await,
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.0 {
            TxnInner::InPlace(txn) => txn.query(&stmt),
            TxnInner::Pool(txn) => txn.query_all(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match &self.0 {
            TxnInner::InPlace(txn) => txn.pool.support_returning(),
            TxnInner::Pool(txn) => txn.support_returning(),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self.write_in_place(&stmt).await {
            Some(result) => Ok(result),
            None => self.pool.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self.read_in_place(&stmt) {
            Some(rows) => Ok(rows.into_iter().next()),
            None => self.pool.query_one(stmt).await,
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.read_in_place(&stmt) {
            Some(rows) => Ok(rows),
            None => self.pool.query_all(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

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
    fn writes_and_unusual_values_are_left_to_the_pool() {
        assert!(to_sqlite(&Value::String(Some(Box::new("x".into())))).is_some());
        assert!(to_sqlite(&Value::BigUnsigned(Some(1))).is_some());
        assert!(to_sqlite(&Value::BigUnsigned(Some(u64::MAX))).is_none());
        assert!(to_sqlite(&Value::Char(Some('x'))).is_none());
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
        let path =
            std::env::temp_dir().join(format!("oidcd-handle-{}-{name}.db", std::process::id()));
        remove_db(&path);
        let url = DatabaseUrl::new(format!("sqlite://{}?mode=rwc", path.display()));
        let pool = super::super::connect(&url).await.unwrap();
        pool.execute_unprepared(
            "CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL UNIQUE)",
        )
        .await
        .unwrap();
        (Db::new(pool, &url), path)
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
}
