//! `/device` (RFC 8628 3.3): the person types the code their device shows, signs in if
//! needed, sees what the device asks for, and approves or denies. Every code typed is counted
//! (per browser session and per client address) before it is looked up; past the limit the
//! page refuses to check more. The later steps (sign-in, decision) carry a proof that this
//! browser session verified and was shown that very code: a code they carry without it is
//! counted as a guess and refused, so they cannot be used to test codes or to approve a
//! device blindly.

use poem::http::{HeaderMap, Method, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use super::pages;
use super::session::{self, BrowserSession, SignIn};
use crate::abuse::{self, Verdict};
use crate::clock::UnixTime;
use crate::crypto;
use crate::http::extract;
use crate::oauth::device::{self, Lookup};
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::device_codes::DeviceRow;
use crate::store::{self, StoreError};

/// The verification URI.
pub const PATH: &str = "/device";

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
    let existing = session::current(state, headers, now).await?;
    if existing.is_none() && !session::admit_anonymous(state, ip, now).await? {
        return Ok(pages::too_many_requests(state));
    }
    let (session, cookie) = match existing {
        Some(s) => (s, None),
        None => session::current_or_new(state, headers, now).await?,
    };
    let prefill = params
        .get("user_code")
        .and_then(device::normalize)
        .map(|c| device::display(&c))
        .unwrap_or_default();
    Ok(pages::with_cookie(
        entry_page(state, &session, &prefill, None, StatusCode::OK),
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
    let typed = params.get("user_code").unwrap_or_default();
    let step = params.get("step");
    if matches!(step, Some("login" | "decide"))
        && !proof_ok(state, &session, typed, params.get("code_proof"))
    {
        return unverified(state, &session, ip, now).await;
    }
    match step {
        Some("code") => enter_code(state, &session, typed, ip, now).await,
        Some("login") => login(state, session, headers, params, typed, ip, now).await,
        Some("decide") => decide(state, &session, typed, params.get("decision"), now).await,
        Some("cancel") => Ok(pages::render(
            state,
            StatusCode::OK,
            "message.html",
            minijinja::context! {
                title => "Nothing was connected",
                message => "No device was given access. You can close this window.",
                link => format!("{}{PATH}", state.issuer),
                link_text => "Enter another code",
            },
            None,
        )),
        _ => Err(OAuthError::invalid_request("The form is incomplete.")),
    }
}

/// The proof, for the later forms, that `session` verified `code` (normalized) and was
/// shown it.
fn proof(state: &AppState, session: &BrowserSession, code: &str) -> String {
    crypto::b64url(
        &state
            .secrets
            .mac(&[b"device-code", session.id.as_bytes(), code.as_bytes()]),
    )
}

fn proof_ok(
    state: &AppState,
    session: &BrowserSession,
    typed: &str,
    presented: Option<&str>,
) -> bool {
    let (Some(code), Some(presented)) = (device::normalize(typed), presented) else {
        return false;
    };
    crypto::constant_time_eq(
        presented.as_bytes(),
        proof(state, session, &code).as_bytes(),
    )
}

/// A later step carrying a code this session did not verify: counted as a wrong code, and
/// refused without looking the code up.
async fn unverified(
    state: &AppState,
    session: &BrowserSession,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let rules = abuse::device_code(&state.config, &session.row.id_hash, ip);
    let (message, status) = match abuse::reserve(&state.db, &rules, now).await?.verdict {
        Verdict::Refused(_) => (TOO_MANY, StatusCode::TOO_MANY_REQUESTS),
        Verdict::Allowed => (NOT_VALID, StatusCode::BAD_REQUEST),
    };
    tracing::info!(ip, "device form with a code this session did not verify");
    Ok(entry_page(state, session, "", Some(message), status))
}

const TOO_MANY: &str = "Too many wrong codes. Wait a few minutes, then try again.";
const NOT_VALID: &str = "That code is not valid. Check the code on your device and try again.";
const FINISHED: &str = "That code has expired or was already used. Start again on your device.";

async fn enter_code(
    state: &AppState,
    session: &BrowserSession,
    typed: &str,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let rules = abuse::device_code(&state.config, &session.row.id_hash, ip);
    if let Verdict::Refused(_) = abuse::reserve(&state.db, &rules, now).await?.verdict {
        crate::metrics::Metrics::incr(&state.metrics.device_code_throttled);
        tracing::warn!(ip, "device code guessing throttled");
        return Ok(entry_page(
            state,
            session,
            typed,
            Some(TOO_MANY),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let found = match device::normalize(typed) {
        Some(code) => device::lookup(&state.db, &state.secrets, &code, now).await?,
        None => Lookup::Unknown,
    };
    match found {
        // The counted attempt stays: it was a wrong code.
        Lookup::Unknown => Ok(entry_page(
            state,
            session,
            typed,
            Some(NOT_VALID),
            StatusCode::BAD_REQUEST,
        )),
        Lookup::Finished => {
            abuse::release(&state.db, &rules, now).await?;
            Ok(entry_page(
                state,
                session,
                typed,
                Some(FINISHED),
                StatusCode::BAD_REQUEST,
            ))
        }
        Lookup::Pending { row, client } => {
            abuse::release(&state.db, &rules, now).await?;
            let code = device::normalize(typed).unwrap_or_default();
            next_page(state, session, &code, &row, &client, None).await
        }
    }
}

/// The login page when nobody is signed in, the confirmation page otherwise.
async fn next_page(
    state: &AppState,
    session: &BrowserSession,
    code: &str,
    row: &DeviceRow,
    client: &Client,
    failure: Option<(&str, &str)>,
) -> Result<Response, OAuthError> {
    let user = match (&session.row.user_id, failure) {
        (Some(id), None) => match store::users::get(&state.db, id).await {
            Ok(u) if !u.disabled => Some(u),
            Ok(_) | Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        _ => None,
    };
    let shown = device::display(code);
    let code_proof = proof(state, session, code);
    let Some(user) = user else {
        return Ok(pages::render(
            state,
            StatusCode::OK,
            "login.html",
            minijinja::context! {
                action => format!("{}{PATH}", state.issuer),
                client_name => &client.name,
                hidden => [("user_code", shown.as_str()), ("code_proof", code_proof.as_str())],
                csrf_token => session::csrf_token(state, session),
                username => failure.map(|(name, _)| name).unwrap_or_default(),
                error => failure.map(|(_, message)| message),
            },
            None,
        ));
    };
    let scopes = crate::oauth::scope::split(&row.scope);
    Ok(pages::render(
        state,
        StatusCode::OK,
        "device_confirm.html",
        minijinja::context! {
            action => format!("{}{PATH}", state.issuer),
            client_name => &client.name,
            scopes => pages::scope_views(&scopes),
            user_code => shown,
            code_proof,
            username => &user.username,
            csrf_token => session::csrf_token(state, session),
        },
        None,
    ))
}

/// Re-reads the code carried by a later form: it must still be pending.
async fn pending(
    state: &AppState,
    typed: &str,
    now: UnixTime,
) -> Result<Option<(String, DeviceRow, Client)>, OAuthError> {
    let Some(code) = device::normalize(typed) else {
        return Ok(None);
    };
    match device::lookup(&state.db, &state.secrets, &code, now).await? {
        Lookup::Pending { row, client } => Ok(Some((code, *row, *client))),
        Lookup::Unknown | Lookup::Finished => Ok(None),
    }
}

async fn login(
    state: &AppState,
    old: BrowserSession,
    headers: &HeaderMap,
    params: &Params,
    typed: &str,
    ip: &str,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let Some((code, row, client)) = pending(state, typed, now).await? else {
        return Ok(entry_page(
            state,
            &old,
            "",
            Some(FINISHED),
            StatusCode::BAD_REQUEST,
        ));
    };
    let username = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    match session::sign_in(state, &old, headers, username, password, ip, now).await? {
        SignIn::Refused(message) => {
            next_page(state, &old, &code, &row, &client, Some((username, message))).await
        }
        SignIn::Signed(signed) => {
            let page = next_page(state, &signed.session, &code, &row, &client, None).await?;
            Ok(pages::with_cookies(page, signed.cookies))
        }
    }
}

async fn decide(
    state: &AppState,
    session: &BrowserSession,
    typed: &str,
    decision: Option<&str>,
    now: UnixTime,
) -> Result<Response, OAuthError> {
    let (Some(user_id), Some(auth_time)) = (&session.row.user_id, session.row.auth_time) else {
        return Err(OAuthError::invalid_request(
            "You are no longer signed in. Start again.",
        ));
    };
    let Some((code, row, _client)) = pending(state, typed, now).await? else {
        return Ok(entry_page(
            state,
            session,
            "",
            Some(FINISHED),
            StatusCode::BAD_REQUEST,
        ));
    };
    let approve = match decision {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return Err(OAuthError::invalid_request(
                "The form must answer allow or deny.",
            ))
        }
    };
    let sid = session::sid(state, &session.row);
    let approval = approve.then_some((user_id.as_str(), auth_time, sid.as_str()));
    if !device::answer(&state.db, &state.secrets, &code, approval, now).await? {
        return Ok(entry_page(
            state,
            session,
            "",
            Some(FINISHED),
            StatusCode::BAD_REQUEST,
        ));
    }
    if approve {
        let scopes = crate::oauth::scope::split(&row.scope);
        store::consents::add(&state.db, user_id, &row.client_id, &scopes, now).await?;
    }
    tracing::info!(client_id = %row.client_id, approve, "device authorization answered");
    let (title, message) = if approve {
        (
            "Device connected",
            "You can return to your device; it will continue on its own.",
        )
    } else {
        (
            "Request denied",
            "The device was not given access. You can close this window.",
        )
    };
    Ok(pages::render(
        state,
        StatusCode::OK,
        "message.html",
        minijinja::context! { title, message },
        None,
    ))
}

fn entry_page(
    state: &AppState,
    session: &BrowserSession,
    typed: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    pages::render(
        state,
        status,
        "device_entry.html",
        minijinja::context! {
            action => format!("{}{PATH}", state.issuer),
            csrf_token => session::csrf_token(state, session),
            user_code => typed,
            error,
        },
        None,
    )
}
