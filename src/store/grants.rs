//! Grants (refresh-token families) and the refresh tokens issued in them.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::{grant, refresh_token};

pub type GrantRow = grant::Model;
pub type RefreshRow = refresh_token::Model;

pub async fn insert(db: &impl ConnectionTrait, g: &GrantRow) -> Result<(), StoreError> {
    let row = grant::ActiveModel {
        id: Set(g.id.clone()),
        client_id: Set(g.client_id.clone()),
        user_id: Set(g.user_id.clone()),
        scope: Set(g.scope.clone()),
        auth_time: Set(g.auth_time),
        amr: Set(g.amr.clone()),
        session_id: Set(g.session_id.clone()),
        refresh_generation: Set(g.refresh_generation),
        rotated_at: Set(g.rotated_at),
        created_at: Set(g.created_at),
        last_used_at: Set(g.last_used_at),
        expires_at: Set(g.expires_at),
        revoked_at: Set(g.revoked_at),
        id_token_claims: Set(g.id_token_claims.clone()),
        dpop_jkt: Set(g.dpop_jkt.clone()),
        resources: Set(g.resources.clone()),
        access_revoked_at: Set(g.access_revoked_at),
    };
    grant::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<GrantRow>, StoreError> {
    // On every refresh and code exchange.
    static RENDERED: super::rendered::Rendered<2> = super::rendered::Rendered::new();
    Ok(super::rendered::one_by_id::<grant::Entity>(&RENDERED, db, id).await?)
}

/// Revokes the grant: every token issued from it stops working.
pub async fn revoke(db: &impl ConnectionTrait, id: &str, now: UnixTime) -> Result<(), StoreError> {
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(now))
        .filter(grant::Column::Id.eq(id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Advances the family from `generation` to `generation + 1`, if nobody else has and it is
/// not revoked: the one conditional update that makes rotation race-free across instances.
pub async fn advance(
    db: &impl ConnectionTrait,
    id: &str,
    generation: i64,
    now: UnixTime,
) -> Result<bool, StoreError> {
    use sea_orm::QueryTrait as _;
    // On every refresh.
    static RENDERED: super::rendered::Rendered<2> = super::rendered::Rendered::new();
    let backend = db.get_database_backend();
    let inputs = (id.to_owned(), generation, generation + 1, now);
    let update = RENDERED.statement(
        backend,
        0,
        inputs,
        |(id, generation, next, now), backend| {
            grant::Entity::update_many()
                .col_expr(grant::Column::RefreshGeneration, Expr::value(*next))
                .col_expr(grant::Column::RotatedAt, Expr::value(*now))
                .col_expr(grant::Column::LastUsedAt, Expr::value(*now))
                .filter(grant::Column::Id.eq(id.as_str()))
                .filter(grant::Column::RefreshGeneration.eq(*generation))
                .filter(grant::Column::RevokedAt.is_null())
                .build(backend)
        },
    );
    Ok(db.execute(update).await?.rows_affected() == 1)
}

pub async fn insert_refresh(db: &impl ConnectionTrait, r: &RefreshRow) -> Result<(), StoreError> {
    use sea_orm::QueryTrait as _;
    // On every refresh.
    static RENDERED: super::rendered::Rendered<2> = super::rendered::Rendered::new();
    let backend = db.get_database_backend();
    let inputs = (
        r.token_hash.clone(),
        r.grant_id.clone(),
        r.generation,
        r.created_at,
        r.expires_at,
    );
    let insert = RENDERED.statement(
        backend,
        0,
        inputs,
        |(token_hash, grant_id, generation, created_at, expires_at), backend| {
            refresh_token::Entity::insert(refresh_token::ActiveModel {
                token_hash: Set(token_hash.clone()),
                grant_id: Set(grant_id.clone()),
                generation: Set(*generation),
                created_at: Set(*created_at),
                expires_at: Set(*expires_at),
            })
            .build(backend)
        },
    );
    db.execute(insert)
        .await
        .map_err(|e| super::conflict_or_db(e, "that refresh token"))?;
    Ok(())
}

/// The refresh token stored under `token_hash`, with its grant: one joined read, on every
/// refresh.
pub async fn find_refresh(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<(RefreshRow, GrantRow)>, StoreError> {
    use sea_orm::{
        FromQueryResult as _, IdenStatic as _, JoinType, QuerySelect as _, QueryTrait as _,
        SelectA, SelectB,
    };
    static RENDERED: super::rendered::Rendered<2> = super::rendered::Rendered::new();
    let backend = db.get_database_backend();
    let query = RENDERED.statement(backend, 0, token_hash.to_owned(), |token_hash, backend| {
        let family = refresh_token::Entity::belongs_to(grant::Entity)
            .from(refresh_token::Column::GrantId)
            .to(grant::Column::Id)
            .into();
        refresh_token::Entity::find_by_id(token_hash.clone())
            .select_also(grant::Entity)
            .join(JoinType::InnerJoin, family)
            .limit(1)
            .build(backend)
    });
    let Some(row) = db.query_one(query).await? else {
        return Ok(None);
    };
    Ok(Some((
        RefreshRow::from_query_result(&row, SelectA.as_str())?,
        GrantRow::from_query_result(&row, SelectB.as_str())?,
    )))
}

/// Revokes every live grant of a client.
pub async fn revoke_for_client(
    db: &impl ConnectionTrait,
    client_id: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(now))
        .filter(grant::Column::ClientId.eq(client_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every live grant of a user.
pub async fn revoke_for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(now))
        .filter(grant::Column::UserId.eq(user_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The grants made in the browser session whose public id is `sid`, revoked ones too (their
/// apps still know the session).
pub async fn in_session(db: &impl ConnectionTrait, sid: &str) -> Result<Vec<GrantRow>, StoreError> {
    Ok(grant::Entity::find()
        .filter(grant::Column::SessionId.eq(sid))
        .all(db)
        .await?)
}

/// Moves the grants of one session to another (the same person signed in again in the same
/// browser, which gets a new session id): its end must still find them.
pub async fn move_session(
    db: &impl ConnectionTrait,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    grant::Entity::update_many()
        .col_expr(grant::Column::SessionId, Expr::value(to))
        .filter(grant::Column::SessionId.eq(from))
        .exec(db)
        .await?;
    Ok(())
}

/// The live grants of a user, newest first.
pub async fn for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: UnixTime,
) -> Result<Vec<GrantRow>, StoreError> {
    use sea_orm::QueryOrder as _;
    Ok(grant::Entity::find()
        .filter(grant::Column::UserId.eq(user_id))
        .filter(grant::Column::RevokedAt.is_null())
        .filter(grant::Column::ExpiresAt.gt(now))
        .order_by_desc(grant::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Kills the access tokens issued from these grants until `now`; refresh tokens live on.
pub async fn cut_access(
    db: &impl ConnectionTrait,
    ids: &[String],
    now: UnixTime,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    grant::Entity::update_many()
        .col_expr(grant::Column::AccessRevokedAt, Expr::value(now))
        .filter(grant::Column::Id.is_in(ids.iter().cloned()))
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes these grants.
pub async fn revoke_many(
    db: &impl ConnectionTrait,
    ids: &[String],
    now: UnixTime,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(now))
        .filter(grant::Column::Id.is_in(ids.iter().cloned()))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every live grant a user gave a client.
pub async fn revoke_for_user_and_client(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(now))
        .filter(grant::Column::UserId.eq(user_id))
        .filter(grant::Column::ClientId.eq(client_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
