//! Signing in with a username and password. Every attempt is counted before the password is
//! hashed (in the database, so the limits hold across instances): against the client
//! address, and against the account, or, for a browser that proves it signed in to that
//! account before (OWASP's device cookie), against that browser alone, so naming an account
//! cannot lock its owner out. A success gives the count back and replaces the session with a
//! new one (a planted session id gains nothing).

use super::sessions::{self, BrowserSession};
use super::{accounts, factors, passkeys, Provider};
use crate::abuse;
use crate::clock::UnixTime;
use crate::metrics::Metrics;
use crate::oauth::auth_context::Amr;
use crate::oauth::error::OAuthError;
use crate::store;
use crate::store::users::User;

/// One sign-in attempt, as the form and the browser sent it.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    pub username: &'a str,
    pub password: &'a str,
    /// The browser's device token, if it holds one.
    pub device_token: Option<&'a str>,
    /// The client address.
    pub ip: &'a str,
    /// The browser's User-Agent, kept (shortened) on the session so the person can tell
    /// their sessions apart.
    pub user_agent: Option<&'a str>,
}

/// Why an attempt was refused. The same answer whether or not the account exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    WrongCredentials,
    TooManyFailures,
    /// A passkey was not taken.
    Passkey(passkeys::Refusal),
}

impl Refusal {
    /// The words shown to the person.
    pub fn message(self) -> &'static str {
        match self {
            Self::WrongCredentials => "Wrong username or password.",
            Self::TooManyFailures => {
                "Too many failed attempts. Wait a few minutes, then try again."
            }
            Self::Passkey(refusal) => refusal.message(),
        }
    }
}

/// What an attempt led to.
pub enum SignIn {
    /// The user, in a new session that replaced the old one.
    Signed(Box<Signed>),
    Refused(Refusal),
}

/// A successful sign-in.
pub struct Signed {
    pub session: BrowserSession,
    pub user: User,
    /// The device token that marks this browser as one that signed in to the account: only
    /// for someone without a second factor (for the others it comes with the second factor,
    /// so the password alone cannot make a browser trusted).
    pub device_token: Option<String>,
}

/// Checks the attempt and, when it is right, replaces `old` with a new session for the user
/// (the sign-in requests waiting in `old` move to it). Each answer after a failure is
/// delayed a little more. Unknown usernames cost the same as known ones.
pub async fn sign_in(
    p: Provider<'_>,
    old: &BrowserSession,
    attempt: Attempt<'_>,
    now: UnixTime,
) -> Result<SignIn, OAuthError> {
    let user = match check_password(p, attempt, now).await? {
        Ok(user) => user,
        Err(refusal) => return Ok(SignIn::Refused(refusal)),
    };
    // The sign-in page this browser was given led somewhere: it no longer counts against
    // the address.
    abuse::release(p.db, &abuse::pending_requests(p.config, attempt.ip), now).await?;
    let session = start_session(p, old, &user, &Amr::password(), attempt.user_agent, now).await?;
    tracing::info!(user_id = %user.id, "login");
    let device_token = if factors::has_factor(p, &user.id).await? {
        None
    } else {
        Some(abuse::device_token(p.secrets, &user.username)?)
    };
    Ok(SignIn::Signed(Box::new(Signed {
        session,
        user,
        device_token,
    })))
}

/// A sign-in with a passkey alone (which verified its user: two factors): on success a new
/// session replaces `old` as after a password, and this browser is trusted for the account.
pub async fn sign_in_with_passkey(
    p: Provider<'_>,
    old: &BrowserSession,
    answer: factors::PasskeyAnswer<'_>,
    ip: &str,
    user_agent: Option<&str>,
    now: UnixTime,
) -> Result<Result<Signed, passkeys::Refusal>, OAuthError> {
    let (user, method) =
        match passkeys::finish_sign_in(p, old, answer.ceremony, answer.response, now).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
    // As after a password: the sign-in page led somewhere.
    abuse::release(p.db, &abuse::pending_requests(p.config, ip), now).await?;
    let session = start_session(p, old, &user, &Amr::passkey(method), user_agent, now).await?;
    let device_token = Some(abuse::device_token(p.secrets, &user.username)?);
    Ok(Ok(Signed {
        session,
        user,
        device_token,
    }))
}

