//! Signing-key rows.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _,
};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::signing_key::{self, KeyState};

pub type KeyRow = signing_key::Model;

/// Every key row, newest first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<KeyRow>, StoreError> {
    Ok(signing_key::Entity::find()
        .order_by_desc(signing_key::Column::CreatedAt)
        .order_by_asc(signing_key::Column::Kid)
        .all(db)
        .await?)
}

pub async fn insert(db: &impl ConnectionTrait, row: KeyRow) -> Result<(), StoreError> {
    let kid = row.kid.clone();
    let state = row.state;
    let active = signing_key::ActiveModel {
        kid: Set(row.kid),
        state: Set(row.state),
        alg: Set(row.alg),
        public_jwk: Set(row.public_jwk),
        private_jwe: Set(row.private_jwe),
        created_at: Set(row.created_at),
        activated_at: Set(row.activated_at),
        retired_at: Set(row.retired_at),
        published_until: Set(row.published_until),
    };
    signing_key::Entity::insert(active)
        .exec_without_returning(db)
        .await
        .map_err(|e| super::conflict_or_db(e, format!("a {state:?} key (inserting {kid})")))?;
    Ok(())
}

/// `active` -> `retired`, if `kid` is still the active key. Returns whether it was.
pub async fn retire(
    db: &impl ConnectionTrait,
    kid: &str,
    now: UnixTime,
    published_until: UnixTime,
) -> Result<bool, StoreError> {
    let result = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::State, Expr::value(KeyState::Retired))
        .col_expr(signing_key::Column::RetiredAt, Expr::value(now))
        .col_expr(
            signing_key::Column::PublishedUntil,
            Expr::value(published_until),
        )
        .filter(signing_key::Column::Kid.eq(kid))
        .filter(signing_key::Column::State.eq(KeyState::Active))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// `next` -> `active`, if `kid` is still the next key. Returns whether it was.
pub async fn activate(
    db: &impl ConnectionTrait,
    kid: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let result = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::State, Expr::value(KeyState::Active))
        .col_expr(signing_key::Column::ActivatedAt, Expr::value(now))
        .filter(signing_key::Column::Kid.eq(kid))
        .filter(signing_key::Column::State.eq(KeyState::Next))
        .exec(db)
        .await
        .map_err(|e| super::conflict_or_db(e, "an active key"))?;
    Ok(result.rows_affected == 1)
}

/// Deletes retired keys whose publication period has ended. Returns how many.
pub async fn delete_expired(db: &impl ConnectionTrait, now: UnixTime) -> Result<u64, StoreError> {
    let result = signing_key::Entity::delete_many()
        .filter(signing_key::Column::State.eq(KeyState::Retired))
        .filter(signing_key::Column::PublishedUntil.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Ends the publication of a retired key now. Returns whether `kid` was a retired key.
pub async fn end_publication(
    db: &impl ConnectionTrait,
    kid: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let r = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::PublishedUntil, Expr::value(now))
        .filter(signing_key::Column::Kid.eq(kid))
        .filter(signing_key::Column::State.eq(KeyState::Retired))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}
