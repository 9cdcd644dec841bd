//! Dynamic client registration (RFC 7591) at `/oauth/register`, and each app's management
//! of its own registration (RFC 7592) at `/oauth/register/{client_id}`. Each operation reads
//! the request, calls one function of `oauth::dynamic` and maps the result.

use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{IntoResponse, Request, RequestBody, Response};
use poem_openapi::auth::Bearer;
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{
    MetaMediaType, MetaRequest, MetaResponse, MetaResponses, MetaSchemaRef, Registry,
};
use poem_openapi::types::{Example, Type};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
    SecurityScheme,
};
use serde_json::Value;

use super::dto::ErrorBody;
use super::errors;
use super::extract::{self, MAX_FORM_BYTES};
use super::tags::ApiTags;
use crate::oauth::dynamic::{self, Information, Refusal};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope;
use crate::oidc::discovery::Endpoint;
use crate::state::AppState;
use crate::store::clients::Client;

const NO_STORE: &str = "no-store";

/// An initial access token an operator minted (`oidcd initial-access-token create`,
/// `POST /admin/initial-access-tokens`), needed when `registration.mode` is
/// `initial_access_token`.
#[derive(SecurityScheme)]
#[oai(rename = "initial_access_token", ty = "bearer")]
// Documentation only: the operation reads the header itself.
#[allow(dead_code)]
pub struct InitialAccessToken(Bearer);

/// An initial access token, or none when registration is open.
#[derive(SecurityScheme)]
pub enum MaybeInitialAccessToken {
    Token(InitialAccessToken),
    #[oai(fallback)]
    None,
}

/// The registration access token answered at registration (RFC 7592).
#[derive(SecurityScheme)]
#[oai(rename = "registration_access_token", ty = "bearer")]
// Documentation only: the operation reads the header itself.
#[allow(dead_code)]
pub struct RegistrationAccessToken(Bearer);

/// The bearer token of the request, if any.
fn bearer(req: &Request) -> Result<Option<String>, Refusal> {
    Ok(extract::bearer(req.headers(), None)?.map(|p| p.token))
}

/// Client metadata (RFC 7591 section 2). Members not listed are ignored; `null` is the same
/// as leaving a member out. The example registers a web app.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct ClientMetadata {
    /// Shown to people on the consent page; the host of the first redirect URI when left
    /// out. The consent page says the app registered itself.
    pub client_name: Option<String>,
    /// https, loopback http (any port matches), or a reverse-domain private-use scheme, as
    /// `registration.redirect_uris` allows. Required for authorization_code.
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Default: authorization_code, with refresh_token when open to apps.
    pub grant_types: Option<Vec<String>>,
    /// `code`, or nothing.
    pub response_types: Option<Vec<String>>,
    /// Default client_secret_basic. `none` makes a public client (PKCE required).
    pub token_endpoint_auth_method: Option<String>,
    /// Space-separated; default: every scope open to apps (`registration.scopes`).
    pub scope: Option<String>,
    /// For private_key_jwt: the app's public keys, a JWK Set.
    pub jwks: Option<Value>,
    /// For private_key_jwt: the https URL of the app's JWK Set.
    pub jwks_uri: Option<String>,
    /// The app's home page, linked from the consent page.
    pub client_uri: Option<String>,
    /// A PNG, JPEG, GIF or WebP image, fetched once and shown on the consent page from here.
    pub logo_uri: Option<String>,
    /// The app's privacy policy, linked from the consent page.
    pub policy_uri: Option<String>,
    /// The app's terms of service, linked from the consent page.
    pub tos_uri: Option<String>,
    /// E-mail addresses of the people responsible for the app.
    pub contacts: Option<Vec<String>>,
    /// `public` or `pairwise`.
    pub subject_type: Option<String>,
    pub sector_identifier_uri: Option<String>,
    /// RS256 only.
    pub id_token_signed_response_alg: Option<String>,
    pub token_endpoint_auth_signing_alg: Option<String>,
    pub request_object_signing_alg: Option<String>,
    pub require_pushed_authorization_requests: Option<bool>,
    pub require_signed_request_object: Option<bool>,
    pub dpop_bound_access_tokens: Option<bool>,
    /// Where logout tokens are POSTed when a session the app took part in ends
    /// (Back-Channel Logout 1.0); https, public addresses only.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    /// Loaded in a hidden iframe of the signed-out page (Front-Channel Logout 1.0).
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: Option<bool>,
    /// On update (RFC 7592): this client's id.
    pub client_id: Option<String>,
    /// On update (RFC 7592): this client's secret, if sent back, must be its own.
    pub client_secret: Option<String>,
}

