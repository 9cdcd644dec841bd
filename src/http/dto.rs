//! The protocol endpoints' request and response shapes as the OpenAPI document describes them,
//! and the documented error responses. The protocol modules own the data; these types only
//! give it a schema, and an example that works when tried (`tests/api/openapi_examples.rs`
//! sends every one of them to a running server).

use std::collections::BTreeMap;

use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{Example, Type};
use poem_openapi::{ApiResponse, Enum, NewType, Object};
use serde_json::Value;

use super::errors;
use crate::oauth::device::DeviceAuthorizationResponse;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::TokenResponse;
use crate::oauth::introspect::Introspection;
use crate::oidc::discovery::Endpoint;
use crate::store::clients::{AuthMethod, GrantType as StoredGrantType, SubjectType};

// ---------------------------------------------------------------------------------------
// The values the examples share, so that they tell one story: the `photos` client of
// `https://id.example.com`, its user `grace`, and the active signing key.

/// The issuer in the examples.
pub const EXAMPLE_ISSUER: &str = "https://id.example.com";
/// The client the admin API's create example registers, and the protocol examples' client.
pub const EXAMPLE_CLIENT_ID: &str = "photos";
/// Its redirect URI.
pub const EXAMPLE_REDIRECT_URI: &str = "https://photos.example.com/callback";
/// The `sub` (the user's `id`) of `grace`.
pub const EXAMPLE_SUB: &str = "0b6f1a8e-6c38-4a6e-9a39-3d6f1c2b9e57";
/// The active key's `kid`: the RFC 7638 thumbprint of the RFC 7517 A.1 key below.
pub const EXAMPLE_KID: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
/// The modulus of that key (RFC 7517 A.1).
const EXAMPLE_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
/// The scopes `photos` asks for.
pub const EXAMPLE_SCOPE: &str = "openid profile email offline_access";
/// An access token for `grace` at `photos` (the shape of one; the signature is made up).
const EXAMPLE_ACCESS_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ik56YkxzWGg4dURDY2QtNk1Od1hGNFdfN25vV1hGWkFmSGt4WnNSR0M5WHMiLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUuY29tIiwic3ViIjoiMGI2ZjFhOGUtNmMzOC00YTZlLTlhMzktM2Q2ZjFjMmI5ZTU3IiwiYXVkIjoiaHR0cHM6Ly9pZC5leGFtcGxlLmNvbSIsImNsaWVudF9pZCI6InBob3RvcyIsInNjb3BlIjoib3BlbmlkIHByb2ZpbGUgZW1haWwgb2ZmbGluZV9hY2Nlc3MiLCJpYXQiOjE3NjcyMjU2MDAsImV4cCI6MTc2NzIyOTIwMCwianRpIjoiM2U1YjJjMWQ5ZjhhNGI3YyJ9.dTR5nNqNrsxqjWP_lCTH2ESWpeTv9f1yZraJ_wsSjjE1-u08-M6rvKB_wkE3Gel9sQOwWe2JyJgj2l4eydzvPo";
/// The ID token of the same exchange (made-up signature).
const EXAMPLE_ID_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ik56YkxzWGg4dURDY2QtNk1Od1hGNFdfN25vV1hGWkFmSGt4WnNSR0M5WHMiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUuY29tIiwic3ViIjoiMGI2ZjFhOGUtNmMzOC00YTZlLTlhMzktM2Q2ZjFjMmI5ZTU3IiwiYXVkIjoicGhvdG9zIiwiaWF0IjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyMjkyMDAsImF1dGhfdGltZSI6MTc2NzIyNTU5MCwibm9uY2UiOiJuLTBTNl9XekEyTWoifQ.8Lz9gavvzfmuXl3ljRqGgxdQPqdkIjCbwhLR7yWh5neJ0L-nUqfiq9RRD08-T2DNr2ICpCiD-5e7cRCrNgB4Xo";
/// A refresh token (opaque, 256 bits).
const EXAMPLE_REFRESH_TOKEN: &str = "1swKCIwHaDxlzSZoYMq42Us6GTexdCDZ2jDKKZwJ-3c";
/// The access token's `jti`.
const EXAMPLE_JTI: &str = "mWZ1ZNE5BQsk0bm7lgUZPA";
/// 2026-01-01T00:00:00Z, when the example tokens were issued.
const EXAMPLE_IAT: i64 = 1_767_225_600;

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------
// Fixed values.

