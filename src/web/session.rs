//! The browser session cookie and the device cookie. The session cookie holds the session
//! id (256 random bits; `oidc::sessions` keeps the row); HttpOnly, SameSite=Lax, and Secure
//! with the `__Host-` prefix under an https issuer. CSRF tokens are derived from the session
//! id.

use poem::http::HeaderMap;

use crate::abuse;
use crate::clock::UnixTime;
use crate::crypto;
use crate::oauth::error::OAuthError;
use crate::oidc::sessions::{self, BrowserSession};
use crate::oidc::Provider;
use crate::state::AppState;

/// What the user-facing rules work with, borrowed from the application's state.
pub fn provider(state: &AppState) -> Provider<'_> {
    state.provider()
}

const COOKIE_HTTP: &str = "oidcd_session";
const COOKIE_HTTPS: &str = "__Host-oidcd_session";

fn cookie_name(state: &AppState) -> &'static str {
    if state.is_https() {
        COOKIE_HTTPS
    } else {
        COOKIE_HTTP
    }
}

/// The session cookie's value, if the request carries one.
pub fn cookie(state: &AppState, headers: &HeaderMap) -> Option<String> {
    read_cookie(headers, cookie_name(state))
}

/// A session to carry a form's CSRF token: the current one, or a new anonymous one (and its
/// cookie to set), admitted under `login.pending_requests_per_ip`. `None` when this address
/// has started too many.
pub async fn current_or_new(
    state: &AppState,
    headers: &HeaderMap,
    ip: &str,
    now: UnixTime,
) -> Result<Option<(BrowserSession, Vec<String>)>, OAuthError> {
    if let Some(current) = current(state, headers, now).await? {
        return Ok(Some((current, Vec::new())));
    }
    let p = provider(state);
    if !sessions::admit_anonymous(p, ip, now).await? {
        return Ok(None);
    }
    let session = sessions::start_anonymous(p, now).await?;
    let cookies = cookies(state, Some(&session), None);
    Ok(Some((session, cookies)))
}

fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() <= 128)
}

/// The live session whose id this request's cookie carries, if any.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
    now: UnixTime,
) -> Result<Option<BrowserSession>, OAuthError> {
    match cookie(state, headers) {
        Some(id) => sessions::find(provider(state), id, now).await,
        None => Ok(None),
    }
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, and Secure under an https issuer.
fn set_cookie_header(state: &AppState, name: &str, value: &str, max_age: i64) -> String {
    let secure = if state.is_https() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// `Set-Cookie` for a session.
pub fn set_cookie(state: &AppState, session: &BrowserSession) -> String {
    let max_age = session.row.expires_at - session.row.created_at;
    set_cookie_header(state, cookie_name(state), &session.id, max_age)
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> String {
    set_cookie_header(state, cookie_name(state), "", 0)
}

/// The CSRF token for forms shown in this session.
pub fn csrf_token(state: &AppState, session: &BrowserSession) -> String {
    crypto::b64url(&state.secrets.mac(&[b"csrf", session.id.as_bytes()]))
}

/// Checks a submitted CSRF token against the session, in constant time.
pub fn csrf_ok(state: &AppState, session: &BrowserSession, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| {
        crypto::constant_time_eq(p.as_bytes(), csrf_token(state, session).as_bytes())
    })
}

const DEVICE_COOKIE_HTTP: &str = "oidcd_device";
const DEVICE_COOKIE_HTTPS: &str = "__Host-oidcd_device";

fn device_cookie_name(state: &AppState) -> &'static str {
    if state.is_https() {
        DEVICE_COOKIE_HTTPS
    } else {
        DEVICE_COOKIE_HTTP
    }
}

/// The device token this browser holds, if any.
pub fn device_token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    read_cookie(headers, device_cookie_name(state))
}

/// `Set-Cookie` for a device token.
fn set_device_cookie(state: &AppState, token: &str) -> String {
    let name = device_cookie_name(state);
    set_cookie_header(state, name, token, abuse::DEVICE_TRUST_SECONDS)
}

/// The cookies a step's answer sets: a new session's, and a device token after a sign-in.
pub fn cookies(
    state: &AppState,
    new_session: Option<&BrowserSession>,
    device_token: Option<&str>,
) -> Vec<String> {
    new_session
        .map(|s| set_cookie(state, s))
        .into_iter()
        .chain(device_token.map(|t| set_device_cookie(state, t)))
        .collect()
}