impl Example for ClientMetadata {
    fn example() -> Self {
        Self {
            client_name: Some("Photo Printer".into()),
            redirect_uris: Some(vec!["https://printer.example.com/callback".into()]),
            post_logout_redirect_uris: None,
            grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
            response_types: Some(vec!["code".into()]),
            token_endpoint_auth_method: Some("client_secret_basic".into()),
            scope: Some("openid profile email offline_access".into()),
            jwks: None,
            jwks_uri: None,
            client_uri: Some("https://printer.example.com/".into()),
            logo_uri: None,
            policy_uri: Some("https://printer.example.com/privacy".into()),
            tos_uri: Some("https://printer.example.com/terms".into()),
            contacts: Some(vec!["ops@printer.example.com".into()]),
            subject_type: None,
            sector_identifier_uri: None,
            id_token_signed_response_alg: None,
            token_endpoint_auth_signing_alg: None,
            request_object_signing_alg: None,
            backchannel_logout_uri: Some("https://printer.example.com/backchannel-logout".into()),
            backchannel_logout_session_required: None,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: None,
            require_pushed_authorization_requests: None,
            require_signed_request_object: None,
            dpop_bound_access_tokens: None,
            client_id: None,
            client_secret: None,
        }
    }
}

/// The metadata as sent: any JSON, read member by member by `oauth::dynamic::read` (so an
/// unknown member is ignored and a wrong one is named), documented as [`ClientMetadata`].
pub struct MetadataJson(pub Value);

fn body_refusal(reason: &str) -> poem::Error {
    poem::Error::from_response(
        RegistrationFailure(Refusal::Protocol(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            reason.to_owned(),
        )))
        .into_response(),
    )
}

impl Payload for MetadataJson {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        ClientMetadata::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ClientMetadata::register(registry);
    }
}

impl ParsePayload for MetadataJson {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body
            .take()?
            .into_bytes_limit(MAX_FORM_BYTES)
            .await
            .map_err(|_| body_refusal("The request body is too large or unreadable."))?;
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| body_refusal(&format!("The body is not JSON: {e}")))
    }
}

impl<'a> ApiExtractor<'a> for MetadataJson {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if <Self as Payload>::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            _ => Err(body_refusal("The body must be application/json.")),
        }
    }
}

/// A registered client as its app is told about it (RFC 7591 section 3.2.1, RFC 7592
/// section 3). The example is the answer to the registration example.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct ClientInformation {
    pub client_id: String,
    /// Only when it was just issued: this provider keeps a hash of it, not it.
    pub client_secret: Option<String>,
    /// When the client was registered, in seconds since 1970.
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire (present when the client has one).
    pub client_secret_expires_at: Option<i64>,
    /// For `/oauth/register/{client_id}`: keep it, it is the app's only way to manage its
    /// registration.
    pub registration_access_token: String,
    pub registration_client_uri: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub scope: String,
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub contacts: Vec<String>,
    pub subject_type: String,
    pub sector_identifier_uri: Option<String>,
    pub id_token_signed_response_alg: String,
    pub require_pushed_authorization_requests: bool,
    pub require_signed_request_object: bool,
    pub dpop_bound_access_tokens: bool,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
}

