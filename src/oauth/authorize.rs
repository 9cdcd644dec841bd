//! The authorization endpoint's rules (RFC 6749 4.1.1, OIDC Core 3.1.2): validate a request,
//! decide what the user must do next, and issue the code.

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::auth_context::{Amr, Level};
use super::claims_request::{self, ClaimsRequest};
use super::client_assertion::Verifier;
use super::client_auth::{self, Credentials};
use super::dpop;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::pkce;
use super::redirect::{self, AuthResponse, ResponseMode};
use super::request_object;
use super::resource;
use super::scope;
use crate::clock::UnixTime;
use crate::crypto::{self, KeyedHasher};
use crate::store::authorization_requests::PendingRow;
use crate::store::clients::{Client, GrantType};
use crate::store::codes::CodeRow;
use crate::store::consents::Granted;
use crate::store::{self, StoreError};

/// `response_types_supported`.
pub const RESPONSE_TYPES: [&str; 1] = ["code"];
/// `prompt_values_supported`.
pub const PROMPT_VALUES: [&str; 3] = ["none", "login", "consent"];

/// Longest `state`, `nonce` or `login_hint` accepted, so a request stays small.
const MAX_PARAM_LEN: usize = 2048;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `claims` parameter (OIDC Core 5.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimsRequest>,
    /// `acr_values`: voluntary, answered with the level reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
    /// The thumbprint of the DPoP key the code is bound to (`dpop_jkt`, or the key of the
    /// proof sent with a pushed request; RFC 9449 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// The resources the tokens are asked for (RFC 8707), each registered and allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// What the consent page calls them, in the same order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

/// The prefix of the `request_uri`s the pushed authorization request endpoint hands out
/// (RFC 9126 section 2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// What validating an authorization request needs besides the database.
pub struct Rules<'a> {
    pub issuer: &'a str,
    /// Hashes the `request_uri`s of pushed requests.
    pub hasher: &'a KeyedHasher,
    /// Checks request objects; `None` when they are not accepted (`authorize.request_objects`).
    pub request_objects: Option<Verifier>,
    /// Whether pushed requests are accepted (`authorize.par`).
    pub par: bool,
    /// Whether every client must push its requests (`authorize.require_par`).
    pub require_par: bool,
    pub now: UnixTime,
}

/// Where a request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// At the authorization endpoint, from the browser.
    Front,
    /// At the pushed authorization request endpoint, from the client.
    Pushed,
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Rejection {
    /// The client or redirect URI cannot be trusted: tell the person, redirect nowhere.
    Page(OAuthError),
    /// Tell the client, at its validated redirect URI.
    Redirect {
        error: OAuthError,
        response: AuthResponse,
    },
}

impl Rejection {
    /// The error itself, wherever it would have been sent.
    pub fn into_error(self) -> OAuthError {
        match self {
            Self::Page(error) | Self::Redirect { error, .. } => error,
        }
    }
}

impl From<StoreError> for Rejection {
    fn from(e: StoreError) -> Self {
        Self::Page(e.into())
    }
}

fn bounded<'a>(params: &'a Params, name: &str) -> Result<Option<&'a str>, OAuthError> {
    match params.get(name) {
        Some(v) if v.len() > MAX_PARAM_LEN => Err(OAuthError::invalid_request(format!(
            "The parameter `{name}` is too long."
        ))),
        other => Ok(other),
    }
}

