//! Connecting to SQLite or PostgreSQL and bringing the schema up to date.

pub mod entities;
mod handle;
mod sqlite;

pub use handle::Db;
use sqlite::WAL_SIZE_LIMIT;

pub use handle::Txn;

use std::time::Duration;

use migration::{Migrator, MigratorTrait as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbBackend, DbErr,
    Statement, TransactionTrait as _,
};

use crate::config::DatabaseUrl;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to the database at {url}: {source}")]
    Connect { url: String, source: DbErr },
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(DbErr),
    #[error(
        "there is no oidcd database at {url}{path}. This command does not create one: run it \
         where the server runs, or point OIDCD_DATABASE_URL (or database_url in --config) at \
         the server's database. `oidcd serve` or `oidcd migrate` creates a new one."
    )]
    Missing { url: String, path: String },
    #[error(
        "the database at {url} holds no oidcd tables. This command does not create them: point \
         OIDCD_DATABASE_URL (or database_url in --config) at the server's database, or run \
         `oidcd migrate` first to make this one oidcd's."
    )]
    NotOidcd { url: String },
    #[error(
        "the database at {url} already holds tables that are not oidcd's (`{table}`, among \
         others). oidcd needs a database of its own: create one (CREATE DATABASE oidcd) and \
         point OIDCD_DATABASE_URL at it."
    )]
    Foreign { url: String, table: String },
    #[error("cannot create the database file {path}: {source}")]
    CreateFile {
        path: String,
        source: std::io::Error,
    },
}

/// Whether opening the database may create it (and its schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `serve` and `migrate`: a missing SQLite file is created (mode 0600) and an empty
    /// database gets the schema; a database holding another application's tables is refused.
    Create,
    /// Every other command: the database must already be oidcd's.
    Existing,
}

/// What a database holds before oidcd changes anything.
#[derive(Debug, PartialEq, Eq)]
pub enum Contents {
    Empty,
    Oidcd,
    /// Another application's tables (one of them named).
    Foreign(String),
}

/// The first migration's name: a database that has applied it is oidcd's.
const FIRST_MIGRATION: &str = "m20260101_000001_create_clients";

/// Reads what the database holds: nothing, oidcd's schema, or someone else's tables.
pub async fn contents(db: &DatabaseConnection) -> Result<Contents, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             ORDER BY table_name"
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
    };
    let rows = db.query_all(Statement::from_string(backend, sql)).await?;
    let mut names = Vec::with_capacity(rows.len());
    for row in rows {
        names.push(row.try_get::<String>("", "name")?);
    }
    if names.is_empty() {
        return Ok(Contents::Empty);
    }
    if names.iter().any(|n| n == "seaql_migrations") {
        let applied = db
            .query_one(Statement::from_sql_and_values(
                backend,
                match backend {
                    DbBackend::Postgres => {
                        "SELECT 1 AS one FROM seaql_migrations WHERE version = $1"
                    }
                    _ => "SELECT 1 AS one FROM seaql_migrations WHERE version = ?",
                },
                [FIRST_MIGRATION.into()],
            ))
            .await?;
        if applied.is_some() {
            return Ok(Contents::Oidcd);
        }
    }
    let foreign = names
        .into_iter()
        .find(|n| n != "seaql_migrations")
        .unwrap_or_else(|| "seaql_migrations".to_owned());
    Ok(Contents::Foreign(foreign))
}

