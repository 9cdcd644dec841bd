//! Connecting to SQLite or PostgreSQL and bringing the schema up to date.

pub mod entities;

use std::time::Duration;

use migration::{Migrator, MigratorTrait as _};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::DatabaseUrl;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to the database at {url}: {source}")]
    Connect { url: String, source: DbErr },
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(DbErr),
}

/// Opens a pool sized for the machine. SQLite runs in WAL mode with a busy timeout and
/// foreign keys on; PostgreSQL gets a bounded connect time so an unreachable server is
/// reported promptly.
pub async fn connect(url: &DatabaseUrl) -> Result<DatabaseConnection, DbError> {
    let mut options = ConnectOptions::new(url.expose().to_owned());
    let cpus = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    let max = u32::try_from(cpus * 4).unwrap_or(8).clamp(4, 32);
    options
        .max_connections(max)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    Database::connect(options)
        .await
        .map_err(|source| DbError::Connect {
            url: url.redacted(),
            source,
        })
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbError> {
    Migrator::up(db, None).await.map_err(DbError::Migrate)
}
