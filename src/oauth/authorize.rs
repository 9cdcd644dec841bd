//! The authorization endpoint's rules (RFC 6749 4.1.1, OIDC Core 3.1.2): validate a request,
//! decide what the user must do next, and issue the code.

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::claims_request::{self, ClaimsRequest};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::pkce;
use super::redirect::{self, AuthResponse, ResponseMode};
use super::scope;
use crate::clock::UnixTime;
use crate::crypto::{self, KeyedHasher};
use crate::store::clients::{Client, GrantType};
use crate::store::codes::CodeRow;
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
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Rejection {
    /// The client or redirect URI cannot be trusted: tell the person, redirect nowhere.
    Page(OAuthError),
    /// Tell the client, at its validated redirect URI.
    Redirect(AuthResponse),
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
/// registered are `Rejection::Page`; after, `Rejection::Redirect`.
pub async fn validate(
    db: &impl ConnectionTrait,
    params: &Params,
    issuer: &str,
) -> Result<(AuthorizationRequest, Client), Rejection> {
    for name in ["client_id", "redirect_uri"] {
        if params.first_duplicate() == Some(name) {
            return Err(Rejection::Page(OAuthError::invalid_request(format!(
                "The parameter `{name}` was sent more than once."
            ))));
        }
    }
    let client_id = params.get("client_id").ok_or_else(|| {
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
    let reject = |error: OAuthError| {
        Rejection::Redirect(AuthResponse::error(
            redirect_uri,
            mode,
            &error,
            state,
            issuer,
        ))
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
    if params.contains("request") || params.contains("request_uri") {
        return Err(reject(OAuthError::new(
            ErrorCode::InvalidRequest,
            "Request objects (request, request_uri) are not supported.",
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
    claims_request::check_acr(claims.as_ref()).map_err(reject)?;
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
    };
    Ok((request, client))
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
}

/// What happens next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Login,
    Consent,
    Issue,
}

/// Decides the next step. `fresh_login` is true right after the user logged in for this
/// request, which satisfies prompt=login and max_age.
pub fn decide(
    request: &AuthorizationRequest,
    signed_in: Option<&SignedIn>,
    remembered: Option<&[String]>,
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
    let covered =
        remembered.is_some_and(|granted| request.scopes.iter().all(|s| granted.contains(s)));
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
        grant_id: None,
        id_token_claims: request
            .claims
            .as_ref()
            .filter(|c| !c.id_token.is_empty())
            .map(|c| serde_json::json!(c.id_token_names()).to_string()),
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
        }
    }

    fn user(auth_time: i64) -> SignedIn {
        SignedIn {
            user_id: "u".into(),
            auth_time,
        }
    }

    #[test]
    fn decisions_follow_prompt_max_age_and_consent() {
        let granted = vec!["openid".to_owned(), "email".to_owned()];
        let r = request();
        assert_eq!(decide(&r, None, None, false, 100), Ok(Next::Login));
        assert_eq!(
            decide(&r, Some(&user(90)), None, false, 100),
            Ok(Next::Consent)
        );
        assert_eq!(
            decide(&r, Some(&user(90)), Some(&granted), false, 100),
            Ok(Next::Issue)
        );
        let max_age = AuthorizationRequest {
            max_age: Some(5),
            ..request()
        };
        assert_eq!(
            decide(&max_age, Some(&user(90)), Some(&granted), false, 100),
            Ok(Next::Login)
        );
        assert_eq!(
            decide(&max_age, Some(&user(90)), Some(&granted), true, 100),
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
            decide(&login, Some(&user(99)), Some(&granted), false, 100),
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
            decide(&consent, Some(&user(99)), Some(&granted), false, 100),
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
            decide(&none, None, None, false, 100).unwrap_err().code,
            ErrorCode::LoginRequired
        );
        assert_eq!(
            decide(&none, Some(&user(99)), None, false, 100)
                .unwrap_err()
                .code,
            ErrorCode::ConsentRequired
        );
    }
}
