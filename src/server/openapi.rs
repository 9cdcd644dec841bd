//! The one OpenAPI service: every JSON endpoint, its security schemes and error shapes.
//! `GET /openapi.json` serves it, `GET /docs` browses it, `oidcd openapi` prints it, and
//! `openapi/openapi.json` is its committed copy (a test fails when they differ).

use poem_openapi::OpenApiService;

use crate::admin::{
    ClientsApi, InitialAccessTokensApi, KeysApi, LogoutDeliveriesApi, ResourcesApi, UsersApi,
};
use crate::http::discovery_api::DiscoveryApi;
use crate::http::protocol_api::ProtocolApi;
use crate::http::registration_api::RegistrationApi;

pub type Apis = (
    DiscoveryApi,
    ProtocolApi,
    RegistrationApi,
    ClientsApi,
    ResourcesApi,
    InitialAccessTokensApi,
    UsersApi,
    LogoutDeliveriesApi,
    KeysApi,
);

const DESCRIPTION: &str = "\
An OpenID Connect provider. Applications configure themselves from the discovery document; \
the authorization endpoint (`/oauth/authorize`), the device page (`/device`) and logout \
(`/oauth/logout`) are pages for people and are described there, not here.\n\n\
The admin API (`/admin/...`) takes a bearer access token issued by this provider with the \
`admin` scope (client credentials of an admin client, made with `oidcd client create --admin`).";

/// The service, optionally naming the server it runs at.
pub fn service(server: Option<&str>) -> OpenApiService<Apis, ()> {
    let service = OpenApiService::new(
        (
            DiscoveryApi,
            ProtocolApi,
            RegistrationApi,
            ClientsApi,
            ResourcesApi,
            InitialAccessTokensApi,
            UsersApi,
            LogoutDeliveriesApi,
            KeysApi,
        ),
        "oidcd",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION);
    match server {
        Some(url) => service.server(url),
        None => service,
    }
}

/// The document as committed in `openapi/openapi.json` (no server: it is the same for every
/// deployment).
pub fn spec() -> String {
    service(None).spec()
}
