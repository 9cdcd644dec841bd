//! `GET/POST /oauth/logout` (OpenID Connect RP-Initiated Logout 1.0). With an ID token hint
//! from the current session the user is signed out at once; otherwise they are asked first
//! (a form with a CSRF token), so no third party can sign anyone out.

use poem::http::{Method, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use super::pages;
use super::session;
use crate::http::extract;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oidc::logout::{self, LogoutRequest};
use crate::oidc::sessions::{self, BrowserSession};
use crate::oidc::sign_out;
use crate::state::AppState;

/// Parameters the confirmation form carries forward.
const FORWARDED: [&str; 5] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

#[handler]
pub async fn endpoint(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let is_post = req.method() == Method::POST;
    let params = match extract::params(req, body).await {
        Ok(p) => p,
        Err(e) => return pages::error_page(state, &e),
    };
    handle(state, req, &params, is_post)
        .await
        .unwrap_or_else(|e| pages::error_page(state, &e))
}

async fn handle(
    state: &AppState,
    req: &Request,
    params: &Params,
    is_post: bool,
) -> Result<Response, OAuthError> {
    let now = state.clock.now();
    let keys = state.keys.current();
    let request = logout::validate(&state.db, &keys, &state.issuer, params).await?;
    let session = session::current(state, req.headers(), now).await?;

    if is_post && params.contains("step") {
        let Some(session) = session else {
            return Ok(signed_out(state, &request, true, false));
        };
        if !session::csrf_ok(state, &session, params.get("csrf_token")) {
            return Err(OAuthError::invalid_request(
                "The form could not be verified. Reload the page and try again.",
            ));
        }
        return match params.get("step") {
            Some("logout") => end(state, &session, &request, true).await,
            _ => Ok(pages::render(
                state,
                StatusCode::OK,
                "logout_confirm.html",
                minijinja::context! { kept => true },
                None,
            )),
        };
    }

    match session {
        // Nothing to end.
        None => Ok(signed_out(state, &request, is_post, false)),
        // The RP proved which session it means: no need to ask.
        Some(s)
            if request.hint_sid.as_deref()
                == Some(sessions::sid(&state.secrets, &s.row).as_str()) =>
        {
            end(state, &s, &request, is_post).await
        }
        Some(s) => {
            let fields: Vec<(&str, &str)> = FORWARDED
                .iter()
                .filter_map(|name| params.get(name).map(|v| (*name, v)))
                .collect();
            Ok(pages::render(
                state,
                StatusCode::OK,
                "logout_confirm.html",
                minijinja::context! {
                    action => format!("{}/oauth/logout", state.issuer),
                    csrf_token => session::csrf_token(state, &s),
                    client_name => request.client.as_ref().map(|c| c.name.as_str()),
                    fields,
                },
                request.redirect.as_deref(),
            ))
        }
    }
}

/// Ends the session (its tokens as `logout.revoke` says, and every app that took part is
/// told), clears the cookie, then goes where the RP asked: at once, or after the
/// front-channel logout pages of the apps have loaded.
async fn end(
    state: &AppState,
    session: &BrowserSession,
    request: &LogoutRequest,
    after_post: bool,
) -> Result<Response, OAuthError> {
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let frames = sign_out::end_sessions(
        state.provider(),
        &txn,
        std::slice::from_ref(&session.row),
        now,
    )
    .await?;
    txn.commit().await?;
    tracing::info!(user_id = ?session.row.user_id, "logout");
    if frames.is_empty() {
        return Ok(signed_out(state, request, after_post, true));
    }
    let response = pages::signed_out_with_frames(state, &frames, request.redirect.as_deref());
    Ok(pages::with_cookie(
        response,
        Some(session::clear_cookie(state)),
    ))
}

fn signed_out(
    state: &AppState,
    request: &LogoutRequest,
    after_post: bool,
    clear: bool,
) -> Response {
    let response = match &request.redirect {
        Some(uri) => pages::redirect(uri, after_post),
        None => pages::render(
            state,
            StatusCode::OK,
            "logout_confirm.html",
            minijinja::context! { done => true },
            None,
        ),
    };
    pages::with_cookie(response, clear.then(|| session::clear_cookie(state)))
}
