//! What the end of a browser session reaches, however it ends (RP-initiated logout, the
//! account page, an admin, a disabled account, a new password): the tokens of the grants
//! made in it (`logout.revoke`), and every client that took part in it: a logout token in the
//! outbox for a client with a back-channel logout URI (OpenID Connect Back-Channel Logout 1.0,
//! sent by `tasks::logout_sender`), a page to load for one with a front-channel logout URI
//! (Front-Channel Logout 1.0). All of it is written in the caller's transaction, with the end
//! of the session itself, so a logout is never half done nor its notices lost.

use sea_orm::ConnectionTrait;
use url::Url;

use super::{sessions, Provider};
use crate::clock::UnixTime;
use crate::config::LogoutRevoke;
use crate::crypto;
use crate::oauth::subject;
use crate::store::clients::Client;
use crate::store::logout_deliveries::{Delivery, PENDING};
use crate::store::sessions::Session;
use crate::store::{self, StoreError};

/// Why a sign-out could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SignOutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl From<SignOutError> for crate::oauth::error::OAuthError {
    fn from(e: SignOutError) -> Self {
        match e {
            SignOutError::Store(e) => e.into(),
            SignOutError::Crypto(e) => e.into(),
        }
    }
}

impl From<SignOutError> for super::accounts::AccountError {
    fn from(e: SignOutError) -> Self {
        match e {
            SignOutError::Store(e) => e.into(),
            SignOutError::Crypto(e) => e.into(),
        }
    }
}

/// The front-channel logout pages (URLs with `iss` and `sid`) of the clients that took part
/// in the sessions ended, for the signed-out page to load.
pub type FrontChannel = Vec<String>;

/// Ends `ended` (sessions of one user): deletes them, revokes what `logout.revoke` says of
/// the grants made in them, and tells the clients that took part.
pub async fn end_sessions(
    p: Provider<'_>,
    txn: &impl ConnectionTrait,
    ended: &[Session],
    now: UnixTime,
) -> Result<FrontChannel, SignOutError> {
    let mut pages = Vec::new();
    for session in ended {
        store::sessions::delete(txn, &session.id_hash).await?;
        let Some(user_id) = session.user_id.as_deref() else {
            continue;
        };
        let sid = sessions::sid(p.secrets, session);
        let grants = store::grants::in_session(txn, &sid).await?;
        let ids: Vec<String> = grants.iter().map(|g| g.id.clone()).collect();
        match p.config.logout.revoke {
            LogoutRevoke::None => {}
            LogoutRevoke::AccessTokens => store::grants::cut_access(txn, &ids, now).await?,
            LogoutRevoke::Grants => store::grants::revoke_many(txn, &ids, now).await?,
        }
        let mut clients: Vec<&str> = grants.iter().map(|g| g.client_id.as_str()).collect();
        clients.sort_unstable();
        clients.dedup();
        for client_id in clients {
            let Some(client) = client(txn, client_id).await? else {
                continue;
            };
            notify(p, txn, &client, user_id, Some(&sid), &[], now).await?;
            if let Some(page) = front_channel(p.issuer, &client, &sid) {
                pages.push(page);
            }
        }
    }
    Ok(pages)
}

/// Ends every session of a user but `keep` (the hash of the one to keep, if any); the
/// front-channel pages of the clients that took part.
pub async fn end_user_sessions(
    p: Provider<'_>,
    txn: &impl ConnectionTrait,
    user_id: &str,
    keep: Option<&str>,
    now: UnixTime,
) -> Result<FrontChannel, SignOutError> {
    let ended: Vec<Session> = store::sessions::for_user(txn, user_id, now)
        .await?
        .into_iter()
        .filter(|s| Some(s.id_hash.as_str()) != keep)
        .collect();
    end_sessions(p, txn, &ended, now).await
}