/// A grant type: the `grant_type` of a token request (RFC 6749 4.1.3, 4.4.2 and 6,
/// RFC 8628 3.4), and what a client is registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum GrantType {
    #[oai(rename = "authorization_code")]
    AuthorizationCode,
    #[oai(rename = "refresh_token")]
    RefreshToken,
    #[oai(rename = "client_credentials")]
    ClientCredentials,
    #[oai(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl From<StoredGrantType> for GrantType {
    fn from(g: StoredGrantType) -> Self {
        match g {
            StoredGrantType::AuthorizationCode => Self::AuthorizationCode,
            StoredGrantType::RefreshToken => Self::RefreshToken,
            StoredGrantType::ClientCredentials => Self::ClientCredentials,
            StoredGrantType::DeviceCode => Self::DeviceCode,
        }
    }
}

/// How a client authenticates at the token, introspection, revocation and device
/// authorization endpoints (RFC 7591 2, OIDC Core 9): HTTP Basic, `client_id` and
/// `client_secret` in the form, a JWT signed with the secret (`client_secret_jwt`) or with one
/// of the client's keys (`private_key_jwt`), or (public clients) `client_id` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TokenEndpointAuthMethod {
    #[oai(rename = "client_secret_basic")]
    ClientSecretBasic,
    #[oai(rename = "client_secret_post")]
    ClientSecretPost,
    #[oai(rename = "client_secret_jwt")]
    ClientSecretJwt,
    #[oai(rename = "private_key_jwt")]
    PrivateKeyJwt,
    #[oai(rename = "none")]
    None,
}

impl From<AuthMethod> for TokenEndpointAuthMethod {
    fn from(m: AuthMethod) -> Self {
        match m {
            AuthMethod::ClientSecretBasic => Self::ClientSecretBasic,
            AuthMethod::ClientSecretPost => Self::ClientSecretPost,
            AuthMethod::ClientSecretJwt => Self::ClientSecretJwt,
            AuthMethod::PrivateKeyJwt => Self::PrivateKeyJwt,
            AuthMethod::None => Self::None,
        }
    }
}

/// What a client's users' `sub` is (OIDC Core 8): `public`, the user's id; `pairwise`, one
/// of the client's sector's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum SubjectTypeField {
    #[oai(rename = "public")]
    Public,
    #[oai(rename = "pairwise")]
    Pairwise,
}

impl From<SubjectType> for SubjectTypeField {
    fn from(t: SubjectType) -> Self {
        match t {
            SubjectType::Public => Self::Public,
            SubjectType::Pairwise => Self::Pairwise,
        }
    }
}

/// A `response_type` of the authorization endpoint: the authorization code flow only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ResponseType {
    #[oai(rename = "code")]
    Code,
}

/// Which kind of token is being introspected or revoked (RFC 7009 2.1): a hint only, the
/// other kind is looked up too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TokenTypeHint {
    #[oai(rename = "access_token")]
    AccessToken,
    #[oai(rename = "refresh_token")]
    RefreshToken,
}

// ---------------------------------------------------------------------------------------
// Errors, requests and answers.

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

impl Example for ErrorBody {
    fn example() -> Self {
        Self {
            error: "invalid_grant".into(),
            error_description: "The authorization code is invalid or has expired.".into(),
        }
    }
}

// A form field that is sent only when its grant or method uses it. Its example is empty, so a
// form filled in from the examples (the "Try it out" of `/docs`) leaves it empty, and an empty
// parameter counts as absent (RFC 6749 3.1): the example request stays a valid one. (Plain
// comments on these wrappers: a doc comment would become every field's title.)
#[derive(Debug, NewType)]
#[oai(example)]
pub struct WhenUsed(pub String);

impl Example for WhenUsed {
    fn example() -> Self {
        Self(String::new())
    }
}

