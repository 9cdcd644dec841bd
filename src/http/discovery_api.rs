//! `/.well-known/*` metadata and `/jwks.json`: prepared bytes, no database work.

use poem::http::header;
use poem::web::Data;
use poem::{handler, Body, Response};

use crate::state::AppState;

fn json(body: bytes::Bytes, cache_control: String) -> Response {
    Response::builder()
        .content_type("application/json")
        .header(header::CACHE_CONTROL, cache_control)
        // Browser-based clients read these documents cross-origin.
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .body(Body::from_bytes(body))
}

/// OpenID Connect Discovery 1.0 and RFC 8414 metadata (the same document at both paths).
#[handler]
pub fn metadata(Data(state): Data<&AppState>) -> Response {
    json(state.discovery.clone(), "public, max-age=300".to_owned())
}

/// The published signing keys: next, active, and retired ones still in use.
#[handler]
pub fn jwks(Data(state): Data<&AppState>) -> Response {
    let max_age = state.config.keys.jwks_max_age().0;
    json(
        state.keys.current().jwks().clone(),
        format!("public, max-age={max_age}"),
    )
}
