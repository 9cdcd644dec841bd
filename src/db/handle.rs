//! `Db`, the handle the server queries through: the connection pool, plus on a SQLite file
//! the in-place path of [`super::sqlite`] (unless `sqlite_in_place` is off). Callers see one
//! `ConnectionTrait` either way, and get the same answers and the same errors.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait as _,
};

use super::sqlite::{InPlace, InPlaceTxn};
use crate::config::DatabaseUrl;

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
    /// Wraps `pool`. On a SQLite file with `in_place`, statements run in place on
    /// connections opened when first needed: a read-only connection for each thread that
    /// reads (the runtime has one worker per core), and one read-write connection. Elsewhere,
    /// or without `in_place`, everything uses the pool.
    pub fn new(pool: DatabaseConnection, url: &DatabaseUrl, in_place: bool) -> Self {
        let file = in_place
            .then(|| InPlace::for_url(url))
            .flatten()
            .map(Arc::new);
        Self { pool, file }
    }

    /// The pool itself, for what only it offers (closing, pinging).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// Whether statements run in place (a SQLite file, with `sqlite_in_place` on).
    pub fn in_place(&self) -> bool {
        self.file.is_some()
    }

    /// Opens a transaction: in place on a SQLite file (`BEGIN IMMEDIATE` on the write
    /// connection), else, or when the file is locked by another process, through the pool.
    pub async fn begin(&self) -> Result<Txn, DbErr> {
        if let Some(file) = &self.file {
            if let Some(txn) = file.begin(&self.pool).await {
                return Ok(Txn(TxnInner::InPlace(txn)));
            }
        }
        Ok(Txn(TxnInner::Pool(self.pool.begin().await?)))
    }
}

/// A transaction from `Db::begin`: in place on the write connection, or the pool's.
/// Dropped without `commit`, it rolls back.
pub struct Txn(TxnInner);

enum TxnInner {
    InPlace(InPlaceTxn),
    Pool(DatabaseTransaction),
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
            TxnInner::InPlace(txn) => txn.commit(),
        }
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        match self.0 {
            TxnInner::Pool(txn) => txn.rollback().await,
            TxnInner::InPlace(txn) => txn.rollback(),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            TxnInner::InPlace(txn) => txn.pool().get_database_backend(),
            TxnInner::Pool(txn) => txn.get_database_backend(),
        }
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.0 {
            TxnInner::InPlace(txn) => txn.execute(&stmt),
            TxnInner::Pool(txn) => txn.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.0 {
            TxnInner::InPlace(txn) => txn.execute_unprepared(sql),
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
            TxnInner::InPlace(txn) => txn.pool().support_returning(),
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
        if let Some(file) = &self.file {
            if let Some(result) = file.execute(&self.pool, &stmt).await {
                return Ok(result);
            }
        }
        self.pool.execute(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self.file.as_ref().and_then(|file| file.query(&stmt)) {
            Some(rows) => Ok(rows.into_iter().next()),
            None => self.pool.query_one(stmt).await,
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.file.as_ref().and_then(|file| file.query(&stmt)) {
            Some(rows) => Ok(rows),
            None => self.pool.query_all(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}