/// A new session for `user`, signed in now with `amr`, that replaces `old`: the sign-in
/// requests waiting in `old` move to it; the same person's apps move with them, and
/// someone else's session on this browser ends as a sign-out.
pub async fn start_session(
    p: Provider<'_>,
    old: &BrowserSession,
    user: &User,
    amr: &Amr,
    user_agent: Option<&str>,
    now: UnixTime,
) -> Result<BrowserSession, OAuthError> {
    let mut session = sessions::new_session(p, Some((&user.id, now)), now)?;
    session.row.amr = Some(amr.to_stored());
    session.row.user_agent =
        user_agent.map(|ua| ua.chars().filter(|c| !c.is_control()).take(200).collect());
    let txn = p.db.begin().await?;
    store::sessions::insert(&txn, &session.row).await?;
    store::sessions::rebind_requests(&txn, &old.row.id_hash, &session.row.id_hash).await?;
    match old.row.user_id.as_deref() {
        // The same person again (prompt=login, max_age): the apps of the old session are
        // the new one's, so its end still reaches them.
        Some(previous) if previous == user.id => {
            let (from, to) = (
                sessions::sid(p.secrets, &old.row),
                sessions::sid(p.secrets, &session.row),
            );
            store::grants::move_session(&txn, &from, &to).await?;
            store::sessions::delete(&txn, &old.row.id_hash).await?;
        }
        // Someone else signed in on this browser: theirs ends, as a sign-out.
        Some(_) => {
            super::sign_out::end_sessions(p, &txn, std::slice::from_ref(&old.row), now).await?;
        }
        None => {
            store::sessions::delete(&txn, &old.row.id_hash).await?;
        }
    }
    txn.commit().await?;
    Ok(session)
}

/// Checks a username and password under the limits above: the user, or why not. A success
/// gives the counted failures back. Also what a password change checks the current password
/// with.
pub async fn check_password(
    p: Provider<'_>,
    attempt: Attempt<'_>,
    now: UnixTime,
) -> Result<Result<User, Refusal>, OAuthError> {
    let Attempt {
        username,
        password,
        device_token,
        ip,
        user_agent: _,
    } = attempt;
    let account = accounts::canonical_username(username);
    let device = device_token.and_then(|token| abuse::trusted_device(p.secrets, token, &account));
    let mut rules = abuse::login(p.config, &account, device, ip);
    if device.is_some()
        && abuse::check(p.db, rules.get(..1).unwrap_or_default(), now).await?
            != abuse::Verdict::Allowed
    {
        // A browser that used up its own failures is trusted no more than any other.
        rules = abuse::login(p.config, &account, None, ip);
    }
    let reservation = abuse::reserve(p.db, &rules, now).await?;
    if let abuse::Verdict::Refused(limit) = reservation.verdict {
        Metrics::incr(&p.metrics.login_throttled);
        tracing::warn!(ip, ?limit, "login throttled");
        return Ok(Err(Refusal::TooManyFailures));
    }
    let user = accounts::authenticate(p.db, p.passwords, &account, password)
        .await
        .map_err(|e| match e {
            accounts::AccountError::Store(s) => s.into(),
            other => OAuthError::server_error(&other),
        })?;
    let Some(user) = user else {
        Metrics::incr(&p.metrics.login_failures);
        let failures = reservation.highest;
        tracing::info!(ip, failures, "failed login");
        // 100 ms, 200 ms, 400 ms ... up to 1.6 s: cheap for a person, slow for a script.
        let exponent = u32::try_from(failures.clamp(1, 5) - 1).unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(100 << exponent)).await;
        return Ok(Err(Refusal::WrongCredentials));
    };
    abuse::release(p.db, &rules, now).await?;
    Ok(Ok(user))
}