/// Validates an authorization request. Errors before the redirect URI is known to be
/// registered are `Rejection::Page`; after, `Rejection::Redirect`. At the authorization
/// endpoint a `request_uri` names a request pushed before (validated then, used once); a
/// `request` is a signed request object whose parameters replace those sent beside it.
pub async fn validate(
    db: &impl ConnectionTrait,
    outer: &Params,
    rules: &Rules<'_>,
    arrival: Arrival,
) -> Result<(AuthorizationRequest, Client), Rejection> {
    for name in ["client_id", "redirect_uri"] {
        if outer.first_duplicate() == Some(name) {
            return Err(Rejection::Page(OAuthError::invalid_request(format!(
                "The parameter `{name}` was sent more than once."
            ))));
        }
    }
    let client_id = outer.get("client_id").ok_or_else(|| {
        Rejection::Page(OAuthError::invalid_request(
            "The client_id parameter is missing.",
        ))
    })?;
    let client = match store::clients::get(db, client_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => {
            return Err(Rejection::Page(OAuthError::invalid_request(
                "The application is not registered with this provider.",
            )))
        }
        Err(e) => return Err(e.into()),
    };
    if outer.contains("request_uri") {
        return match arrival {
            Arrival::Front => pushed(db, outer, rules, client).await,
            Arrival::Pushed => Err(Rejection::Page(OAuthError::invalid_request(
                "A pushed authorization request cannot carry a request_uri (RFC 9126 2.1).",
            ))),
        };
    }
    let inner = match outer.get("request") {
        None => None,
        Some(jwt) => {
            let opened = match &rules.request_objects {
                Some(verifier) => {
                    request_object::open(verifier, &client, jwt, rules.issuer, rules.now).await
                }
                None => Err(OAuthError::new(
                    ErrorCode::RequestNotSupported,
                    "Request objects (the request parameter) are not accepted here.",
                )),
            };
            match opened {
                Ok(inner) => Some(inner),
                Err(error) => return Err(outside(outer, &client, error, rules.issuer)),
            }
        }
    };
    let signed = inner.is_some();
    let params = inner.as_ref().unwrap_or(outer);
    let issuer = rules.issuer;
    if signed && params.first_duplicate() == Some("redirect_uri") {
        return Err(Rejection::Page(OAuthError::invalid_request(
            "The parameter `redirect_uri` was sent more than once.",
        )));
    }
    // OIDC Core 3.1.2.1 requires redirect_uri; RFC 9700 wants exact matching.
    let redirect_uri = params.get("redirect_uri").ok_or_else(|| {
        Rejection::Page(OAuthError::invalid_request(
            "The redirect_uri parameter is missing.",
        ))
    })?;
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect::matches(r, redirect_uri))
    {
        return Err(Rejection::Page(OAuthError::invalid_request(
            "The redirect_uri is not registered for this application.",
        )));
    }

    // From here on the client hears about errors at its redirect URI.
    let state = params.get("state").filter(|s| s.len() <= MAX_PARAM_LEN);
    let mode_param = params.get("response_mode");
    let mode = ResponseMode::parse(mode_param).unwrap_or(ResponseMode::Query);
    let reject = |error: OAuthError| Rejection::Redirect {
        response: AuthResponse::error(redirect_uri, mode, &error, state, issuer),
        error,
    };
    if ResponseMode::parse(mode_param).is_none() {
        return Err(reject(OAuthError::invalid_request(
            "response_mode must be query or form_post.",
        )));
    }
    params.reject_duplicates().map_err(reject)?;
    if params.get("state").is_some() && state.is_none() {
        return Err(reject(OAuthError::invalid_request(
            "The state parameter is too long.",
        )));
    }
    if arrival == Arrival::Front
        && (rules.require_par || client.require_pushed_authorization_requests)
    {
        return Err(reject(OAuthError::invalid_request(
            "This client must push its authorization requests to the pushed authorization \
             request endpoint first (RFC 9126) and send the request_uri it returns.",
        )));
    }
    if client.require_signed_request_object && !signed {
        return Err(reject(OAuthError::invalid_request(
            "This client must send its authorization requests as signed request objects \
             (the request parameter, RFC 9101).",
        )));
    }

    match params.get("response_type") {
        None => {
            return Err(reject(OAuthError::invalid_request(
                "response_type is required.",
            )))
        }
        Some("code") => {}
        Some(other) => {
            return Err(reject(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type `{other}` is not supported; use code."),
            )))
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(reject(OAuthError::unauthorized_client(
            "This client is not registered for the authorization code grant.",
        )));
    }

    let mut scopes = match params.get("scope") {
        Some(s) => scope::parse(s).map_err(reject)?,
        None => Vec::new(),
    };
    if scopes.is_empty() {
        return Err(reject(OAuthError::invalid_scope(
            "The scope parameter is required.",
        )));
    }
    scope::check_for_user(&client.scopes, &scopes).map_err(reject)?;

    let prompt = parse_prompt(params.get("prompt")).map_err(reject)?;
    // offline_access needs the user's consent (OIDC Core 11) and a client that may refresh.
    if prompt.none || !client.allows_grant(GrantType::RefreshToken) {
        scopes.retain(|s| s != "offline_access");
    }
    if scopes.is_empty() {
        return Err(reject(OAuthError::invalid_scope(
            "offline_access alone cannot be granted here.",
        )));
    }

    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<u32>().map(i64::from).map_err(|_| {
            reject(OAuthError::invalid_request(
                "max_age must be a non-negative integer.",
            ))
        })?),
    };

    let (code_challenge, code_challenge_method) = match params.get("code_challenge") {
        Some(challenge) => {
            let method =
                pkce::Method::parse(params.get("code_challenge_method")).map_err(reject)?;
            if !pkce::is_well_formed(challenge) {
                return Err(reject(OAuthError::invalid_request(
                    "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~].",
                )));
            }
            (Some(challenge.to_owned()), Some(method))
        }
        None if params.contains("code_challenge_method") => {
            return Err(reject(OAuthError::invalid_request(
                "code_challenge_method was sent without code_challenge.",
            )))
        }
        None => (None, None),
    };
    if client.is_public() && code_challenge_method != Some(pkce::Method::S256) {
        return Err(reject(OAuthError::invalid_request(
            "Public clients must use PKCE with code_challenge_method=S256.",
        )));
    }

    let nonce = bounded(params, "nonce").map_err(reject)?;
    let login_hint = bounded(params, "login_hint").map_err(reject)?;
    let claims = bounded(params, "claims")
        .map_err(reject)?
        .map(ClaimsRequest::parse)
        .transpose()
        .map_err(reject)?;
    claims_request::essential_level(claims.as_ref()).map_err(reject)?;
    // A SHA-256 thumbprint: 43 base64url characters.
    let dpop_jkt = match params.get("dpop_jkt") {
        None => None,
        Some(jkt)
            if jkt.len() == 43
                && jkt
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(jkt.to_owned())
        }
        Some(_) => {
            return Err(reject(OAuthError::invalid_request(
                "dpop_jkt must be a JWK SHA-256 thumbprint (43 base64url characters).",
            )))
        }
    };
    let resources = resource::requested(params).map_err(reject)?;
    let found = resource::allowed(db, &client, &resources)
        .await
        .map_err(reject)?;
    let resource_names = resources
        .iter()
        .filter_map(|r| found.iter().find(|f| &f.identifier == r))
        .map(|f| f.name.clone())
        .collect();
    let acr_values = bounded(params, "acr_values")
        .map_err(reject)?
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();

    let request = AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        response_mode: mode,
        scopes,
        state: state.map(str::to_owned),
        nonce: nonce.map(str::to_owned),
        code_challenge,
        code_challenge_method: code_challenge_method.map(|m| m.as_str().to_owned()),
        prompt,
        max_age,
        login_hint: login_hint.map(str::to_owned),
        claims,
        acr_values,
        dpop_jkt,
        resources,
        resource_names,
    };
    Ok((request, client))
}

