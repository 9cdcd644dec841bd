//! grant_type=refresh_token (RFC 6749 6, RFC 9700 4.14.2): rotation on every use.
//!
//! A family (grant) carries a generation counter. Rotation is one conditional update on it,
//! so two instances can never both rotate the same token. A retry with the token just
//! rotated, within the grace window, gets the same successor again (derived, not stored in
//! clear). Any other use of a dead token is theft: the whole family is revoked.

use super::{
    successor, user_claims, user_target, user_tokens, TokenContext, TokenResponse, UserGrant,
};
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oauth::resource::Target;
use crate::oauth::scope;
use crate::store::clients::Client;
use crate::store::grants::RefreshRow;
use crate::store::{self, StoreError};

const MAX_TOKEN_LEN: usize = 256;

pub async fn refresh(
    ctx: &TokenContext<'_>,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let token = params.require("refresh_token")?;
    let invalid = || OAuthError::invalid_grant("The refresh token is invalid, expired or revoked.");
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid());
    }
    let now = ctx.now;
    let (row, mut grant) = store::grants::find_refresh(ctx.db, &ctx.secrets.hash(token))
        .await?
        .ok_or_else(invalid)?;
    if grant.client_id != client.client_id {
        return Err(invalid());
    }
    // RFC 9449 5: a refresh token bound to a key needs a proof by that key.
    if grant.dpop_jkt.is_some() && grant.dpop_jkt != ctx.jkt {
        return Err(OAuthError::invalid_grant(
            "This refresh token is bound to a DPoP key: send a DPoP proof signed by that key.",
        ));
    }
    if grant.revoked_at.is_some()
        || grant.expires_at <= now
        || !store::users::is_active(ctx.db, &grant.user_id).await?
    {
        return Err(invalid());
    }

    // A refresh may narrow the scope of the new access token, never widen it.
    let granted = scope::split(&grant.scope);
    let scopes = match params.get("scope") {
        None => granted.clone(),
        Some(requested) => {
            let requested = scope::parse(requested)?;
            if let Some(extra) = requested.iter().find(|s| !granted.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "The scope `{extra}` was not part of the original grant."
                )));
            }
            requested
        }
    };
    // Checked before the rotation, so a refused `resource` does not spend the token.
    let target = user_target(ctx.db, client, params, &user_grant(client, &grant, &scopes)).await?;

    let next = successor(ctx.secrets, token);
    let generation = row.generation;
    if generation == grant.refresh_generation {
        if row.expires_at <= now {
            return Err(invalid());
        }
        // The write comes first: concurrent rotations queue on it.
        let txn = ctx.db.begin().await?;
        if store::grants::advance(&txn, &grant.id, generation, now).await? {
            store::grants::insert_refresh(
                &txn,
                &RefreshRow {
                    token_hash: ctx.secrets.hash(&next),
                    grant_id: grant.id.clone(),
                    generation: generation + 1,
                    created_at: now,
                    expires_at: (now + ctx.lifetimes.refresh_token_idle.as_i64())
                        .min(grant.expires_at),
                },
            )
            .await?;
            txn.commit().await.map_err(StoreError::from)?;
            return respond(ctx, client, &grant, &scopes, &target, next).await;
        }
        drop(txn);
        // Someone else rotated (or revoked) it in the meantime: look again.
        grant = store::grants::get(ctx.db, &row.grant_id)
            .await?
            .ok_or_else(invalid)?;
    }

    let within_grace = grant.revoked_at.is_none()
        && generation + 1 == grant.refresh_generation
        && grant
            .rotated_at
            .is_some_and(|t| now - t <= ctx.lifetimes.refresh_grace.as_i64());
    if within_grace {
        return respond(ctx, client, &grant, &scopes, &target, next).await;
    }

    store::grants::revoke(ctx.db, &grant.id, now).await?;
    crate::metrics::Metrics::incr(&ctx.metrics.refresh_reuse_detected);
    tracing::warn!(
        client_id = %client.client_id,
        grant_id = %grant.id,
        generation,
        current = grant.refresh_generation,
        "refresh token reuse detected; the token family is revoked"
    );
    Err(OAuthError::invalid_grant(
        "The refresh token was already used; this grant is revoked.",
    ))
}

fn user_grant<'a>(
    client: &'a Client,
    grant: &'a store::grants::GrantRow,
    scopes: &'a [String],
) -> UserGrant<'a> {
    UserGrant {
        grant_id: &grant.id,
        user_id: &grant.user_id,
        client_id: &grant.client_id,
        scopes,
        auth_time: grant.auth_time,
        amr: grant.amr.as_deref(),
        session_id: grant.session_id.as_deref(),
        nonce: None,
        id_token_claims: grant.id_token_claims.as_deref(),
        resources: &grant.resources,
        sector: client.pairwise_sector(),
    }
}

async fn respond(
    ctx: &TokenContext<'_>,
    client: &Client,
    grant: &store::grants::GrantRow,
    scopes: &[String],
    target: &Target,
    refresh_token: String,
) -> Result<TokenResponse, OAuthError> {
    let user_grant = user_grant(client, grant, scopes);
    let claims = user_claims(ctx.db, ctx.claims, &user_grant, target).await?;
    user_tokens(ctx, &user_grant, target, &claims, Some(refresh_token))
}
