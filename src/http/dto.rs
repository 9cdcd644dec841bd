//! The protocol endpoints' request and response shapes as the OpenAPI document describes them,
//! and the documented error responses. The protocol modules own the data; these types only
//! give it a schema.

use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

use super::errors;
use crate::oauth::device::DeviceAuthorizationResponse;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::TokenResponse;
use crate::oauth::introspect::Introspection;

/// An RFC 6749 5.2 error.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ErrorBody {
    /// invalid_request, invalid_client, invalid_grant, unauthorized_client,
    /// unsupported_grant_type, invalid_scope, authorization_pending, slow_down,
    /// access_denied, expired_token, invalid_token, insufficient_scope, server_error,
    /// temporarily_unavailable.
    pub error: String,
    /// What went wrong, for the developer.
    pub error_description: String,
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        Self {
            error: "invalid_grant".into(),
            error_description: "The authorization code is invalid or has expired.".into(),
        }
    }
}

/// `POST /oauth/token` parameters (form-encoded). Which ones apply depends on `grant_type`.
#[derive(Debug, Object)]
pub struct TokenRequest {
    /// authorization_code, refresh_token, client_credentials, or
    /// urn:ietf:params:oauth:grant-type:device_code.
    pub grant_type: String,
    /// authorization_code: the code from the redirect.
    pub code: Option<String>,
    /// authorization_code: the redirect_uri of the authorization request.
    pub redirect_uri: Option<String>,
    /// authorization_code: the PKCE verifier (RFC 7636).
    pub code_verifier: Option<String>,
    /// refresh_token: the refresh token.
    pub refresh_token: Option<String>,
    /// device_code grant: the device code.
    pub device_code: Option<String>,
    /// refresh_token, client_credentials: a scope to narrow to.
    pub scope: Option<String>,
    /// Public clients, and client_secret_post.
    pub client_id: Option<String>,
    /// client_secret_post only.
    pub client_secret: Option<String>,
}

/// RFC 6749 5.1, OIDC Core 3.1.3.3.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TokenBody {
    /// An RFC 9068 JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// With the openid scope (not for client_credentials).
    pub id_token: Option<String>,
    /// With offline_access, for clients registered for refresh_token.
    pub refresh_token: Option<String>,
}

impl From<TokenResponse> for TokenBody {
    fn from(t: TokenResponse) -> Self {
        Self {
            access_token: t.access_token,
            token_type: t.token_type.to_owned(),
            expires_in: t.expires_in,
            scope: t.scope,
            id_token: t.id_token,
            refresh_token: t.refresh_token,
        }
    }
}

/// `POST /oauth/device_authorization` parameters (form-encoded).
#[derive(Debug, Object)]
pub struct DeviceAuthorizationRequest {
    /// Required for public clients (confidential ones may use Basic instead).
    pub client_id: Option<String>,
    /// client_secret_post only.
    pub client_secret: Option<String>,
    /// Space-separated scopes.
    pub scope: String,
}

/// RFC 8628 3.2.
#[derive(Debug, Object)]
pub struct DeviceAuthorizationBody {
    pub device_code: String,
    /// Eight characters, shown as XXXX-XXXX.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    /// Seconds to wait between polls.
    pub interval: i64,
}

impl From<DeviceAuthorizationResponse> for DeviceAuthorizationBody {
    fn from(d: DeviceAuthorizationResponse) -> Self {
        Self {
            device_code: d.device_code,
            user_code: d.user_code,
            verification_uri: d.verification_uri,
            verification_uri_complete: d.verification_uri_complete,
            expires_in: d.expires_in,
            interval: d.interval,
        }
    }
}

/// `POST /oauth/introspect` and `/oauth/revoke` parameters (form-encoded).
#[derive(Debug, Object)]
pub struct TokenRequestForm {
    /// The token.
    pub token: String,
    /// access_token or refresh_token (a hint only).
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// RFC 7662 2.2. Only `active` is present when the token is not active.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct IntrospectionBody {
    pub active: bool,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    pub token_type: Option<String>,
    pub iss: Option<String>,
    pub jti: Option<String>,
}

impl From<Introspection> for IntrospectionBody {
    fn from(i: Introspection) -> Self {
        Self {
            active: i.active,
            scope: i.scope,
            client_id: i.client_id,
            sub: i.sub,
            exp: i.exp,
            iat: i.iat,
            token_type: i.token_type.map(str::to_owned),
            iss: i.iss,
            jti: i.jti,
        }
    }
}

/// `POST /oauth/userinfo` parameters (form-encoded), when the token is not in the header.
#[derive(Debug, Object)]
pub struct UserinfoForm {
    pub access_token: Option<String>,
}

