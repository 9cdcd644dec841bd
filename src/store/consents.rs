//! Remembered consent per user and client: the scopes granted, and the resources (RFC 8707)
//! they were granted at.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait as _};

use super::{from_json_list, to_json_list, StoreError};
use crate::clock::UnixTime;
use crate::db::entities::consent;

/// What a user has granted a client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Granted {
    pub scopes: Vec<String>,
    pub resources: Vec<String>,
}

impl Granted {
    /// Whether this covers `scopes` at `resources`.
    pub fn covers(&self, scopes: &[String], resources: &[String]) -> bool {
        scopes.iter().all(|s| self.scopes.contains(s))
            && resources.iter().all(|r| self.resources.contains(r))
    }
}

/// What this user has granted this client, if anything.
pub async fn granted(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
) -> Result<Option<Granted>, StoreError> {
    consent::Entity::find_by_id((user_id.to_owned(), client_id.to_owned()))
        .one(db)
        .await?
        .map(|row| {
            Ok(Granted {
                scopes: from_json_list("consents.scopes", &row.scopes)?,
                resources: from_json_list("consents.resources", &row.resources)?,
            })
        })
        .transpose()
}

/// Records what the user granted (replacing what was remembered).
pub async fn remember(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    granted: &Granted,
    now: UnixTime,
) -> Result<(), StoreError> {
    let row = consent::ActiveModel {
        user_id: Set(user_id.to_owned()),
        client_id: Set(client_id.to_owned()),
        scopes: Set(to_json_list(&granted.scopes)),
        resources: Set(to_json_list(&granted.resources)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    consent::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([consent::Column::UserId, consent::Column::ClientId])
                .update_columns([
                    consent::Column::Scopes,
                    consent::Column::Resources,
                    consent::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Adds `scopes` and `resources` to what the user has granted the client (a union).
pub async fn add(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    scopes: &[String],
    resources: &[String],
    now: UnixTime,
) -> Result<(), StoreError> {
    let mut all = granted(db, user_id, client_id).await?.unwrap_or_default();
    for s in scopes {
        if !all.scopes.contains(s) {
            all.scopes.push(s.clone());
        }
    }
    for r in resources {
        if !all.resources.contains(r) {
            all.resources.push(r.clone());
        }
    }
    remember(db, user_id, client_id, &all, now).await
}

/// Forgets every consent given to the client: it asks again.
pub async fn forget_client(db: &impl ConnectionTrait, client_id: &str) -> Result<(), StoreError> {
    use sea_orm::{ColumnTrait as _, QueryFilter as _};
    consent::Entity::delete_many()
        .filter(consent::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A consent as the account page and the admin API list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub client_id: String,
    pub granted: Granted,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// Every consent a user has given.
pub async fn for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<Consent>, StoreError> {
    use sea_orm::{ColumnTrait as _, QueryFilter as _};
    consent::Entity::find()
        .filter(consent::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|row| {
            Ok(Consent {
                granted: Granted {
                    scopes: from_json_list("consents.scopes", &row.scopes)?,
                    resources: from_json_list("consents.resources", &row.resources)?,
                },
                client_id: row.client_id,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

/// Forgets what a user granted a client: it asks again. Whether there was anything.
pub async fn forget(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
) -> Result<bool, StoreError> {
    let r = consent::Entity::delete_by_id((user_id.to_owned(), client_id.to_owned()))
        .exec(db)
        .await?;
    Ok(r.rows_affected > 0)
}
