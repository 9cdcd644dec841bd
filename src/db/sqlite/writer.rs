//! The write connection, held with its turn.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::types::Value as Lite;
use sea_orm::{ExecResult, ProxyExecResult};

use super::turn::TurnGuard;
use super::{is_busy, InPlace};

/// The write connection, held with its turn; it goes back to its slot when dropped.
pub(super) struct Writer {
    /// Always `Some` until dropped (or discarded after an error). A mutex only so that a
    /// transaction holding it can be shared (`ConnectionTrait` needs `Sync`); it is never
    /// contended.
    pub(super) conn: Mutex<Option<rusqlite::Connection>>,
    pub(super) file: Arc<InPlace>,
    pub(super) _turn: TurnGuard,
}

impl Writer {
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(conn.as_ref().ok_or(rusqlite::Error::InvalidQuery)?)
    }

    /// Runs one statement without parameters (`BEGIN IMMEDIATE`, `COMMIT`, `ROLLBACK`),
    /// prepared once per connection rather than parsed on every transaction.
    pub(super) fn batch(&self, sql: &str) -> rusqlite::Result<()> {
        self.with(|conn| conn.prepare_cached(sql)?.execute([]).map(drop))
    }

    pub(super) fn execute(&self, sql: &str, params: &[Lite]) -> rusqlite::Result<ExecResult> {
        self.with(|conn| {
            let rows_affected = conn
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(params.iter()))?;
            Ok(exec_result(conn, rows_affected as u64))
        })
    }

    /// After an error: a busy database leaves the connection as it was; after anything else
    /// it is discarded, and the next write opens a fresh one.
    pub(super) fn failed(self, error: &rusqlite::Error, what: &str) {
        if !is_busy(error) {
            self.discard();
        }
        tracing::debug!(%error, "{what} in place failed; going through the pool");
    }

    pub(super) fn discard(&self) {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// What a write run in place on `conn` reports, as sea-orm reads it from the pool.
pub(super) fn exec_result(conn: &rusqlite::Connection, rows_affected: u64) -> ExecResult {
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
