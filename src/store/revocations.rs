//! Revoked access tokens, by `jti`.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait as _};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::revocation;

/// Records a revoked `jti` until `expires_at` (when the token would have died anyway).
pub async fn revoke(
    db: &impl ConnectionTrait,
    jti: &str,
    expires_at: UnixTime,
    now: UnixTime,
) -> Result<(), StoreError> {
    let row = revocation::ActiveModel {
        jti: Set(jti.to_owned()),
        created_at: Set(now),
        expires_at: Set(expires_at),
    };
    revocation::Entity::insert(row)
        .on_conflict(
            OnConflict::column(revocation::Column::Jti)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn is_revoked(db: &impl ConnectionTrait, jti: &str) -> Result<bool, StoreError> {
    Ok(revocation::Entity::find_by_id(jti).one(db).await?.is_some())
}
