//! The only module that builds queries. Functions take `&impl ConnectionTrait`, so the caller
//! decides between the pool and a transaction.

pub mod assertions;
pub mod authorization_requests;
pub mod ceremonies;
pub mod client_logos;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod device_codes;
pub mod email_links;
pub mod factors;
pub mod grants;
pub mod initial_access_tokens;
pub mod keys;
pub mod logout_deliveries;
mod rendered;
pub mod resources;
pub mod revocations;
pub mod sessions;
pub mod sweep;
pub mod throttle;
pub mod users;

use sea_orm::{DbErr, QueryResult};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0} already exists")]
    Conflict(String),
    #[error("the row changed since it was read")]
    Stale,
    #[error("a stored row is malformed: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

impl StoreError {
    /// Whether the database could not be reached or is too busy to answer, as opposed to a
    /// query that failed: the caller answers 503 and retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Db(e) if unavailable(e))
    }
}

/// Refused or dropped connections, an exhausted pool, a server shutting down (SQLSTATE classes
/// 08 and 57P), and SQLite still locked after its busy timeout.
pub fn unavailable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::RuntimeErr;
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match e {
            Sqlx::Io(_)
            | Sqlx::Tls(_)
            | Sqlx::Protocol(_)
            | Sqlx::PoolTimedOut
            | Sqlx::PoolClosed
            | Sqlx::WorkerCrashed => true,
            Sqlx::Database(db) => db.code().is_some_and(|code| {
                // SQLite reports (extended) result codes of at most four digits, where
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6) are the low byte; SQLSTATEs have five.
                let sqlite_busy =
                    code.len() < 5 && code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
                code.starts_with("08") || code.starts_with("57P") || sqlite_busy
            }),
            _ => false,
        },
        _ => false,
    }
}

/// Maps a unique-constraint violation to `Conflict(what)`, anything else to `Db`. Read from
/// the database error's kind, which sqlx's own errors and those of statements run in place
/// (`db::Db`) both give.
pub(crate) fn conflict_or_db(err: DbErr, what: impl Into<String>) -> StoreError {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::RuntimeErr;
    match &err {
        DbErr::Exec(RuntimeErr::SqlxError(Sqlx::Database(e)))
        | DbErr::Query(RuntimeErr::SqlxError(Sqlx::Database(e)))
            if e.is_unique_violation() =>
        {
            StoreError::Conflict(what.into())
        }
        _ => StoreError::Db(err),
    }
}

/// A boolean computed by the query (an `EXISTS`, say): PostgreSQL types it boolean, SQLite
/// gives an integer, which the pool reads as a boolean and an in-place read as a number.
pub(crate) fn flag(row: &QueryResult, column: &str) -> Result<bool, StoreError> {
    match row.try_get::<bool>("", column) {
        Ok(b) => Ok(b),
        Err(e) => row
            .try_get::<i64>("", column)
            .map(|n| n != 0)
            .map_err(|_| e.into()),
    }
}

pub(crate) fn to_json_list(values: &[String]) -> String {
    serde_json::Value::from(values.to_vec()).to_string()
}

pub(crate) fn from_json_list(column: &str, text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}
