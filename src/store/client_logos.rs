//! Client logos, fetched from a client's `logo_uri` and kept here so the consent page loads
//! nothing from elsewhere (a logo on another server would tell it who is signing in, and
//! when).

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait as _};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::client_logo;

/// A logo as served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// Names this version in the logo's URL, so it can be cached for long.
    pub digest: String,
}

/// Keeps `logo` as the client's, replacing any it had.
pub async fn put(
    db: &impl ConnectionTrait,
    client_id: &str,
    logo: &Logo,
    now: UnixTime,
) -> Result<(), StoreError> {
    let row = client_logo::ActiveModel {
        client_id: Set(client_id.to_owned()),
        content_type: Set(logo.content_type.clone()),
        bytes: Set(logo.bytes.clone()),
        digest: Set(logo.digest.clone()),
        fetched_at: Set(now),
    };
    client_logo::Entity::insert(row)
        .on_conflict(
            OnConflict::column(client_logo::Column::ClientId)
                .update_columns([
                    client_logo::Column::ContentType,
                    client_logo::Column::Bytes,
                    client_logo::Column::Digest,
                    client_logo::Column::FetchedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, client_id: &str) -> Result<Option<Logo>, StoreError> {
    Ok(client_logo::Entity::find_by_id(client_id)
        .one(db)
        .await?
        .map(|row| Logo {
            content_type: row.content_type,
            bytes: row.bytes,
            digest: row.digest,
        }))
}

/// The digest of the client's logo, without its bytes; `None` when it has none.
pub async fn digest(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> Result<Option<String>, StoreError> {
    use sea_orm::{QuerySelect as _, SelectColumns as _};
    Ok(client_logo::Entity::find_by_id(client_id)
        .select_only()
        .select_column(client_logo::Column::Digest)
        .into_tuple::<String>()
        .one(db)
        .await?)
}

/// Forgets the client's logo (it no longer names one).
pub async fn delete(db: &impl ConnectionTrait, client_id: &str) -> Result<(), StoreError> {
    client_logo::Entity::delete_by_id(client_id)
        .exec(db)
        .await?;
    Ok(())
}
