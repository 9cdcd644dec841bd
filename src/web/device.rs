//! `/device` (RFC 8628 3.3): the pages where a person enters the code their device shows.
//! The rules (counting codes, the proof that binds the later steps to the code this browser
//! verified, sign-in, the decision) are `oidc::device_verification`; this room reads the
//! form, checks its token, calls them and renders what they answer.

use poem::http::{HeaderMap, Method, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use super::pages;
use super::session::{self, provider};
use crate::clock::UnixTime;
use crate::http::extract;
use crate::oauth::device;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oidc::device_verification::{self, Answer, Page, Problem, Step, Verified};
use crate::oidc::sessions::{self, BrowserSession};
use crate::oidc::sign_in::{Attempt, Refusal};
use crate::state::AppState;

/// The verification URI.
pub const PATH: &str = device::VERIFICATION_PATH;

#[handler]
pub async fn endpoint(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let is_post = req.method() == Method::POST;
    let ip = extract::client_ip(req);
    let result = async {
        let params = extract::params(req, body).await?;
        let now = state.clock.now();
        if is_post {
            post(state, req.headers(), &params, &ip, now).await
        } else {
            get(state, req.headers(), &params, &ip, now).await
        }
    }
    .await;
    result.unwrap_or_else(|e| pages::error_page(state, &e))
}

/// The entry form, prefilled from `verification_uri_complete`.
async fn get(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let p = provider(state);
    let (session, cookie) = match session::current(state, headers, now).await? {
        Some(s) => (s, None),
        None if !sessions::admit_anonymous(p, ip, now).await? => {
            return Ok(pages::too_many_requests(state));
        }
        None => {
            let s = sessions::start_anonymous(p, now).await?;
            let cookie = session::set_cookie(state, &s);
            (s, Some(cookie))
        }
    };
    let prefill = params
        .get("user_code")
        .and_then(device::normalize)
        .map(|c| device::display(&c))
        .unwrap_or_default();
    Ok(pages::with_cookie(
        entry_page(state, &session, &prefill, None),
        cookie,
    ))
}

async fn post(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    params.reject_duplicates()?;
    let session = session::current(state, headers, now)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_request("This page has expired. Open the device page again.")
        })?;
    if !session::csrf_ok(state, &session, params.get("csrf_token")) {
        return Err(OAuthError::invalid_request(
            "The form could not be verified. Reload the page and try again.",
        ));
    }
    let device_token = session::device_token(state, headers);
    let step = match params.get("step") {
        Some("code") => Step::Code,
        Some("login") => Step::Login(Attempt {
            username: params.get("username").unwrap_or_default(),
            password: params.get("password").unwrap_or_default(),
            device_token: device_token.as_deref(),
            ip,
            user_agent: headers
                .get(poem::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        }),
        Some("passkey") => Step::Passkey {
            answer: pages::passkey_answer(params),
            ip,
            user_agent: headers
                .get(poem::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        },
        Some("second_factor") => {
            Step::SecondFactor(pages::typed_factor(params, ip, device_token.as_deref()))
        }
        Some("continue") => Step::Continue,
        Some("decide") => Step::Decide {
            approve: match params.get("decision") {
                Some("approve") => true,
                Some("deny") => false,
                _ => {
                    return Err(OAuthError::invalid_request(
                        "The form must answer allow or deny.",
                    ))
                }
            },
        },
        Some("cancel") => {
            return Ok(message_page(
                state,
                "Nothing was connected",
                "No device was given access. You can close this window.",
                true,
            ))
        }
        _ => return Err(OAuthError::invalid_request("The form is incomplete.")),
    };
    let typed = params.get("user_code").unwrap_or_default();
    let presented = params.get("code_proof");
    let answer =
        device_verification::step(provider(state), session, typed, presented, step, ip, now)
            .await?;
    Ok(render(state, answer).await)
}

/// The page for an answer, with the cookies it sets.
async fn render(state: &AppState, answer: Answer) -> Response {
    let Answer {
        page,
        session,
        new_session,
        device_token,
    } = answer;
    let response = match page {
        Page::Entry { typed, problem } => entry_page(state, &session, &typed, Some(problem)),
        Page::Login(verified, failure) => login_page(state, &session, &verified, failure).await,
        Page::SecondFactor(verified, refusal) => {
            pages::second_factor_page(
                state,
                &session,
                &factor_form(state, &session, &verified),
                refusal,
            )
            .await
        }
        Page::Enrol(verified) => {
            pages::enrol_factor_page(state, &factor_form(state, &session, &verified))
        }
        Page::Confirm(verified, username) => confirm_page(state, &session, &verified, &username),
        Page::Answered { approved: true } => message_page(
            state,
            "Device connected",
            "You can return to your device; it will continue on its own.",
            false,
        ),
        Page::Answered { approved: false } => message_page(
            state,
            "Request denied",
            "The device was not given access. You can close this window.",
            false,
        ),
    };
    let new_session = new_session.then_some(&session);
    pages::with_cookies(
        response,
        session::cookies(state, new_session, device_token.as_deref()),
    )
}

fn entry_page(
    state: &AppState,
    session: &BrowserSession,
    typed: &str,
    problem: Option<Problem>,
) -> Response {
    let status = match problem {
        None => StatusCode::OK,
        Some(Problem::TooMany) => StatusCode::TOO_MANY_REQUESTS,
        Some(Problem::NotValid | Problem::Finished) => StatusCode::BAD_REQUEST,
    };
    pages::render(
        state,
        status,
        "device_entry.html",
        minijinja::context! {
            action => format!("{}{PATH}", state.issuer),
            csrf_token => session::csrf_token(state, session),
            user_code => typed,
            error => problem.map(Problem::message),
        },
        None,
    )
}

/// Where the second-factor pages for a verified code send their forms.
fn factor_form<'a>(
    state: &AppState,
    session: &BrowserSession,
    verified: &'a Verified,
) -> pages::FactorForm<'a> {
    pages::FactorForm {
        action: format!("{}{PATH}", state.issuer),
        hidden: vec![
            ("user_code", verified.shown.as_str()),
            ("code_proof", verified.proof.as_str()),
        ],
        csrf_token: session::csrf_token(state, session),
        cancel: Some("cancel"),
        client_name: Some(&verified.client.name),
    }
}

