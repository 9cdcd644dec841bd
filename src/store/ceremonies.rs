//! Passkey ceremonies waiting for the browser's answer, by keyed hash of their handle, one
//! per browser session and purpose. A ceremony is spent by deleting its row, and only the
//! caller whose DELETE removed it goes on, so each challenge is answered once even when the
//! answer is sent twice at the same moment.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::passkey_ceremony;

pub type Ceremony = passkey_ceremony::Model;

/// Stores `c` in place of the session's ceremony for the same purpose, if any: one
/// statement (an upsert on the session and purpose, which are unique together), so two
/// pages shown at once leave one.
pub async fn replace(db: &impl ConnectionTrait, c: &Ceremony) -> Result<(), StoreError> {
    use passkey_ceremony::Column;
    let row = passkey_ceremony::ActiveModel {
        id_hash: Set(c.id_hash.clone()),
        session_id_hash: Set(c.session_id_hash.clone()),
        purpose: Set(c.purpose.clone()),
        user_id: Set(c.user_id.clone()),
        state: Set(c.state.clone()),
        expires_at: Set(c.expires_at),
    };
    passkey_ceremony::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::SessionIdHash, Column::Purpose])
                .update_columns([
                    Column::IdHash,
                    Column::UserId,
                    Column::State,
                    Column::ExpiresAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Takes the live ceremony for `purpose` with this handle hash, started by this session:
/// it is gone afterwards, whether or not the answer is good. `None` when it is unknown,
/// expired, another session's, or was taken meanwhile.
pub async fn take(
    db: &impl ConnectionTrait,
    id_hash: &str,
    session_id_hash: &str,
    purpose: &str,
    now: UnixTime,
) -> Result<Option<Ceremony>, StoreError> {
    let Some(found) = passkey_ceremony::Entity::find_by_id(id_hash)
        .filter(passkey_ceremony::Column::SessionIdHash.eq(session_id_hash))
        .filter(passkey_ceremony::Column::Purpose.eq(purpose))
        .filter(passkey_ceremony::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let deleted = passkey_ceremony::Entity::delete_many()
        .filter(passkey_ceremony::Column::IdHash.eq(id_hash))
        .exec(db)
        .await?
        .rows_affected;
    Ok((deleted == 1).then_some(found))
}
