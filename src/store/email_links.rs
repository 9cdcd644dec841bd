//! Links sent by mail (password reset, address verification), by keyed hash of their
//! token. A link is spent by one conditional write, so it works once even when it is
//! followed twice at the same moment.

use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::email_link;

pub type EmailLink = email_link::Model;

/// What a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Sets a new password.
    Reset,
    /// Marks the address verified (`email_verified`).
    Verify,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Verify => "verify",
        }
    }
}

pub async fn insert(db: &impl ConnectionTrait, link: &EmailLink) -> Result<(), StoreError> {
    let row = email_link::ActiveModel {
        token_hash: Set(link.token_hash.clone()),
        purpose: Set(link.purpose.clone()),
        user_id: Set(link.user_id.clone()),
        email: Set(link.email.clone()),
        created_at: Set(link.created_at),
        expires_at: Set(link.expires_at),
    };
    email_link::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The live link for `purpose` with this token hash, without spending it.
pub async fn find(
    db: &impl ConnectionTrait,
    token_hash: &str,
    purpose: Purpose,
    now: UnixTime,
) -> Result<Option<EmailLink>, StoreError> {
    Ok(email_link::Entity::find_by_id(token_hash)
        .filter(email_link::Column::Purpose.eq(purpose.as_str()))
        .filter(email_link::Column::ExpiresAt.gt(now))
        .one(db)
        .await?)
}

/// Spends the live link for `purpose` with this token hash: whether it was live (`false`
/// when it is unknown, expired, or was spent, by another request meanwhile too). The write
/// comes first, so in a transaction it takes the write lock before anything is read, and
/// concurrent spends queue instead of racing on a stale read.
pub async fn take(
    db: &impl ConnectionTrait,
    token_hash: &str,
    purpose: Purpose,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let deleted = email_link::Entity::delete_many()
        .filter(email_link::Column::TokenHash.eq(token_hash))
        .filter(email_link::Column::Purpose.eq(purpose.as_str()))
        .filter(email_link::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?
        .rows_affected;
    Ok(deleted == 1)
}

/// Deletes every link of the user for `purpose`: the others die when one is used.
pub async fn delete_for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    purpose: Purpose,
) -> Result<u64, StoreError> {
    Ok(email_link::Entity::delete_many()
        .filter(email_link::Column::UserId.eq(user_id))
        .filter(email_link::Column::Purpose.eq(purpose.as_str()))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes every link of the user not sent to `email` (all of them for `None`): the links
/// die when the address changes or the account is disabled.
pub async fn delete_not_to(
    db: &impl ConnectionTrait,
    user_id: &str,
    email: Option<&str>,
) -> Result<u64, StoreError> {
    let mut delete =
        email_link::Entity::delete_many().filter(email_link::Column::UserId.eq(user_id));
    if let Some(email) = email {
        delete = delete.filter(email_link::Column::Email.ne(email));
    }
    Ok(delete.exec(db).await?.rows_affected)
}