/// A published signing key (RFC 7517): public members only.
#[derive(Debug, Object)]
pub struct JwkBody {
    pub kty: String,
    #[oai(rename = "use")]
    pub key_use: String,
    pub alg: String,
    pub kid: String,
    pub n: String,
    pub e: String,
}

/// RFC 7517 5.
#[derive(Debug, Object)]
pub struct JwkSetBody {
    pub keys: Vec<JwkBody>,
}

/// OpenID Provider Metadata (OIDC Discovery 1.0 section 3, RFC 8414 section 2): issuer,
/// endpoints and every `*_supported` list, derived from what this server serves.
#[derive(Debug, Object)]
pub struct ProviderMetadataBody {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub end_session_endpoint: String,
    pub device_authorization_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub prompt_values_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub authorization_response_iss_parameter_supported: bool,
    /// The page for developers: how redirect URIs match and where browser apps may call from.
    pub service_documentation: String,
}

fn json_content() -> Vec<MetaMediaType> {
    vec![MetaMediaType {
        content_type: "application/json",
        schema: ErrorBody::schema_ref(),
    }]
}

fn header(name: &str, description: &str) -> MetaHeader {
    MetaHeader {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        required: true,
        deprecated: false,
        schema: String::schema_ref(),
    }
}

fn response(status: u16, description: &'static str, headers: Vec<MetaHeader>) -> MetaResponse {
    MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: json_content(),
        headers,
    }
}

/// A protocol error from a client-authenticated endpoint (RFC 6749 5.2).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct OAuthFailure {
    pub error: OAuthError,
    /// The client tried HTTP Basic: an `invalid_client` answer carries the Basic challenge.
    pub tried_basic: bool,
}

impl OAuthFailure {
    pub fn new(error: OAuthError, tried_basic: bool) -> Self {
        Self { error, tried_basic }
    }
}

impl poem::error::ResponseError for OAuthFailure {
    fn status(&self) -> poem::http::StatusCode {
        errors::token_error(&self.error, self.tried_basic).status()
    }

    fn as_response(&self) -> Response {
        errors::token_error(&self.error, self.tried_basic)
    }
}

impl From<OAuthError> for OAuthFailure {
    fn from(error: OAuthError) -> Self {
        Self::new(error, false)
    }
}

impl ApiResponse for OAuthFailure {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![
                response(
                    400,
                    "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, \
                     invalid_scope, or for the device grant authorization_pending, slow_down, \
                     access_denied, expired_token.",
                    vec![header("Cache-Control", "no-store")],
                ),
                response(
                    401,
                    "invalid_client: client authentication failed. The Basic challenge comes \
                     only when the client tried HTTP Basic.",
                    vec![header("WWW-Authenticate", "Basic realm=\"oidcd\"")],
                ),
                response(500, "server_error (details are in the server log).", vec![]),
                response(
                    503,
                    "temporarily_unavailable: the database cannot be reached.",
                    vec![header("Retry-After", "Seconds to wait.")],
                ),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        errors::token_error(&self.error, self.tried_basic)
    }
}

/// A protected-resource error (RFC 6750 3). `None`: no token was sent.
#[derive(Debug, thiserror::Error)]
#[error("bearer token refused")]
pub struct BearerFailure(pub Option<OAuthError>);

impl poem::error::ResponseError for BearerFailure {
    fn status(&self) -> poem::http::StatusCode {
        errors::bearer_error(self.0.as_ref()).status()
    }

    fn as_response(&self) -> Response {
        errors::bearer_error(self.0.as_ref())
    }
}

impl ApiResponse for BearerFailure {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![
                response(
                    400,
                    "invalid_request: the token was sent twice or in a malformed header.",
                    vec![header(
                        "WWW-Authenticate",
                        "Bearer error=\"invalid_request\"",
                    )],
                ),
                response(
                    401,
                    "No token (a bare challenge), or invalid_token: malformed, expired, revoked.",
                    vec![header(
                        "WWW-Authenticate",
                        "Bearer realm=\"oidcd\", error=\"invalid_token\"",
                    )],
                ),
                response(
                    403,
                    "insufficient_scope: the token lacks a needed scope.",
                    vec![header(
                        "WWW-Authenticate",
                        "Bearer error=\"insufficient_scope\"",
                    )],
                ),
                response(503, "temporarily_unavailable.", vec![]),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

impl IntoResponse for BearerFailure {
    fn into_response(self) -> Response {
        errors::bearer_error(self.0.as_ref())
    }
}
