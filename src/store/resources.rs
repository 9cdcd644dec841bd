//! Resources (RFC 8707): the APIs access tokens can be issued for.

use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};
use serde::Serialize;

use super::{conflict_or_db, from_json_list, to_json_list, StoreError};
use crate::clock::UnixTime;
use crate::db::entities::{client, resource};

/// A registered resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// An absolute URI without a fragment: the `resource` parameter's value and the `aud` of
    /// the tokens issued for it.
    pub identifier: String,
    /// What the consent page calls it.
    pub name: String,
    /// The scopes a token for this resource may carry.
    pub scopes: Vec<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

fn from_row(row: resource::Model) -> Result<Resource, StoreError> {
    Ok(Resource {
        scopes: from_json_list("scopes", &row.scopes)?,
        identifier: row.identifier,
        name: row.name,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub async fn insert(db: &impl ConnectionTrait, r: &Resource) -> Result<(), StoreError> {
    let row = resource::ActiveModel {
        identifier: Set(r.identifier.clone()),
        name: Set(r.name.clone()),
        scopes: Set(to_json_list(&r.scopes)),
        created_at: Set(r.created_at),
        updated_at: Set(r.updated_at),
    };
    resource::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(|e| conflict_or_db(e, format!("a resource `{}`", r.identifier)))?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, identifier: &str) -> Result<Resource, StoreError> {
    resource::Entity::find_by_id(identifier)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
        .and_then(from_row)
}

/// The registered resources among `identifiers` (the unknown ones are left out).
pub async fn find_many(
    db: &impl ConnectionTrait,
    identifiers: &[String],
) -> Result<Vec<Resource>, StoreError> {
    if identifiers.is_empty() {
        return Ok(Vec::new());
    }
    resource::Entity::find()
        .filter(resource::Column::Identifier.is_in(identifiers.iter().map(String::as_str)))
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Resources ordered by identifier, `limit` at most, starting after `after` (keyset paging).
pub async fn list(
    db: &impl ConnectionTrait,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Resource>, StoreError> {
    let mut query = resource::Entity::find().order_by_asc(resource::Column::Identifier);
    if let Some(after) = after {
        query = query.filter(resource::Column::Identifier.gt(after));
    }
    query
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Writes the name and scopes.
pub async fn update(db: &impl ConnectionTrait, r: &Resource) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    let result = resource::Entity::update_many()
        .col_expr(resource::Column::Name, Expr::value(r.name.clone()))
        .col_expr(
            resource::Column::Scopes,
            Expr::value(to_json_list(&r.scopes)),
        )
        .col_expr(resource::Column::UpdatedAt, Expr::value(r.updated_at))
        .filter(resource::Column::Identifier.eq(r.identifier.as_str()))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Deletes the resource and takes it off every client's list, so registering the same
/// identifier again gives nobody access by surprise. Tokens already issued for it run out
/// within their lifetime; grants that name it get no more tokens for it.
pub async fn delete(
    db: &impl ConnectionTrait,
    identifier: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    let result = resource::Entity::delete_by_id(identifier).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    // A coarse filter (LIKE may match more), then the exact one.
    let listed = client::Entity::find()
        .filter(client::Column::Resources.contains(identifier))
        .all(db)
        .await?;
    for row in listed {
        let mut resources = from_json_list("resources", &row.resources)?;
        let before = resources.len();
        resources.retain(|r| r != identifier);
        if resources.len() == before {
            continue;
        }
        client::Entity::update_many()
            .col_expr(
                client::Column::Resources,
                Expr::value(to_json_list(&resources)),
            )
            .col_expr(client::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                client::Column::Revision,
                Expr::col(client::Column::Revision).add(1),
            )
            .filter(client::Column::ClientId.eq(row.client_id.as_str()))
            .exec(db)
            .await?;
    }
    Ok(())
}
