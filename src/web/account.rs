//! `GET/POST /account`: a person's own page. Signed out, it signs them in (the same limits as
//! every sign-in); signed in, it lists the apps with access to the account (each can be
//! revoked), the browser sessions (the current one marked, each can be ended), and changes
//! the password. Every form carries a CSRF token and answers with a redirect back here, so a
//! reload never repeats it. The rules are `oidc::account`.

use poem::http::{header, HeaderMap, Method, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};
use serde::Serialize;

use super::pages;
use super::session;
use crate::clock::UnixTime;
use crate::http::extract;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oidc::account::{self, PasswordChange};
use crate::oidc::sessions::{self, BrowserSession};
use crate::oidc::sign_in::{self, Attempt, SignIn};
use crate::oidc::sign_out;
use crate::state::AppState;

pub const PATH: &str = "/account";

/// What a finished form says on the page it leads back to (`?done=`): fixed words, never
/// the request's own.
const NOTICES: [(&str, &str); 4] = [
    ("revoked", "The app no longer has access to your account."),
    ("ended", "That session is signed out."),
    (
        "password",
        "Your password is changed. Your other sessions are signed out.",
    ),
    ("signed-out", "You are signed out."),
];

#[handler]
pub async fn endpoint(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let now = state.clock.now();
    let params = match extract::params(req, body).await {
        Ok(p) => p,
        Err(e) => return pages::error_page(state, &e),
    };
    let ip = extract::client_ip(req);
    let result = if req.method() == Method::POST {
        submit(state, req.headers(), &params, &ip, now).await
    } else {
        show(state, req.headers(), params.get("done"), &ip, now).await
    };
    result.unwrap_or_else(|e| pages::error_page(state, &e))
}

/// An app as the page lists it.
#[derive(Serialize)]
struct AppView {
    client_id: String,
    name: String,
    since: String,
    offline: bool,
    scopes: Vec<pages::ScopeView>,
}

/// A session as the page lists it.
#[derive(Serialize)]
struct SessionView {
    sid: String,
    browser: String,
    signed_in: String,
    last_seen: String,
    current: bool,
}

/// A time as people read it: `2026-12-04 05:40 UTC`.
fn when(t: UnixTime) -> String {
    let text = crate::clock::rfc3339(t);
    format!("{} UTC", text.get(..16).unwrap_or(&text).replace('T', " "))
}

async fn show(
    state: &AppState,
    headers: &HeaderMap,
    done: Option<&str>,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let p = state.provider();
    let current = session::current(state, headers, now).await?;
    if let Some(current) = &current {
        if let Some((_, user)) = sessions::signed_in(p, current).await? {
            let notice = NOTICES
                .iter()
                .find(|(key, _)| Some(*key) == done)
                .map(|(_, words)| *words);
            return account_page(state, current, &user, notice, None, StatusCode::OK, now).await;
        }
    }
    // Signed out: a sign-in form, in a session made to carry it.
    let (session, new) = match current {
        Some(s) => (s, None),
        None => {
            if !sessions::admit_anonymous(p, ip, now).await? {
                return Ok(pages::too_many_requests(state));
            }
            let s = sessions::start_anonymous(p, now).await?;
            (s.clone(), Some(s))
        }
    };
    let notice = NOTICES
        .iter()
        .find(|(key, _)| Some(*key) == done && *key == "signed-out")
        .map(|(_, words)| *words);
    let response = login_page(state, &session, "", notice, None, StatusCode::OK);
    Ok(pages::with_cookies(
        response,
        session::cookies(state, new.as_ref(), None),
    ))
}

fn login_page(
    state: &AppState,
    session: &BrowserSession,
    username: &str,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    pages::render(
        state,
        status,
        "account.html",
        minijinja::context! {
            action => format!("{}{PATH}", state.issuer),
            csrf_token => session::csrf_token(state, session),
            username,
            notice,
            error,
        },
        None,
    )
}

async fn account_page(
    state: &AppState,
    current: &BrowserSession,
    user: &crate::store::users::User,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let p = state.provider();
    let apps: Vec<AppView> = account::apps(p.db, &user.id, now)
        .await?
        .into_iter()
        .map(|a| AppView {
            scopes: pages::scope_views(&state.claims, &a.scopes),
            client_id: a.client_id,
            name: a.client_name,
            since: when(a.since),
            offline: a.offline,
        })
        .collect();
    let sessions: Vec<SessionView> = account::sessions(p, &user.id, now)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: s.id_hash == current.row.id_hash,
            browser: s
                .user_agent
                .unwrap_or_else(|| "A browser that did not say which".to_owned()),
            signed_in: when(s.signed_in_at),
            last_seen: when(s.last_seen_at),
            sid: s.sid,
        })
        .collect();
    Ok(pages::render(
        state,
        status,
        "account.html",
        minijinja::context! {
            action => format!("{}{PATH}", state.issuer),
            csrf_token => session::csrf_token(state, current),
            user => &user.username,
            apps,
            sessions,
            notice,
            error,
        },
        None,
    ))
}

