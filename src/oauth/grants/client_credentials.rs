//! grant_type=client_credentials (RFC 6749 4.4): a confidential client acting for itself. An
//! access token only: no refresh token, no ID token, and no user scopes.

use super::{TokenContext, TokenResponse};
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oauth::resource::{self, Granted};
use crate::oauth::scope;
use crate::store::clients::Client;
use crate::tokens::{access as access_token, AccessGrant};

/// Scopes about a user, which make no sense without one.
const USER_ONLY: [&str; 2] = ["openid", "offline_access"];

pub async fn issue(
    ctx: &TokenContext<'_>,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::unauthorized_client(
            "Public clients cannot use the client credentials grant.",
        ));
    }
    let scopes = match params.get("scope") {
        Some(requested) => {
            let requested = scope::parse(requested)?;
            if let Some(bad) = requested.iter().find(|s| USER_ONLY.contains(&s.as_str())) {
                return Err(OAuthError::invalid_scope(format!(
                    "`{bad}` is not a client credentials scope."
                )));
            }
            if let Some(bad) = requested.iter().find(|s| !client.scopes.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "The scope `{bad}` is not allowed for this client."
                )));
            }
            requested
        }
        // RFC 6749 3.3: without a scope parameter, the client's allowed scopes.
        None => client
            .scopes
            .iter()
            .filter(|s| !USER_ONLY.contains(&s.as_str()))
            .cloned()
            .collect(),
    };
    let target = resource::target(ctx.db, client, params, Granted::Client, &scopes).await?;
    let scope = scope::join(&target.scopes);
    let lifetime = ctx.lifetimes.access_token.as_i64();
    let access = access_token::issue(
        ctx.keys.signer(),
        ctx.issuer,
        &AccessGrant {
            extra: None,
            subject: &client.client_id,
            client_id: &client.client_id,
            scope: &scope,
            grant_id: None,
            auth_time: None,
            jkt: ctx.jkt.as_deref(),
            audience: &target.audience,
        },
        ctx.now,
        lifetime,
    )?;
    Ok(TokenResponse {
        access_token: access.token,
        token_type: ctx.token_type(),
        expires_in: lifetime,
        scope,
        id_token: None,
        refresh_token: None,
    })
}