// The token request example's `grant_type`, which a form at `/docs` starts from.
#[derive(Debug, NewType)]
#[oai(
    example,
    to_header = false,
    from_parameter = false,
    from_multipart = false
)]
pub struct GrantTypeField(pub GrantType);

impl Example for GrantTypeField {
    fn example() -> Self {
        Self(GrantType::ClientCredentials)
    }
}

// The token request example's `scope`: an admin client asking for an admin API token.
#[derive(Debug, NewType)]
#[oai(example)]
pub struct TokenScope(pub String);

impl Example for TokenScope {
    fn example() -> Self {
        Self("admin".into())
    }
}

// The device authorization example's `scope`.
#[derive(Debug, NewType)]
#[oai(example)]
pub struct DeviceScope(pub String);

impl Example for DeviceScope {
    fn example() -> Self {
        Self("openid profile offline_access".into())
    }
}

// The introspection and revocation example's `token` (RFC 7009's own example).
#[derive(Debug, NewType)]
#[oai(example)]
pub struct TokenValue(pub String);

impl Example for TokenValue {
    fn example() -> Self {
        Self("tGzv3JOkF0XG5Qx2TlKWIA".into())
    }
}

/// `POST /oauth/token` parameters (form-encoded). Which ones apply depends on `grant_type`.
/// The example is a client credentials request for an admin API token, by an admin client
/// that authenticates with HTTP Basic.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct TokenRequest {
    pub grant_type: GrantTypeField,
    /// authorization_code: the code from the redirect.
    pub code: Option<WhenUsed>,
    /// authorization_code: the redirect_uri of the authorization request.
    pub redirect_uri: Option<WhenUsed>,
    /// authorization_code: the PKCE verifier (RFC 7636).
    pub code_verifier: Option<WhenUsed>,
    /// refresh_token: the refresh token.
    pub refresh_token: Option<WhenUsed>,
    /// device_code grant: the device code.
    pub device_code: Option<WhenUsed>,
    /// refresh_token, client_credentials: a scope to narrow to (client_credentials without
    /// it: every scope the client is allowed, except openid and offline_access).
    pub scope: Option<TokenScope>,
    /// Resource indicators (RFC 8707), repeatable: the registered APIs the access token is
    /// for (its `aud`); it then carries only the scopes they accept. For the code, refresh
    /// and device grants they must be among those of the authorization request (none: all
    /// of them); for client credentials, among those the client is allowed (none: a token
    /// for this issuer).
    pub resource: Option<Vec<WhenUsed>>,
    /// Public clients, and client_secret_post.
    pub client_id: Option<WhenUsed>,
    /// client_secret_post only.
    pub client_secret: Option<WhenUsed>,
}

impl Example for TokenRequest {
    fn example() -> Self {
        Self {
            grant_type: GrantTypeField::example(),
            code: None,
            redirect_uri: None,
            code_verifier: None,
            refresh_token: None,
            device_code: None,
            scope: Some(TokenScope::example()),
            resource: None,
            client_id: None,
            client_secret: None,
        }
    }
}

/// RFC 6749 5.1, OIDC Core 3.1.3.3. The example answers an authorization code exchange with
/// the openid and offline_access scopes.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
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

impl Example for TokenBody {
    fn example() -> Self {
        Self {
            access_token: EXAMPLE_ACCESS_TOKEN.into(),
            token_type: "Bearer".into(),
            expires_in: 3600,
            scope: EXAMPLE_SCOPE.into(),
            id_token: Some(EXAMPLE_ID_TOKEN.into()),
            refresh_token: Some(EXAMPLE_REFRESH_TOKEN.into()),
        }
    }
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

/// `POST /oauth/device_authorization` parameters (form-encoded). The example is a
/// confidential client's request (it authenticates with HTTP Basic).
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct DeviceAuthorizationRequest {
    /// Required for public clients (confidential ones may use Basic instead).
    pub client_id: Option<WhenUsed>,
    /// client_secret_post only.
    pub client_secret: Option<WhenUsed>,
    /// Space-separated scopes.
    pub scope: DeviceScope,
    /// Resource indicators (RFC 8707), repeatable: registered APIs the client is allowed,
    /// which the tokens will be for.
    pub resource: Option<Vec<WhenUsed>>,
}

impl Example for DeviceAuthorizationRequest {
    fn example() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            scope: DeviceScope::example(),
            resource: None,
        }
    }
}

