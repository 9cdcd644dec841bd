//! Authorization codes.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::auth_code;

pub type CodeRow = auth_code::Model;

pub async fn insert(db: &impl ConnectionTrait, c: &CodeRow) -> Result<(), StoreError> {
    let row = auth_code::ActiveModel {
        code_hash: Set(c.code_hash.clone()),
        client_id: Set(c.client_id.clone()),
        user_id: Set(c.user_id.clone()),
        session_id: Set(c.session_id.clone()),
        redirect_uri: Set(c.redirect_uri.clone()),
        scope: Set(c.scope.clone()),
        nonce: Set(c.nonce.clone()),
        code_challenge: Set(c.code_challenge.clone()),
        code_challenge_method: Set(c.code_challenge_method.clone()),
        auth_time: Set(c.auth_time),
        amr: Set(c.amr.clone()),
        grant_id: Set(c.grant_id.clone()),
        id_token_claims: Set(c.id_token_claims.clone()),
        dpop_jkt: Set(c.dpop_jkt.clone()),
        resources: Set(c.resources.clone()),
        used_at: Set(c.used_at),
        created_at: Set(c.created_at),
        expires_at: Set(c.expires_at),
    };
    auth_code::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn find(
    db: &impl ConnectionTrait,
    code_hash: &str,
) -> Result<Option<CodeRow>, StoreError> {
    Ok(auth_code::Entity::find_by_id(code_hash).one(db).await?)
}

/// Marks the code used and records the grant it started, only if it was unused: of two
/// concurrent redemptions exactly one gets `true`.
pub async fn redeem(
    db: &impl ConnectionTrait,
    code_hash: &str,
    grant_id: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let r = auth_code::Entity::update_many()
        .col_expr(auth_code::Column::UsedAt, Expr::value(now))
        .col_expr(auth_code::Column::GrantId, Expr::value(grant_id.to_owned()))
        .filter(auth_code::Column::CodeHash.eq(code_hash))
        .filter(auth_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}
