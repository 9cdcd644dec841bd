//! `Db`, the handle the server queries through: the connection pool, plus on SQLite a few
//! read-only connections on which plain reads run in place.
//!
//! Why: sqlx runs each SQLite connection on a thread of its own, so every query is a round
//! trip between threads (two, with the check sqlx makes as the connection goes back to the
//! pool). For the point reads that make up the hot paths, those hand-offs cost several times
//! the read itself: about 90 us of CPU against 12 us for the same statement run in place. So
//! a `SELECT` made outside a transaction runs on the calling thread, on a read-only
//! connection to the same file. In WAL mode a reader never waits for the writer, and it sees
//! every transaction committed before it starts. A read that cannot go that way (the
//! database is busy recovering, a value of a kind not handled here, any error at all) goes
//! through the pool as before, so callers get the same answers and the same errors either
//! way. Writes and transactions always use the pool.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::types::{Value as Lite, ValueRef};
use rusqlite::OpenFlags;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, ProxyRow, QueryResult, Statement, TransactionError,
    TransactionTrait, Value,
};

use crate::config::DatabaseUrl;

/// The pool, and on a SQLite file the read-only connections. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: DatabaseConnection,
    readers: Option<Arc<Readers>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("pool", &self.pool)
            .field("reads_in_place", &self.readers.is_some())
            .finish()
    }
}

impl Db {
    /// Wraps `pool`. On a SQLite file, plain reads run in place on read-only connections,
    /// opened when first needed; one per core is kept, as the runtime has one worker thread
    /// per core to run them. Elsewhere everything uses the pool.
    pub fn new(pool: DatabaseConnection, url: &DatabaseUrl) -> Self {
        let readers = Readers::for_url(url, super::cpus().clamp(2, 16)).map(Arc::new);
        Self { pool, readers }
    }

    /// The pool itself, for what only it offers (closing, pinging).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// Runs `stmt` in place when it is a plain read; `None` means use the pool.
    fn read_in_place(&self, stmt: &Statement) -> Option<Vec<QueryResult>> {
        let readers = self.readers.as_deref()?;
        let is_select = stmt
            .sql
            .trim_start()
            .get(..6)
            .is_some_and(|head| head.eq_ignore_ascii_case("select"));
        if !is_select {
            return None;
        }
        let params = match &stmt.values {
            Some(values) => {
                let params = values.0.iter().map(to_sqlite).collect::<Option<Vec<_>>>();
                if params.is_none() {
                    tracing::debug!(sql = %stmt.sql, "a parameter of this kind is read through the pool");
                }
                params?
            }
            None => Vec::new(),
        };
        let conn = readers.take()?;
        match run(&conn, &stmt.sql, params) {
            Ok(rows) => {
                readers.put_back(conn);
                Some(rows)
            }
            Err(error) => {
                // A busy database leaves the connection as it was; after anything else it is
                // dropped, and the next read opens a fresh one.
                if matches!(
                    error.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) {
                    readers.put_back(conn);
                }
                tracing::debug!(%error, "read in place failed; reading through the pool");
                None
            }
        }
    }
}

/// The read-only connections not in use, and how to open another.
struct Readers {
    path: PathBuf,
    keep: usize,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl Readers {
    /// `None` unless `url` names a SQLite file (an in-memory database is private to the
    /// connection that made it).
    fn for_url(url: &DatabaseUrl, keep: usize) -> Option<Self> {
        let raw = url.expose();
        if !url.is_sqlite() || raw.contains(":memory:") || raw.contains("mode=memory") {
            return None;
        }
        let options = SqliteConnectOptions::from_str(raw).ok()?;
        Some(Self {
            path: options.get_filename().to_path_buf(),
            keep,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn take(&self) -> Option<rusqlite::Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        idle.or_else(|| match self.open() {
            Ok(conn) => Some(conn),
            Err(error) => {
                tracing::warn!(%error, "cannot open a read-only SQLite connection");
                None
            }
        })
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait on the calling thread: a busy database is read through the pool, whose
        // connections wait on their own threads.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn put_back(&self, conn: rusqlite::Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.keep {
            idle.push(conn);
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
    params: Vec<Lite>,
) -> rusqlite::Result<Vec<QueryResult>> {
    let mut stmt = conn.prepare_cached(sql)?;
    if !stmt.readonly() {
        return Err(rusqlite::Error::InvalidQuery);
    }
    let columns: Vec<(String, Option<String>)> = stmt
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.decl_type().map(str::to_owned)))
        .collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
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

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.pool.execute(stmt).await
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

#[async_trait::async_trait]
impl TransactionTrait for Db {
    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.pool.begin().await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.pool
            .begin_with_config(isolation_level, access_mode)
            .await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, E>> + Send + 'c>,
            > + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.pool.transaction(callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, E>> + Send + 'c>,
            > + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.pool
            .transaction_with_config(callback, isolation_level, access_mode)
            .await
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
            vec![Lite::Integer(-7)],
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
        assert!(run(&conn, "DELETE FROM t", Vec::new()).is_err());
    }
}
