//! grant_type=authorization_code (RFC 6749 4.1.3, RFC 7636 4.5, OIDC Core 3.1.3).
//!
//! A code is redeemed by one conditional update, so of two concurrent redemptions exactly one
//! succeeds. Any second redemption revokes the grant the first one started: every token
//! issued from the code stops working (RFC 6749 4.1.2).

use super::{
    record_grant, user_claims, user_target, user_tokens, TokenContext, TokenResponse, UserGrant,
};
use crate::crypto;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oauth::pkce;
use crate::oauth::scope;
use crate::store::clients::Client;
use crate::store::{self, StoreError};

/// Codes are 43 characters; anything much longer is not ours.
const MAX_CODE_LEN: usize = 256;

pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.get("code_verifier");
    if let Some(v) = verifier {
        if !pkce::is_well_formed(v) {
            return Err(OAuthError::invalid_request(
                "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].",
            ));
        }
    }
    let invalid = || OAuthError::invalid_grant("The authorization code is invalid or has expired.");
    if code.len() > MAX_CODE_LEN {
        return Err(invalid());
    }
    let code_hash = ctx.secrets.hash(code);
    let grant_id = crypto::b64url(&crypto::random_bytes::<16>()?);
    let now = ctx.now;

    // The write comes first in the transaction: it takes the write lock before anything is
    // read, so concurrent redemptions queue instead of racing on a stale read.
    let txn = ctx.db.begin().await?;
    let won = store::codes::redeem(&txn, &code_hash, &grant_id, now).await?;
    let row = store::codes::find(&txn, &code_hash)
        .await?
        .ok_or_else(invalid)?;
    if row.client_id != client.client_id {
        return Err(invalid());
    }
    if !won {
        if let Some(first) = &row.grant_id {
            store::grants::revoke(&txn, first, now).await?;
        }
        txn.commit().await?;
        crate::metrics::Metrics::incr(&ctx.metrics.code_reuse_detected);
        tracing::warn!(client_id = %client.client_id, "authorization code reused; its grant was revoked");
        return Err(OAuthError::invalid_grant(
            "The authorization code was already used; the tokens issued with it are revoked.",
        ));
    }
    if row.expires_at <= now {
        return Err(invalid());
    }
    if row.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the one in the authorization request.",
        ));
    }
    match (&row.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let method = pkce::Method::parse(row.code_challenge_method.as_deref())?;
            if !pkce::verify(method, challenge, verifier) {
                return Err(OAuthError::invalid_grant(
                    "The code_verifier does not match the code_challenge.",
                ));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required for this code.",
            ))
        }
        // RFC 9700 4.8.2: a verifier for a code issued without a challenge is a downgrade.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge.",
            ))
        }
        (None, None) => {}
    }

    // RFC 9449 10: a code bound to a key is redeemed with a proof by that key.
    if row.dpop_jkt.is_some() && row.dpop_jkt != ctx.jkt {
        return Err(OAuthError::invalid_grant(
            "This code is bound to a DPoP key (dpop_jkt): send a DPoP proof signed by that key.",
        ));
    }

    let scopes = scope::split(&row.scope);
    let grant = UserGrant {
        grant_id: &grant_id,
        user_id: &row.user_id,
        client_id: &client.client_id,
        scopes: &scopes,
        auth_time: row.auth_time,
        amr: row.amr.as_deref(),
        session_id: row.session_id.as_deref(),
        nonce: row.nonce.as_deref(),
        id_token_claims: row.id_token_claims.as_deref(),
        resources: &row.resources,
        sector: client.pairwise_sector(),
    };
    // A refusal here rolls the redemption back: the code can be tried again.
    let target = user_target(&txn, client, params, &grant).await?;
    let refresh_token = record_grant(ctx, &txn, client, &grant).await?;
    let claims = user_claims(&txn, ctx.claims, &grant, &target).await?;
    txn.commit().await.map_err(StoreError::from)?;

    user_tokens(ctx, &grant, &target, &claims, refresh_token)
}
