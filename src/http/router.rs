//! Assembles every route, and lists the protocol endpoints it mounts so discovery can be
//! derived from them.

use poem::{get, post, EndpointExt as _, IntoEndpoint, Route};

use super::{discovery_api, health, protocol_api};
use crate::oidc::discovery::Endpoint;
use crate::state::AppState;
use crate::web;

/// The protocol endpoints this router mounts.
pub const MOUNTED: &[Endpoint] = &[
    Endpoint::Jwks,
    Endpoint::Authorization,
    Endpoint::Token,
    Endpoint::Userinfo,
    Endpoint::EndSession,
    Endpoint::DeviceAuthorization,
    Endpoint::Introspection,
    Endpoint::Revocation,
];

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
        .at(
            Endpoint::Authorization.path(),
            get(web::authorize::endpoint).post(web::authorize::endpoint),
        )
        .at(Endpoint::Token.path(), post(protocol_api::token_endpoint))
        .at(
            Endpoint::Userinfo.path(),
            get(protocol_api::userinfo_endpoint).post(protocol_api::userinfo_endpoint),
        )
        .at(
            Endpoint::EndSession.path(),
            get(web::logout::endpoint).post(web::logout::endpoint),
        )
        .at(
            Endpoint::DeviceAuthorization.path(),
            post(protocol_api::device_authorization_endpoint),
        )
        .at(
            Endpoint::Introspection.path(),
            post(protocol_api::introspection_endpoint),
        )
        .at(
            Endpoint::Revocation.path(),
            post(protocol_api::revocation_endpoint),
        )
        .at(
            web::device::PATH,
            get(web::device::endpoint).post(web::device::endpoint),
        )
        .at("/healthz", get(health::healthz))
        .data(state)
}
