//! `GET/POST /oauth/authorize`: the pages of the authorization code flow. A request is
//! validated by `oauth::authorize`; when the user must act, it waits in the database, bound
//! to the browser session, while the login and consent pages are shown. Forms come back here
//! carrying `request_id`, `step` and a CSRF token.

use poem::http::{HeaderMap, Method, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::pages;
use super::session::{self, BrowserSession, SignIn, Signed};
use crate::clock::UnixTime;
use crate::crypto;
use crate::http::extract;
use crate::oauth::authorize::{self, AuthorizationRequest, Next, Rejection, SignedIn};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::users::User;
use crate::store::{self, authorization_requests::PendingRow, StoreError};

/// Which page a waiting request is on; a form for another step is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    Login,
    Consent,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    stage: Stage,
    request: AuthorizationRequest,
}

#[handler]
pub async fn endpoint(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let now = state.clock.now();
    let is_post = req.method() == Method::POST;
    let params = match extract::params(req, body).await {
        Ok(p) => p,
        Err(e) => return pages::error_page(state, &e),
    };
    let ip = extract::client_ip(req);
    let result = if is_post && params.contains("request_id") {
        interaction(state, req.headers(), &params, &ip, now).await
    } else {
        start(state, req.headers(), &params, &ip, now, is_post).await
    };
    result.unwrap_or_else(|e| pages::error_page(state, &e))
}

