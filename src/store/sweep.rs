//! Deleting rows whose time is over, so tables of codes, sessions and tokens stay small.

use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};

use super::StoreError;
use crate::clock::UnixTime;
use crate::db::entities::{
    auth_code, authorization_request, browser_session, client_assertion, device_code, email_link,
    grant, initial_access_token, logout_delivery, passkey_ceremony, revocation, throttle,
};

/// How many rows each sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Swept {
    pub authorization_requests: u64,
    pub auth_codes: u64,
    pub sessions: u64,
    pub device_codes: u64,
    /// Grants (refresh-token families) past their absolute lifetime, with their tokens.
    pub grants: u64,
    pub revocations: u64,
    pub throttles: u64,
    pub client_assertions: u64,
    /// Initial access tokens past their expiry (spent ones stay listed until then).
    pub initial_access_tokens: u64,
    /// Back-channel logout deliveries a week past the end of their retries (delivered or
    /// not: the admin API shows them until then).
    pub logout_deliveries: u64,
    /// Password-reset and verification links past their expiry.
    pub email_links: u64,
    /// Passkey ceremonies nobody finished.
    pub passkey_ceremonies: u64,
}

/// How long a logout delivery stays listed after its retries would have ended.
pub const LOGOUT_RECORD_MEMORY: i64 = 7 * 86_400;

/// Used codes are kept this long after they expire, so a late second redemption is still
/// recognised as reuse and revokes what the first one issued.
pub const CODE_REUSE_MEMORY: i64 = 3600;

pub async fn expired(db: &impl ConnectionTrait, now: UnixTime) -> Result<Swept, StoreError> {
    Ok(Swept {
        authorization_requests: authorization_request::Entity::delete_many()
            .filter(authorization_request::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        auth_codes: auth_code::Entity::delete_many()
            .filter(auth_code::Column::ExpiresAt.lte(now - CODE_REUSE_MEMORY))
            .exec(db)
            .await?
            .rows_affected,
        sessions: browser_session::Entity::delete_many()
            .filter(browser_session::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        device_codes: device_code::Entity::delete_many()
            .filter(device_code::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        grants: grant::Entity::delete_many()
            .filter(grant::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        revocations: revocation::Entity::delete_many()
            .filter(revocation::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        throttles: throttle::Entity::delete_many()
            .filter(throttle::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        client_assertions: client_assertion::Entity::delete_many()
            .filter(client_assertion::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        initial_access_tokens: initial_access_token::Entity::delete_many()
            .filter(initial_access_token::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        logout_deliveries: logout_delivery::Entity::delete_many()
            .filter(logout_delivery::Column::ExpiresAt.lte(now - LOGOUT_RECORD_MEMORY))
            .exec(db)
            .await?
            .rows_affected,
        email_links: email_link::Entity::delete_many()
            .filter(email_link::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        passkey_ceremonies: passkey_ceremony::Entity::delete_many()
            .filter(passkey_ceremony::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
    })
}