/// Revokes everything a user gave a client: its consent, its grants (refresh tokens and the
/// access tokens issued from them), and tells it with a logout token naming the user. Whether
/// there was anything to revoke.
pub async fn revoke_client(
    p: Provider<'_>,
    txn: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<bool, SignOutError> {
    let grants: Vec<_> = store::grants::for_user(txn, user_id, now)
        .await?
        .into_iter()
        .filter(|g| g.client_id == client_id)
        .collect();
    let had_consent = store::consents::forget(txn, user_id, client_id).await?;
    if grants.is_empty() && !had_consent {
        return Ok(false);
    }
    store::grants::revoke_for_user_and_client(txn, user_id, client_id, now).await?;
    if !grants.is_empty() {
        if let Some(client) = client(txn, client_id).await? {
            let sids: Vec<String> = grants.iter().filter_map(|g| g.session_id.clone()).collect();
            notify(p, txn, &client, user_id, None, &sids, now).await?;
        }
    }
    Ok(true)
}

/// Tells every client with a live grant of the user that the user is signed out everywhere
/// (a logout token naming the user, no session), then revokes those grants: for an account
/// that is disabled. Sessions are ended first by the caller.
pub async fn revoke_user(
    p: Provider<'_>,
    txn: &impl ConnectionTrait,
    user_id: &str,
    now: UnixTime,
) -> Result<(), SignOutError> {
    let grants = store::grants::for_user(txn, user_id, now).await?;
    let mut clients: Vec<&str> = grants.iter().map(|g| g.client_id.as_str()).collect();
    clients.sort_unstable();
    clients.dedup();
    for client_id in clients {
        if let Some(client) = client(txn, client_id).await? {
            let sids: Vec<String> = grants
                .iter()
                .filter(|g| g.client_id == client_id)
                .filter_map(|g| g.session_id.clone())
                .collect();
            notify(p, txn, &client, user_id, None, &sids, now).await?;
        }
    }
    store::grants::revoke_for_user(txn, user_id, now).await?;
    Ok(())
}

async fn client(txn: &impl ConnectionTrait, id: &str) -> Result<Option<Client>, StoreError> {
    match store::clients::get(txn, id).await {
        Ok(client) => Ok(Some(client)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Puts logout tokens for `client` in the outbox, when it has a back-channel logout URI: for
/// the end of session `sid`, one naming it; for the user as a whole (`sid` none: an app's
/// access removed, an account disabled) one naming just the user, which means every session
/// of theirs at the app, except that a client that requires `sid` gets one per session it
/// took part in (`sessions`, from its grants) since it would refuse a token without.
async fn notify(
    p: Provider<'_>,
    txn: &impl ConnectionTrait,
    client: &Client,
    user_id: &str,
    sid: Option<&str>,
    sessions: &[String],
    now: UnixTime,
) -> Result<(), SignOutError> {
    let named: Vec<Option<&str>> = match sid {
        Some(sid) => vec![Some(sid)],
        None if client.logout.backchannel_logout_session_required => {
            let mut sids: Vec<&str> = sessions.iter().map(String::as_str).collect();
            sids.sort_unstable();
            sids.dedup();
            sids.into_iter().map(Some).collect()
        }
        None => vec![None],
    };
    for sid in named {
        enqueue(p, txn, client, user_id, sid, now).await?;
    }
    Ok(())
}

async fn enqueue(
    p: Provider<'_>,
    txn: &impl ConnectionTrait,
    client: &Client,
    user_id: &str,
    sid: Option<&str>,
    now: UnixTime,
) -> Result<(), SignOutError> {
    let Some(uri) = &client.logout.backchannel_logout_uri else {
        return Ok(());
    };
    let delivery = Delivery {
        id: crypto::b64url(&crypto::random_bytes::<16>()?),
        client_id: client.client_id.clone(),
        uri: uri.clone(),
        subject: subject::for_sector(p.secrets, client.pairwise_sector(), user_id),
        sid: sid.map(str::to_owned),
        state: PENDING.to_owned(),
        attempts: 0,
        next_attempt_at: now,
        lease_until: None,
        last_error: None,
        created_at: now,
        delivered_at: None,
        expires_at: now + p.config.logout.retry_for.as_i64(),
    };
    store::logout_deliveries::insert(txn, &delivery).await?;
    tracing::info!(
        client_id = %client.client_id,
        delivery = %delivery.id,
        "back-channel logout queued"
    );
    Ok(())
}

/// The client's front-channel logout page for session `sid`, with `iss` and `sid` (always
/// sent: Front-Channel Logout 1.0 section 2 allows them whether or not the client needs
/// them).
fn front_channel(issuer: &str, client: &Client, sid: &str) -> Option<String> {
    let uri = client.logout.frontchannel_logout_uri.as_deref()?;
    let mut url = Url::parse(uri).ok()?;
    url.query_pairs_mut()
        .append_pair("iss", issuer)
        .append_pair("sid", sid);
    Some(url.to_string())
}