/// RFC 8628 3.2.
#[derive(Debug, Object)]
#[oai(example)]
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

impl Example for DeviceAuthorizationBody {
    fn example() -> Self {
        let verification_uri = format!(
            "{EXAMPLE_ISSUER}{}",
            crate::oauth::device::VERIFICATION_PATH
        );
        Self {
            device_code: "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS".into(),
            user_code: "WDJB-MJHT".into(),
            verification_uri_complete: format!("{verification_uri}?user_code=WDJB-MJHT"),
            verification_uri,
            expires_in: 600,
            interval: 5,
        }
    }
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

/// `POST /oauth/par` parameters (form-encoded, RFC 9126): the authorization request's own
/// parameters (as the authorization endpoint takes them), or a signed request object in
/// `request`, plus the client's authentication. The example pushes a code flow request with
/// PKCE for a client that authenticates with HTTP Basic.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct PushedAuthorizationRequest {
    /// `code`.
    pub response_type: Option<WhenUsed>,
    /// A redirect URI registered for the client.
    pub redirect_uri: Option<WhenUsed>,
    /// Space-separated scopes.
    pub scope: Option<WhenUsed>,
    pub state: Option<WhenUsed>,
    pub nonce: Option<WhenUsed>,
    /// PKCE (RFC 7636); required of public clients.
    pub code_challenge: Option<WhenUsed>,
    /// `S256`.
    pub code_challenge_method: Option<WhenUsed>,
    /// A request object (RFC 9101) signed with the client's keys or, for client_secret_jwt,
    /// its secret; its parameters replace the others.
    pub request: Option<WhenUsed>,
    /// The thumbprint of the DPoP key the code is to be bound to (RFC 9449 10). A `DPoP`
    /// proof sent with the push binds it to the proof's key the same way.
    pub dpop_jkt: Option<WhenUsed>,
    /// Resource indicators (RFC 8707), repeatable: registered APIs the client is allowed,
    /// which the tokens will be for.
    pub resource: Option<Vec<WhenUsed>>,
    /// Public clients, and client_secret_post.
    pub client_id: Option<WhenUsed>,
    /// client_secret_post only.
    pub client_secret: Option<WhenUsed>,
}

impl Example for PushedAuthorizationRequest {
    fn example() -> Self {
        let text = |s: &str| Some(WhenUsed(s.to_owned()));
        Self {
            response_type: text("code"),
            redirect_uri: text(EXAMPLE_REDIRECT_URI),
            scope: text("openid profile"),
            state: text("af0ifjsldkj"),
            nonce: None,
            code_challenge: text("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            code_challenge_method: text("S256"),
            request: None,
            dpop_jkt: None,
            resource: None,
            client_id: None,
            client_secret: None,
        }
    }
}

/// RFC 9126 2.2: where the request is kept, and for how long.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PushedAuthorizationBody {
    /// Send the person to the authorization endpoint with `client_id` and this
    /// `request_uri`; it works once.
    pub request_uri: String,
    pub expires_in: i64,
}

impl Example for PushedAuthorizationBody {
    fn example() -> Self {
        Self {
            request_uri: format!(
                "{}bwc4JK-ESC0w8acc191e-Y1LTC2",
                crate::oauth::authorize::REQUEST_URI_PREFIX
            ),
            expires_in: 60,
        }
    }
}

impl From<crate::oauth::authorize::Pushed> for PushedAuthorizationBody {
    fn from(p: crate::oauth::authorize::Pushed) -> Self {
        Self {
            request_uri: p.request_uri,
            expires_in: p.expires_in,
        }
    }
}

/// `POST /oauth/introspect` and `/oauth/revoke` parameters (form-encoded). The example names
/// a refresh token (RFC 7009's); the client authenticates with HTTP Basic.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct TokenRequestForm {
    /// The token.
    pub token: TokenValue,
    pub token_type_hint: Option<TokenTypeHint>,
    /// Public clients, and client_secret_post.
    pub client_id: Option<WhenUsed>,
    /// client_secret_post only.
    pub client_secret: Option<WhenUsed>,
}

