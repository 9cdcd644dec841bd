//! Errors from statements run in place, as sqlx would report them.

use sea_orm::sqlx::error::{DatabaseError, ErrorKind};
use sea_orm::{DbErr, RuntimeErr};

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

pub(super) fn exec_error(error: &rusqlite::Error) -> DbErr {
    DbErr::Exec(runtime_error(error))
}

pub(super) fn query_error(error: &rusqlite::Error) -> DbErr {
    DbErr::Query(runtime_error(error))
}
