//! Second factors (one-time code generators and passkeys) and recovery codes, by user.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::{recovery_code, user_factor};

pub type Factor = user_factor::Model;

/// The kind of a time-based one-time code generator (RFC 6238).
pub const TOTP: &str = "totp";
/// The kind of a passkey (WebAuthn).
pub const PASSKEY: &str = "passkey";

pub async fn insert(db: &impl ConnectionTrait, f: &Factor) -> Result<(), StoreError> {
    let row = user_factor::ActiveModel {
        id: Set(f.id.clone()),
        user_id: Set(f.user_id.clone()),
        kind: Set(f.kind.clone()),
        name: Set(f.name.clone()),
        secret: Set(f.secret.clone()),
        last_step: Set(f.last_step),
        created_at: Set(f.created_at),
        confirmed_at: Set(f.confirmed_at),
        last_used_at: Set(f.last_used_at),
        session_id_hash: Set(f.session_id_hash.clone()),
        credential_id: Set(f.credential_id.clone()),
    };
    user_factor::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(|e| super::conflict_or_db(e, "credential"))?;
    Ok(())
}

/// The passkey with this credential id (base64url), whoever's it is.
pub async fn find_by_credential(
    db: &impl ConnectionTrait,
    credential_id: &str,
) -> Result<Option<Factor>, StoreError> {
    Ok(user_factor::Entity::find()
        .filter(user_factor::Column::CredentialId.eq(credential_id))
        .filter(user_factor::Column::Kind.eq(PASSKEY))
        .one(db)
        .await?)
}

/// Records a passkey's use: its stored form (counter, backup flags) and the time. A passkey
/// with a counter (`counter > 0`) is written only while the stored counter is lower, so of
/// two answers with the same counter (a cloned authenticator, or one answer raced) one
/// wins; `false` for the other.
pub async fn passkey_used(
    db: &impl ConnectionTrait,
    id: &str,
    stored: Option<&str>,
    counter: u32,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let mut update = user_factor::Entity::update_many()
        .col_expr(user_factor::Column::LastUsedAt, Expr::value(now))
        .filter(user_factor::Column::Id.eq(id))
        .filter(user_factor::Column::Kind.eq(PASSKEY));
    if let Some(stored) = stored {
        update = update.col_expr(user_factor::Column::Secret, Expr::value(stored));
    }
    if counter > 0 {
        update = update
            .col_expr(
                user_factor::Column::LastStep,
                Expr::value(i64::from(counter)),
            )
            .filter(
                Condition::any()
                    .add(user_factor::Column::LastStep.is_null())
                    .add(user_factor::Column::LastStep.lt(i64::from(counter))),
            );
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Renames one of the user's factors.
pub async fn rename(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let r = user_factor::Entity::update_many()
        .col_expr(user_factor::Column::Name, Expr::value(name))
        .filter(user_factor::Column::Id.eq(id))
        .filter(user_factor::Column::UserId.eq(user_id))
        .filter(user_factor::Column::ConfirmedAt.is_not_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// The user's factors, confirmed or not, oldest first.
pub async fn list(db: &impl ConnectionTrait, user_id: &str) -> Result<Vec<Factor>, StoreError> {
    Ok(user_factor::Entity::find()
        .filter(user_factor::Column::UserId.eq(user_id))
        .order_by_asc(user_factor::Column::CreatedAt)
        .order_by_asc(user_factor::Column::Id)
        .all(db)
        .await?)
}

/// Whether the user has a confirmed factor; passkeys count only with `passkeys`.
pub async fn has_confirmed(
    db: &impl ConnectionTrait,
    user_id: &str,
    passkeys: bool,
) -> Result<bool, StoreError> {
    let mut query = user_factor::Entity::find()
        .filter(user_factor::Column::UserId.eq(user_id))
        .filter(user_factor::Column::ConfirmedAt.is_not_null());
    if !passkeys {
        query = query.filter(user_factor::Column::Kind.ne(PASSKEY));
    }
    Ok(query
        .select_only()
        .column(user_factor::Column::Id)
        .into_tuple::<String>()
        .one(db)
        .await?
        .is_some())
}

/// Marks an unconfirmed factor confirmed by a first code for `step`; `false` when it is
/// gone or was confirmed meanwhile.
pub async fn confirm(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
    step: i64,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let r = user_factor::Entity::update_many()
        .col_expr(user_factor::Column::ConfirmedAt, Expr::value(now))
        .col_expr(user_factor::Column::LastStep, Expr::value(step))
        .col_expr(user_factor::Column::LastUsedAt, Expr::value(now))
        .filter(user_factor::Column::Id.eq(id))
        .filter(user_factor::Column::UserId.eq(user_id))
        .filter(user_factor::Column::ConfirmedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Accepts a code for `step` of a confirmed factor: one statement that only succeeds when
/// no code for this step or a later one was accepted before, so a code works once even
/// when sent twice at the same moment.
pub async fn accept_step(
    db: &impl ConnectionTrait,
    id: &str,
    step: i64,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let r = user_factor::Entity::update_many()
        .col_expr(user_factor::Column::LastStep, Expr::value(step))
        .col_expr(user_factor::Column::LastUsedAt, Expr::value(now))
        .filter(user_factor::Column::Id.eq(id))
        .filter(user_factor::Column::ConfirmedAt.is_not_null())
        .filter(
            Condition::any()
                .add(user_factor::Column::LastStep.is_null())
                .add(user_factor::Column::LastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Removes one of the user's factors.
pub async fn delete(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let r = user_factor::Entity::delete_many()
        .filter(user_factor::Column::Id.eq(id))
        .filter(user_factor::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Removes the user's unconfirmed factors (an enrolment started again or abandoned).
pub async fn delete_unconfirmed(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<(), StoreError> {
    user_factor::Entity::delete_many()
        .filter(user_factor::Column::UserId.eq(user_id))
        .filter(user_factor::Column::ConfirmedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Removes every factor and recovery code of the user; how many factors there were.
pub async fn delete_all(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, StoreError> {
    let r = user_factor::Entity::delete_many()
        .filter(user_factor::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    delete_recovery_codes(db, user_id).await?;
    Ok(r.rows_affected)
}

async fn delete_recovery_codes(db: &impl ConnectionTrait, user_id: &str) -> Result<(), StoreError> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces the user's recovery codes with these (keyed hashes).
pub async fn replace_recovery_codes(
    db: &impl ConnectionTrait,
    user_id: &str,
    hashes: &[String],
    now: UnixTime,
) -> Result<(), StoreError> {
    delete_recovery_codes(db, user_id).await?;
    let rows = hashes.iter().map(|hash| recovery_code::ActiveModel {
        code_hash: Set(hash.clone()),
        user_id: Set(user_id.to_owned()),
        created_at: Set(now),
    });
    recovery_code::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Spends one of the user's recovery codes; `true` for exactly one caller.
pub async fn take_recovery_code(
    db: &impl ConnectionTrait,
    user_id: &str,
    hash: &str,
) -> Result<bool, StoreError> {
    let r = recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::CodeHash.eq(hash))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// How many recovery codes the user has left.
pub async fn recovery_codes_left(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<u64, StoreError> {
    // Ten at most: counted here rather than with COUNT(*).
    let codes = recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .all(db)
        .await?;
    Ok(u64::try_from(codes.len()).unwrap_or(u64::MAX))
}
