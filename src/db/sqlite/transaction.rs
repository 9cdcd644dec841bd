//! A transaction run in place: `BEGIN IMMEDIATE` on the write connection, held with its turn
//! until it commits or rolls back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr, ExecResult, QueryResult, Statement};

use super::error::{exec_error, query_error};
use super::writer::{exec_result, Writer};
use super::{params, run, InPlace};

/// Dropped without `commit`, it rolls back.
pub(crate) struct InPlaceTxn {
    /// `None` once committed or rolled back.
    writer: Option<Writer>,
    /// Rows written so far (each statement counts at least one).
    written: AtomicU64,
    pool: DatabaseConnection,
    file: Arc<InPlace>,
}

impl InPlaceTxn {
    pub(super) fn new(writer: Writer, pool: DatabaseConnection, file: Arc<InPlace>) -> Self {
        Self {
            writer: Some(writer),
            written: AtomicU64::new(0),
            pool,
            file,
        }
    }

    /// The pool the file belongs to (its backend, whether it supports `RETURNING`).
    pub(crate) fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    pub(crate) fn commit(mut self) -> Result<(), DbErr> {
        let writer = self.writer.take().ok_or_else(finished)?;
        match writer.batch("COMMIT") {
            Ok(()) => {
                drop(writer);
                self.file
                    .committed(&self.pool, self.written.load(Ordering::Relaxed).max(1));
                Ok(())
            }
            Err(error) => {
                rollback(&writer);
                Err(exec_error(&error))
            }
        }
    }

    pub(crate) fn rollback(mut self) -> Result<(), DbErr> {
        let writer = self.writer.take().ok_or_else(finished)?;
        writer.batch("ROLLBACK").map_err(|e| {
            writer.discard();
            exec_error(&e)
        })
    }

    fn writer(&self) -> Result<&Writer, DbErr> {
        self.writer.as_ref().ok_or_else(finished)
    }

    pub(crate) fn execute(&self, stmt: &Statement) -> Result<ExecResult, DbErr> {
        let params = params(stmt).ok_or_else(unhandled)?;
        let result = self
            .writer()?
            .execute(&stmt.sql, &params)
            .map_err(|e| exec_error(&e))?;
        self.written
            .fetch_add(result.rows_affected().max(1), Ordering::Relaxed);
        Ok(result)
    }

    pub(crate) fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.writer()?
            .with(|conn| {
                conn.execute_batch(sql)?;
                Ok(exec_result(conn, conn.changes()))
            })
            .map_err(|e| exec_error(&e))
    }

    pub(crate) fn query(&self, stmt: &Statement) -> Result<Vec<QueryResult>, DbErr> {
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