/// The refusal of a request object that cannot be used: at the redirect URI sent beside it
/// when that one is registered (with the `state` and `response_mode` sent beside it), as for
/// any request; on a page otherwise.
fn outside(outer: &Params, client: &Client, error: OAuthError, issuer: &str) -> Rejection {
    let redirect_uri = outer.get("redirect_uri").filter(|uri| {
        client
            .redirect_uris
            .iter()
            .any(|r| redirect::matches(r, uri))
    });
    let mode = ResponseMode::parse(outer.get("response_mode"));
    match (redirect_uri, mode) {
        (Some(uri), Some(mode)) => {
            let state = outer.get("state").filter(|s| s.len() <= MAX_PARAM_LEN);
            Rejection::Redirect {
                response: AuthResponse::error(uri, mode, &error, state, issuer),
                error,
            }
        }
        _ => Rejection::Page(error),
    }
}

/// The request a `request_uri` names: pushed by this client, not expired, and not used
/// before (taking it deletes it, so exactly one use wins).
async fn pushed(
    db: &impl ConnectionTrait,
    outer: &Params,
    rules: &Rules<'_>,
    client: Client,
) -> Result<(AuthorizationRequest, Client), Rejection> {
    let page = |code, text: &'static str| Err(Rejection::Page(OAuthError::new(code, text)));
    if outer.contains("request") {
        return page(
            ErrorCode::InvalidRequest,
            "Send request or request_uri, not both.",
        );
    }
    let uri = outer.get("request_uri").unwrap_or_default();
    let Some(handle) = uri.strip_prefix(REQUEST_URI_PREFIX).filter(|_| rules.par) else {
        return page(
            ErrorCode::RequestUriNotSupported,
            "Only the request_uri values this server's pushed authorization request endpoint \
             returns are accepted.",
        );
    };
    let row = store::authorization_requests::take_pushed(
        db,
        &rules.hasher.hash(handle),
        &client.client_id,
        rules.now,
    )
    .await?;
    let Some(row) = row else {
        return page(
            ErrorCode::InvalidRequestUri,
            "The request_uri is unknown, has expired or was already used: push the request again.",
        );
    };
    let request: AuthorizationRequest = serde_json::from_str(&row.params)
        .map_err(|e| Rejection::Page(OAuthError::server_error(&e)))?;
    // The client may have changed since the request was pushed.
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect::matches(r, &request.redirect_uri))
    {
        return page(
            ErrorCode::InvalidRequest,
            "The redirect_uri is not registered for this application.",
        );
    }
    Ok((request, client))
}

