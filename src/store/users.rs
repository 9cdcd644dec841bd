//! User rows and the `User` they hold.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{conflict_or_db, StoreError};
use crate::clock::UnixTime;
use crate::db::entities::user;

/// An end user. `id` is the stable `sub`.
#[derive(Clone, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    pub claims: Map<String, Value>,
    pub disabled: bool,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn from_row(row: user::Model) -> Result<User, StoreError> {
    let claims = serde_json::from_str(&row.claims)
        .map_err(|e| StoreError::Corrupt(format!("users.claims: {e}")))?;
    Ok(User {
        id: row.id,
        username: row.username,
        password_hash: row.password_hash,
        claims,
        disabled: row.disabled,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The `email` claim as the `email` column keeps it: trimmed, in lower case; `None` when
/// the claims have no string address.
pub fn email_of(claims: &Map<String, Value>) -> Option<String> {
    migration::emails::normalized(claims.get("email")?.as_str()?)
}

pub async fn insert(db: &impl ConnectionTrait, u: &User) -> Result<(), StoreError> {
    let row = user::ActiveModel {
        email: Set(email_of(&u.claims)),
        id: Set(u.id.clone()),
        username: Set(u.username.clone()),
        password_hash: Set(u.password_hash.clone()),
        claims: Set(Value::Object(u.claims.clone()).to_string()),
        disabled: Set(u.disabled),
        created_at: Set(u.created_at),
        updated_at: Set(u.updated_at),
    };
    user::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(|e| conflict_or_db(e, format!("a user named `{}`", u.username)))?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<User, StoreError> {
    let row = user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    from_row(row)
}

/// The user an access token names, and whether the token is dead (see
/// [`super::revocations::token_dead`]): what UserInfo needs, in one query.
pub async fn get_for_token(
    db: &impl ConnectionTrait,
    id: &str,
    jti: &str,
    grant: Option<(&str, UnixTime)>,
) -> Result<Option<(User, bool)>, StoreError> {
    use sea_orm::{FromQueryResult as _, QueryTrait as _};
    // On every userinfo request: rendered once per shape (with or without a grant).
    static RENDERED: super::rendered::Rendered<4> = super::rendered::Rendered::new();
    let backend = db.get_database_backend();
    let inputs = (
        id.to_owned(),
        jti.to_owned(),
        grant.map(|(g, iat)| (g.to_owned(), iat)),
    );
    let shape = usize::from(grant.is_some());
    let query = RENDERED.statement(backend, shape, inputs, |(id, jti, grant), backend| {
        user::Entity::find_by_id(id.clone())
            .column_as(
                super::revocations::token_dead(
                    jti,
                    grant.as_ref().map(|(g, iat)| (g.as_str(), *iat)),
                ),
                super::revocations::TOKEN_DEAD,
            )
            .build(backend)
    });
    let Some(row) = db.query_one(query).await? else {
        return Ok(None);
    };
    let dead = super::flag(&row, super::revocations::TOKEN_DEAD)?;
    Ok(Some((
        from_row(user::Model::from_query_result(&row, "")?)?,
        dead,
    )))
}

/// Whether the user exists and is not disabled: what every grant, refresh and introspection
/// of their tokens asks first.
pub async fn is_active(db: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    Ok(user::Entity::find_by_id(id)
        .filter(user::Column::Disabled.eq(false))
        .select_only()
        .column(user::Column::Id)
        .into_tuple::<String>()
        .one(db)
        .await?
        .is_some())
}

pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<User>, StoreError> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?
        .map(from_row)
        .transpose()
}

/// The enabled users whose `email` claim is `email` (any case), a few at most: whom a
/// password reset asked for by address goes to.
pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Vec<User>, StoreError> {
    let Some(email) = migration::emails::normalized(email) else {
        return Ok(Vec::new());
    };
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .filter(user::Column::Disabled.eq(false))
        .order_by_asc(user::Column::Id)
        .limit(5)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// The order users are listed (and paged) in.
#[derive(Clone, Copy, Debug)]
pub enum UserOrder {
    Username,
    Id,
}

/// Users in `order`, `limit` at most, starting after `after` (keyset paging on that column).
pub async fn list(
    db: &impl ConnectionTrait,
    order: UserOrder,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<User>, StoreError> {
    let column = match order {
        UserOrder::Username => user::Column::Username,
        UserOrder::Id => user::Column::Id,
    };
    let mut query = user::Entity::find().order_by_asc(column);
    if let Some(after) = after {
        query = query.filter(column.gt(after));
    }
    query
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

pub async fn delete_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<(), StoreError> {
    let result = user::Entity::delete_many()
        .filter(user::Column::Username.eq(username))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    username: &str,
    password_hash: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    let result = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Username.eq(username))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Replaces a user's claims. Links mailed to an address that is no longer the user's die.
pub async fn set_claims(
    db: &impl ConnectionTrait,
    id: &str,
    claims: &Map<String, Value>,
    now: UnixTime,
) -> Result<(), StoreError> {
    if !write_claims(db, id, claims, None, now).await? {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Sets `email_verified` when `email` (lower case) is still the address of the enabled user
/// `id`: whether it is set now. Only over the claims as read here (the update is
/// conditional on the stored text), so an operator's change made meanwhile wins and nothing
/// is marked.
pub async fn mark_email_verified(
    db: &impl ConnectionTrait,
    id: &str,
    email: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let Some(row) = user::Entity::find_by_id(id).one(db).await? else {
        return Ok(false);
    };
    let read = row.claims.clone();
    let user = from_row(row)?;
    if user.disabled || email_of(&user.claims).as_deref() != Some(email) {
        return Ok(false);
    }
    if user.claims.get("email_verified") == Some(&Value::Bool(true)) {
        return Ok(true);
    }
    let mut claims = user.claims;
    claims.insert("email_verified".to_owned(), Value::Bool(true));
    write_claims(db, id, &claims, Some(&read), now).await
}

/// Sets the password hash of the enabled user `id` whose address is still `email` (lower
/// case): what a reset link may do. Whether it did.
pub async fn set_password_hash_for_link(
    db: &impl ConnectionTrait,
    id: &str,
    email: &str,
    password_hash: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let r = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Email.eq(email))
        .filter(user::Column::Disabled.eq(false))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Writes the claims (and the `email` column from them), only over `read` (the stored text
/// as read) when given; whether it did. Links mailed to an address that is no longer the
/// user's die.
async fn write_claims(
    db: &impl ConnectionTrait,
    id: &str,
    claims: &Map<String, Value>,
    read: Option<&str>,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let email = email_of(claims);
    let mut update = user::Entity::update_many()
        .col_expr(
            user::Column::Claims,
            Expr::value(Value::Object(claims.clone()).to_string()),
        )
        .col_expr(user::Column::Email, Expr::value(email.clone()))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id));
    if let Some(read) = read {
        update = update.filter(user::Column::Claims.eq(read));
    }
    if update.exec(db).await?.rows_affected == 0 {
        return Ok(false);
    }
    super::email_links::delete_not_to(db, id, email.as_deref()).await?;
    Ok(true)
}

pub async fn set_disabled(
    db: &impl ConnectionTrait,
    id: &str,
    disabled: bool,
    now: UnixTime,
) -> Result<(), StoreError> {
    let r = user::Entity::update_many()
        .col_expr(user::Column::Disabled, Expr::value(disabled))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    if r.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    if disabled {
        // A disabled account's mailed links die with it.
        super::email_links::delete_not_to(db, id, None).await?;
    }
    Ok(())
}

pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    let r = user::Entity::delete_by_id(id).exec(db).await?;
    if r.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