impl Example for TokenRequestForm {
    fn example() -> Self {
        Self {
            token: TokenValue::example(),
            token_type_hint: Some(TokenTypeHint::RefreshToken),
            client_id: None,
            client_secret: None,
        }
    }
}

/// RFC 7662 2.2. Only `active` is present when the token is not active.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct IntrospectionBody {
    pub active: bool,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    /// `Bearer` for access tokens, `DPoP` for those bound to a key, `refresh_token` for
    /// refresh tokens.
    pub token_type: Option<String>,
    pub iss: Option<String>,
    pub jti: Option<String>,
    /// The token's audience: the issuer, or the resource it was issued for (RFC 8707); an
    /// array when it was issued for several.
    pub aud: Option<serde_json::Value>,
    /// The key the token is bound to (RFC 9449 6.2): `{"jkt": thumbprint}`.
    pub cnf: Option<Confirmation>,
}

/// `cnf` (RFC 7800): the key a token is bound to, by its JWK SHA-256 thumbprint.
#[derive(Debug, Object)]
pub struct Confirmation {
    pub jkt: String,
}

impl Example for IntrospectionBody {
    fn example() -> Self {
        Self {
            active: true,
            scope: Some(EXAMPLE_SCOPE.into()),
            client_id: Some(EXAMPLE_CLIENT_ID.into()),
            sub: Some(EXAMPLE_SUB.into()),
            exp: Some(EXAMPLE_IAT + 3600),
            iat: Some(EXAMPLE_IAT),
            token_type: Some("Bearer".into()),
            iss: Some(EXAMPLE_ISSUER.into()),
            jti: Some(EXAMPLE_JTI.into()),
            aud: Some(EXAMPLE_ISSUER.into()),
            cnf: None,
        }
    }
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
            aud: i.aud,
            cnf: i.cnf_jkt.map(|jkt| Confirmation { jkt }),
        }
    }
}

/// `POST /oauth/userinfo` parameters (form-encoded), when the token is not in the header.
#[derive(Debug, Object)]
pub struct UserinfoForm {
    pub access_token: Option<String>,
}

/// OIDC Core 5.3.2: `sub` and the claims the token's scopes release (profile, email, phone,
/// address; OIDC Core 5.4), those the user has. The example is what `profile email` releases.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UserinfoBody {
    /// The user's `id`.
    pub sub: String,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    pub nickname: Option<String>,
    pub preferred_username: Option<String>,
    pub profile: Option<String>,
    pub picture: Option<String>,
    pub website: Option<String>,
    pub gender: Option<String>,
    pub birthdate: Option<String>,
    pub zoneinfo: Option<String>,
    pub locale: Option<String>,
    /// When the user's record last changed (seconds since the epoch).
    pub updated_at: Option<i64>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub phone_number: Option<String>,
    pub phone_number_verified: Option<bool>,
    /// OIDC Core 5.1.1: formatted, street_address, locality, region, postal_code, country.
    pub address: Option<BTreeMap<String, Value>>,
}

impl Example for UserinfoBody {
    fn example() -> Self {
        Self {
            sub: EXAMPLE_SUB.into(),
            name: Some("Grace Hopper".into()),
            given_name: Some("Grace".into()),
            family_name: Some("Hopper".into()),
            middle_name: None,
            nickname: None,
            preferred_username: None,
            profile: None,
            picture: None,
            website: None,
            gender: None,
            birthdate: None,
            zoneinfo: None,
            locale: None,
            updated_at: Some(EXAMPLE_IAT),
            email: Some("grace@example.com".into()),
            email_verified: Some(true),
            phone_number: None,
            phone_number_verified: None,
            address: None,
        }
    }
}

/// A published signing key (RFC 7517): public members only.
#[derive(Debug, Object)]
#[oai(example)]
pub struct JwkBody {
    pub kty: String,
    #[oai(rename = "use")]
    pub key_use: String,
    pub alg: String,
    pub kid: String,
    pub n: String,
    pub e: String,
}