/// Whether a push from `ip` may go ahead. Anyone can push for a public client: what that makes
/// the server keep is bounded per address, like the sign-in pages of browsers nobody signed in
/// to (`login.pending_requests_per_ip`). Authenticated clients are not held (a backend pushes
/// for all its users from one address).
pub async fn admit_push(
    db: &impl ConnectionTrait,
    config: &crate::config::Config,
    credentials: &Credentials,
    ip: &str,
    now: UnixTime,
) -> Result<(), OAuthError> {
    if credentials.method_tried() != crate::store::clients::AuthMethod::None.as_str() {
        return Ok(());
    }
    let rules = crate::abuse::pending_requests(config, ip);
    match crate::abuse::reserve(db, &rules, now).await?.verdict {
        crate::abuse::Verdict::Allowed => Ok(()),
        crate::abuse::Verdict::Refused(_) => Err(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "Too many pushed requests from this address for a public client; try again later.",
        )),
    }
}

/// The answer of the pushed authorization request endpoint (RFC 9126 section 2.2).
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

/// The parameters of client authentication, which are not part of the request pushed.
const CLIENT_AUTH_PARAMS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

/// `POST /oauth/par` (RFC 9126): authenticates the client, validates the request as the
/// authorization endpoint would, and keeps it (only a keyed hash of its handle is stored)
/// for `lifetime` seconds, to be used once.
///
/// `proof` is the request's DPoP proof and what checks it (`htu` the endpoint's URL): the
/// code is then bound to its key, as `dpop_jkt` would bind it (RFC 9449 10.1).
pub async fn push(
    db: &impl ConnectionTrait,
    credentials: &Credentials,
    params: &Params,
    rules: &Rules<'_>,
    proof: Option<(&str, &dpop::Checker<'_>, &str)>,
    lifetime: i64,
) -> Result<Pushed, OAuthError> {
    params.reject_duplicates()?;
    let client = client_auth::authenticate(db, rules.hasher, credentials).await?;
    let proven = match proof {
        Some((proof, checker, htu)) => {
            let request = dpop::Request {
                htm: "POST",
                htu,
                access_token: None,
            };
            Some(checker.check(db, proof, &request).await?)
        }
        None => None,
    };
    if params
        .get("client_id")
        .is_some_and(|id| id != client.client_id)
    {
        return Err(OAuthError::invalid_request(
            "The client_id differs from the client that authenticated.",
        ));
    }
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| *name != "client_id" && !CLIENT_AUTH_PARAMS.contains(name))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    pairs.push(("client_id".to_owned(), client.client_id.clone()));
    let (mut request, client) = validate(db, &Params::from_pairs(pairs), rules, Arrival::Pushed)
        .await
        .map_err(Rejection::into_error)?;
    if let Some(proven) = proven {
        if request.dpop_jkt.as_ref().is_some_and(|jkt| *jkt != proven) {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "The DPoP proof's key is not the one dpop_jkt names.",
            ));
        }
        request.dpop_jkt = Some(proven);
    }
    let handle = crypto::random_token()?;
    let params = serde_json::to_string(&request).map_err(|e| OAuthError::server_error(&e))?;
    store::authorization_requests::insert(
        db,
        &PendingRow {
            id_hash: rules.hasher.hash(&handle),
            client_id: client.client_id,
            session_id_hash: None,
            params,
            created_at: rules.now,
            expires_at: rules.now + lifetime,
        },
    )
    .await?;
    Ok(Pushed {
        request_uri: format!("{REQUEST_URI_PREFIX}{handle}"),
        expires_in: lifetime,
    })
}

