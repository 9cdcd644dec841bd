//! The admin API's request and response objects (never entities), and its one error shape:
//! `{"error", "error_description", "field"}`, the same members as the protocol's errors.
//! Every object has an example that works when tried: the create and update examples are
//! valid (`tests/api/openapi_examples.rs` sends each one to a running server).

use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{Example, Type};
use poem_openapi::{ApiResponse, Object};
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::clock::rfc3339;
use crate::http::dto::{
    GrantType, SubjectTypeField, TokenEndpointAuthMethod, EXAMPLE_CLIENT_ID, EXAMPLE_KID,
    EXAMPLE_REDIRECT_URI, EXAMPLE_SCOPE, EXAMPLE_SUB,
};
use crate::keys::rotation::Rotation;
use crate::keys::KeyError;
use crate::oauth::registration::{FieldError, RegistrationError};
use crate::oidc::accounts::AccountError;
use crate::store::clients::Client;
use crate::store::keys::KeyRow;
use crate::store::resources::Resource;
use crate::store::users::User;
use crate::store::StoreError;

/// An admin error. `field` names the offending request member on validation errors.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct AdminError {
    /// invalid_request, not_found, conflict, invalid_token, insufficient_scope,
    /// server_error, temporarily_unavailable.
    pub error: String,
    pub error_description: String,
    pub field: Option<String>,
}

impl Example for AdminError {
    fn example() -> Self {
        Self {
            error: "invalid_request".into(),
            error_description: "`http://photos.example.com/callback` uses plain http on a host \
                                that is not loopback"
                .into(),
            field: Some("redirect_uris".into()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Examples of the path and query parameters (`#[oai(example = "...")]`).

/// The client the create example registers.
pub fn example_client_id() -> String {
    EXAMPLE_CLIENT_ID.to_owned()
}

/// The `id` in the user examples (a real one comes from the create answer).
pub fn example_sid() -> String {
    "3yQ0c1o5Wf8kZk2bq9T1xHn4".to_owned()
}

pub fn example_user_id() -> String {
    EXAMPLE_SUB.to_owned()
}

/// The `kid` in the key examples (a real one comes from the list answer).
pub fn example_kid() -> String {
    EXAMPLE_KID.to_owned()
}

pub fn example_limit() -> Option<u64> {
    Some(20)
}

/// Without force: refused (409) while relying parties may not have the next key yet.
pub fn example_force() -> Option<bool> {
    Some(false)
}

/// When the examples were made.
const EXAMPLE_TIME: &str = "2026-01-01T00:00:00Z";

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminFailure {
    #[error("{0}")]
    Invalid(FieldError),
    #[error("{reason}")]
    Unparsable {
        field: Option<String>,
        reason: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error")]
    Internal,
    #[error("the database is unavailable")]
    Unavailable,
}

impl AdminFailure {
    fn parts(&self) -> (u16, &'static str, String, Option<String>) {
        match self {
            Self::Invalid(e) => (
                400,
                "invalid_request",
                e.message.clone(),
                Some(e.field.to_owned()),
            ),
            Self::Unparsable { field, reason } => {
                (400, "invalid_request", reason.clone(), field.clone())
            }
            Self::NotFound(what) => (404, "not_found", format!("No such {what}."), None),
            Self::Conflict(m) => (409, "conflict", m.clone(), None),
            Self::Internal => (
                500,
                "server_error",
                "The server met an unexpected condition.".into(),
                None,
            ),
            Self::Unavailable => (
                503,
                "temporarily_unavailable",
                "The database is unavailable; retry shortly.".into(),
                None,
            ),
        }
    }
}

impl AdminFailure {
    /// A request poem-openapi could not parse (malformed JSON, a wrong type, a missing member,
    /// a bad parameter): a 400 that names the member when the parser did.
    pub fn unparsable(field: Option<&str>, reason: &str) -> Self {
        // Parser messages quote the member in backticks: "field `name` ...".
        let quoted = reason.split('`').nth(1).filter(|f| !f.contains(' '));
        Self::Unparsable {
            field: field.or(quoted).map(str::to_owned),
            reason: reason.to_owned(),
        }
    }
}

impl From<StoreError> for AdminFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists.")),
            StoreError::Stale => Self::Conflict(
                "It changed while this request was made: read it again and retry.".into(),
            ),
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable");
                Self::Unavailable
            }
            other => {
                tracing::error!(error = %other, "admin operation failed");
                Self::Internal
            }
        }
    }
}

impl From<FieldError> for AdminFailure {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e)
    }
}

impl From<RegistrationError> for AdminFailure {
    fn from(e: RegistrationError) -> Self {
        match e {
            RegistrationError::Invalid(f) => Self::Invalid(f),
            RegistrationError::Store(s) => s.into(),
            RegistrationError::Crypto(c) => {
                tracing::error!(error = %c, "admin operation failed");
                Self::Internal
            }
            RegistrationError::Kek(k) => {
                tracing::error!(error = %k, "admin operation failed");
                Self::Internal
            }
        }
    }
}