/// The signed-in user of `session`, if the account still exists and is enabled.
async fn signed_in(
    state: &AppState,
    session: Option<&BrowserSession>,
) -> Result<Option<(SignedIn, User)>, OAuthError> {
    let Some(s) = session else { return Ok(None) };
    let (Some(user_id), Some(auth_time)) = (&s.row.user_id, s.row.auth_time) else {
        return Ok(None);
    };
    match store::users::get(&state.db, user_id).await {
        Ok(user) if !user.disabled => Ok(Some((
            SignedIn {
                user_id: user.id.clone(),
                auth_time,
            },
            user,
        ))),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn start(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    ip: &str,
    now: UnixTime,
    after_post: bool,
) -> Result<Response, OAuthError> {
    let (request, client) = match authorize::validate(&state.db, params, &state.issuer).await {
        Ok(v) => v,
        Err(Rejection::Page(e)) => return Ok(pages::error_page(state, &e)),
        Err(Rejection::Redirect(r)) => {
            return Ok(pages::authorization_response(state, &r, after_post))
        }
    };
    let session = session::current(state, headers, now).await?;
    let user = signed_in(state, session.as_ref()).await?;
    let remembered = match &user {
        Some((s, _)) => store::consents::granted(&state.db, &s.user_id, &client.client_id).await?,
        None => None,
    };
    let next = authorize::decide(
        &request,
        user.as_ref().map(|(s, _)| s),
        remembered.as_deref(),
        false,
        now,
    );
    let stage = match next {
        Err(e) => return Ok(error_redirect(state, &request, &e, after_post)),
        Ok(Next::Issue) => {
            // decide() only answers Issue for a signed-in user, who has a session.
            let (Some((user, _)), Some(session)) = (&user, &session) else {
                return Err(OAuthError::server_error(&"issue without a session"));
            };
            let sid = session::sid(state, &session.row);
            let response = authorize::issue_code(
                &state.db,
                &state.secrets,
                &request,
                user,
                Some(&sid),
                &state.issuer,
                state.config.lifetimes.authorization_code.as_i64(),
                now,
            )
            .await?;
            return Ok(pages::authorization_response(state, &response, after_post));
        }
        Ok(Next::Login) => Stage::Login,
        Ok(Next::Consent) => Stage::Consent,
    };

    // The user must act: bind the request to a browser session (made now if there is none).
    // What a browser nobody signed in to makes the server keep is bounded per address.
    if user.is_none() && !session::admit_anonymous(state, ip, now).await? {
        return Ok(pages::too_many_requests(state));
    }
    let (session, new_cookie) = match session {
        Some(s) => (s, None),
        None => session::current_or_new(state, headers, now).await?,
    };
    let request_id = crypto::random_token()?;
    let pending = Pending { stage, request };
    store::authorization_requests::insert(
        &state.db,
        &PendingRow {
            id_hash: state.secrets.hash(&request_id),
            client_id: client.client_id.clone(),
            session_id_hash: Some(session.row.id_hash.clone()),
            params: to_json(&pending)?,
            created_at: now,
            expires_at: now + state.config.lifetimes.authorization_request.as_i64(),
        },
    )
    .await?;
    let page = match stage {
        Stage::Login => login_page(
            state,
            &client,
            &session,
            &request_id,
            &pending.request,
            None,
        ),
        Stage::Consent => {
            let username = user
                .as_ref()
                .map(|(_, u)| u.username.as_str())
                .unwrap_or_default();
            consent_page(
                state,
                &client,
                &session,
                &request_id,
                &pending.request,
                username,
            )
        }
    };
    Ok(pages::with_cookie(page, new_cookie))
}

/// Where a form came from: its headers (cookies) and client address.
#[derive(Clone, Copy)]
struct Origin<'a> {
    headers: &'a HeaderMap,
    ip: &'a str,
}

async fn interaction(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let expired = || {
        OAuthError::invalid_request(
            "This sign-in page has expired or was already used. Go back to the application and start again.",
        )
    };
    params.reject_duplicates()?;
    let session = session::current(state, headers, now)
        .await?
        .ok_or_else(expired)?;
    if !session::csrf_ok(state, &session, params.get("csrf_token")) {
        return Err(OAuthError::invalid_request(
            "The form could not be verified. Reload the page and try again.",
        ));
    }
    let request_id = params.require("request_id")?;
    let id_hash = state.secrets.hash(request_id);
    let row = store::authorization_requests::find_for_session(
        &state.db,
        &id_hash,
        &session.row.id_hash,
        now,
    )
    .await?
    .ok_or_else(expired)?;
    let pending: Pending =
        serde_json::from_str(&row.params).map_err(|e| OAuthError::server_error(&e))?;
    let client = match store::clients::get(&state.db, &row.client_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Err(expired()),
        Err(e) => return Err(e.into()),
    };
    match (params.get("step"), pending.stage) {
        (Some("cancel"), _) => {
            finish_with_error(
                state,
                &id_hash,
                &pending.request,
                "The user cancelled the sign-in.",
            )
            .await
        }
        (Some("login"), Stage::Login) => {
            let from = Origin { headers, ip };
            login(
                state, params, session, request_id, pending, &client, from, now,
            )
            .await
        }
        (Some("consent"), Stage::Consent) => {
            consent(state, params, &session, &id_hash, &pending.request, now).await
        }
        _ => Err(expired()),
    }
}

#[allow(clippy::too_many_arguments)] // the request, its session and where it came from
async fn login(
    state: &AppState,
    params: &Params,
    old: BrowserSession,
    request_id: &str,
    mut pending: Pending,
    client: &Client,
    from: Origin<'_>,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let Origin { headers, ip } = from;
    let username = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    let signed = match session::sign_in(state, &old, headers, username, password, ip, now).await? {
        SignIn::Signed(signed) => *signed,
        SignIn::Refused(message) => {
            return Ok(login_page(
                state,
                client,
                &old,
                request_id,
                &pending.request,
                Some((username, message)),
            ))
        }
    };

    let Signed {
        session,
        user,
        cookies,
    } = signed;

    let signed_in = SignedIn {
        user_id: user.id.clone(),
        auth_time: now,
    };
    let remembered = store::consents::granted(&state.db, &user.id, &client.client_id).await?;
    let id_hash = state.secrets.hash(request_id);
    match authorize::decide(
        &pending.request,
        Some(&signed_in),
        remembered.as_deref(),
        true,
        now,
    ) {
        Ok(Next::Issue) => {
            if !store::authorization_requests::take(&state.db, &id_hash).await? {
                return Err(OAuthError::invalid_request(
                    "This sign-in request was already completed.",
                ));
            }
            let sid = session::sid(state, &session.row);
            let response = authorize::issue_code(
                &state.db,
                &state.secrets,
                &pending.request,
                &signed_in,
                Some(&sid),
                &state.issuer,
                state.config.lifetimes.authorization_code.as_i64(),
                now,
            )
            .await?;
            Ok(pages::with_cookies(
                pages::authorization_response(state, &response, true),
                cookies,
            ))
        }
        Ok(Next::Consent | Next::Login) => {
            pending.stage = Stage::Consent;
            store::authorization_requests::set_params(&state.db, &id_hash, &to_json(&pending)?)
                .await?;
            let page = consent_page(
                state,
                client,
                &session,
                request_id,
                &pending.request,
                &user.username,
            );
            Ok(pages::with_cookies(page, cookies))
        }
        Err(e) => {
            store::authorization_requests::take(&state.db, &id_hash).await?;
            Ok(pages::with_cookies(
                error_redirect(state, &pending.request, &e, true),
                cookies,
            ))
        }
    }
}

async fn consent(
    state: &AppState,
    params: &Params,
    session: &BrowserSession,
    id_hash: &str,
    request: &AuthorizationRequest,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let Some((user, _)) = signed_in(state, Some(session)).await? else {
        return Err(OAuthError::invalid_request(
            "You are no longer signed in. Go back to the application and start again.",
        ));
    };
    match params.get("decision") {
        Some("allow") => {
            // The pending request is consumed first (the write that takes the lock): a
            // double submit issues one code.
            let txn = state.db.begin().await?;
            if !store::authorization_requests::take(&txn, id_hash).await? {
                return Err(OAuthError::invalid_request(
                    "This request was already answered.",
                ));
            }
            store::consents::add(
                &txn,
                &user.user_id,
                &request.client_id,
                &request.scopes,
                now,
            )
            .await?;
            let sid = session::sid(state, &session.row);
            let response = authorize::issue_code(
                &txn,
                &state.secrets,
                request,
                &user,
                Some(&sid),
                &state.issuer,
                state.config.lifetimes.authorization_code.as_i64(),
                now,
            )
            .await?;
            txn.commit().await?;
            Ok(pages::authorization_response(state, &response, true))
        }
        Some("deny") => {
            finish_with_error(state, id_hash, request, "The user did not consent.").await
        }
        _ => Err(OAuthError::invalid_request(
            "The form must answer allow or deny.",
        )),
    }
}

/// Consumes the request and sends `access_denied` to the client.
async fn finish_with_error(
    state: &AppState,
    id_hash: &str,
    request: &AuthorizationRequest,
    description: &'static str,
) -> Result<Response, OAuthError> {
    if !store::authorization_requests::take(&state.db, id_hash).await? {
        return Err(OAuthError::invalid_request(
            "This request was already answered.",
        ));
    }
    let error = OAuthError::new(ErrorCode::AccessDenied, description);
    Ok(error_redirect(state, request, &error, true))
}

fn error_redirect(
    state: &AppState,
    request: &AuthorizationRequest,
    error: &OAuthError,
    after_post: bool,
) -> Response {
    let response = authorize::error_response(request, error, &state.issuer);
    pages::authorization_response(state, &response, after_post)
}

fn login_page(
    state: &AppState,
    client: &Client,
    session: &BrowserSession,
    request_id: &str,
    request: &AuthorizationRequest,
    failure: Option<(&str, &str)>,
) -> Response {
    let username = failure
        .map(|(name, _)| name)
        .or(request.login_hint.as_deref())
        .unwrap_or_default();
    pages::render(
        state,
        StatusCode::OK,
        "login.html",
        minijinja::context! {
            action => format!("{}/oauth/authorize", state.issuer),
            client_name => &client.name,
            hidden => [("request_id", request_id)],
            csrf_token => session::csrf_token(state, session),
            username,
            error => failure.map(|(_, message)| message),
        },
        Some(&request.redirect_uri),
    )
}

fn consent_page(
    state: &AppState,
    client: &Client,
    session: &BrowserSession,
    request_id: &str,
    request: &AuthorizationRequest,
    username: &str,
) -> Response {
    let scopes = pages::scope_views(&request.scopes);
    pages::render(
        state,
        StatusCode::OK,
        "consent.html",
        minijinja::context! {
            action => format!("{}/oauth/authorize", state.issuer),
            client_name => &client.name,
            scopes,
            username,
            request_id,
            csrf_token => session::csrf_token(state, session),
        },
        Some(&request.redirect_uri),
    )
}

fn to_json(pending: &Pending) -> Result<String, OAuthError> {
    serde_json::to_string(pending).map_err(|e| OAuthError::server_error(&e))
}
