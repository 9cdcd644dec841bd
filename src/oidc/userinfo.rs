//! The UserInfo endpoint's rules (OIDC Core 5.3).

use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};

use super::claims;
use crate::clock::UnixTime;
use crate::keys::KeySet;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope;
use crate::store;
use crate::tokens::{AccessClaims, AccessTokens};

/// Verifies an access token and checks it has not been revoked (its `jti`, or the grant it
/// came from).
pub async fn check_access_token(
    db: &impl ConnectionTrait,
    keys: &KeySet,
    tokens: &AccessTokens,
    token: &str,
    now: UnixTime,
) -> Result<AccessClaims, OAuthError> {
    let claims = tokens.check(keys, token, now)?;
    if store::revocations::is_token_dead(db, &claims.jti, claims.grant_id.as_deref()).await? {
        return Err(revoked());
    }
    Ok(claims)
}

/// RFC 9449 7.1: a token bound to a key is used with a proof by that key, and only then; an
/// unbound token is a bearer token.
pub fn check_binding(bound: Option<&str>, proven: Option<&str>) -> Result<(), OAuthError> {
    match (bound, proven) {
        (None, None) => Ok(()),
        (Some(bound), Some(proven)) if bound == proven => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "The DPoP proof is signed by another key than the one the access token is bound to.",
        )),
        (Some(_), None) => Err(OAuthError::invalid_token(
            "This access token is bound to a DPoP key: present it with the DPoP scheme and a \
             proof.",
        )),
        (None, Some(_)) => Err(not_bound()),
    }
}

/// The refusal of an unbound token presented with the `DPoP` scheme.
pub fn not_bound() -> OAuthError {
    OAuthError::invalid_token(
        "This access token is not bound to a key: present it with the Bearer scheme.",
    )
}

fn revoked() -> OAuthError {
    OAuthError::invalid_token("The access token has been revoked.")
}

/// The claims the token's scopes allow, for the token's user. `proven_jkt` is the key a DPoP
/// proof of this request proved (the `DPoP` scheme), `None` for the `Bearer` scheme.
pub async fn userinfo(
    db: &impl ConnectionTrait,
    keys: &KeySet,
    tokens: &AccessTokens,
    token: &str,
    proven_jkt: Option<&str>,
    now: UnixTime,
) -> Result<Map<String, Value>, OAuthError> {
    let claims = tokens.check(keys, token, now)?;
    check_binding(claims.jkt.as_deref(), proven_jkt)?;
    // The user and the token's revocation state in one read.
    let found =
        store::users::get_for_token(db, &claims.subject, &claims.jti, claims.grant_id.as_deref())
            .await?;
    let user = match found {
        Some((_, true)) => return Err(revoked()),
        Some((user, false)) => Some(user),
        // No such user (a client's own token, or a deleted user): the token may still be
        // revoked, and that answer comes first.
        None => {
            if store::revocations::is_token_dead(db, &claims.jti, claims.grant_id.as_deref())
                .await?
            {
                return Err(revoked());
            }
            None
        }
    };
    if !scope::contains(&claims.scopes, "openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "The access token lacks the openid scope.",
        ));
    }
    match user {
        Some(user) if !user.disabled => Ok(claims::for_scopes(&user, &claims.scopes)),
        _ => Err(OAuthError::invalid_token(
            "The user no longer exists or is disabled.",
        )),
    }
}