impl From<AccountError> for AdminFailure {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(f) => Self::Invalid(f),
            AccountError::Store(s) => s.into(),
            AccountError::Crypto(c) => {
                tracing::error!(error = %c, "admin operation failed");
                Self::Internal
            }
        }
    }
}

impl From<KeyError> for AdminFailure {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(s) => s.into(),
            e @ KeyError::TooSoon { .. } => Self::Conflict(format!(
                "{e} To rotate anyway, POST /admin/keys/rotate?force=true."
            )),
            e @ (KeyError::Concurrent | KeyError::NotRetired(_)) => Self::Conflict(e.to_string()),
            other => {
                tracing::error!(error = %other, "key operation failed");
                Self::Internal
            }
        }
    }
}

impl AdminFailure {
    fn response(&self) -> Response {
        let (status, error, description, field) = self.parts();
        let mut response = Json(AdminError {
            error: error.into(),
            error_description: description,
            field,
        })
        .into_response();
        response.set_status(poem::http::StatusCode::from_u16(status).unwrap_or_default());
        response.headers_mut().insert(
            poem::http::header::CACHE_CONTROL,
            poem::http::HeaderValue::from_static("no-store"),
        );
        response
    }
}

impl IntoResponse for AdminFailure {
    fn into_response(self) -> Response {
        self.response()
    }
}

impl poem::error::ResponseError for AdminFailure {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::from_u16(self.parts().0).unwrap_or_default()
    }

    fn as_response(&self) -> Response {
        self.response()
    }
}

fn documented(status: u16, description: &'static str) -> MetaResponse {
    MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: "application/json; charset=utf-8",
            schema: AdminError::schema_ref(),
        }],
        headers: vec![],
    }
}

impl ApiResponse for AdminFailure {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![
                documented(400, "invalid_request: validation failed; `field` names the member."),
                documented(401, "invalid_token: no bearer token, or one this provider did not issue or has revoked."),
                documented(403, "insufficient_scope: the token lacks the admin scope."),
                documented(404, "not_found: no such resource."),
                documented(409, "conflict: the id or username is taken, or the keys changed meanwhile."),
                documented(500, "server_error."),
                documented(503, "temporarily_unavailable: the database cannot be reached."),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        AdminError::register(registry);
    }
}

// ---------------------------------------------------------------------------------------
// Clients

/// A client to register, as parsed (with serde, so that errors name the member): documented
/// by [`ClientCreateDoc`], whose members are the same (`same_members!` below) but typed with
/// the fixed values a client can be registered with.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCreate {
    pub client_name: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Grant type names; `device_code` is accepted for the device grant's URN.
    #[serde(default)]
    pub grant_types: Vec<String>,
    pub scope: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    #[serde(default)]
    pub require_signed_request_object: bool,
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// Only people who used a second factor may sign in to the app.
    #[serde(default)]
    pub require_mfa: bool,
    #[serde(default)]
    pub resources: Vec<String>,
    pub subject_type: Option<String>,
    pub sector_identifier_uri: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    #[serde(default)]
    pub contacts: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    pub frontchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub frontchannel_logout_session_required: bool,
}

