//! Assembles every route, and lists the protocol endpoints it mounts so discovery can be
//! derived from them.

use poem::{get, EndpointExt as _, IntoEndpoint, Route};

use super::{discovery_api, health};
use crate::oidc::discovery::Endpoint;
use crate::state::AppState;

/// The protocol endpoints this router mounts.
pub const MOUNTED: &[Endpoint] = &[Endpoint::Jwks];

pub fn build(state: AppState) -> impl IntoEndpoint {
    Route::new()
        .at(
            "/.well-known/openid-configuration",
            get(discovery_api::metadata),
        )
        .at(
            "/.well-known/oauth-authorization-server",
            get(discovery_api::metadata),
        )
        .at(Endpoint::Jwks.path(), get(discovery_api::jwks))
        .at("/healthz", get(health::healthz))
        .data(state)
}
