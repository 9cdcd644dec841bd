//! What a person (on `/account`) and an operator (the admin API) see and undo of a user's
//! access: the apps that have it, from consents and live grants, and the browser sessions.

use super::accounts::{self, AccountError};
use super::sessions::BrowserSession;
use super::sign_in::{self, Attempt, Refusal};
use super::sign_out::{self, FrontChannel, SignOutError};
use super::{sessions, Provider};
use crate::clock::UnixTime;
use crate::oauth::error::OAuthError;
use crate::oauth::scope;
use crate::store::users::User;
use crate::store::{self, StoreError};

/// An app that has access to the user's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppAccess {
    pub client_id: String,
    pub client_name: String,
    /// What it may see: the scopes consented to and granted.
    pub scopes: Vec<String>,
    /// Since when: the first consent or grant still standing.
    pub since: UnixTime,
    /// It keeps access while the person is away (a grant with `offline_access`).
    pub offline: bool,
}

/// The apps with access to the user's account, by name.
pub async fn apps(
    db: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    now: UnixTime,
) -> Result<Vec<AppAccess>, StoreError> {
    let mut out: Vec<AppAccess> = Vec::new();
    let mut add = |client_id: &str, scopes: &[String], since: UnixTime, offline: bool| {
        let index = match out.iter().position(|a| a.client_id == client_id) {
            Some(index) => index,
            None => {
                out.push(AppAccess {
                    client_id: client_id.to_owned(),
                    client_name: String::new(),
                    scopes: Vec::new(),
                    since,
                    offline: false,
                });
                out.len() - 1
            }
        };
        let Some(app) = out.get_mut(index) else {
            return;
        };
        for s in scopes {
            if !app.scopes.contains(s) {
                app.scopes.push(s.clone());
            }
        }
        app.since = app.since.min(since);
        app.offline |= offline;
    };
    for consent in store::consents::for_user(db, user_id).await? {
        add(
            &consent.client_id,
            &consent.granted.scopes,
            consent.created_at,
            false,
        );
    }
    for grant in store::grants::for_user(db, user_id, now).await? {
        let scopes = scope::split(&grant.scope);
        let offline = scope::contains(&scopes, "offline_access");
        add(&grant.client_id, &scopes, grant.created_at, offline);
    }
    let mut apps = Vec::with_capacity(out.len());
    for mut app in out {
        match store::clients::get(db, &app.client_id).await {
            Ok(client) => app.client_name = client.name,
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e),
        }
        apps.push(app);
    }
    apps.sort_by(|a, b| a.client_name.cmp(&b.client_name));
    Ok(apps)
}

/// A browser session of the user, as a person or an operator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Its public identifier (`sid` in ID tokens).
    pub sid: String,
    pub signed_in_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub user_agent: Option<String>,
    /// The keyed hash of its id: what tells the current one apart.
    pub id_hash: String,
}

/// The user's live sessions, most recently used first.
pub async fn sessions(
    p: Provider<'_>,
    user_id: &str,
    now: UnixTime,
) -> Result<Vec<SessionInfo>, StoreError> {
    let idle = p.config.lifetimes.session_idle.as_i64();
    Ok(store::sessions::for_user(p.db, user_id, now)
        .await?
        .into_iter()
        .filter(|s| s.last_seen_at > now - idle)
        .map(|s| SessionInfo {
            sid: sessions::sid(p.secrets, &s),
            signed_in_at: s.auth_time.unwrap_or(s.created_at),
            last_seen_at: s.last_seen_at,
            user_agent: s.user_agent.clone(),
            id_hash: s.id_hash,
        })
        .collect())
}

/// Ends the user's session whose public id is `sid`, telling the apps that took part;
/// `None` when the user has no such session.
pub async fn end_session(
    p: Provider<'_>,
    user_id: &str,
    sid: &str,
    now: UnixTime,
) -> Result<Option<FrontChannel>, SignOutError> {
    let txn = p.db.begin().await.map_err(StoreError::from)?;
    let Some(session) = store::sessions::for_user(&txn, user_id, now)
        .await?
        .into_iter()
        .find(|s| {
            crate::crypto::constant_time_eq(sessions::sid(p.secrets, s).as_bytes(), sid.as_bytes())
        })
    else {
        return Ok(None);
    };
    let frames = sign_out::end_sessions(p, &txn, std::slice::from_ref(&session), now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Some(frames))
}

/// Revokes everything the user gave an app (its consent, its refresh tokens and the access
/// tokens of its grants) and tells it; whether there was anything.
pub async fn revoke_app(
    p: Provider<'_>,
    user_id: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<bool, SignOutError> {
    let txn = p.db.begin().await.map_err(StoreError::from)?;
    let revoked = sign_out::revoke_client(p, &txn, user_id, client_id, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(revoked)
}

/// How a password change went.
#[derive(Debug)]
pub enum PasswordChange {
    Changed,
    /// The current password was wrong, or too many were.
    Refused(Refusal),
    /// The new password does not meet the rules (the words say which).
    Invalid(String),
}

/// Changes the signed-in user's password: the current one must be right (counted like a
/// sign-in, so the form cannot be used to guess it), then every other session of the user
/// ends (and with `login.password_change_revokes_grants`, every grant).
pub async fn change_password(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    current: Attempt<'_>,
    new_password: String,
    now: UnixTime,
) -> Result<PasswordChange, OAuthError> {
    if let Err(AccountError::Invalid(e)) = accounts::validate_password(&new_password) {
        return Ok(PasswordChange::Invalid(format!(
            "The new password {}.",
            e.message
        )));
    }
    let attempt = Attempt {
        username: &user.username,
        ..current
    };
    if let Err(refusal) = sign_in::check_password(p, attempt, now).await? {
        return Ok(PasswordChange::Refused(refusal));
    }
    accounts::set_password(
        p,
        &user.username,
        new_password,
        p.config.login.password_change_revokes_grants,
        Some(&session.row.id_hash),
        now,
    )
    .await
    .map_err(|e| match e {
        AccountError::Store(s) => s.into(),
        other => OAuthError::server_error(&other),
    })?;
    tracing::info!(user_id = %user.id, "password changed on the account page");
    Ok(PasswordChange::Changed)
}

/// How long after signing in a session may add a passkey without giving the password again:
/// a passkey signs in alone, so whoever holds a session left open (or a stolen cookie) must
/// not be able to plant one.
pub const RECENT_SIGN_IN: i64 = 900;

/// Whether `session` signed in (or gave its password again) within `seconds`: its
/// `reauth_at`, which only those set (a second factor added or used does not).
pub fn signed_in_within(session: &BrowserSession, seconds: i64, now: UnixTime) -> bool {
    session.row.reauth_at.is_some_and(|t| now - t <= seconds)
}

/// Checks `user`'s password again in `session` (counted like a sign-in); on success the
/// session counts as signed in just now for [`signed_in_within`] (its `auth_time` and
/// methods, what tokens say, are unchanged).
pub async fn confirm_password(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    attempt: Attempt<'_>,
    now: UnixTime,
) -> Result<Result<(), Refusal>, OAuthError> {
    let attempt = Attempt {
        username: &user.username,
        ..attempt
    };
    if let Err(refusal) = sign_in::check_password(p, attempt, now).await? {
        return Ok(Err(refusal));
    }
    store::sessions::reauthenticated(p.db, &session.row.id_hash, now).await?;
    Ok(Ok(()))
}