impl Example for ClientInformation {
    fn example() -> Self {
        let metadata = ClientMetadata::example();
        Self {
            client_id: "k3JqH0v9yXoPdT2mWb7c1A".into(),
            client_secret: Some("Wm1tDqGZ0sPq8c4nY7kLx2vB9hR3jF6eA5uT0oNiSgE".into()),
            client_id_issued_at: 1_767_225_600,
            client_secret_expires_at: Some(0),
            registration_access_token: "r8Yb2LwQ6nTz0pKc4VsJm9HxF1dG7eRuA3iO5tNlBqE".into(),
            registration_client_uri: "https://id.example.com/oauth/register/k3JqH0v9yXoPdT2mWb7c1A"
                .into(),
            client_name: metadata.client_name.unwrap_or_default(),
            redirect_uris: metadata.redirect_uris.unwrap_or_default(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: metadata.grant_types.unwrap_or_default(),
            response_types: metadata.response_types.unwrap_or_default(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            scope: metadata.scope.unwrap_or_default(),
            jwks: None,
            jwks_uri: None,
            client_uri: metadata.client_uri,
            logo_uri: None,
            policy_uri: metadata.policy_uri,
            tos_uri: metadata.tos_uri,
            contacts: metadata.contacts.unwrap_or_default(),
            subject_type: "public".into(),
            sector_identifier_uri: None,
            id_token_signed_response_alg: "RS256".into(),
            require_pushed_authorization_requests: false,
            require_signed_request_object: false,
            dpop_bound_access_tokens: false,
            backchannel_logout_uri: metadata.backchannel_logout_uri,
            backchannel_logout_session_required: false,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: false,
        }
    }
}

impl ClientInformation {
    fn new(issuer: &str, info: Information) -> Self {
        let Information {
            client,
            secret,
            registration_access_token,
        } = info;
        let id: String =
            url::form_urlencoded::byte_serialize(client.client_id.as_bytes()).collect();
        let Client {
            client_id,
            name,
            jwks,
            jwks_uri,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            response_types,
            scopes,
            token_endpoint_auth_method,
            require_pushed_authorization_requests,
            require_signed_request_object,
            dpop_bound_access_tokens,
            subject_type,
            sector_identifier_uri,
            client_uri,
            logo_uri,
            policy_uri,
            tos_uri,
            contacts,
            created_at,
            logout,
            ..
        } = client;
        Self {
            client_secret_expires_at: token_endpoint_auth_method.has_secret().then_some(0),
            client_id,
            client_secret: secret,
            client_id_issued_at: created_at,
            registration_access_token,
            registration_client_uri: format!("{issuer}{}/{id}", Endpoint::Registration.path()),
            client_name: name,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types: grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            response_types,
            token_endpoint_auth_method: token_endpoint_auth_method.as_str().to_owned(),
            scope: scope::join(&scopes),
            jwks: jwks.and_then(|j| serde_json::from_str(&j).ok()),
            jwks_uri,
            client_uri,
            logo_uri,
            policy_uri,
            tos_uri,
            contacts,
            subject_type: subject_type.as_str().to_owned(),
            sector_identifier_uri,
            id_token_signed_response_alg: "RS256".to_owned(),
            require_pushed_authorization_requests,
            require_signed_request_object,
            dpop_bound_access_tokens,
            backchannel_logout_uri: logout.backchannel_logout_uri,
            backchannel_logout_session_required: logout.backchannel_logout_session_required,
            frontchannel_logout_uri: logout.frontchannel_logout_uri,
            frontchannel_logout_session_required: logout.frontchannel_logout_session_required,
        }
    }
}

#[derive(ApiResponse)]
pub enum Registered {
    /// Registered: the client's id, its secret (shown this once) and its registration
    /// access token.
    #[oai(status = 201)]
    Created(
        Json<ClientInformation>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
pub enum Current {
    /// The client's registration as it now stands.
    #[oai(status = 200)]
    Ok(
        Json<ClientInformation>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
pub enum Unregistered {
    /// The client is gone, with everything issued to it.
    #[oai(status = 204)]
    Deleted,
}

/// A refused registration request.
#[derive(Debug)]
pub struct RegistrationFailure(pub Refusal);

impl From<Refusal> for RegistrationFailure {
    fn from(r: Refusal) -> Self {
        Self(r)
    }
}

impl RegistrationFailure {
    fn response(&self) -> Response {
        match &self.0 {
            Refusal::Protocol(e) if e.code == ErrorCode::InvalidToken => {
                errors::bearer_error(Some(e))
            }
            Refusal::Protocol(e) => errors::token_error(e, false),
            Refusal::Throttled { retry_after } => Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .content_type("application/json")
                .header(header::CACHE_CONTROL, NO_STORE)
                .header(header::RETRY_AFTER, retry_after.to_string())
                .body(
                    serde_json::json!({
                        "error": "temporarily_unavailable",
                        "error_description": "Too many apps registered from this address; \
                                              try again later.",
                    })
                    .to_string(),
                ),
        }
    }
}

impl std::fmt::Display for RegistrationFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Refusal::Protocol(e) => e.fmt(f),
            Refusal::Throttled { .. } => f.write_str("too many registrations"),
        }
    }
}

impl std::error::Error for RegistrationFailure {}

impl poem::error::ResponseError for RegistrationFailure {
    fn status(&self) -> StatusCode {
        self.response().status()
    }

    fn as_response(&self) -> Response {
        self.response()
    }
}

impl IntoResponse for RegistrationFailure {
    fn into_response(self) -> Response {
        self.response()
    }
}

fn documented(status: u16, description: &'static str) -> MetaResponse {
    MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: "application/json",
            schema: ErrorBody::schema_ref(),
        }],
        headers: vec![],
    }
}

