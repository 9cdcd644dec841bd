//! The browser session cookie and its database row. The cookie holds 256 random bits; the row
//! is keyed by their keyed hash. HttpOnly, SameSite=Lax, and Secure with the `__Host-` prefix
//! under an https issuer. CSRF tokens are derived from the session id.

use poem::http::HeaderMap;

use crate::abuse;
use crate::clock::UnixTime;
use crate::crypto;
use crate::metrics::Metrics;
use crate::oauth::error::OAuthError;
use crate::oidc::accounts;
use crate::state::AppState;
use crate::store::users::User;
use crate::store::{self, sessions::Session};

const COOKIE_HTTP: &str = "oidcd_session";
const COOKIE_HTTPS: &str = "__Host-oidcd_session";

/// A live browser session: the cookie value and its row.
#[derive(Clone, Debug)]
pub struct BrowserSession {
    pub id: String,
    pub row: Session,
}

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

/// The live session for this request, if any: not past its lifetime, and used within the
/// idle lifetime (each use, at most once a minute, counts as one).
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
    now: UnixTime,
) -> Result<Option<BrowserSession>, OAuthError> {
    let Some(id) = cookie(state, headers) else {
        return Ok(None);
    };
    let idle = state.config.lifetimes.session_idle.as_i64();
    let Some(mut row) =
        store::sessions::find_live(&state.db, &state.secrets.hash(&id), idle, now).await?
    else {
        return Ok(None);
    };
    if now - row.last_seen_at >= 60 {
        store::sessions::touch(&state.db, &row.id_hash, now).await?;
        row.last_seen_at = now;
    }
    Ok(Some(BrowserSession { id, row }))
}

/// A new session row (not yet written) with a fresh id. A session nobody signed in to lives
/// only as long as the sign-in request it was made for.
pub fn new_session(
    state: &AppState,
    user: Option<(&str, UnixTime)>,
    now: UnixTime,
) -> Result<BrowserSession, OAuthError> {
    let id = crypto::random_token()?;
    let row = Session {
        id_hash: state.secrets.hash(&id),
        user_id: user.map(|(u, _)| u.to_owned()),
        auth_time: user.map(|(_, t)| t),
        created_at: now,
        last_seen_at: now,
        expires_at: now
            + match user {
                Some(_) => state.config.lifetimes.session.as_i64(),
                None => state.config.lifetimes.authorization_request.as_i64(),
            },
    };
    Ok(BrowserSession { id, row })
}

