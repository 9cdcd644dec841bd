//! Admin authentication: a bearer access token this provider issued by client credentials to
//! a client that holds the `admin` scope. No token or a bad one is 401, a token without the
//! scope is 403 (RFC 6750 3.1), both with `WWW-Authenticate: Bearer`.

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use crate::http::errors;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope;
use crate::oidc::userinfo;
use crate::state::AppState;
use crate::store::{self, StoreError};

/// Who is calling the admin API.
#[derive(Debug, Clone)]
pub struct Admin {
    pub client_id: String,
}

/// An access token with the `admin` scope, from `POST /oauth/token` with
/// `grant_type=client_credentials` by an admin client (`oidcd client create --admin`).
#[derive(SecurityScheme)]
#[oai(
    rename = "admin_bearer",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check"
)]
pub struct AdminAuth(pub Admin);

fn refuse(error: OAuthError) -> poem::Error {
    poem::Error::from_response(errors::bearer_error(Some(&error)))
}

async fn check(req: &Request, bearer: Bearer) -> poem::Result<Admin> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| refuse(OAuthError::server_error(&"no application state")))?;
    let keys = state.keys.current();
    let claims = userinfo::check_access_token(
        &state.db,
        &keys,
        &state.access_tokens,
        &bearer.token,
        state.clock.now(),
    )
    .await
    .map_err(refuse)?;
    let insufficient = || {
        refuse(OAuthError::new(
            ErrorCode::InsufficientScope,
            "The admin API needs a client credentials token with the admin scope.",
        ))
    };
    // A client credentials token (the client is its own subject) carrying `admin`.
    if claims.subject != claims.client_id || !scope::contains(&claims.scopes, scope::ADMIN) {
        return Err(insufficient());
    }
    // The client must still exist and still be an admin client.
    match store::clients::get(&state.db, &claims.client_id).await {
        Ok(c) if c.scopes.iter().any(|s| s == scope::ADMIN) => Ok(Admin {
            client_id: claims.client_id,
        }),
        Ok(_) => Err(insufficient()),
        Err(StoreError::NotFound) => Err(refuse(OAuthError::invalid_token(
            "The client no longer exists.",
        ))),
        Err(e) => Err(refuse(e.into())),
    }
}
