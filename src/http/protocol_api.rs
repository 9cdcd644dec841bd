//! The protocol's JSON endpoints: token and userinfo. Each handler reads the request, calls
//! one logic function and maps the result.

use poem::http::{header, Method};
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use super::{errors, extract};
use crate::oauth::grants::TokenContext;
use crate::oauth::token;
use crate::oidc::userinfo;
use crate::state::AppState;

/// `POST /oauth/token` (RFC 6749 3.2).
#[handler]
pub async fn token_endpoint(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let result = async {
        let params = extract::form(req.headers(), body).await?;
        let credentials = extract::credentials(req.headers(), &params)?;
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
    match result {
        Ok(response) => match serde_json::to_string(&response) {
            Ok(json) => Response::builder()
                .content_type("application/json")
                .header(header::CACHE_CONTROL, "no-store")
                .header(header::PRAGMA, "no-cache")
                .body(json),
            Err(e) => errors::token_error(&crate::oauth::error::OAuthError::server_error(&e)),
        },
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
