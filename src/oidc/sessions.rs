//! Browser sessions: a 256-bit random id held by the browser (the pages put it in a cookie),
//! a row keyed by its keyed hash, a lifetime and an idle lifetime. A session nobody signed
//! in to exists only to carry one sign-in request and lives as long as it.

use super::{factors, Provider};
use crate::abuse;
use crate::clock::UnixTime;
use crate::crypto::{self, KeyedHasher};
use crate::oauth::auth_context::Amr;
use crate::oauth::authorize::SignedIn;
use crate::oauth::error::OAuthError;
use crate::store::users::User;
use crate::store::{self, sessions::Session, StoreError};

/// A live browser session: the id the browser holds, and its row.
#[derive(Clone, Debug)]
pub struct BrowserSession {
    pub id: String,
    pub row: Session,
}

/// The live session with this id, if any: not past its lifetime, and used within the idle
/// lifetime (each use, at most once a minute, counts as one).
pub async fn find(
    p: Provider<'_>,
    id: String,
    now: UnixTime,
) -> Result<Option<BrowserSession>, OAuthError> {
    let idle = p.config.lifetimes.session_idle.as_i64();
    let Some(mut row) = store::sessions::find_live(p.db, &p.secrets.hash(&id), idle, now).await?
    else {
        return Ok(None);
    };
    if now - row.last_seen_at >= 60 {
        store::sessions::touch(p.db, &row.id_hash, now).await?;
        row.last_seen_at = now;
    }
    Ok(Some(BrowserSession { id, row }))
}

/// A new session (not yet written) with a fresh id: for `user` signed in at the given time,
/// or for nobody yet, living only as long as a sign-in request.
pub fn new_session(
    p: Provider<'_>,
    user: Option<(&str, UnixTime)>,
    now: UnixTime,
) -> Result<BrowserSession, OAuthError> {
    let id = crypto::random_token()?;
    let lifetimes = &p.config.lifetimes;
    let row = Session {
        id_hash: p.secrets.hash(&id),
        user_id: user.map(|(u, _)| u.to_owned()),
        auth_time: user.map(|(_, t)| t),
        amr: user.map(|_| Amr::password().to_stored()),
        created_at: now,
        last_seen_at: now,
        expires_at: now
            + match user {
                Some(_) => lifetimes.session.as_i64(),
                None => lifetimes.authorization_request.as_i64(),
            },
        user_agent: None,
        reauth_at: user.map(|(_, t)| t),
    };
    Ok(BrowserSession { id, row })
}

/// Whether a browser nobody is signed in to may make the server store one more thing for it
/// (a sign-in request, a session): bounded per client address.
pub async fn admit_anonymous(p: Provider<'_>, ip: &str, now: UnixTime) -> Result<bool, OAuthError> {
    let rules = abuse::pending_requests(p.config, ip);
    match abuse::reserve(p.db, &rules, now).await?.verdict {
        abuse::Verdict::Allowed => Ok(true),
        abuse::Verdict::Refused(_) => {
            tracing::warn!(ip, "sign-in pages throttled");
            Ok(false)
        }
    }
}

/// A new session for nobody yet, written now.
pub async fn start_anonymous(p: Provider<'_>, now: UnixTime) -> Result<BrowserSession, OAuthError> {
    let session = new_session(p, None, now)?;
    store::sessions::insert(p.db, &session.row).await?;
    Ok(session)
}

/// The session's signed-in user, if the account still exists and is enabled and the session
/// reached the level every sign-in to it needs (a second factor for someone who has one,
/// `factors::baseline`). A session still waiting for that factor is not signed in.
pub async fn signed_in(
    p: Provider<'_>,
    session: &BrowserSession,
) -> Result<Option<(SignedIn, User)>, OAuthError> {
    let Some((signed_in, user)) = identified(p, session).await? else {
        return Ok(None);
    };
    let has_factor = factors::has_factor(p, &user.id).await?;
    if signed_in.amr.level() < factors::baseline(p.config.login.second_factor, has_factor) {
        return Ok(None);
    }
    Ok(Some((signed_in, user)))
}

/// The session's user as far as the password goes (the account exists and is enabled),
/// whatever else it still needs: for the pages that ask for the second factor.
pub async fn identified(
    p: Provider<'_>,
    session: &BrowserSession,
) -> Result<Option<(SignedIn, User)>, OAuthError> {
    let (Some(user_id), Some(auth_time)) = (&session.row.user_id, session.row.auth_time) else {
        return Ok(None);
    };
    match store::users::get(p.db, user_id).await {
        Ok(user) if !user.disabled => Ok(Some((
            SignedIn {
                user_id: user.id.clone(),
                auth_time,
                amr: Amr::from_stored(session.row.amr.as_deref()),
            },
            user,
        ))),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The session's public identifier (`sid` in ID tokens): derived, so the session id never
/// leaves the browser.
pub fn sid(secrets: &KeyedHasher, session: &Session) -> String {
    let mac = secrets.mac(&[b"sid", session.id_hash.as_bytes()]);
    crypto::b64url(mac.get(..18).unwrap_or_default())
}