/// Back to the page, with what happened.
fn back(state: &AppState, done: &str) -> Response {
    pages::redirect(&format!("{}{PATH}?done={done}", state.issuer), true)
}

async fn submit(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    params.reject_duplicates()?;
    let p = state.provider();
    let Some(current) = session::current(state, headers, now).await? else {
        // The session ended meanwhile: start again.
        return Ok(pages::redirect(&format!("{}{PATH}", state.issuer), true));
    };
    if !session::csrf_ok(state, &current, params.get("csrf_token")) {
        return Err(OAuthError::invalid_request(
            "The form could not be verified. Reload the page and try again.",
        ));
    }
    let device_token = session::device_token(state, headers);
    let attempt = |username: &'static str| Attempt {
        username,
        password: "",
        device_token: device_token.as_deref(),
        ip,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    };
    let signed_in = sessions::signed_in(p, &current).await?;
    let Some((_, user)) = signed_in else {
        if params.get("step") != Some("login") {
            return Ok(pages::redirect(&format!("{}{PATH}", state.issuer), true));
        }
        let username = params.get("username").unwrap_or_default();
        let login = Attempt {
            username,
            password: params.get("password").unwrap_or_default(),
            ..attempt("")
        };
        return match sign_in::sign_in(p, &current, login, now).await? {
            SignIn::Signed(signed) => Ok(pages::with_cookies(
                pages::redirect(&format!("{}{PATH}", state.issuer), true),
                session::cookies(state, Some(&signed.session), Some(&signed.device_token)),
            )),
            SignIn::Refused(refusal) => Ok(login_page(
                state,
                &current,
                username,
                None,
                Some(refusal.message()),
                StatusCode::OK,
            )),
        };
    };
    match params.get("step") {
        Some("revoke_app") => {
            let client_id = params.require("client_id")?;
            account::revoke_app(p, &user.id, client_id, now).await?;
            tracing::info!(user_id = %user.id, client_id, "app access revoked on the account page");
            Ok(back(state, "revoked"))
        }
        Some("end_session") => {
            let sid = params.require("sid")?;
            if sid == sessions::sid(p.secrets, &current.row) {
                return sign_out_here(state, &current, now).await;
            }
            account::end_session(p, &user.id, sid, now).await?;
            Ok(back(state, "ended"))
        }
        Some("sign_out") => sign_out_here(state, &current, now).await,
        Some("password") => {
            let changed = account::change_password(
                p,
                &current,
                &user,
                Attempt {
                    password: params.get("current_password").unwrap_or_default(),
                    ..attempt("")
                },
                params.get("new_password").unwrap_or_default().to_owned(),
                now,
            )
            .await?;
            match changed {
                PasswordChange::Changed => Ok(back(state, "password")),
                PasswordChange::Refused(refusal) => {
                    let words = match refusal {
                        sign_in::Refusal::WrongCredentials => "Your current password is wrong.",
                        sign_in::Refusal::TooManyFailures => refusal.message(),
                    };
                    account_page(
                        state,
                        &current,
                        &user,
                        None,
                        Some(words),
                        StatusCode::OK,
                        now,
                    )
                    .await
                }
                PasswordChange::Invalid(words) => {
                    account_page(
                        state,
                        &current,
                        &user,
                        None,
                        Some(&words),
                        StatusCode::OK,
                        now,
                    )
                    .await
                }
            }
        }
        _ => Err(OAuthError::invalid_request(
            "The form names no step this page knows.",
        )),
    }
}

/// Ends this browser's session (telling the apps that took part) and clears its cookie.
async fn sign_out_here(
    state: &AppState,
    current: &BrowserSession,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let txn = state.db.begin().await?;
    let frames = sign_out::end_sessions(
        state.provider(),
        &txn,
        std::slice::from_ref(&current.row),
        now,
    )
    .await?;
    txn.commit().await?;
    let done = format!("{}{PATH}?done=signed-out", state.issuer);
    let response = if frames.is_empty() {
        pages::redirect(&done, true)
    } else {
        pages::signed_out_with_frames(state, &frames, Some(&done))
    };
    Ok(pages::with_cookie(
        response,
        Some(session::clear_cookie(state)),
    ))
}
