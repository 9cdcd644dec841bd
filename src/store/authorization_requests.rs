//! Pending authorization requests (waiting for login or consent).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::authorization_request;

pub type PendingRow = authorization_request::Model;

pub async fn insert(db: &impl ConnectionTrait, row: &PendingRow) -> Result<(), StoreError> {
    let active = authorization_request::ActiveModel {
        id_hash: Set(row.id_hash.clone()),
        client_id: Set(row.client_id.clone()),
        session_id_hash: Set(row.session_id_hash.clone()),
        params: Set(row.params.clone()),
        created_at: Set(row.created_at),
        expires_at: Set(row.expires_at),
    };
    authorization_request::Entity::insert(active)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The live request with this id hash that belongs to this browser session.
pub async fn find_for_session(
    db: &impl ConnectionTrait,
    id_hash: &str,
    session_id_hash: &str,
    now: UnixTime,
) -> Result<Option<PendingRow>, StoreError> {
    Ok(authorization_request::Entity::find_by_id(id_hash)
        .filter(authorization_request::Column::SessionIdHash.eq(session_id_hash))
        .filter(authorization_request::Column::ExpiresAt.gt(now))
        .one(db)
        .await?)
}

/// Consumes a request. Returns false when it was already gone (a double submit): exactly one
/// caller wins.
pub async fn take(db: &impl ConnectionTrait, id_hash: &str) -> Result<bool, StoreError> {
    let r = authorization_request::Entity::delete_by_id(id_hash)
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Takes a pushed request (one no browser session holds yet) of this client that has not
/// expired: read, then deleted, so only one caller gets it.
pub async fn take_pushed(
    db: &impl ConnectionTrait,
    id_hash: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<Option<PendingRow>, StoreError> {
    let found = authorization_request::Entity::find_by_id(id_hash)
        .filter(authorization_request::Column::SessionIdHash.is_null())
        .filter(authorization_request::Column::ClientId.eq(client_id))
        .filter(authorization_request::Column::ExpiresAt.gt(now))
        .one(db)
        .await?;
    match found {
        Some(row) if take(db, id_hash).await? => Ok(Some(row)),
        _ => Ok(None),
    }
}

/// Replaces the stored parameters (the request moved to its next step).
pub async fn set_params(
    db: &impl ConnectionTrait,
    id_hash: &str,
    params: &str,
) -> Result<(), StoreError> {
    authorization_request::Entity::update_many()
        .col_expr(
            authorization_request::Column::Params,
            Expr::value(params.to_owned()),
        )
        .filter(authorization_request::Column::IdHash.eq(id_hash))
        .exec(db)
        .await?;
    Ok(())
}
