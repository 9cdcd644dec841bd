//! `/.well-known/*` metadata and `/jwks.json`: prepared bytes, no database work.

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi};

use super::dto::{JwkSetBody, ProviderMetadataBody};
use super::payload::Prepared;
use super::tags::ApiTags;
use crate::state::AppState;

#[derive(ApiResponse)]
pub enum MetadataOk {
    /// The provider's metadata.
    #[oai(status = 200)]
    Ok(
        Prepared<ProviderMetadataBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Access-Control-Allow-Origin")] String,
    ),
}

#[derive(ApiResponse)]
pub enum JwksOk {
    /// The published keys: the active one, the next one, and retired ones whose tokens may
    /// still be live. `max-age` is derived from the rotation schedule.
    #[oai(status = 200)]
    Ok(
        Prepared<JwkSetBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Access-Control-Allow-Origin")] String,
    ),
}

pub struct DiscoveryApi;

#[OpenApi(tag = "ApiTags::Discovery")]
impl DiscoveryApi {
    /// OpenID Provider Configuration
    ///
    /// OpenID Connect Discovery 1.0 metadata: everything a relying party needs to configure
    /// itself. Every `*_supported` value is derived from what the server enforces.
    ///
    /// **Permissions**: public.
    #[oai(
        path = "/.well-known/openid-configuration",
        method = "get",
        operation_id = "openid_configuration"
    )]
    async fn openid_configuration(&self, Data(state): Data<&AppState>) -> MetadataOk {
        metadata(state)
    }

    /// Authorization Server Metadata
    ///
    /// The same document at the RFC 8414 path.
    ///
    /// **Permissions**: public.
    #[oai(
        path = "/.well-known/oauth-authorization-server",
        method = "get",
        operation_id = "oauth_authorization_server"
    )]
    async fn oauth_authorization_server(&self, Data(state): Data<&AppState>) -> MetadataOk {
        metadata(state)
    }

    /// JSON Web Key Set
    ///
    /// The public keys that verify every token this provider signs (RS256, `kid` in each
    /// token's header).
    ///
    /// **Permissions**: public.
    #[oai(path = "/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, Data(state): Data<&AppState>) -> JwksOk {
        let max_age = state.config.keys.jwks_max_age().0;
        JwksOk::Ok(
            Prepared::new(state.keys.current().jwks().clone()),
            format!("public, max-age={max_age}"),
            "*".into(),
        )
    }
}

fn metadata(state: &AppState) -> MetadataOk {
    MetadataOk::Ok(
        Prepared::new(state.discovery.clone()),
        "public, max-age=300".into(),
        "*".into(),
    )
}
