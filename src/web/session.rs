//! The browser session cookie and its database row. The cookie holds 256 random bits; the row
//! is keyed by their keyed hash. HttpOnly, SameSite=Lax, and Secure with the `__Host-` prefix
//! under an https issuer. CSRF tokens are derived from the session id.

use poem::http::HeaderMap;

use crate::clock::UnixTime;
use crate::crypto;
use crate::metrics::Metrics;
use crate::oauth::error::OAuthError;
use crate::oidc::accounts;
use crate::state::AppState;
use crate::store::users::User;
use crate::store::{self, sessions::Session};
use crate::throttle;

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
    let name = cookie_name(state);
    headers
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() <= 64)
}

/// The live session for this request, if any.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
    now: UnixTime,
) -> Result<Option<BrowserSession>, OAuthError> {
    let Some(id) = cookie(state, headers) else {
        return Ok(None);
    };
    let row = store::sessions::find_live(&state.db, &state.secrets.hash(&id), now).await?;
    Ok(row.map(|row| BrowserSession { id, row }))
}

/// A new session row (not yet written) with a fresh id.
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
        expires_at: now + state.config.lifetimes.session.as_i64(),
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
        state.config.lifetimes.session.0
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
    Signed(Box<(BrowserSession, User)>),
    /// Refused, with the message to show. The same words whether or not the account exists.
    Refused(&'static str),
}

pub const WRONG_CREDENTIALS: &str = "Wrong username or password.";
pub const TOO_MANY_FAILURES: &str = "Too many failed attempts. Wait a few minutes, then try again.";

fn login_rules(state: &AppState, username: &str, ip: &str) -> Vec<throttle::Rule> {
    let l = &state.config.login;
    let window = l.window.as_i64();
    // Bounded and case-folded, so variants of one name share a counter.
    let account: String = username.to_lowercase().chars().take(128).collect();
    vec![
        throttle::Rule {
            key: format!("login:account:{account}"),
            max: i64::from(l.failures_per_account),
            window,
        },
        throttle::Rule {
            key: format!("login:ip:{ip}"),
            max: i64::from(l.failures_per_ip),
            window,
        },
    ]
}

/// Checks a username and password and, when they are right, replaces `old` with a new
/// session for that user (a new id: a planted cookie gains nothing). Failures count against
/// the username and the client IP (in the database, across instances); each answer after a
/// failure is delayed a little more, and past the limit the form is refused until the window
/// ends. Unknown usernames cost the same as known ones.
pub async fn sign_in(
    state: &AppState,
    old: &BrowserSession,
    username: &str,
    password: &str,
    ip: &str,
    now: UnixTime,
) -> Result<SignIn, OAuthError> {
    let rules = login_rules(state, username, ip);
    if throttle::blocked(&state.db, &rules, now).await? {
        Metrics::incr(&state.metrics.login_throttled);
        tracing::warn!(ip, "login throttled");
        return Ok(SignIn::Refused(TOO_MANY_FAILURES));
    }
    let user = accounts::authenticate(&state.db, &state.passwords, username, password)
        .await
        .map_err(|e| match e {
            accounts::AccountError::Store(s) => s.into(),
            other => OAuthError::server_error(&other),
        })?;
    let Some(user) = user else {
        Metrics::incr(&state.metrics.login_failures);
        let failures = throttle::record_failure(&state.db, &rules, now).await?;
        tracing::info!(ip, failures, "failed login");
        // 100 ms, 200 ms, 400 ms ... up to 1.6 s: cheap for a person, slow for a script.
        let exponent = u32::try_from(failures.clamp(1, 5) - 1).unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(100 << exponent)).await;
        return Ok(SignIn::Refused(WRONG_CREDENTIALS));
    };
    if let Some(account) = rules.first() {
        store::throttle::clear(&state.db, &account.key).await?;
    }
    let session = new_session(state, Some((&user.id, now)), now)?;
    let txn = state.db.begin().await?;
    store::sessions::insert(&txn, &session.row).await?;
    store::sessions::rebind_requests(&txn, &old.row.id_hash, &session.row.id_hash).await?;
    store::sessions::delete(&txn, &old.row.id_hash).await?;
    txn.commit().await?;
    tracing::info!(user_id = %user.id, "login");
    Ok(SignIn::Signed(Box::new((session, user))))
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