/// The file of a SQLite URL (`sqlite://FILE?...`, `sqlite:FILE`), or `None` for an
/// in-memory database.
pub fn sqlite_file(url: &DatabaseUrl) -> Option<std::path::PathBuf> {
    let rest = url.expose().strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// Opens the database for `access`: refuses to create one where it may not, makes a new
/// SQLite file readable by its owner only (SQLite gives the WAL and shared-memory files the
/// database file's mode), checks what it holds, and brings oidcd's schema up to date.
pub async fn open(url: &DatabaseUrl, access: Access) -> Result<DatabaseConnection, DbError> {
    if let Some(path) = sqlite_file(url) {
        warn_if_others_can_read(&path);
        if !path.exists() {
            match access {
                Access::Existing => {
                    let shown = std::path::absolute(&path)
                        .map(|p| format!(" (the file {})", p.display()))
                        .unwrap_or_default();
                    return Err(DbError::Missing {
                        url: url.redacted(),
                        path: shown,
                    });
                }
                Access::Create => create_private_file(&path)?,
            }
        }
    }
    let pool = connect(url).await?;
    let held = contents(&pool).await.map_err(|source| DbError::Connect {
        url: url.redacted(),
        source,
    })?;
    match (held, access) {
        (Contents::Foreign(table), _) => {
            return Err(DbError::Foreign {
                url: url.redacted(),
                table,
            })
        }
        (Contents::Empty, Access::Existing) => {
            return Err(DbError::NotOidcd {
                url: url.redacted(),
            })
        }
        _ => {}
    }
    migrate(&pool).await?;
    Ok(pool)
}

/// A database file made before oidcd made them 0600 may still be readable by others (it holds
/// password hashes): say so, without changing a mode the operator may have chosen.
fn warn_if_others_can_read(path: &std::path::Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the database file is readable by other users; `chmod 600` it (and its -wal and -shm files)"
            );
        }
    }
}

/// Creates an empty file that only its owner may read and write.
fn create_private_file(path: &std::path::Path) -> Result<(), DbError> {
    let error = |source| DbError::CreateFile {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        // Another process made it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(error(e)),
    }
}

pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2)
}

/// Opens a pool sized for the machine. SQLite runs in WAL mode with a busy timeout and
/// foreign keys on; PostgreSQL gets a bounded connect time so an unreachable server is
/// reported promptly.
pub async fn connect(url: &DatabaseUrl) -> Result<DatabaseConnection, DbError> {
    let cpus = cpus();
    if !url.is_sqlite() {
        // Enough connections for the round trips in flight.
        let max = u32::try_from(cpus * 4).unwrap_or(8).clamp(4, 32);
        return connect_postgres(url, max).await;
    }
    // One writer at a time, and plain reads run in place (`Db`), so the pool carries the
    // writes, the transactions and the reads that fall back: a few connections (each has its
    // own thread and page cache) are enough.
    let max = u32::try_from(cpus * 2).unwrap_or(4).clamp(4, 16);
    let mut options = ConnectOptions::new(url.expose().to_owned());
    options
        .max_connections(max)
        // A SQLite connection is a file handle that cannot go stale: checking it on every
        // checkout would double the round trips to its thread.
        .test_before_acquire(false)
        .min_connections(1)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(CONNECT_TIMEOUT)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
        });
    Database::connect(options)
        .await
        .map_err(|source| DbError::Connect {
            url: url.redacted(),
            source,
        })
}

/// How long to wait for a connection, new or from the pool.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL connection idle for this long is checked (a round trip) before it is handed
/// out: a database restart, an `idle_session_timeout` or a firewall may have cut it since.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The PostgreSQL pool. sqlx already checks each connection as it goes back to the pool
/// (a round trip, off the request's path), and drops one that fails; checking it again on
/// every checkout, as `test_before_acquire` does, put a second round trip in front of each
/// query. So a connection is checked on checkout only when it has sat idle for
/// [`CHECK_AFTER_IDLE`]: one in steady use answered its last check moments ago. One cut since
/// then fails its query as unavailable (503), and the check on its return drops it.
async fn connect_postgres(url: &DatabaseUrl, max: u32) -> Result<DatabaseConnection, DbError> {
    use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};

    let error = |e: sea_orm::sqlx::Error| DbError::Connect {
        url: url.redacted(),
        source: DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)),
    };
    let options = url
        .expose()
        .parse::<PgConnectOptions>()
        .map_err(error)?
        .disable_statement_logging();
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .map_err(error)?;
    Ok(sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(
        pool,
    ))
}

/// Arbitrary but fixed: the PostgreSQL advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x6f69_6463_6400;

/// Applies every pending migration. On PostgreSQL several instances may start at once: the
/// migrations run in one transaction holding an advisory lock, so they apply exactly once
/// and the others wait, then find nothing to do.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbError> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await.map_err(DbError::Migrate)?;
            txn.execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK.into()],
            ))
            .await
            .map_err(DbError::Migrate)?;
            Migrator::up(&txn, None).await.map_err(DbError::Migrate)?;
            txn.commit().await.map_err(DbError::Migrate)
        }
        _ => Migrator::up(db, None).await.map_err(DbError::Migrate),
    }
}
