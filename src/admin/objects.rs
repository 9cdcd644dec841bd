//! The admin API's request and response objects (never entities), and its one error shape:
//! `{"error", "error_description", "field"}`, the same members as the protocol's errors.

use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::clock::rfc3339;
use crate::keys::rotation::Rotation;
use crate::keys::KeyError;
use crate::oauth::registration::{FieldError, RegistrationError};
use crate::oidc::accounts::AccountError;
use crate::store::clients::Client;
use crate::store::keys::KeyRow;
use crate::store::users::User;
use crate::store::StoreError;

/// An admin error. `field` names the offending request member on validation errors.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AdminError {
    /// invalid_request, not_found, conflict, invalid_token, insufficient_scope,
    /// server_error, temporarily_unavailable.
    pub error: String,
    pub error_description: String,
    pub field: Option<String>,
}

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

/// A client to register (RFC 7591 member names).
#[derive(Debug, Object, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCreate {
    /// Shown to users on the consent page.
    pub client_name: String,
    /// Random when left out.
    pub client_id: Option<String>,
    /// At least 32 characters; generated (256 bits) when left out.
    pub client_secret: Option<String>,
    /// A public client: no secret, PKCE S256 required.
    #[oai(default)]
    #[serde(default)]
    pub public: bool,
    #[oai(default)]
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[oai(default)]
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// authorization_code, refresh_token, client_credentials, device_code. Default:
    /// authorization_code and refresh_token.
    #[oai(default)]
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Allowed scopes, space-separated. Default for user-facing clients: openid profile email
    /// address phone offline_access.
    pub scope: Option<String>,
    /// client_secret_basic (default), client_secret_post, none (public clients).
    pub token_endpoint_auth_method: Option<String>,
    /// An admin client: adds client_credentials and the admin scope.
    #[oai(default)]
    #[serde(default)]
    pub admin: bool,
    /// Browser origins (`https://app.example.com`) that may call the token, userinfo,
    /// revocation, introspection and device authorization endpoints (CORS), beside the
    /// origins of `redirect_uris`, which are always allowed.
    #[oai(default)]
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// A registered client. `client_secret` appears only in the answer that created or rotated it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ClientView {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub scope: String,
    pub token_endpoint_auth_method: String,
    /// Browser origins allowed beside those of `redirect_uris` (CORS).
    pub allowed_origins: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ClientView {
    pub fn new(c: Client, secret: Option<String>) -> Self {
        Self {
            client_secret: secret,
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            scope: c.scopes.join(" "),
            token_endpoint_auth_method: c.token_endpoint_auth_method.as_str().to_owned(),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            client_id: c.client_id,
            client_name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            response_types: c.response_types,
            allowed_origins: c.allowed_origins,
        }
    }
}

/// Changes to a client; members left out stay as they are.
#[derive(Debug, Object, serde::Deserialize)]
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
}

#[derive(Debug, Object)]
pub struct ClientPage {
    pub items: Vec<ClientView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Users

#[derive(Debug, Object, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub username: String,
    /// Stored as an argon2id hash; 8 to 1024 characters.
    pub password: String,
    /// OIDC standard claims: name, email, email_verified, phone_number, address, ...
    pub claims: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Object)]
pub struct UserView {
    /// The stable `sub`.
    pub id: String,
    pub username: String,
    pub claims: BTreeMap<String, Value>,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
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
        }
    }
}

#[derive(Debug, Object, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Replaces the user's claims.
    pub claims: BTreeMap<String, Value>,
}

#[derive(Debug, Object, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSet {
    pub password: String,
}

#[derive(Debug, Object)]
pub struct UserPage {
    pub items: Vec<UserView>,
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Keys

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
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

#[derive(Debug, Object)]
pub struct RotationView {
    pub retired: String,
    pub activated: String,
    pub next: String,
    /// Retired keys removed because everything they signed has expired.
    pub removed: u64,
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
