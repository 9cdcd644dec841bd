//! The UserInfo endpoint's rules (OIDC Core 5.3).

use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};

use super::claims;
use crate::clock::UnixTime;
use crate::keys::KeySet;
use crate::oauth::dpop::{Checker, Request as DpopRequest};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope::{self, Catalog};
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
    if store::revocations::is_token_dead(db, &claims.jti, claims.grant()).await? {
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

/// The user an access token is about and whether the token is revoked, in one read. A
/// pairwise client's token names the user by a `sub` that is not their id (OIDC Core 8.1):
/// the grant it came from says who they are.
async fn user_for_token(
    db: &impl ConnectionTrait,
    claims: &AccessClaims,
) -> Result<Option<(store::users::User, bool)>, OAuthError> {
    let found =
        store::users::get_for_token(db, &claims.subject, &claims.jti, claims.grant()).await?;
    if found.is_some() {
        return Ok(found);
    }
    let Some(grant_id) = claims.grant_id.as_deref() else {
        return Ok(None);
    };
    match store::grants::get(db, grant_id).await? {
        Some(grant) => {
            Ok(
                store::users::get_for_token(db, &grant.user_id, &claims.jti, claims.grant())
                    .await?,
            )
        }
        None => Ok(None),
    }
}

fn revoked() -> OAuthError {
    OAuthError::invalid_token("The access token has been revoked.")
}

/// A userinfo request presented with the `DPoP` scheme (RFC 9449 7.1): its proof (the
/// `DPoP` header, if any), what checks it, and the request it must be for.
pub struct DpopPresented<'a> {
    pub proof: Option<&'a str>,
    pub checker: &'a Checker<'a>,
    pub request: DpopRequest<'a>,
}

/// Answers a userinfo request: the claims the token's scopes allow, for the token's user.
/// With the `DPoP` scheme (`dpop`), the token must be bound to a key and the proof must be by
/// that key, for this request and this token. The token is checked before the proof (and
/// remembered once verified), so that only the holder of one of our bound tokens gets a
/// proof's `jti` recorded.
pub async fn answer(
    db: &impl ConnectionTrait,
    keys: &KeySet,
    tokens: &AccessTokens,
    catalog: &Catalog,
    token: &str,
    dpop: Option<DpopPresented<'_>>,
    now: UnixTime,
) -> Result<Map<String, Value>, OAuthError> {
    let jkt = match dpop {
        None => None,
        Some(presented) => {
            let claims = tokens.check(keys, token, now)?;
            if claims.jkt.is_none() {
                return Err(not_bound());
            }
            let proof = presented.proof.ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::InvalidDpopProof,
                    "The DPoP scheme needs a DPoP proof in the DPoP header.",
                )
            })?;
            Some(
                presented
                    .checker
                    .check(db, proof, &presented.request)
                    .await?,
            )
        }
    };
    userinfo(db, keys, tokens, catalog, token, jkt.as_deref(), now).await
}

/// The claims the token's scopes allow, for the token's user. `proven_jkt` is the key a DPoP
/// proof of this request proved (the `DPoP` scheme), `None` for the `Bearer` scheme.
async fn userinfo(
    db: &impl ConnectionTrait,
    keys: &KeySet,
    tokens: &AccessTokens,
    catalog: &Catalog,
    token: &str,
    proven_jkt: Option<&str>,
    now: UnixTime,
) -> Result<Map<String, Value>, OAuthError> {
    let claims = tokens.check(keys, token, now)?;
    check_binding(claims.jkt.as_deref(), proven_jkt)?;
    let found = user_for_token(db, &claims).await?;
    let user = match found {
        Some((_, true)) => return Err(revoked()),
        Some((user, false)) => Some(user),
        // No such user (a client's own token, or a deleted user): the token may still be
        // revoked, and that answer comes first.
        None => {
            if store::revocations::is_token_dead(db, &claims.jti, claims.grant()).await? {
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
        Some(user) if !user.disabled => {
            let mut out = claims::for_scopes(catalog, &user, &claims.scopes);
            // The user as this client knows them (a pairwise client: its sector's `sub`).
            out.insert("sub".into(), claims.subject.clone().into());
            Ok(out)
        }
        _ => Err(OAuthError::invalid_token(
            "The user no longer exists or is disabled.",
        )),
    }
}
