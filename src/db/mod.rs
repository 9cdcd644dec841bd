//! Connecting to SQLite or PostgreSQL and bringing the schema up to date.

pub mod entities;
mod handle;

pub use handle::Db;
use handle::WAL_SIZE_LIMIT;

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
