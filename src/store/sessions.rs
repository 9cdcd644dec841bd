//! Browser sessions, by the keyed hash of the cookie value.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::{authorization_request, browser_session};

pub type Session = browser_session::Model;

pub async fn insert(db: &impl ConnectionTrait, s: &Session) -> Result<(), StoreError> {
    let row = browser_session::ActiveModel {
        id_hash: Set(s.id_hash.clone()),
        user_id: Set(s.user_id.clone()),
        auth_time: Set(s.auth_time),
        amr: Set(s.amr.clone()),
        created_at: Set(s.created_at),
        last_seen_at: Set(s.last_seen_at),
        expires_at: Set(s.expires_at),
        user_agent: Set(s.user_agent.clone()),
        reauth_at: Set(s.reauth_at),
    };
    browser_session::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The session with this hash, if it has not expired and was used within `idle` seconds.
pub async fn find_live(
    db: &impl ConnectionTrait,
    id_hash: &str,
    idle: i64,
    now: UnixTime,
) -> Result<Option<Session>, StoreError> {
    Ok(browser_session::Entity::find_by_id(id_hash)
        .filter(browser_session::Column::ExpiresAt.gt(now))
        .filter(browser_session::Column::LastSeenAt.gt(now - idle))
        .one(db)
        .await?)
}

/// Records a use of the session (its idle lifetime starts again).
pub async fn touch(
    db: &impl ConnectionTrait,
    id_hash: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    browser_session::Entity::update_many()
        .col_expr(browser_session::Column::LastSeenAt, Expr::value(now))
        .filter(browser_session::Column::IdHash.eq(id_hash))
        .exec(db)
        .await?;
    Ok(())
}

/// The session's person used another factor now: its methods, and `auth_time`.
pub async fn raise(
    db: &impl ConnectionTrait,
    id_hash: &str,
    amr: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    browser_session::Entity::update_many()
        .col_expr(browser_session::Column::Amr, Expr::value(amr.to_owned()))
        .col_expr(browser_session::Column::AuthTime, Expr::value(now))
        .filter(browser_session::Column::IdHash.eq(id_hash))
        .filter(browser_session::Column::UserId.is_not_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The person gave their password again in this session, now.
pub async fn reauthenticated(
    db: &impl ConnectionTrait,
    id_hash: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    browser_session::Entity::update_many()
        .col_expr(browser_session::Column::ReauthAt, Expr::value(now))
        .filter(browser_session::Column::IdHash.eq(id_hash))
        .filter(browser_session::Column::UserId.is_not_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete(db: &impl ConnectionTrait, id_hash: &str) -> Result<bool, StoreError> {
    let r = browser_session::Entity::delete_by_id(id_hash)
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Moves pending authorization requests from one session to another (the session id changes
/// at login).
pub async fn rebind_requests(
    db: &impl ConnectionTrait,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    authorization_request::Entity::update_many()
        .col_expr(
            authorization_request::Column::SessionIdHash,
            Expr::value(to.to_owned()),
        )
        .filter(authorization_request::Column::SessionIdHash.eq(from))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every browser session of a user.
pub async fn delete_for_user(db: &impl ConnectionTrait, user_id: &str) -> Result<(), StoreError> {
    browser_session::Entity::delete_many()
        .filter(browser_session::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The live signed-in sessions of a user, most recently used first.
pub async fn for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: UnixTime,
) -> Result<Vec<Session>, StoreError> {
    use sea_orm::QueryOrder as _;
    Ok(browser_session::Entity::find()
        .filter(browser_session::Column::UserId.eq(user_id))
        .filter(browser_session::Column::ExpiresAt.gt(now))
        .order_by_desc(browser_session::Column::LastSeenAt)
        .all(db)
        .await?)
}
