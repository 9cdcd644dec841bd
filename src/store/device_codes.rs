//! Device authorizations (RFC 8628).

use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};

use super::{conflict_or_db, StoreError};
use crate::clock::UnixTime;
use crate::db::entities::device_code::{self, Column};

pub type DeviceRow = device_code::Model;

pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";

/// Inserts a new device authorization; a user-code collision is `Conflict`.
pub async fn insert(db: &impl ConnectionTrait, d: &DeviceRow) -> Result<(), StoreError> {
    let row = device_code::ActiveModel {
        device_code_hash: Set(d.device_code_hash.clone()),
        user_code_hash: Set(d.user_code_hash.clone()),
        client_id: Set(d.client_id.clone()),
        scope: Set(d.scope.clone()),
        resources: Set(d.resources.clone()),
        status: Set(d.status.clone()),
        user_id: Set(d.user_id.clone()),
        auth_time: Set(d.auth_time),
        amr: Set(d.amr.clone()),
        session_id: Set(d.session_id.clone()),
        interval: Set(d.interval),
        last_polled_at: Set(d.last_polled_at),
        used_at: Set(d.used_at),
        created_at: Set(d.created_at),
        expires_at: Set(d.expires_at),
    };
    device_code::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(|e| conflict_or_db(e, "that user code"))?;
    Ok(())
}

pub async fn find_by_device_code(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<DeviceRow>, StoreError> {
    Ok(device_code::Entity::find_by_id(hash).one(db).await?)
}

pub async fn find_by_user_code(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<DeviceRow>, StoreError> {
    Ok(device_code::Entity::find()
        .filter(Column::UserCodeHash.eq(hash))
        .one(db)
        .await?)
}

/// Records a poll if the client waited its interval; `false` means it polled too fast.
pub async fn poll(
    db: &impl ConnectionTrait,
    hash: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let r = device_code::Entity::update_many()
        .col_expr(Column::LastPolledAt, Expr::value(now))
        .filter(Column::DeviceCodeHash.eq(hash))
        .filter(Condition::any().add(Column::LastPolledAt.is_null()).add(
            Expr::expr(Expr::col(Column::LastPolledAt).add(Expr::col(Column::Interval))).lte(now),
        ))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// RFC 8628 3.5 slow_down: the interval grows by 5 s for this and every later poll.
pub async fn slow_down(
    db: &impl ConnectionTrait,
    hash: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    device_code::Entity::update_many()
        .col_expr(Column::Interval, Expr::col(Column::Interval).add(5))
        .col_expr(Column::LastPolledAt, Expr::value(now))
        .filter(Column::DeviceCodeHash.eq(hash))
        .exec(db)
        .await?;
    Ok(())
}

/// Who approved a device authorization, and how they signed in.
#[derive(Clone, Copy, Debug)]
pub struct Approval<'a> {
    pub user_id: &'a str,
    pub auth_time: UnixTime,
    pub amr: &'a str,
    pub sid: &'a str,
}

/// Approves or denies a pending, unexpired authorization. `false` when it was no longer
/// pending (answered in another tab) or has expired.
pub async fn decide(
    db: &impl ConnectionTrait,
    user_code_hash: &str,
    approve: Option<Approval<'_>>,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let mut update = device_code::Entity::update_many();
    update = match approve {
        Some(Approval {
            user_id,
            auth_time,
            amr,
            sid,
        }) => update
            .col_expr(Column::Status, Expr::value(APPROVED))
            .col_expr(Column::UserId, Expr::value(user_id.to_owned()))
            .col_expr(Column::AuthTime, Expr::value(auth_time))
            .col_expr(Column::Amr, Expr::value(amr.to_owned()))
            .col_expr(Column::SessionId, Expr::value(sid.to_owned())),
        None => update.col_expr(Column::Status, Expr::value(DENIED)),
    };
    let r = update
        .filter(Column::UserCodeHash.eq(user_code_hash))
        .filter(Column::Status.eq(PENDING))
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Marks an approved authorization used; exactly one caller gets `true`.
pub async fn redeem(
    db: &impl ConnectionTrait,
    hash: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let r = device_code::Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::DeviceCodeHash.eq(hash))
        .filter(Column::Status.eq(APPROVED))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}