impl ApiResponse for RegistrationFailure {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![
                documented(
                    400,
                    "invalid_client_metadata or invalid_redirect_uri (RFC 7591 3.2.2): the \
                     description names the member; invalid_request: registration is off.",
                ),
                documented(
                    401,
                    "invalid_token: the initial access token or registration access token is \
                     missing, unknown, expired or used up.",
                ),
                documented(
                    429,
                    "Too many registrations from this address (open registration).",
                ),
                documented(500, "server_error."),
                documented(
                    503,
                    "temporarily_unavailable: the database cannot be reached.",
                ),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

pub struct RegistrationApi;

#[OpenApi(tag = "ApiTags::Registration")]
impl RegistrationApi {
    /// Register an app
    ///
    /// An app registers itself (RFC 7591): the answer holds its `client_id`, its secret
    /// (once) and a registration access token for managing the registration. What it may ask
    /// for is bounded by `registration.*`; the consent page says that it registered itself.
    ///
    /// **Permissions**: when `registration.mode` is `initial_access_token`, an initial access
    /// token an operator minted; when `open`, none (`registration.per_ip` registrations per
    /// address per window). Off by default.
    #[oai(
        path = "/oauth/register",
        method = "post",
        operation_id = "register_client"
    )]
    async fn register(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: MaybeInitialAccessToken,
        body: MetadataJson,
    ) -> Result<Registered, RegistrationFailure> {
        let now = state.clock.now();
        let token = bearer(req)?;
        let spend = dynamic::admit(
            &state.db,
            &state.config,
            &state.registration,
            &state.secrets,
            token.as_deref(),
            &extract::client_ip(req),
            now,
        )
        .await?;
        let info = dynamic::register(
            &state.db,
            state.keeper(),
            &state.registration,
            &body.0,
            spend.as_deref(),
            now,
        )
        .await?;
        Ok(Registered::Created(
            Json(ClientInformation::new(&state.issuer, info)),
            NO_STORE.into(),
        ))
    }

    /// Read an app's registration
    ///
    /// RFC 7592 section 2.1. The secret is not shown again.
    ///
    /// **Permissions**: the client's registration access token.
    #[oai(
        path = "/oauth/register/:client_id",
        method = "get",
        operation_id = "read_client_registration"
    )]
    async fn read(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: RegistrationAccessToken,
        client_id: Path<String>,
    ) -> Result<Current, RegistrationFailure> {
        let token = bearer(req)?;
        let client = dynamic::authenticate(
            &state.db,
            &state.registration,
            &state.secrets,
            &client_id.0,
            token.as_deref(),
        )
        .await?;
        Ok(current(state, client, None, token))
    }

    /// Update an app's registration
    ///
    /// RFC 7592 section 2.2: the metadata sent replaces the registration (a member left out
    /// goes back to its default), held to the same rules as registering. The id, subject
    /// type and pairwise sector cannot change. The secret stays, unless a new
    /// authentication method needs a new one (answered once). Dropping the secret or moving
    /// to other redirect hosts revokes the app's grants and its users' consents.
    ///
    /// **Permissions**: the client's registration access token.
    #[oai(
        path = "/oauth/register/:client_id",
        method = "put",
        operation_id = "update_client_registration"
    )]
    async fn update(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: RegistrationAccessToken,
        client_id: Path<String>,
        body: MetadataJson,
    ) -> Result<Current, RegistrationFailure> {
        let token = bearer(req)?;
        let client = dynamic::authenticate(
            &state.db,
            &state.registration,
            &state.secrets,
            &client_id.0,
            token.as_deref(),
        )
        .await?;
        let (client, secret) = dynamic::replace(
            &state.db,
            state.keeper(),
            &state.registration,
            client,
            &body.0,
            state.clock.now(),
        )
        .await?;
        Ok(current(state, client, secret, token))
    }

    /// Delete an app's registration
    ///
    /// RFC 7592 section 2.3: the client goes, with its grants and tokens.
    ///
    /// **Permissions**: the client's registration access token.
    #[oai(
        path = "/oauth/register/:client_id",
        method = "delete",
        operation_id = "delete_client_registration"
    )]
    async fn delete(
        &self,
        req: &Request,
        Data(state): Data<&AppState>,
        _auth: RegistrationAccessToken,
        client_id: Path<String>,
    ) -> Result<Unregistered, RegistrationFailure> {
        let token = bearer(req)?;
        let client = dynamic::authenticate(
            &state.db,
            &state.registration,
            &state.secrets,
            &client_id.0,
            token.as_deref(),
        )
        .await?;
        dynamic::delete(&state.db, &client).await?;
        Ok(Unregistered::Deleted)
    }
}

fn current(
    state: &AppState,
    client: Client,
    secret: Option<String>,
    token: Option<String>,
) -> Current {
    let info = Information {
        client,
        secret,
        registration_access_token: token.unwrap_or_default(),
    };
    Current::Ok(
        Json(ClientInformation::new(&state.issuer, info)),
        NO_STORE.into(),
    )
}
