//! Rate-limit counters: a fixed window per key.

use sea_orm::sea_query::{Cond, Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::throttle::{self, Column};

/// Counts one attempt against `key` in one statement (a new window starts when the last one
/// is over) and returns the count with it: concurrent attempts, on any instance, each see a
/// different count, so a limit cannot be passed by sending guesses in parallel.
pub async fn reserve(
    db: &impl ConnectionTrait,
    key: &str,
    window: i64,
    now: UnixTime,
) -> Result<i64, StoreError> {
    let open = Expr::col((throttle::Entity, Column::WindowStart)).gt(now - window);
    let insert = Query::insert()
        .into_table(throttle::Entity)
        .columns([
            Column::Key,
            Column::Count,
            Column::WindowStart,
            Column::ExpiresAt,
        ])
        .values_panic([key.into(), 1i64.into(), now.into(), (now + window).into()])
        .on_conflict(
            OnConflict::column(Column::Key)
                .value(
                    Column::Count,
                    Expr::case(
                        open.clone(),
                        Expr::col((throttle::Entity, Column::Count)).add(1),
                    )
                    .finally(1i64),
                )
                .value(
                    Column::WindowStart,
                    Expr::case(
                        open.clone(),
                        Expr::col((throttle::Entity, Column::WindowStart)),
                    )
                    .finally(now),
                )
                .value(
                    Column::ExpiresAt,
                    Expr::case(open, Expr::col((throttle::Entity, Column::ExpiresAt)))
                        .finally(now + window),
                )
                .to_owned(),
        )
        .returning_col(Column::Count)
        .to_owned();
    let statement = db.get_database_backend().build(&insert);
    let row = db.query_one(statement).await?.ok_or(StoreError::NotFound)?;
    Ok(row.try_get::<i64>("", "count")?)
}

/// Gives back one attempt counted by [`reserve`] (the attempt succeeded).
pub async fn release(
    db: &impl ConnectionTrait,
    key: &str,
    window: i64,
    now: UnixTime,
) -> Result<(), StoreError> {
    throttle::Entity::update_many()
        .col_expr(Column::Count, Expr::col(Column::Count).sub(1))
        .filter(Column::Key.eq(key))
        .filter(Column::Count.gt(0))
        .filter(Column::WindowStart.gt(now - window))
        .exec(db)
        .await?;
    Ok(())
}

/// An SQL expression, true when any of `(key, max, since)` has reached `max` failures in a
/// window that started after `since` (now less the window's length): the limit check, to
/// join the query that needs it.
pub fn at_limit(limits: &[(String, i64, i64)]) -> SimpleExpr {
    let mut any = Cond::any();
    for (key, max, since) in limits {
        any = any.add(
            Cond::all()
                .add(Column::Key.eq(key.as_str()))
                .add(Column::Count.gte(*max))
                .add(Column::WindowStart.gt(*since)),
        );
    }
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(throttle::Entity)
            .cond_where(any)
            .to_owned(),
    )
}

/// Forgets `key` (a successful login clears its account's failures).
pub async fn clear(db: &impl ConnectionTrait, key: &str) -> Result<(), StoreError> {
    throttle::Entity::delete_by_id(key).exec(db).await?;
    Ok(())
}

/// The counts of `keys` in their current windows (keys with no open window are left out).
pub async fn counts(
    db: &impl ConnectionTrait,
    keys: &[&str],
    window: i64,
    now: UnixTime,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(throttle::Entity::find()
        .filter(Column::Key.is_in(keys.iter().copied()))
        .filter(Column::WindowStart.gt(now - window))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.key, r.count))
        .collect())
}

/// `key`'s count in its current window (0 when none is open).
pub async fn count(
    db: &impl ConnectionTrait,
    key: &str,
    window: i64,
    now: UnixTime,
) -> Result<i64, StoreError> {
    Ok(throttle::Entity::find_by_id(key)
        .filter(Column::WindowStart.gt(now - window))
        .one(db)
        .await?
        .map_or(0, |r| r.count))
}
