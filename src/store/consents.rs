//! Remembered consent per user and client.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait as _};

use super::{from_json_list, to_json_list, StoreError};
use crate::clock::UnixTime;
use crate::db::entities::consent;

/// The scopes this user has granted this client, if any.
pub async fn granted(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    consent::Entity::find_by_id((user_id.to_owned(), client_id.to_owned()))
        .one(db)
        .await?
        .map(|row| from_json_list("consents.scopes", &row.scopes))
        .transpose()
}

/// Records that the user granted `scopes` (replacing what was remembered).
pub async fn remember(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    scopes: &[String],
    now: UnixTime,
) -> Result<(), StoreError> {
    let row = consent::ActiveModel {
        user_id: Set(user_id.to_owned()),
        client_id: Set(client_id.to_owned()),
        scopes: Set(to_json_list(scopes)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    consent::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([consent::Column::UserId, consent::Column::ClientId])
                .update_columns([consent::Column::Scopes, consent::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Adds `scopes` to what the user has granted the client (a union).
pub async fn add(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    scopes: &[String],
    now: UnixTime,
) -> Result<(), StoreError> {
    let mut all = granted(db, user_id, client_id).await?.unwrap_or_default();
    for s in scopes {
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    remember(db, user_id, client_id, &all, now).await
}
