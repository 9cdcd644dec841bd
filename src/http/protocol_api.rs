//! The protocol's JSON endpoints: token and userinfo. Each handler reads the request, calls
//! one logic function and maps the result.

use poem::http::{header, Method};
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use serde::Serialize;

use super::{errors, extract};
use crate::oauth::client_auth::Credentials;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::TokenContext;
use crate::oauth::params::Params;
use crate::oauth::{device, introspect, revoke, token};
use crate::oidc::userinfo;
use crate::state::AppState;

/// `POST /oauth/token` (RFC 6749 3.2).
#[handler]
pub async fn token_endpoint(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let result = async {
        let (params, credentials) = client_form(req, body).await?;
        let ctx = TokenContext {
            db: &state.db,
            secrets: &state.secrets,
            keys: state.keys.current(),
            issuer: &state.issuer,
            lifetimes: &state.config.lifetimes,
            metrics: &state.metrics,
            now: state.clock.now(),
        };
        token::token(&ctx, &credentials, &params).await
    }
    .await;
    json_or_error(result)
}

/// The form body, and the client credentials it and the Authorization header carry.
async fn client_form(req: &Request, body: Body) -> Result<(Params, Credentials), OAuthError> {
    let params = extract::form(req.headers(), body).await?;
    let credentials = extract::credentials(req.headers(), &params)?;
    Ok((params, credentials))
}

/// A JSON success (no-store), or the RFC 6749 5.2 error.
fn json_or_error<T: Serialize>(result: Result<T, OAuthError>) -> Response {
    match result.and_then(|v| serde_json::to_string(&v).map_err(|e| OAuthError::server_error(&e))) {
        Ok(json) => Response::builder()
            .content_type("application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache")
            .body(json),
        Err(e) => errors::token_error(&e),
    }
}

/// `POST /oauth/device_authorization` (RFC 8628 3.1).
#[handler]
pub async fn device_authorization_endpoint(
    req: &Request,
    body: Body,
    Data(state): Data<&AppState>,
) -> Response {
    let result = async {
        let (params, credentials) = client_form(req, body).await?;
        device::authorize_device(
            &state.db,
            &state.secrets,
            &credentials,
            &params,
            &state.issuer,
            state.config.lifetimes.device_code.as_i64(),
            state.config.device.interval.as_i64(),
            state.clock.now(),
        )
        .await
    }
    .await;
    json_or_error(result)
}

/// `POST /oauth/introspect` (RFC 7662).
#[handler]
pub async fn introspection_endpoint(
    req: &Request,
    body: Body,
    Data(state): Data<&AppState>,
) -> Response {
    let result = async {
        let (params, credentials) = client_form(req, body).await?;
        let keys = state.keys.current();
        introspect::introspect(
            &state.db,
            &state.secrets,
            &keys,
            &state.issuer,
            &credentials,
            &params,
            state.clock.now(),
        )
        .await
    }
    .await;
    json_or_error(result)
}

/// `POST /oauth/revoke` (RFC 7009): 200 with an empty body, for unknown tokens too.
#[handler]
pub async fn revocation_endpoint(
    req: &Request,
    body: Body,
    Data(state): Data<&AppState>,
) -> Response {
    let result = async {
        let (params, credentials) = client_form(req, body).await?;
        let keys = state.keys.current();
        revoke::revoke(
            &state.db,
            &state.secrets,
            &keys,
            &state.issuer,
            &credentials,
            &params,
            state.clock.now(),
        )
        .await
    }
    .await;
    match result {
        Ok(()) => Response::builder()
            .header(header::CACHE_CONTROL, "no-store")
            .finish(),
        Err(e) => errors::token_error(&e),
    }
}

/// `GET/POST /oauth/userinfo` (OIDC Core 5.3).
#[handler]
pub async fn userinfo_endpoint(
    req: &Request,
    body: Body,
    Data(state): Data<&AppState>,
) -> Response {
    let form = if req.method() == Method::POST
        && req.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/x-www-form-urlencoded")
        }) {
        match extract::form(req.headers(), body).await {
            Ok(f) => Some(f),
            Err(e) => return errors::bearer_error(Some(&e)),
        }
    } else {
        None
    };
    let token = match extract::bearer(req.headers(), form.as_ref()) {
        Ok(Some(t)) => t,
        Ok(None) => return errors::bearer_error(None),
        Err(e) => return errors::bearer_error(Some(&e)),
    };
    let keys = state.keys.current();
    match userinfo::userinfo(&state.db, &keys, &state.issuer, &token, state.clock.now()).await {
        Ok(claims) => Response::builder()
            .content_type("application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .body(serde_json::Value::Object(claims).to_string()),
        Err(e) => errors::bearer_error(Some(&e)),
    }
}
