//! Client assertions already accepted (RFC 7523 section 3, item 7: a `jti` is used once).

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait as _};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::client_assertion;

/// Records an assertion's `jti_hash` until `expires_at`; `false` when it was recorded before
/// (a replay). One statement, so two instances racing with the same assertion cannot both
/// succeed.
pub async fn first_use(
    db: &impl ConnectionTrait,
    jti_hash: String,
    expires_at: UnixTime,
) -> Result<bool, StoreError> {
    let row = client_assertion::ActiveModel {
        jti_hash: Set(jti_hash),
        expires_at: Set(expires_at),
    };
    let inserted = client_assertion::Entity::insert(row)
        .on_conflict(
            OnConflict::column(client_assertion::Column::JtiHash)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}