fn parse_prompt(value: Option<&str>) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    for v in value
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        match v {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "prompt `{other}` is not supported (none, login, consent)."
                )))
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values.",
        ));
    }
    Ok(prompt)
}

/// Who is signed in, as far as this request is concerned.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub user_id: String,
    pub auth_time: UnixTime,
    /// How they signed in.
    pub amr: Amr,
}

/// What happens next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Login,
    /// Signed in, but not at the level needed: a second factor is asked for.
    StepUp,
    Consent,
    Issue,
}

/// Decides the next step. `fresh_login` is true right after the user logged in for this
/// request, which satisfies prompt=login and max_age; `needed` is the level the sign-in
/// must have reached (`oidc::factors`).
pub fn decide(
    request: &AuthorizationRequest,
    signed_in: Option<&SignedIn>,
    needed: Level,
    remembered: Option<&Granted>,
    fresh_login: bool,
    now: UnixTime,
) -> Result<Next, OAuthError> {
    let needs_login = match signed_in {
        None => true,
        Some(s) => {
            !fresh_login
                && (request.prompt.login
                    || request.max_age.is_some_and(|max| now - s.auth_time > max))
        }
    };
    if needs_login {
        return if request.prompt.none {
            Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "The user is not signed in.",
            ))
        } else {
            Ok(Next::Login)
        };
    }
    if signed_in.is_some_and(|s| s.amr.level() < needed) {
        return if request.prompt.none {
            Err(OAuthError::new(
                ErrorCode::InteractionRequired,
                "The sign-in needs a second factor.",
            ))
        } else {
            Ok(Next::StepUp)
        };
    }
    let covered =
        remembered.is_some_and(|granted| granted.covers(&request.scopes, &request.resources));
    if request.prompt.consent || !covered {
        return if request.prompt.none {
            Err(OAuthError::new(
                ErrorCode::ConsentRequired,
                "The user has not consented to this request.",
            ))
        } else {
            Ok(Next::Consent)
        };
    }
    Ok(Next::Issue)
}

/// Issues a single-use code bound to everything the token endpoint must check, and returns
/// the response that carries it.
#[allow(clippy::too_many_arguments)] // each is a distinct binding of the code
pub async fn issue_code(
    db: &impl ConnectionTrait,
    hasher: &KeyedHasher,
    request: &AuthorizationRequest,
    user: &SignedIn,
    session_id: Option<&str>,
    issuer: &str,
    lifetime: i64,
    now: UnixTime,
) -> Result<AuthResponse, OAuthError> {
    let code = crypto::random_token()?;
    let row = CodeRow {
        code_hash: hasher.hash(&code),
        client_id: request.client_id.clone(),
        user_id: user.user_id.clone(),
        session_id: session_id.map(str::to_owned),
        redirect_uri: request.redirect_uri.clone(),
        scope: scope::join(&request.scopes),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        code_challenge_method: request.code_challenge_method.clone(),
        auth_time: user.auth_time,
        amr: Some(user.amr.to_stored()),
        grant_id: None,
        id_token_claims: request
            .claims
            .as_ref()
            .filter(|c| !c.id_token.is_empty())
            .map(|c| serde_json::json!(c.id_token_names()).to_string()),
        dpop_jkt: request.dpop_jkt.clone(),
        resources: resource::to_stored(&request.resources),
        used_at: None,
        created_at: now,
        expires_at: now + lifetime,
    };
    store::codes::insert(db, &row).await?;
    Ok(AuthResponse::code(
        &request.redirect_uri,
        request.response_mode,
        code,
        request.state.as_deref(),
        issuer,
    ))
}

