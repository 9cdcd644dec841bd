//! Token revocation (RFC 7009). An access token is revoked by its `jti` until it would have
//! expired; a refresh token takes its whole grant with it (every refresh and access token
//! issued from it). Unknown tokens get the same 200 as known ones.

use sea_orm::ConnectionTrait;

use super::client_auth::{self, Credentials};
use super::error::OAuthError;
use super::params::Params;
use crate::clock::UnixTime;
use crate::crypto::KeyedHasher;
use crate::keys::KeySet;
use crate::store;
use crate::tokens::AccessTokens;

pub async fn revoke(
    db: &impl ConnectionTrait,
    secrets: &KeyedHasher,
    keys: &KeySet,
    tokens: &AccessTokens,
    credentials: &Credentials,
    params: &Params,
    now: UnixTime,
) -> Result<(), OAuthError> {
    params.reject_duplicates()?;
    let client = client_auth::authenticate(db, secrets, credentials).await?;
    let token = params.require("token")?;
    let not_yours = || OAuthError::unauthorized_client("This token was not issued to this client.");

    // An access token: signed by one of our keys. Expired ones need nothing.
    if let Ok(claims) = tokens.check_any_audience(keys, token, now) {
        if claims.client_id != client.client_id {
            return Err(not_yours());
        }
        store::revocations::revoke(db, &claims.jti, claims.expires_at, now).await?;
        tracing::info!(client_id = %client.client_id, jti = %claims.jti, "access token revoked");
        return Ok(());
    }
    // A refresh token: revoke its family.
    if token.len() <= 256 {
        if let Some((_, grant)) = store::grants::find_refresh(db, &secrets.hash(token)).await? {
            if grant.client_id != client.client_id {
                return Err(not_yours());
            }
            store::grants::revoke(db, &grant.id, now).await?;
            tracing::info!(client_id = %client.client_id, grant_id = %grant.id, "refresh token revoked");
        }
    }
    Ok(())
}