impl Type for ClientCreate {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        ClientCreateDoc::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        ClientCreateDoc::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ClientCreateDoc::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

/// A client to register (RFC 7591 member names). The example registers a confidential web
/// app, `photos`, with its secret generated.
#[derive(Debug, Object)]
#[oai(rename = "ClientCreate", example, skip_serializing_if_is_none)]
pub struct ClientCreateDoc {
    /// Shown to users on the consent page.
    pub client_name: String,
    /// 1 to 128 characters from A-Z a-z 0-9 - . _ ~; random when left out.
    pub client_id: Option<String>,
    /// At least 32 characters, and hard to guess; generated (256 bits) when left out, which
    /// is best.
    pub client_secret: Option<String>,
    /// A public client: no secret, PKCE S256 required.
    #[oai(default)]
    pub public: bool,
    /// https, loopback http (any port matches), or a reverse-domain private-use scheme.
    /// Required for authorization_code.
    #[oai(default)]
    pub redirect_uris: Vec<String>,
    #[oai(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: authorization_code and refresh_token. `device_code` is also accepted for the
    /// device grant.
    #[oai(default)]
    pub grant_types: Vec<GrantType>,
    /// Allowed scopes, space-separated. Default for user-facing clients: openid profile email
    /// address phone offline_access.
    pub scope: Option<String>,
    /// Default: client_secret_basic, or none for a public client (and only for one).
    /// private_key_jwt clients have no secret and need `jwks` or `jwks_uri`;
    /// client_secret_jwt clients sign assertions with their secret (HS256).
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// An admin client: adds client_credentials and the admin scope.
    #[oai(default)]
    pub admin: bool,
    /// Browser origins (`https://app.example.com`) that may call the token, userinfo,
    /// revocation, introspection and device authorization endpoints (CORS), beside the
    /// origins of `redirect_uris`, which are always allowed.
    #[oai(default)]
    pub allowed_origins: Vec<String>,
    /// For private_key_jwt: the client's public keys, a JWK Set (`{"keys": [...]}`): RSA of
    /// 2048 bits or more (RS256, PS256) or EC P-256 (ES256), no private parameters.
    pub jwks: Option<Value>,
    /// For private_key_jwt: the https URL the client publishes its JWK Set at (fetched when
    /// needed, cached, fetched again for an unknown `kid`).
    pub jwks_uri: Option<String>,
    /// Authorization requests must first be pushed to `/oauth/par` (RFC 9126); the
    /// authorization endpoint then takes only the `request_uri` it returned.
    #[oai(default)]
    pub require_pushed_authorization_requests: bool,
    /// Authorization requests must be request objects signed with the client's keys or, for
    /// client_secret_jwt, its secret (RFC 9101).
    #[oai(default)]
    pub require_signed_request_object: bool,
    /// Token requests must carry a DPoP proof (RFC 9449): every access token is bound to the
    /// client's key.
    #[oai(default)]
    pub dpop_bound_access_tokens: bool,
    /// Only people who used a second factor may sign in to the app.
    #[oai(default)]
    pub require_mfa: bool,
    /// Registered resources (`/admin/resources`) the client may ask tokens for with the
    /// `resource` parameter (RFC 8707).
    #[oai(default)]
    pub resources: Vec<String>,
    /// `public` (the default): a user's `sub` is their id. `pairwise`: each sector (the host
    /// of the redirect URIs, or of `sector_identifier_uri`) sees a `sub` of its own, so
    /// clients of different sectors cannot link their users (OIDC Core 8). Fixed once
    /// registered.
    pub subject_type: Option<SubjectTypeField>,
    /// For a pairwise client whose redirect URIs are on several hosts: an https URL serving
    /// a JSON array that lists them all (fetched at registration and when they change). Its
    /// host is the sector.
    pub sector_identifier_uri: Option<String>,
    /// The app's home page, linked from the consent page.
    pub client_uri: Option<String>,
    /// The app's logo: an https URL of a PNG, JPEG, GIF or WebP image, fetched at
    /// registration and shown on the consent page from this server.
    pub logo_uri: Option<String>,
    /// The app's privacy policy, linked from the consent page.
    pub policy_uri: Option<String>,
    /// The app's terms of service, linked from the consent page.
    pub tos_uri: Option<String>,
    /// E-mail addresses of the people responsible for the app.
    #[oai(default)]
    pub contacts: Vec<String>,
    /// Where logout tokens are POSTed when a session the app took part in ends (OpenID
    /// Connect Back-Channel Logout 1.0): https, or http on loopback with
    /// `fetch.allow_loopback`; public addresses only, as every fetch.
    pub backchannel_logout_uri: Option<String>,
    /// The app needs `sid` in logout tokens (always sent).
    #[oai(default)]
    pub backchannel_logout_session_required: bool,
    /// The page loaded in a hidden iframe of the signed-out page (OpenID Connect
    /// Front-Channel Logout 1.0).
    pub frontchannel_logout_uri: Option<String>,
    /// That page needs `iss` and `sid` in its query.
    #[oai(default)]
    pub frontchannel_logout_session_required: bool,
}

impl Example for ClientCreateDoc {
    fn example() -> Self {
        Self {
            client_name: "Photo App".into(),
            client_id: Some(EXAMPLE_CLIENT_ID.into()),
            client_secret: None,
            public: false,
            redirect_uris: vec![EXAMPLE_REDIRECT_URI.into()],
            post_logout_redirect_uris: vec!["https://photos.example.com/".into()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scope: Some(EXAMPLE_SCOPE.into()),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretBasic),
            admin: false,
            allowed_origins: Vec::new(),
            jwks: None,
            jwks_uri: None,
            require_pushed_authorization_requests: false,
            require_signed_request_object: false,
            dpop_bound_access_tokens: false,
            require_mfa: false,
            resources: Vec::new(),
            subject_type: None,
            sector_identifier_uri: None,
            client_uri: Some("https://photos.example.com/".into()),
            logo_uri: None,
            policy_uri: Some("https://photos.example.com/privacy".into()),
            tos_uri: None,
            contacts: Vec::new(),
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: false,
        }
    }
}

/// The parsed and the documented client have the same members: a member added to one and
/// not to this list, or to this list and not to both, stops the build.
macro_rules! same_members {
    ($($member:ident),+ $(,)?) => {
        #[allow(dead_code)]
        fn same_members(parsed: ClientCreate, documented: ClientCreateDoc) {
            let ClientCreate { $($member: _),+ } = parsed;
            let ClientCreateDoc { $($member: _),+ } = documented;
        }
    };
}

same_members!(
    client_name,
    client_id,
    client_secret,
    public,
    redirect_uris,
    post_logout_redirect_uris,
    grant_types,
    scope,
    token_endpoint_auth_method,
    admin,
    allowed_origins,
    jwks,
    jwks_uri,
    require_pushed_authorization_requests,
    require_signed_request_object,
    dpop_bound_access_tokens,
    require_mfa,
    resources,
    subject_type,
    sector_identifier_uri,
    client_uri,
    logo_uri,
    policy_uri,
    tos_uri,
    contacts,
    backchannel_logout_uri,
    backchannel_logout_session_required,
    frontchannel_logout_uri,
    frontchannel_logout_session_required,
);

/// A registered client. `client_secret` appears only in the answer that created or rotated it.
/// The example is the answer to the create example.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct ClientView {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// `code` for clients registered for authorization_code; empty otherwise.
    pub response_types: Vec<String>,
    pub scope: String,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Browser origins allowed beside those of `redirect_uris` (CORS).
    pub allowed_origins: Vec<String>,
    /// A private_key_jwt client's public keys, when given inline.
    pub jwks: Option<Value>,
    /// A private_key_jwt client's key URL.
    pub jwks_uri: Option<String>,
    /// Authorization requests only through `/oauth/par`.
    pub require_pushed_authorization_requests: bool,
    /// Authorization requests only as signed request objects.
    pub require_signed_request_object: bool,
    /// Token requests only with a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// Only people who used a second factor may sign in to the app.
    pub require_mfa: bool,
    /// Resources the client may ask tokens for (RFC 8707).
    pub resources: Vec<String>,
    /// `public` or `pairwise` (OIDC Core 8).
    pub subject_type: SubjectTypeField,
    /// A pairwise client's sector document.
    pub sector_identifier_uri: Option<String>,
    pub client_uri: Option<String>,
    /// Where the logo the consent page shows was fetched from.
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub contacts: Vec<String>,
    #[oai(skip_serializing_if_is_none)]
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    #[oai(skip_serializing_if_is_none)]
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    /// The app registered itself (`/oauth/register`) and manages its registration there, or
    /// is described by its metadata document (its `client_id` is the document's URL).
    pub self_registered: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl ClientView {
    pub fn new(c: Client, secret: Option<String>) -> Self {
        Self {
            self_registered: c.self_registered(),
            client_secret: secret,
            grant_types: c.grant_types.iter().map(|g| GrantType::from(*g)).collect(),
            scope: c.scopes.join(" "),
            token_endpoint_auth_method: c.token_endpoint_auth_method.into(),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            client_id: c.client_id,
            client_name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            response_types: c.response_types,
            allowed_origins: c.allowed_origins,
            jwks: c.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            jwks_uri: c.jwks_uri,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            require_signed_request_object: c.require_signed_request_object,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            require_mfa: c.require_mfa,
            resources: c.resources,
            subject_type: c.subject_type.into(),
            sector_identifier_uri: c.sector_identifier_uri,
            client_uri: c.client_uri,
            logo_uri: c.logo_uri,
            policy_uri: c.policy_uri,
            tos_uri: c.tos_uri,
            contacts: c.contacts,
            backchannel_logout_uri: c.logout.backchannel_logout_uri,
            backchannel_logout_session_required: c.logout.backchannel_logout_session_required,
            frontchannel_logout_uri: c.logout.frontchannel_logout_uri,
            frontchannel_logout_session_required: c.logout.frontchannel_logout_session_required,
        }
    }

    /// The `photos` client of the examples, with its secret or without.
    fn example_with(secret: bool) -> Self {
        Self {
            client_id: EXAMPLE_CLIENT_ID.into(),
            client_secret: if secret {
                Some("bvohnUJQLh_r01EF_fUYFFOU3FJFfRzWrG4N5HaH6h0".into())
            } else {
                None
            },
            client_name: "Photo App".into(),
            redirect_uris: vec![EXAMPLE_REDIRECT_URI.into()],
            post_logout_redirect_uris: vec!["https://photos.example.com/".into()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            response_types: vec!["code".into()],
            scope: EXAMPLE_SCOPE.into(),
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            allowed_origins: Vec::new(),
            jwks: None,
            jwks_uri: None,
            require_pushed_authorization_requests: false,
            require_signed_request_object: false,
            dpop_bound_access_tokens: false,
            require_mfa: false,
            resources: Vec::new(),
            subject_type: SubjectTypeField::Public,
            sector_identifier_uri: None,
            client_uri: Some("https://photos.example.com/".into()),
            logo_uri: None,
            policy_uri: Some("https://photos.example.com/privacy".into()),
            tos_uri: None,
            contacts: Vec::new(),
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: false,
            self_registered: false,
            created_at: EXAMPLE_TIME.into(),
            updated_at: EXAMPLE_TIME.into(),
        }
    }
}

impl Example for ClientView {
    fn example() -> Self {
        Self::example_with(true)
    }
}

/// Changes to a client; members left out stay as they are. The example renames `photos`,
/// adds a redirect URI and a browser origin.
#[derive(Debug, Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub client_name: Option<String>,
    /// Replaces the whole list (send every URI the client keeps).
    pub redirect_uris: Option<Vec<String>>,
    /// Replaces the whole list.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Allowed scopes, space-separated; replaces them.
    pub scope: Option<String>,
    /// Browser origins allowed beside those of `redirect_uris`; replaces the list.
    pub allowed_origins: Option<Vec<String>>,
    /// `false` demotes an admin client: it loses the `admin` scope and its admin tokens stop
    /// working at once. `true` makes a confidential client credentials client an admin
    /// client.
    pub admin: Option<bool>,
    /// A private_key_jwt client's new public keys (a JWK Set); replaces `jwks_uri` too.
    pub jwks: Option<Value>,
    /// A private_key_jwt client's new key URL; replaces `jwks` too.
    pub jwks_uri: Option<String>,
    /// Authorization requests only through `/oauth/par`.
    pub require_pushed_authorization_requests: Option<bool>,
    /// Authorization requests only as signed request objects.
    pub require_signed_request_object: Option<bool>,
    /// Token requests only with a DPoP proof.
    pub dpop_bound_access_tokens: Option<bool>,
    /// Only people who used a second factor may sign in to the app.
    pub require_mfa: Option<bool>,
    /// Registered resources the client may ask tokens for (RFC 8707); replaces the list.
    pub resources: Option<Vec<String>>,
    /// The app's home page; an empty string takes it away.
    pub client_uri: Option<String>,
    /// The app's logo (fetched again); an empty string takes it away.
    pub logo_uri: Option<String>,
    /// The app's privacy policy; an empty string takes it away.
    pub policy_uri: Option<String>,
    /// The app's terms of service; an empty string takes it away.
    pub tos_uri: Option<String>,
    /// Replaces the list.
    pub contacts: Option<Vec<String>>,
    /// Where logout tokens are POSTed; an empty string takes it away.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    /// The front-channel logout page; an empty string takes it away.
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: Option<bool>,
}

impl Example for ClientPatch {
    fn example() -> Self {
        Self {
            client_name: Some("Photos".into()),
            redirect_uris: Some(vec![
                EXAMPLE_REDIRECT_URI.into(),
                "https://app.photos.example.com/callback".into(),
            ]),
            post_logout_redirect_uris: Some(vec!["https://photos.example.com/".into()]),
            scope: Some(EXAMPLE_SCOPE.into()),
            allowed_origins: Some(vec!["https://beta.photos.example.com".into()]),
            admin: None,
            jwks: None,
            jwks_uri: None,
            require_pushed_authorization_requests: None,
            require_signed_request_object: None,
            dpop_bound_access_tokens: None,
            require_mfa: None,
            resources: None,
            client_uri: None,
            logo_uri: None,
            policy_uri: None,
            tos_uri: Some("https://photos.example.com/terms".into()),
            contacts: None,
            backchannel_logout_uri: Some("https://photos.example.com/backchannel-logout".into()),
            backchannel_logout_session_required: None,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct ClientPage {
    pub items: Vec<ClientView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

impl Example for ClientPage {
    fn example() -> Self {
        Self {
            items: vec![ClientView::example_with(false)],
            next: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Resources

/// The identifier of the resource in the examples.
pub const EXAMPLE_RESOURCE: &str = "https://api.photos.example.com";

pub fn example_resource() -> Option<String> {
    Some(EXAMPLE_RESOURCE.into())
}

/// A resource to register (RFC 8707). The example registers the photo API.
#[derive(Debug, Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
#[serde(deny_unknown_fields)]
pub struct ResourceCreate {
    /// An absolute URI without a fragment, at most 512 characters: what clients send as
    /// `resource`, and the `aud` of the access tokens issued for it.
    pub identifier: String,
    /// What the consent page calls it; the identifier when left out.
    pub name: Option<String>,
    /// The scopes a token for it may carry, space-separated: a token asked for it gets
    /// those of its grant's scopes that are listed here.
    pub scope: Option<String>,
}

impl Example for ResourceCreate {
    fn example() -> Self {
        Self {
            identifier: EXAMPLE_RESOURCE.into(),
            name: Some("Photo API".into()),
            scope: Some("photos:read photos:write".into()),
        }
    }
}

/// A registered resource. The example is the answer to the create example.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ResourceView {
    pub identifier: String,
    pub name: String,
    pub scope: String,
    pub created_at: String,
    pub updated_at: String,
}

impl ResourceView {
    pub fn new(r: Resource) -> Self {
        Self {
            identifier: r.identifier,
            name: r.name,
            scope: r.scopes.join(" "),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

impl Example for ResourceView {
    fn example() -> Self {
        Self {
            identifier: EXAMPLE_RESOURCE.into(),
            name: "Photo API".into(),
            scope: "photos:read photos:write".into(),
            created_at: EXAMPLE_TIME.into(),
            updated_at: EXAMPLE_TIME.into(),
        }
    }
}

/// Changes to a resource; members left out stay as they are.
#[derive(Debug, Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
#[serde(deny_unknown_fields)]
pub struct ResourcePatch {
    pub name: Option<String>,
    /// The scopes a token for it may carry, space-separated; replaces them.
    pub scope: Option<String>,
}

impl Example for ResourcePatch {
    fn example() -> Self {
        Self {
            name: Some("Photos API".into()),
            scope: Some("photos:read".into()),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct ResourcePage {
    pub items: Vec<ResourceView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

impl Example for ResourcePage {
    fn example() -> Self {
        Self {
            items: vec![ResourceView::example()],
            next: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Users

/// A user to create. The example creates `grace`.
#[derive(Debug, Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    /// 1 to 128 characters, no spaces.
    pub username: String,
    /// Stored as an argon2id hash; 8 to 1024 characters.
    pub password: String,
    /// OIDC standard claims (name, email, email_verified, phone_number, address, ...) and
    /// declared ones (`groups`, and those in `claims.custom`), of their declared types.
    pub claims: Option<BTreeMap<String, Value>>,
}

/// Grace's claims in the examples.
fn example_claims(name: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("name".to_owned(), Value::from(name)),
        ("given_name".to_owned(), Value::from("Grace")),
        ("family_name".to_owned(), Value::from("Hopper")),
        ("email".to_owned(), Value::from("grace@example.com")),
        ("email_verified".to_owned(), Value::Bool(true)),
    ])
}

impl Example for UserCreate {
    fn example() -> Self {
        Self {
            username: "grace".into(),
            password: "correct horse battery staple".into(),
            claims: Some(example_claims("Grace Hopper")),
        }
    }
}

/// A user. The example is the answer to the create example.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserView {
    /// The stable `sub`.
    pub id: String,
    pub username: String,
    pub claims: BTreeMap<String, Value>,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
    /// In the answer for one user (not in lists): the authenticator apps they set up, for
    /// telling whether they use two-step verification and when they last did.
    #[oai(skip_serializing_if_is_none)]
    pub second_factors: Option<Vec<SecondFactorView>>,
    /// In the answer for one user (not in lists): how many unused recovery codes they have.
    #[oai(skip_serializing_if_is_none)]
    pub recovery_codes_left: Option<u64>,
}

/// A second factor of a user, as an operator sees it (never its secret).
#[derive(Debug, Object)]
pub struct SecondFactorView {
    pub id: String,
    /// `totp`: an authenticator app; `passkey`: a passkey (WebAuthn).
    pub kind: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl Example for UserView {
    fn example() -> Self {
        Self {
            id: EXAMPLE_SUB.into(),
            username: "grace".into(),
            claims: example_claims("Grace Hopper"),
            disabled: false,
            created_at: EXAMPLE_TIME.into(),
            updated_at: EXAMPLE_TIME.into(),
            second_factors: None,
            recovery_codes_left: None,
        }
    }
}

/// Claims as stored, from the API's map.
pub fn claims_map(claims: BTreeMap<String, Value>) -> Map<String, Value> {
    claims.into_iter().collect()
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            claims: u.claims.into_iter().collect(),
            disabled: u.disabled,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
            second_factors: None,
            recovery_codes_left: None,
        }
    }
}

/// The example gives `grace` a phone number and her full name.
#[derive(Debug, Object, serde::Deserialize)]
#[oai(example)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Replaces the user's claims.
    pub claims: BTreeMap<String, Value>,
}

impl Example for UserPatch {
    fn example() -> Self {
        let mut claims = example_claims("Grace Brewster Hopper");
        claims.insert("phone_number".into(), Value::from("+1 202 555 0143"));
        claims.insert("phone_number_verified".into(), Value::Bool(false));
        Self { claims }
    }
}

#[derive(Debug, Object, serde::Deserialize)]
#[oai(example)]
#[serde(deny_unknown_fields)]
pub struct PasswordSet {
    /// 8 to 1024 characters.
    pub password: String,
}

impl Example for PasswordSet {
    fn example() -> Self {
        Self {
            password: "flow-matic 1955, cobol 1959".into(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct UserPage {
    pub items: Vec<UserView>,
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

impl Example for UserPage {
    fn example() -> Self {
        Self {
            items: vec![UserView::example()],
            next: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Keys

/// A signing key. The example is the active key.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct KeyView {
    pub kid: String,
    /// next, active or retired.
    pub state: String,
    pub alg: String,
    pub created_at: String,
    pub activated_at: Option<String>,
    pub retired_at: Option<String>,
    /// A retired key stays published until then.
    pub published_until: Option<String>,
}

impl Example for KeyView {
    fn example() -> Self {
        Self {
            kid: EXAMPLE_KID.into(),
            state: "active".into(),
            alg: "RS256".into(),
            created_at: "2025-12-02T00:00:00Z".into(),
            activated_at: Some(EXAMPLE_TIME.into()),
            retired_at: None,
            published_until: None,
        }
    }
}

impl From<KeyRow> for KeyView {
    fn from(k: KeyRow) -> Self {
        Self {
            kid: k.kid,
            state: k.state.as_str().to_owned(),
            alg: k.alg,
            created_at: rfc3339(k.created_at),
            activated_at: k.activated_at.map(rfc3339),
            retired_at: k.retired_at.map(rfc3339),
            published_until: k.published_until.map(rfc3339),
        }
    }
}

/// The `kid`s a rotation moved. In the example, the active key of the other examples retires.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RotationView {
    pub retired: String,
    pub activated: String,
    pub next: String,
    /// Retired keys removed because everything they signed has expired.
    pub removed: u64,
}

impl Example for RotationView {
    fn example() -> Self {
        Self {
            retired: EXAMPLE_KID.into(),
            activated: "AV9-a8Wur0g3JAieklLME7UJUaa2lBJSJ2XP9NeAMG4".into(),
            next: "L1BSyf0VsZoYxYTQE2NWgZhhPww06EQJ73k4cJoVnsI".into(),
            removed: 0,
        }
    }
}

impl From<Rotation> for RotationView {
    fn from(r: Rotation) -> Self {
        Self {
            retired: r.retired,
            activated: r.activated,
            next: r.next,
            removed: r.removed,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Initial access tokens

/// The id in the initial access token examples (a real one comes from the create answer).
pub const EXAMPLE_INITIAL_ACCESS_TOKEN_ID: &str = "Xq3b9LmT0aZk";

pub fn example_initial_access_token_id() -> String {
    EXAMPLE_INITIAL_ACCESS_TOKEN_ID.to_owned()
}

/// An initial access token to mint (RFC 7591 section 3): it lets an app register itself
/// while `registration.mode` is `initial_access_token`. The example is good for five
/// registrations over a week.
#[derive(Debug, Object, serde::Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
#[serde(deny_unknown_fields)]
pub struct InitialAccessTokenCreate {
    /// What it is for, for whoever lists the tokens later.
    pub note: Option<String>,
    /// Registrations it allows, 1 to 10000; 1 when left out.
    pub uses: Option<i64>,
    /// Seconds until it expires, up to a year; a day when left out.
    pub expires_in: Option<i64>,
}

impl Example for InitialAccessTokenCreate {
    fn example() -> Self {
        Self {
            note: Some("Partner onboarding".into()),
            uses: Some(5),
            expires_in: Some(7 * 86_400),
        }
    }
}

/// An initial access token. `token` appears only in the answer that minted it.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct InitialAccessTokenView {
    pub id: String,
    /// Send as `Authorization: Bearer <token>` to `/oauth/register`. Shown once.
    pub token: Option<String>,
    pub note: String,
    /// Registrations it still allows.
    pub uses_left: i64,
    pub expires_at: String,
    pub created_at: String,
}

impl InitialAccessTokenView {
    pub fn new(
        t: crate::store::initial_access_tokens::InitialAccessToken,
        token: Option<String>,
    ) -> Self {
        Self {
            id: t.id,
            token,
            note: t.note,
            uses_left: t.uses_left,
            expires_at: rfc3339(t.expires_at),
            created_at: rfc3339(t.created_at),
        }
    }
}

impl Example for InitialAccessTokenView {
    fn example() -> Self {
        Self {
            id: EXAMPLE_INITIAL_ACCESS_TOKEN_ID.into(),
            token: Some("pWl0R5nY3c2hXw1uQ8Jd6bVvT4kZsFa9mEoLrCtGiNy".into()),
            note: "Partner onboarding".into(),
            uses_left: 5,
            expires_at: "2026-01-08T00:00:00Z".into(),
            created_at: EXAMPLE_TIME.into(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct InitialAccessTokenPage {
    pub items: Vec<InitialAccessTokenView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

impl Example for InitialAccessTokenPage {
    fn example() -> Self {
        let mut item = InitialAccessTokenView::example();
        item.token = None;
        Self {
            items: vec![item],
            next: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// A user's apps and sessions, and back-channel logout deliveries

/// An app with access to a user's account: the scopes consented to and granted, since when,
/// and whether it keeps access while the user is away. The example is the `photos` app.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserApp {
    pub client_id: String,
    pub client_name: String,
    /// Space-separated.
    pub scope: String,
    pub since: String,
    pub offline_access: bool,
}

impl Example for UserApp {
    fn example() -> Self {
        Self {
            client_id: EXAMPLE_CLIENT_ID.into(),
            client_name: "Photo App".into(),
            scope: "openid profile email offline_access".into(),
            since: EXAMPLE_TIME.into(),
            offline_access: true,
        }
    }
}

impl From<crate::oidc::account::AppAccess> for UserApp {
    fn from(a: crate::oidc::account::AppAccess) -> Self {
        Self {
            client_id: a.client_id,
            client_name: a.client_name,
            scope: a.scopes.join(" "),
            since: rfc3339(a.since),
            offline_access: a.offline,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct UserAppList {
    pub items: Vec<UserApp>,
}

impl Example for UserAppList {
    fn example() -> Self {
        Self {
            items: vec![UserApp::example()],
        }
    }
}

/// A browser session of a user. `sid` is the `sid` of the ID tokens issued in it.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UserSession {
    pub sid: String,
    pub signed_in_at: String,
    pub last_seen_at: String,
    /// The browser's User-Agent at sign-in, shortened.
    pub user_agent: Option<String>,
}

impl Example for UserSession {
    fn example() -> Self {
        Self {
            sid: "3yQ0c1o5Wf8kZk2bq9T1xHn4".into(),
            signed_in_at: EXAMPLE_TIME.into(),
            last_seen_at: EXAMPLE_TIME.into(),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into()),
        }
    }
}

impl From<crate::oidc::account::SessionInfo> for UserSession {
    fn from(s: crate::oidc::account::SessionInfo) -> Self {
        Self {
            sid: s.sid,
            signed_in_at: rfc3339(s.signed_in_at),
            last_seen_at: rfc3339(s.last_seen_at),
            user_agent: s.user_agent,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct UserSessionList {
    pub items: Vec<UserSession>,
}

impl Example for UserSessionList {
    fn example() -> Self {
        Self {
            items: vec![UserSession::example()],
        }
    }
}

/// A back-channel logout token to deliver, or delivered: `pending` (tried again at
/// `next_attempt_at`), `delivered`, or `failed` (refused by the app, or not through within
/// `logout.retry_for`; `last_error` says which).
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct LogoutDeliveryView {
    pub id: String,
    pub client_id: String,
    pub uri: String,
    pub state: String,
    pub attempts: i64,
    /// The `sid` it names; none for an app revoked or a disabled user (it names `sub`).
    pub sid: Option<String>,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_error: Option<String>,
    /// When it stops being tried.
    pub expires_at: String,
}

impl Example for LogoutDeliveryView {
    fn example() -> Self {
        Self {
            id: "mX2d0p7QyV4t1bR8sK3wZg".into(),
            client_id: EXAMPLE_CLIENT_ID.into(),
            uri: "https://photos.example.com/backchannel-logout".into(),
            state: "pending".into(),
            attempts: 2,
            sid: Some("3yQ0c1o5Wf8kZk2bq9T1xHn4".into()),
            created_at: EXAMPLE_TIME.into(),
            next_attempt_at: Some("2026-01-01T00:00:15Z".into()),
            delivered_at: None,
            last_error: Some("the fetch failed: connection refused".into()),
            expires_at: "2026-01-02T00:00:00Z".into(),
        }
    }
}

impl From<crate::store::logout_deliveries::Delivery> for LogoutDeliveryView {
    fn from(d: crate::store::logout_deliveries::Delivery) -> Self {
        let pending = d.state == crate::store::logout_deliveries::PENDING;
        Self {
            id: d.id,
            client_id: d.client_id,
            uri: d.uri,
            attempts: d.attempts,
            sid: d.sid,
            created_at: rfc3339(d.created_at),
            next_attempt_at: pending.then(|| rfc3339(d.next_attempt_at)),
            delivered_at: d.delivered_at.map(rfc3339),
            last_error: d.last_error,
            expires_at: rfc3339(d.expires_at),
            state: d.state,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct LogoutDeliveryPage {
    pub items: Vec<LogoutDeliveryView>,
    /// Pass as `before` for the next page.
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

impl Example for LogoutDeliveryPage {
    fn example() -> Self {
        Self {
            items: vec![LogoutDeliveryView::example()],
            next: None,
        }
    }
}