impl Example for JwkBody {
    fn example() -> Self {
        Self {
            kty: "RSA".into(),
            key_use: "sig".into(),
            alg: "RS256".into(),
            kid: EXAMPLE_KID.into(),
            n: EXAMPLE_N.into(),
            e: "AQAB".into(),
        }
    }
}

/// RFC 7517 5.
#[derive(Debug, Object)]
#[oai(example)]
pub struct JwkSetBody {
    pub keys: Vec<JwkBody>,
}

impl Example for JwkSetBody {
    fn example() -> Self {
        Self {
            keys: vec![JwkBody::example()],
        }
    }
}

/// OpenID Provider Metadata (OIDC Discovery 1.0 section 3, RFC 8414 section 2): issuer,
/// endpoints and every `*_supported` list, derived from what this server serves.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
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
    /// Where clients push authorization requests (RFC 9126; absent when `authorize.par` is
    /// off).
    pub pushed_authorization_request_endpoint: Option<String>,
    /// Present (true) when every client must push its requests (`authorize.require_par`).
    pub require_pushed_authorization_requests: Option<bool>,
    /// Where apps register themselves (RFC 7591; absent while `registration.mode` is off).
    pub registration_endpoint: Option<String>,
    /// Present (true) when a `client_id` may be the https URL of a JSON document describing
    /// the app (OAuth Client ID Metadata Documents; `registration.metadata_documents`).
    pub client_id_metadata_document_supported: Option<bool>,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<ResponseType>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<GrantType>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<TokenEndpointAuthMethod>,
    /// The algorithms client assertions may be signed with (absent when `client_auth.jwt` is
    /// off).
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    pub introspection_endpoint_auth_methods_supported: Vec<TokenEndpointAuthMethod>,
    pub introspection_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    pub revocation_endpoint_auth_methods_supported: Vec<TokenEndpointAuthMethod>,
    pub revocation_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    pub code_challenge_methods_supported: Vec<String>,
    pub prompt_values_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    /// The authentication context classes a sign-in can reach (`acr`).
    pub acr_values_supported: Vec<String>,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    /// The algorithms request objects may be signed with (absent when
    /// `authorize.request_objects` is off).
    pub request_object_signing_alg_values_supported: Option<Vec<String>>,
    /// Always false: no request object is fetched by URL. The `request_uri`s of pushed
    /// requests are accepted whatever this says (RFC 9126).
    pub request_uri_parameter_supported: bool,
    /// The algorithms DPoP proofs may be signed with (absent when `dpop.enabled` is off).
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    pub authorization_response_iss_parameter_supported: bool,
    /// Apps may register a `backchannel_logout_uri`: logout tokens (with `sid`) are POSTed
    /// there when a session they took part in ends.
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    /// Apps may register a `frontchannel_logout_uri`, loaded (with `iss` and `sid`) in the
    /// signed-out page.
    pub frontchannel_logout_supported: bool,
    pub frontchannel_logout_session_supported: bool,
    /// The page for developers: how redirect URIs match and where browser apps may call from.
    pub service_documentation: String,
}

