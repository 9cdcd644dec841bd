//! Revoked access tokens, by `jti`.

use sea_orm::sea_query::{Alias, Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::{grant, revocation};

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

/// An SQL expression, true when an access token is dead: its `jti` revoked, or the grant it
/// came from (`grant`: its id and the token's `iat`) revoked or gone (swept, its user or
/// client deleted), or its access tokens cut off at or after the token was issued (the
/// session it was issued in ended). Both lookups are by primary key, so it folds into the
/// query that reads whatever else a bearer request needs.
pub fn token_dead(jti: &str, grant: Option<(&str, UnixTime)>) -> SimpleExpr {
    let revoked = Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(revocation::Entity)
            .and_where(revocation::Column::Jti.eq(jti))
            .to_owned(),
    );
    match grant {
        None => revoked,
        Some((gid, issued_at)) => revoked.or(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(grant::Entity)
                .and_where(grant::Column::Id.eq(gid))
                .and_where(grant::Column::RevokedAt.is_null())
                .and_where(
                    grant::Column::AccessRevokedAt
                        .is_null()
                        .or(grant::Column::AccessRevokedAt.lt(issued_at)),
                )
                .to_owned(),
        )
        .not()),
    }
}

/// The column name [`token_dead`] is read back under.
pub const TOKEN_DEAD: &str = "token_dead";

/// Whether an access token is dead (see [`token_dead`]), in one query.
pub async fn is_token_dead(
    db: &impl ConnectionTrait,
    jti: &str,
    grant: Option<(&str, UnixTime)>,
) -> Result<bool, StoreError> {
    // On every bearer token's use: rendered once per shape (with or without a grant).
    static RENDERED: super::rendered::Rendered<4> = super::rendered::Rendered::new();
    let backend = db.get_database_backend();
    let inputs = (jti.to_owned(), grant.map(|(g, iat)| (g.to_owned(), iat)));
    let shape = usize::from(grant.is_some());
    let query = RENDERED.statement(backend, shape, inputs, |(jti, grant), backend| {
        backend.build(
            &Query::select()
                .expr_as(
                    token_dead(jti, grant.as_ref().map(|(g, iat)| (g.as_str(), *iat))),
                    Alias::new(TOKEN_DEAD),
                )
                .to_owned(),
        )
    });
    let row = db
        .query_one(query)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a SELECT without FROM returned no row".into()))?;
    super::flag(&row, TOKEN_DEAD)
}
