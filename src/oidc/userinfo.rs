//! The UserInfo endpoint's rules (OIDC Core 5.3).

use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};

use super::claims;
use crate::clock::UnixTime;
use crate::keys::KeySet;
use crate::oauth::access_token::{self, AccessClaims};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope;
use crate::store::{self, StoreError};

/// Verifies an access token and checks it has not been revoked (its `jti`, or the grant it
/// came from).
pub async fn check_access_token(
    db: &impl ConnectionTrait,
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<AccessClaims, OAuthError> {
    let claims = access_token::verify(keys, issuer, token, now)?;
    if let Some(gid) = &claims.grant_id {
        if store::grants::is_dead(db, gid).await? {
            return Err(OAuthError::invalid_token(
                "The access token has been revoked.",
            ));
        }
    }
    if store::revocations::is_revoked(db, &claims.jti).await? {
        return Err(OAuthError::invalid_token(
            "The access token has been revoked.",
        ));
    }
    Ok(claims)
}

/// The claims the token's scopes allow, for the token's user.
pub async fn userinfo(
    db: &impl ConnectionTrait,
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<Map<String, Value>, OAuthError> {
    let claims = check_access_token(db, keys, issuer, token, now).await?;
    if !scope::contains(&claims.scopes, "openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "The access token lacks the openid scope.",
        ));
    }
    let user = match store::users::get(db, &claims.subject).await {
        Ok(u) if !u.disabled => u,
        Ok(_) | Err(StoreError::NotFound) => {
            return Err(OAuthError::invalid_token(
                "The user no longer exists or is disabled.",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    Ok(claims::for_scopes(&user, &claims.scopes))
}
