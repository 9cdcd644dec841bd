//! grant_type=urn:ietf:params:oauth:grant-type:device_code (RFC 8628 3.4, 3.5): polling.

use super::{
    record_grant, user_claims, user_target, user_tokens, TokenContext, TokenResponse, UserGrant,
};
use crate::crypto;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::store::clients::Client;
use crate::store::device_codes;
use crate::store::StoreError;

pub async fn poll(
    ctx: &TokenContext<'_>,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let device_code = params.require("device_code")?;
    let invalid = || OAuthError::invalid_grant("The device code is invalid.");
    if device_code.len() > 256 {
        return Err(invalid());
    }
    let now = ctx.now;
    let hash = ctx.secrets.hash(device_code);
    let row = device_codes::find_by_device_code(ctx.db, &hash)
        .await?
        .ok_or_else(invalid)?;
    // Bound to the client that asked for it.
    if row.client_id != client.client_id {
        return Err(invalid());
    }
    if row.used_at.is_some() {
        return Err(OAuthError::invalid_grant(
            "The device code was already used.",
        ));
    }
    if row.expires_at <= now {
        return Err(OAuthError::new(
            ErrorCode::ExpiredToken,
            "The device code has expired; start again.",
        ));
    }
    if !device_codes::poll(ctx.db, &hash, now).await? {
        device_codes::slow_down(ctx.db, &hash, now).await?;
        return Err(OAuthError::new(
            ErrorCode::SlowDown,
            format!(
                "Polling too fast: wait at least {} seconds between requests.",
                row.interval + 5
            ),
        ));
    }
    match row.status.as_str() {
        device_codes::PENDING => Err(OAuthError::new(
            ErrorCode::AuthorizationPending,
            "The user has not answered yet.",
        )),
        device_codes::DENIED => Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "The user denied the request.",
        )),
        _ => issue(ctx, client, params, &hash).await,
    }
}

/// Tokens exactly once: the redemption is the transaction's first write.
async fn issue(
    ctx: &TokenContext<'_>,
    client: &Client,
    params: &Params,
    hash: &str,
) -> Result<TokenResponse, OAuthError> {
    let now = ctx.now;
    let txn = ctx.db.begin().await?;
    if !device_codes::redeem(&txn, hash, now).await? {
        return Err(OAuthError::invalid_grant(
            "The device code was already used.",
        ));
    }
    let row = device_codes::find_by_device_code(&txn, hash)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("The device code is invalid."))?;
    let (Some(user_id), Some(auth_time)) = (row.user_id.clone(), row.auth_time) else {
        return Err(OAuthError::server_error(
            &"an approved device code without a user",
        ));
    };
    let scopes = scope::split(&row.scope);
    let grant_id = crypto::b64url(&crypto::random_bytes::<16>()?);
    let grant = UserGrant {
        grant_id: &grant_id,
        user_id: &user_id,
        client_id: &client.client_id,
        scopes: &scopes,
        auth_time,
        amr: row.amr.as_deref(),
        session_id: row.session_id.as_deref(),
        nonce: None,
        id_token_claims: None,
        resources: &row.resources,
        sector: client.pairwise_sector(),
    };
    // A refusal here rolls the redemption back: the device code can be tried again.
    let target = user_target(&txn, client, params, &grant).await?;
    let refresh_token = record_grant(ctx, &txn, client, &grant).await?;
    let claims = user_claims(&txn, ctx.claims, &grant, &target).await?;
    txn.commit().await.map_err(StoreError::from)?;
    user_tokens(ctx, &grant, &target, &claims, refresh_token)
}