async fn login_page(
    state: &AppState,
    session: &BrowserSession,
    verified: &Verified,
    failure: Option<(String, Refusal)>,
) -> Response {
    let hidden = [
        ("user_code", verified.shown.as_str()),
        ("code_proof", verified.proof.as_str()),
    ];
    pages::render(
        state,
        StatusCode::OK,
        "login.html",
        minijinja::context! {
            action => format!("{}{PATH}", state.issuer),
            client_name => &verified.client.name,
            hidden,
            csrf_token => session::csrf_token(state, session),
            username => failure.as_ref().map(|(name, _)| name.as_str()).unwrap_or_default(),
            error => failure.map(|(_, refusal)| refusal.message()),
            passkey => pages::passkey_sign_in(state, session).await,
        },
        None,
    )
}

fn confirm_page(
    state: &AppState,
    session: &BrowserSession,
    verified: &Verified,
    username: &str,
) -> Response {
    pages::render(
        state,
        StatusCode::OK,
        "device_confirm.html",
        minijinja::context! {
            action => format!("{}{PATH}", state.issuer),
            client_name => &verified.client.name,
            scopes => pages::scope_views(&state.claims, &verified.scopes),
            resources => &verified.resource_names,
            user_code => &verified.shown,
            code_proof => &verified.proof,
            username,
            csrf_token => session::csrf_token(state, session),
        },
        None,
    )
}

/// A page that ends the flow, with a link to enter another code when `again`.
fn message_page(state: &AppState, title: &str, message: &str, again: bool) -> Response {
    let link = again.then(|| format!("{}{PATH}", state.issuer));
    pages::render(
        state,
        StatusCode::OK,
        "message.html",
        minijinja::context! {
            title,
            message,
            link,
            link_text => again.then_some("Enter another code"),
        },
        None,
    )
}
