//! The pages of mail recovery (`oidc::recovery`), offered when `mail.smtp_host` is set:
//! - `GET/POST /account/forgot-password`: asks for a reset link by username or address, and
//!   answers the same whether or not one matched (the lookup and the mail run after);
//! - `GET/POST /account/reset-password?token=`: the link's page, a new-password form; the
//!   token is spent only by the form, so a mail scanner that follows links spends nothing;
//! - `GET/POST /account/verify-email?token=`: the verification link's page, with a button
//!   that confirms the address.
//!
//! Every form carries a CSRF token bound to the browser session (an anonymous one is made
//! when there is none).

use std::sync::Arc;

use poem::http::{HeaderMap, Method, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use super::{account, pages, session};
use crate::clock::UnixTime;
use crate::http::extract;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oidc::recovery::{self, Reset};
use crate::oidc::sessions::BrowserSession;
use crate::state::AppState;
use crate::store::email_links::Purpose;

pub const FORGOT_PATH: &str = "/account/forgot-password";
pub use recovery::{RESET_PATH, VERIFY_PATH};

/// Which page.
#[derive(Clone, Copy)]
enum Page {
    Forgot,
    Reset,
    Verify,
}

#[handler]
pub async fn forgot(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    run(Page::Forgot, req, body, state).await
}

#[handler]
pub async fn reset(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    run(Page::Reset, req, body, state).await
}

#[handler]
pub async fn verify(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    run(Page::Verify, req, body, state).await
}

async fn run(page: Page, req: &Request, body: Body, state: &AppState) -> Response {
    if state.mailer.is_none() {
        return pages::render(
            state,
            StatusCode::NOT_FOUND,
            "message.html",
            minijinja::context! {
                title => "Not offered here",
                message => "This server sends no mail, so it offers no password reset by mail. \
                            Ask whoever runs it.",
            },
            None,
        );
    }
    let now = state.clock.now();
    let params = match extract::params(req, body).await {
        Ok(p) => p,
        Err(e) => return pages::error_page(state, &e),
    };
    let ip = extract::client_ip(req);
    let headers = req.headers();
    let post = req.method() == Method::POST;
    let result = async {
        params.reject_duplicates()?;
        let Some((session, cookies)) = session::current_or_new(state, headers, &ip, now).await?
        else {
            return Ok(pages::too_many_requests(state));
        };
        if post && !session::csrf_ok(state, &session, params.get("csrf_token")) {
            return Err(OAuthError::invalid_request(
                "The form could not be verified. Reload the page and try again.",
            ));
        }
        let response = match (page, post) {
            (Page::Forgot, false) => forgot_page(state, &session, false, None),
            (Page::Forgot, true) => ask_reset(state, &session, headers, &params, &ip, now).await?,
            (Page::Reset, false) => reset_page(state, &session, &params, None, now).await?,
            (Page::Reset, true) => set_password(state, &session, &params, now).await?,
            (Page::Verify, false) => verify_page(state, &session, &params, now).await?,
            (Page::Verify, true) => confirm_address(state, &params, now).await?,
        };
        Ok(pages::with_cookies(response, cookies))
    }
    .await;
    result.unwrap_or_else(|e| pages::error_page(state, &e))
}

fn forgot_page(
    state: &AppState,
    session: &BrowserSession,
    sent: bool,
    error: Option<&str>,
) -> Response {
    pages::render(
        state,
        StatusCode::OK,
        "forgot_password.html",
        minijinja::context! {
            action => format!("{}{FORGOT_PATH}", state.issuer),
            account_url => format!("{}{}", state.issuer, account::PATH),
            csrf_token => session::csrf_token(state, session),
            sent,
            error,
            lifetime => recovery::lifetime_words(state.config.mail.reset_link_lifetime.0),
        },
        None,
    )
}

/// The same answer whoever was named; the lookup and the mail run after it.
async fn ask_reset(
    state: &AppState,
    session: &BrowserSession,
    headers: &HeaderMap,
    params: &Params,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let typed = params.get("account").unwrap_or_default().trim().to_owned();
    if typed.is_empty() {
        return Ok(forgot_page(
            state,
            session,
            false,
            Some("Type your username or your email address."),
        ));
    }
    if !recovery::admit(state.provider(), ip, now).await? {
        return Ok(pages::too_many_mail_requests(state));
    }
    if let Some(mailer) = state.mailer.clone() {
        let state = state.clone();
        let device_token = session::device_token(&state, headers);
        let ip = ip.to_owned();
        Arc::clone(&mailer).spawn(async move {
            let p = state.provider();
            let sent =
                recovery::send_reset(p, &mailer, &typed, device_token.as_deref(), &ip, now).await;
            if let Err(e) = sent {
                tracing::error!(error = %e, "a password reset could not be sent");
            }
        });
    }
    Ok(forgot_page(state, session, true, None))
}

/// The page a dead link (unknown, expired or spent) leads to, for a reset link or a
/// verification link: where to get a new one.
fn dead_link(state: &AppState, purpose: Purpose) -> Response {
    let (message, link, link_text) = match purpose {
        Purpose::Reset => (
            "The link was used already, or it is too old. Ask for a new one.",
            format!("{}{FORGOT_PATH}", state.issuer),
            "Ask for a new password-reset link",
        ),
        Purpose::Verify => (
            "The link was used already, is too old, or your address changed since. Ask for a \
             new one on your account page.",
            format!("{}{}", state.issuer, account::PATH),
            "Your account",
        ),
    };
    pages::render(
        state,
        StatusCode::NOT_FOUND,
        "message.html",
        minijinja::context! {
            title => "This link no longer works",
            message,
            link,
            link_text,
        },
        None,
    )
}

async fn reset_page(
    state: &AppState,
    session: &BrowserSession,
    params: &Params,
    error: Option<&str>,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let token = params.get("token").unwrap_or_default();
    let Some(user) = recovery::reset_link_user(state.provider(), token, now).await? else {
        return Ok(dead_link(state, Purpose::Reset));
    };
    Ok(pages::render(
        state,
        StatusCode::OK,
        "reset_password.html",
        minijinja::context! {
            action => format!("{}{RESET_PATH}", state.issuer),
            csrf_token => session::csrf_token(state, session),
            token,
            username => &user.username,
            error,
        },
        None,
    ))
}

async fn set_password(
    state: &AppState,
    session: &BrowserSession,
    params: &Params,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let token = params.get("token").unwrap_or_default();
    let password = params.get("new_password").unwrap_or_default().to_owned();
    match recovery::reset(state.provider(), token, password, now).await? {
        Reset::Done => Ok(pages::redirect(
            &format!("{}{}?done=password-reset", state.issuer, account::PATH),
            true,
        )),
        Reset::Gone => Ok(dead_link(state, Purpose::Reset)),
        Reset::Invalid(words) => reset_page(state, session, params, Some(&words), now).await,
    }
}

async fn verify_page(
    state: &AppState,
    session: &BrowserSession,
    params: &Params,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let token = params.get("token").unwrap_or_default();
    let Some(email) = recovery::verify_link_email(state.provider(), token, now).await? else {
        return Ok(dead_link(state, Purpose::Verify));
    };
    Ok(pages::render(
        state,
        StatusCode::OK,
        "verify_email.html",
        minijinja::context! {
            action => format!("{}{VERIFY_PATH}", state.issuer),
            csrf_token => session::csrf_token(state, session),
            token,
            email,
        },
        None,
    ))
}

async fn confirm_address(
    state: &AppState,
    params: &Params,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let token = params.get("token").unwrap_or_default();
    if !recovery::verify(state.provider(), token, now).await? {
        return Ok(dead_link(state, Purpose::Verify));
    }
    Ok(pages::render(
        state,
        StatusCode::OK,
        "message.html",
        minijinja::context! {
            title => "Your email address is confirmed",
            message => "Thank you. Apps you sign in to can now rely on it.",
            link => format!("{}{}", state.issuer, account::PATH),
            link_text => "Your account",
        },
        None,
    ))
}
