//! Initial access tokens (RFC 7591 section 3): minted by an operator, each good for a number
//! of registrations until it expires. Only keyed hashes of the tokens are kept.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};

use super::{conflict_or_db, StoreError};
use crate::clock::UnixTime;
use crate::db::entities::initial_access_token;

/// An initial access token as listed (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialAccessToken {
    pub id: String,
    pub token_hash: String,
    pub note: String,
    pub uses_left: i64,
    pub expires_at: UnixTime,
    pub created_at: UnixTime,
}

fn from_row(row: initial_access_token::Model) -> InitialAccessToken {
    InitialAccessToken {
        id: row.id,
        token_hash: row.token_hash,
        note: row.note,
        uses_left: row.uses_left,
        expires_at: row.expires_at,
        created_at: row.created_at,
    }
}

pub async fn insert(db: &impl ConnectionTrait, t: &InitialAccessToken) -> Result<(), StoreError> {
    let row = initial_access_token::ActiveModel {
        id: Set(t.id.clone()),
        token_hash: Set(t.token_hash.clone()),
        note: Set(t.note.clone()),
        uses_left: Set(t.uses_left),
        expires_at: Set(t.expires_at),
        created_at: Set(t.created_at),
    };
    initial_access_token::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(|e| conflict_or_db(e, format!("an initial access token `{}`", t.id)))?;
    Ok(())
}

/// The token with this hash, if it can still register a client at `now`.
pub async fn usable(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: UnixTime,
) -> Result<Option<InitialAccessToken>, StoreError> {
    Ok(initial_access_token::Entity::find()
        .filter(initial_access_token::Column::TokenHash.eq(token_hash))
        .filter(initial_access_token::Column::UsesLeft.gt(0))
        .filter(initial_access_token::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
        .map(from_row))
}

/// Spends one registration of the token, in one statement: of registrations sent in
/// parallel, only as many as it has left succeed. `false` when it had none left (or expired,
/// or was revoked, meanwhile).
pub async fn spend(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let result = initial_access_token::Entity::update_many()
        .col_expr(
            initial_access_token::Column::UsesLeft,
            Expr::col(initial_access_token::Column::UsesLeft).sub(1),
        )
        .filter(initial_access_token::Column::TokenHash.eq(token_hash))
        .filter(initial_access_token::Column::UsesLeft.gt(0))
        .filter(initial_access_token::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Tokens ordered by id, `limit` at most, starting after `after` (keyset paging).
pub async fn list(
    db: &impl ConnectionTrait,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<InitialAccessToken>, StoreError> {
    let mut query =
        initial_access_token::Entity::find().order_by_asc(initial_access_token::Column::Id);
    if let Some(after) = after {
        query = query.filter(initial_access_token::Column::Id.gt(after));
    }
    Ok(query
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect())
}

pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    let result = initial_access_token::Entity::delete_by_id(id)
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