/// `Set-Cookie` for a session.
pub fn set_cookie(state: &AppState, session: &BrowserSession) -> String {
    let secure = if state.is_https() { "; Secure" } else { "" };
    format!(
        "{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(state),
        session.id,
        session.row.expires_at - session.row.created_at
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> String {
    let secure = if state.is_https() { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
        cookie_name(state)
    )
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

/// The session's public identifier (`sid` in ID tokens): derived, so the cookie value never
/// leaves the browser.
pub fn sid(state: &AppState, session: &Session) -> String {
    let mac = state.secrets.mac(&[b"sid", session.id_hash.as_bytes()]);
    crypto::b64url(mac.get(..18).unwrap_or_default())
}

/// What a login form submission led to.
pub enum SignIn {
    /// The user, in a new session that replaces the old one.
    Signed(Box<Signed>),
    /// Refused, with the message to show. The same words whether or not the account exists.
    Refused(&'static str),
}

/// A successful sign-in: the new session, its user, and the cookies to set (the session's,
/// and the device cookie that marks this browser as one that signed in to the account).
pub struct Signed {
    pub session: BrowserSession,
    pub user: User,
    pub cookies: Vec<String>,
}

pub const WRONG_CREDENTIALS: &str = "Wrong username or password.";
pub const TOO_MANY_FAILURES: &str = "Too many failed attempts. Wait a few minutes, then try again.";

const DEVICE_COOKIE_HTTP: &str = "oidcd_device";
const DEVICE_COOKIE_HTTPS: &str = "__Host-oidcd_device";

fn device_cookie_name(state: &AppState) -> &'static str {
    if state.is_https() {
        DEVICE_COOKIE_HTTPS
    } else {
        DEVICE_COOKIE_HTTP
    }
}

/// `Set-Cookie` for the device cookie of `account`.
fn set_device_cookie(state: &AppState, account: &str) -> Result<String, OAuthError> {
    let token = abuse::device_token(&state.secrets, account)?;
    let secure = if state.is_https() { "; Secure" } else { "" };
    Ok(format!(
        "{}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        device_cookie_name(state),
        abuse::DEVICE_TRUST_SECONDS,
    ))
}

/// Checks a username and password and, when they are right, replaces `old` with a new
/// session for that user (a new id: a planted cookie gains nothing). The attempt is counted
/// before the password is hashed (in the database, across instances), against the client
/// address and against the account, or, for a browser holding the account's device cookie,
/// against that browser alone; a success gives the count back. Each answer after a failure
/// is delayed a little more. Unknown usernames cost the same as known ones.
pub async fn sign_in(
    state: &AppState,
    old: &BrowserSession,
    headers: &HeaderMap,
    username: &str,
    password: &str,
    ip: &str,
    now: UnixTime,
) -> Result<SignIn, OAuthError> {
    let account = accounts::canonical_username(username);
    let device_token = read_cookie(headers, device_cookie_name(state));
    let device = device_token
        .as_deref()
        .and_then(|token| abuse::trusted_device(&state.secrets, token, &account));
    let mut rules = abuse::login(&state.config, &account, device, ip);
    if device.is_some()
        && abuse::check(&state.db, rules.get(..1).unwrap_or_default(), now).await?
            != abuse::Verdict::Allowed
    {
        // A browser that used up its own failures is trusted no more than any other.
        rules = abuse::login(&state.config, &account, None, ip);
    }
    let reservation = abuse::reserve(&state.db, &rules, now).await?;
    if let abuse::Verdict::Refused(limit) = reservation.verdict {
        Metrics::incr(&state.metrics.login_throttled);
        tracing::warn!(ip, ?limit, "login throttled");
        return Ok(SignIn::Refused(TOO_MANY_FAILURES));
    }
    let user = accounts::authenticate(&state.db, &state.passwords, &account, password)
        .await
        .map_err(|e| match e {
            accounts::AccountError::Store(s) => s.into(),
            other => OAuthError::server_error(&other),
        })?;
    let Some(user) = user else {
        Metrics::incr(&state.metrics.login_failures);
        let failures = reservation.highest;
        tracing::info!(ip, failures, "failed login");
        // 100 ms, 200 ms, 400 ms ... up to 1.6 s: cheap for a person, slow for a script.
        let exponent = u32::try_from(failures.clamp(1, 5) - 1).unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(100 << exponent)).await;
        return Ok(SignIn::Refused(WRONG_CREDENTIALS));
    };
    abuse::release(&state.db, &rules, now).await?;
    // The sign-in page this browser was given led somewhere: it no longer counts against
    // the address.
    abuse::release(&state.db, &abuse::pending_requests(&state.config, ip), now).await?;
    let session = new_session(state, Some((&user.id, now)), now)?;
    let txn = state.db.begin().await?;
    store::sessions::insert(&txn, &session.row).await?;
    store::sessions::rebind_requests(&txn, &old.row.id_hash, &session.row.id_hash).await?;
    store::sessions::delete(&txn, &old.row.id_hash).await?;
    txn.commit().await?;
    tracing::info!(user_id = %user.id, "login");
    let cookies = vec![
        set_cookie(state, &session),
        set_device_cookie(state, &user.username)?,
    ];
    Ok(SignIn::Signed(Box::new(Signed {
        session,
        user,
        cookies,
    })))
}

/// Whether a browser nobody is signed in to may make the server store one more thing for
/// it (a sign-in request, a session): bounded per client address.
pub async fn admit_anonymous(
    state: &AppState,
    ip: &str,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    let rules = abuse::pending_requests(&state.config, ip);
    match abuse::reserve(&state.db, &rules, now).await?.verdict {
        abuse::Verdict::Allowed => Ok(true),
        abuse::Verdict::Refused(_) => {
            tracing::warn!(ip, "sign-in pages throttled");
            Ok(false)
        }
    }
}

/// The session, or a new anonymous one (written now) with the cookie that carries it.
pub async fn current_or_new(
    state: &AppState,
    headers: &HeaderMap,
    now: UnixTime,
) -> Result<(BrowserSession, Option<String>), OAuthError> {
    if let Some(s) = current(state, headers, now).await? {
        return Ok((s, None));
    }
    let s = new_session(state, None, now)?;
    store::sessions::insert(&state.db, &s.row).await?;
    let cookie = set_cookie(state, &s);
    Ok((s, Some(cookie)))
}
