//! The outbox of back-channel logout tokens: written in the transaction that ends a session,
//! sent by whichever instance leases a row first, kept a while after for the admin API.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::logout_delivery;

pub type Delivery = logout_delivery::Model;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

pub async fn insert(db: &impl ConnectionTrait, d: &Delivery) -> Result<(), StoreError> {
    let row = logout_delivery::ActiveModel {
        id: Set(d.id.clone()),
        client_id: Set(d.client_id.clone()),
        uri: Set(d.uri.clone()),
        subject: Set(d.subject.clone()),
        sid: Set(d.sid.clone()),
        state: Set(d.state.clone()),
        attempts: Set(d.attempts),
        next_attempt_at: Set(d.next_attempt_at),
        lease_until: Set(d.lease_until),
        last_error: Set(d.last_error.clone()),
        created_at: Set(d.created_at),
        delivered_at: Set(d.delivered_at),
        expires_at: Set(d.expires_at),
    };
    logout_delivery::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Pending deliveries due by `now` that no instance holds, oldest first.
pub async fn due(
    db: &impl ConnectionTrait,
    now: UnixTime,
    limit: u64,
) -> Result<Vec<Delivery>, StoreError> {
    Ok(logout_delivery::Entity::find()
        .filter(logout_delivery::Column::State.eq(PENDING))
        .filter(logout_delivery::Column::NextAttemptAt.lte(now))
        .filter(free(now))
        .order_by_asc(logout_delivery::Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?)
}

fn free(now: UnixTime) -> Condition {
    Condition::any()
        .add(logout_delivery::Column::LeaseUntil.is_null())
        .add(logout_delivery::Column::LeaseUntil.lt(now))
}

/// Takes the delivery for this instance until `until`, if it is as it was read (pending,
/// due, after `attempts` attempts) and nobody holds it: one conditional update, so two
/// instances never both send it, nor one send it again before its backoff.
pub async fn lease(
    db: &impl ConnectionTrait,
    id: &str,
    attempts: i64,
    now: UnixTime,
    until: UnixTime,
) -> Result<bool, StoreError> {
    let r = logout_delivery::Entity::update_many()
        .col_expr(logout_delivery::Column::LeaseUntil, Expr::value(until))
        .filter(logout_delivery::Column::Id.eq(id))
        .filter(logout_delivery::Column::State.eq(PENDING))
        .filter(logout_delivery::Column::Attempts.eq(attempts))
        .filter(logout_delivery::Column::NextAttemptAt.lte(now))
        .filter(free(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Records how attempt number `attempts` ended and lets the lease go: `state` is the new
/// state, `next` when a pending one is tried again. Only while this instance still holds
/// the lease it took (`held`, its end).
#[allow(clippy::too_many_arguments)] // each is a column of the outcome
pub async fn record(
    db: &impl ConnectionTrait,
    id: &str,
    held: UnixTime,
    attempts: i64,
    state: &str,
    next: UnixTime,
    error: Option<&str>,
    now: UnixTime,
) -> Result<(), StoreError> {
    let mut update = logout_delivery::Entity::update_many()
        .col_expr(logout_delivery::Column::State, Expr::value(state))
        .col_expr(logout_delivery::Column::Attempts, Expr::value(attempts))
        .col_expr(logout_delivery::Column::NextAttemptAt, Expr::value(next))
        .col_expr(
            logout_delivery::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            logout_delivery::Column::LastError,
            Expr::value(error.map(str::to_owned)),
        );
    if state == DELIVERED {
        update = update.col_expr(logout_delivery::Column::DeliveredAt, Expr::value(now));
    }
    update
        .filter(logout_delivery::Column::Id.eq(id))
        .filter(logout_delivery::Column::LeaseUntil.eq(held))
        .exec(db)
        .await?;
    Ok(())
}

/// Deliveries, newest first, `limit` at most, created before `before` (keyset paging by
/// creation time then id), of one state and one client when given.
pub async fn list(
    db: &impl ConnectionTrait,
    state: Option<&str>,
    client_id: Option<&str>,
    before: Option<(UnixTime, &str)>,
    limit: u64,
) -> Result<Vec<Delivery>, StoreError> {
    let mut query = logout_delivery::Entity::find()
        .order_by_desc(logout_delivery::Column::CreatedAt)
        .order_by_desc(logout_delivery::Column::Id);
    if let Some(state) = state {
        query = query.filter(logout_delivery::Column::State.eq(state));
    }
    if let Some(client_id) = client_id {
        query = query.filter(logout_delivery::Column::ClientId.eq(client_id));
    }
    if let Some((created_at, id)) = before {
        query = query.filter(
            Condition::any()
                .add(logout_delivery::Column::CreatedAt.lt(created_at))
                .add(
                    Condition::all()
                        .add(logout_delivery::Column::CreatedAt.eq(created_at))
                        .add(logout_delivery::Column::Id.lt(id)),
                ),
        );
    }
    Ok(query.limit(limit).all(db).await?)
}