/// The error response for this request (its redirect URI, mode and state).
pub fn error_response(
    request: &AuthorizationRequest,
    error: &OAuthError,
    issuer: &str,
) -> AuthResponse {
    AuthResponse::error(
        &request.redirect_uri,
        request.response_mode,
        error,
        request.state.as_deref(),
        issuer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "c".into(),
            redirect_uri: "https://a.example/cb".into(),
            response_mode: ResponseMode::Query,
            scopes: vec!["openid".into(), "email".into()],
            state: None,
            nonce: None,
            code_challenge: None,
            code_challenge_method: None,
            prompt: Prompt::default(),
            max_age: None,
            login_hint: None,
            claims: None,
            acr_values: Vec::new(),
            dpop_jkt: None,
            resources: Vec::new(),
            resource_names: Vec::new(),
        }
    }

    fn user(auth_time: i64) -> SignedIn {
        SignedIn {
            user_id: "u".into(),
            auth_time,
            amr: Amr::password(),
        }
    }

    #[test]
    fn decisions_follow_prompt_max_age_and_consent() {
        let granted = Granted {
            scopes: vec!["openid".to_owned(), "email".to_owned()],
            resources: vec!["https://api.example".to_owned()],
        };
        let r = request();
        assert_eq!(
            decide(&r, None, Level::Password, None, false, 100),
            Ok(Next::Login)
        );
        assert_eq!(
            decide(&r, Some(&user(90)), Level::Password, None, false, 100),
            Ok(Next::Consent)
        );
        assert_eq!(
            decide(
                &r,
                Some(&user(90)),
                Level::Password,
                Some(&granted),
                false,
                100
            ),
            Ok(Next::Issue)
        );
        // Another resource than the consent was given at asks again.
        let elsewhere = AuthorizationRequest {
            resources: vec!["https://other.example".to_owned()],
            ..request()
        };
        assert_eq!(
            decide(
                &elsewhere,
                Some(&user(90)),
                Level::Password,
                Some(&granted),
                false,
                100
            ),
            Ok(Next::Consent)
        );
        let max_age = AuthorizationRequest {
            max_age: Some(5),
            ..request()
        };
        assert_eq!(
            decide(
                &max_age,
                Some(&user(90)),
                Level::Password,
                Some(&granted),
                false,
                100
            ),
            Ok(Next::Login)
        );
        assert_eq!(
            decide(
                &max_age,
                Some(&user(90)),
                Level::Password,
                Some(&granted),
                true,
                100
            ),
            Ok(Next::Issue)
        );
        let login = AuthorizationRequest {
            prompt: Prompt {
                login: true,
                ..Prompt::default()
            },
            ..request()
        };
        assert_eq!(
            decide(
                &login,
                Some(&user(99)),
                Level::Password,
                Some(&granted),
                false,
                100
            ),
            Ok(Next::Login)
        );
        let consent = AuthorizationRequest {
            prompt: Prompt {
                consent: true,
                ..Prompt::default()
            },
            ..request()
        };
        assert_eq!(
            decide(
                &consent,
                Some(&user(99)),
                Level::Password,
                Some(&granted),
                false,
                100
            ),
            Ok(Next::Consent)
        );
        let none = AuthorizationRequest {
            prompt: Prompt {
                none: true,
                ..Prompt::default()
            },
            ..request()
        };
        assert_eq!(
            decide(&none, None, Level::Password, None, false, 100)
                .unwrap_err()
                .code,
            ErrorCode::LoginRequired
        );
        assert_eq!(
            decide(&none, Some(&user(99)), Level::Password, None, false, 100)
                .unwrap_err()
                .code,
            ErrorCode::ConsentRequired
        );
    }
}