impl Example for ProviderMetadataBody {
    /// This server's metadata at `https://id.example.com`, from the same lists discovery is
    /// built from.
    fn example() -> Self {
        use crate::oauth::{
            authorize, client_assertion, client_auth, pkce, redirect::ResponseMode, scope, token,
        };
        let url = |endpoint: Endpoint| format!("{EXAMPLE_ISSUER}{}", endpoint.path());
        let algs = || {
            Some(strings(
                &[
                    &client_assertion::KEY_ALGS[..],
                    &client_assertion::SECRET_ALGS[..],
                ]
                .concat(),
            ))
        };
        let methods = |with_none: bool| -> Vec<TokenEndpointAuthMethod> {
            client_auth::methods(true)
                .into_iter()
                .filter(|m| with_none || *m != AuthMethod::None)
                .map(TokenEndpointAuthMethod::from)
                .collect()
        };
        // The default claims: the standard ones and `groups`.
        let catalog =
            scope::Catalog::new(&crate::config::ClaimsConfig::default()).unwrap_or_default();
        Self {
            issuer: EXAMPLE_ISSUER.into(),
            authorization_endpoint: url(Endpoint::Authorization),
            token_endpoint: url(Endpoint::Token),
            userinfo_endpoint: url(Endpoint::Userinfo),
            jwks_uri: url(Endpoint::Jwks),
            end_session_endpoint: url(Endpoint::EndSession),
            device_authorization_endpoint: url(Endpoint::DeviceAuthorization),
            introspection_endpoint: url(Endpoint::Introspection),
            revocation_endpoint: url(Endpoint::Revocation),
            pushed_authorization_request_endpoint: Some(url(Endpoint::PushedAuthorization)),
            require_pushed_authorization_requests: None,
            registration_endpoint: None,
            client_id_metadata_document_supported: None,
            scopes_supported: catalog.user_scopes().to_vec(),
            response_types_supported: vec![ResponseType::Code],
            response_modes_supported: strings(&ResponseMode::SUPPORTED),
            grant_types_supported: token::GRANT_TYPES
                .into_iter()
                .map(GrantType::from)
                .collect(),
            subject_types_supported: strings(&["public"]),
            id_token_signing_alg_values_supported: strings(&["RS256"]),
            token_endpoint_auth_methods_supported: methods(true),
            token_endpoint_auth_signing_alg_values_supported: algs(),
            introspection_endpoint_auth_methods_supported: methods(false),
            introspection_endpoint_auth_signing_alg_values_supported: algs(),
            revocation_endpoint_auth_methods_supported: methods(true),
            revocation_endpoint_auth_signing_alg_values_supported: algs(),
            code_challenge_methods_supported: strings(&pkce::METHODS),
            prompt_values_supported: strings(&authorize::PROMPT_VALUES),
            claims_supported: crate::oidc::claims::supported(&catalog),
            acr_values_supported: strings(&crate::oauth::auth_context::ACR_VALUES),
            claims_parameter_supported: true,
            request_parameter_supported: true,
            request_object_signing_alg_values_supported: Some(strings(
                &crate::oauth::request_object::ALGS,
            )),
            request_uri_parameter_supported: false,
            dpop_signing_alg_values_supported: Some(strings(&crate::oauth::dpop::ALGS)),
            authorization_response_iss_parameter_supported: true,
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            frontchannel_logout_supported: true,
            frontchannel_logout_session_supported: true,
            service_documentation: format!("{EXAMPLE_ISSUER}/"),
        }
    }
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
    /// The nonce DPoP proofs must carry, sent as `DPoP-Nonce` (RFC 9449 8).
    pub dpop_nonce: Option<String>,
}

impl OAuthFailure {
    pub fn new(error: OAuthError, tried_basic: bool) -> Self {
        Self {
            error,
            tried_basic,
            dpop_nonce: None,
        }
    }

    /// The same failure, handing out `nonce` for the next DPoP proof.
    #[must_use]
    pub fn with_dpop_nonce(self, nonce: Option<String>) -> Self {
        Self {
            dpop_nonce: nonce,
            ..self
        }
    }
}

impl poem::error::ResponseError for OAuthFailure {
    fn status(&self) -> poem::http::StatusCode {
        errors::token_error(&self.error, self.tried_basic).status()
    }

    fn as_response(&self) -> Response {
        let mut response = errors::token_error(&self.error, self.tried_basic);
        if let Some(value) = self
            .dpop_nonce
            .as_deref()
            .and_then(|n| poem::http::HeaderValue::from_str(n).ok())
        {
            response.headers_mut().insert("dpop-nonce", value);
        }
        response
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
pub struct BearerFailure(pub Option<OAuthError>, pub Option<String>);

impl BearerFailure {
    /// The error alone (no DPoP nonce to hand out).
    pub fn of(error: Option<OAuthError>) -> Self {
        Self(error, None)
    }
}

impl poem::error::ResponseError for BearerFailure {
    fn status(&self) -> poem::http::StatusCode {
        self.as_response().status()
    }

    fn as_response(&self) -> Response {
        errors::resource_error(self.0.as_ref(), self.1.as_deref())
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
        errors::resource_error(self.0.as_ref(), self.1.as_deref())
    }
}
