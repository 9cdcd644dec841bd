//! Passkeys (WebAuthn Level 3, through webauthn-rs): registered on the account page, used to
//! sign in alone (a discoverable credential: the browser offers the account's passkeys in
//! the username field's autofill, or behind a button) or as the second factor after a
//! password.
//!
//! - The relying party is the issuer: its host is the RP ID, its origin the only origin
//!   accepted. Attestation is not asked for; user verification (a PIN or a biometric on the
//!   authenticator) is required, so a passkey alone is two factors (`amr` `hwk`/`swk`,
//!   `user`, `mfa`).
//! - Each ceremony's state waits in the database (`passkey_ceremonies`), bound to the browser
//!   session that started it, for 15 minutes, and is spent by the answer, good or bad: each
//!   challenge is answered once, on any instance.
//! - A passkey is a `user_factors` row of kind `passkey`: the library's `Passkey` (public
//!   key, signature counter, backup flags) as JSON, its credential id (unique across
//!   accounts) beside it. After each use the counter and flags are written back; a counter
//!   that did not move forward refuses the sign-in (a cloned authenticator).
//! - A passkey that may sync between devices (backup eligible) is `swk`; one bound to its
//!   device is `hwk`.

use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::sessions::BrowserSession;
use super::Provider;
use crate::clock::UnixTime;
use crate::crypto;
use crate::oauth::auth_context::{Amr, Method};
use crate::oauth::error::OAuthError;
use crate::store::ceremonies::{self, Ceremony};
use crate::store::factors::{self, Factor, PASSKEY};
use crate::store::users::User;
use crate::store::{self, StoreError};

/// How long a started ceremony waits for the browser's answer.
pub const CEREMONY_SECONDS: i64 = 900;

/// What a ceremony is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Register,
    SignIn,
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SignIn => "sign_in",
            Self::SecondFactor => "second_factor",
        }
    }
}

/// The relying party for `issuer`, or `None` (with the reason logged) when passkeys are off
/// or browsers would refuse them there: an IP address is no RP ID, and outside `localhost`
/// browsers offer WebAuthn only on https.
pub fn relying_party(issuer: &str, enabled: bool) -> Option<Webauthn> {
    if !enabled {
        return None;
    }
    let origin = Url::parse(issuer).ok()?;
    let Some(host) = origin.domain().map(str::to_owned) else {
        tracing::warn!(
            issuer,
            "passkeys are off: the issuer's host is not a domain name (use localhost, not 127.0.0.1)"
        );
        return None;
    };
    if origin.scheme() != "https" && host != "localhost" && !host.ends_with(".localhost") {
        tracing::warn!(
            issuer,
            "passkeys are off: browsers offer them only on https or http://localhost"
        );
        return None;
    }
    let mut origin_only = origin.clone();
    origin_only.set_path("");
    let built = WebauthnBuilder::new(&host, &origin_only)
        .map(|b| b.rp_name(&host))
        .and_then(|b| b.build());
    match built {
        Ok(rp) => Some(rp),
        Err(e) => {
            tracing::warn!(issuer, error = %e, "passkeys are off");
            None
        }
    }
}

/// A ceremony the page starts in the browser: the handle its form sends back, and the
/// options for `navigator.credentials` (JSON, as `PublicKeyCredential.parse*FromJSON`
/// reads them under `publicKey`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Prompt {
    pub ceremony: String,
    pub options: String,
}

/// Why a passkey was not taken. The person is told the same for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The ceremony is unknown, expired, another browser's, or was answered already.
    Expired,
    /// The browser's answer does not verify (wrong origin or challenge, bad signature, no
    /// user verification, a counter that went backwards, unreadable).
    Failed,
    /// No account has this passkey (removed, say), or the account is disabled.
    Unknown,
    /// This passkey is registered already (to this account or another).
    Registered,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::Registered => "That passkey is registered already.",
            Self::Expired | Self::Failed | Self::Unknown => {
                "That passkey was not accepted. Try again, or use another way to sign in."
            }
        }
    }
}

fn rp<'a>(p: Provider<'a>) -> Result<&'a Webauthn, OAuthError> {
    p.webauthn
        .ok_or_else(|| OAuthError::invalid_request("This server does not offer passkeys."))
}

fn server_error(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::server_error(&e.to_string())
}

/// The user handle the authenticator keeps for `user`: their id, which is a UUID, or one
/// derived from it for ids made otherwise. Never their name, which may change.
fn user_handle(user_id: &str) -> Uuid {
    Uuid::parse_str(user_id).unwrap_or_else(|_| {
        let digest = crypto::sha256(user_id.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    })
}

fn credential_key(id: &CredentialID) -> String {
    crypto::b64url(id.as_ref())
}

/// Stores a new ceremony for `session` (in place of the one it had for `purpose`, so a
/// session keeps one of each however often its pages are shown) and returns what its page
/// needs.
async fn start(
    p: Provider<'_>,
    session: &BrowserSession,
    purpose: Purpose,
    user_id: Option<&str>,
    state: String,
    options: String,
    now: UnixTime,
) -> Result<Prompt, OAuthError> {
    let handle = crypto::random_token()?;
    ceremonies::replace(
        p.db,
        &Ceremony {
            id_hash: p.secrets.hash(&handle),
            session_id_hash: session.row.id_hash.clone(),
            purpose: purpose.as_str().to_owned(),
            user_id: user_id.map(str::to_owned),
            state,
            expires_at: now + CEREMONY_SECONDS,
        },
    )
    .await?;
    Ok(Prompt {
        ceremony: handle,
        options,
    })
}

/// Spends the ceremony `handle` names, if it is this session's, for `purpose`, for `user_id`
/// (when it was started for someone), and live: its state.
async fn take<S: serde::de::DeserializeOwned>(
    p: Provider<'_>,
    session: &BrowserSession,
    purpose: Purpose,
    user_id: Option<&str>,
    handle: &str,
    now: UnixTime,
) -> Result<Option<S>, OAuthError> {
    let Some(ceremony) = ceremonies::take(
        p.db,
        &p.secrets.hash(handle),
        &session.row.id_hash,
        purpose.as_str(),
        now,
    )
    .await?
    else {
        return Ok(None);
    };
    if ceremony.user_id.as_deref() != user_id {
        return Ok(None);
    }
    match serde_json::from_str(&ceremony.state) {
        Ok(state) => Ok(Some(state)),
        Err(e) => {
            // Started by another version of the server, say: as if it had expired.
            tracing::warn!(error = %e, "unreadable passkey ceremony");
            Ok(None)
        }
    }
}

/// A stored passkey, or `None` (logged) when its row does not read as one.
fn stored_key(factor: &Factor) -> Option<Passkey> {
    match serde_json::from_str(&factor.secret) {
        Ok(key) => Some(key),
        Err(e) => {
            tracing::error!(factor_id = %factor.id, error = %e, "unreadable passkey");
            None
        }
    }
}

/// Logs why the library refused an answer; a counter that went backwards, which may be a
/// cloned authenticator, louder than the rest.
fn log_refusal(user_id: &str, what: &str, e: &WebauthnError) {
    if matches!(e, WebauthnError::CredentialPossibleCompromise) {
        tracing::warn!(
            user_id,
            "{what}: the passkey's counter went backwards (a cloned authenticator?); refused"
        );
    } else {
        tracing::info!(user_id, error = %e, "{what}: refused");
    }
}

/// The user's passkeys, with their rows.
async fn passkeys_of(p: Provider<'_>, user_id: &str) -> Result<Vec<(Factor, Passkey)>, OAuthError> {
    Ok(factors::list(p.db, user_id)
        .await?
        .into_iter()
        .filter(|f| f.kind == PASSKEY && f.confirmed_at.is_some())
        .filter_map(|f| stored_key(&f).map(|key| (f, key)))
        .collect())
}

/// Starts registering a passkey for `user` in `session`. The authenticator is asked to keep
/// it discoverable, so it can sign in without a username; the user's passkeys are excluded,
/// so one authenticator is not registered twice.
pub async fn begin_registration(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    now: UnixTime,
) -> Result<Prompt, OAuthError> {
    let rp = rp(p)?;
    let exclude: Vec<CredentialID> = passkeys_of(p, &user.id)
        .await?
        .iter()
        .map(|(_, key)| key.cred_id().clone())
        .collect();
    let display = user
        .claims
        .get("name")
        .and_then(serde_json::Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&user.username);
    let (mut options, state) = rp
        .start_passkey_registration(
            user_handle(&user.id),
            &user.username,
            display,
            Some(exclude),
        )
        .map_err(server_error)?;
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    let state = serde_json::to_string(&state).map_err(server_error)?;
    let options = serde_json::to_string(&options).map_err(server_error)?;
    start(
        p,
        session,
        Purpose::Register,
        Some(&user.id),
        state,
        options,
        now,
    )
    .await
}

/// A passkey that was registered.
pub struct Registered {
    /// The session's methods now (it used the new passkey).
    pub amr: Amr,
    /// Recovery codes made with it, when it is the user's first second factor (shown once).
    pub recovery_codes: Option<Vec<String>>,
}

/// Finishes registering a passkey from the browser's answer (`response`, the JSON of the
/// new credential) under `name`. The session that did it has used the passkey.
pub async fn finish_registration(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    handle: &str,
    response: &str,
    name: &str,
    now: UnixTime,
) -> Result<Result<Registered, Refusal>, OAuthError> {
    let rp = rp(p)?;
    let Some(state) =
        take::<PasskeyRegistration>(p, session, Purpose::Register, Some(&user.id), handle, now)
            .await?
    else {
        return Ok(Err(Refusal::Expired));
    };
    let Ok(answer) = serde_json::from_str::<RegisterPublicKeyCredential>(response) else {
        return Ok(Err(Refusal::Failed));
    };
    let passkey = match rp.finish_passkey_registration(&answer, &state) {
        Ok(key) => key,
        Err(e) => {
            log_refusal(&user.id, "passkey registration", &e);
            return Ok(Err(Refusal::Failed));
        }
    };
    // The library keeps the backup flags and the counter inside its `Passkey`; its stored
    // form is what says them.
    let stored = serde_json::to_value(&passkey).map_err(server_error)?;
    let method = match stored
        .pointer("/cred/backup_eligible")
        .and_then(serde_json::Value::as_bool)
    {
        Some(false) => Method::HardwareKey,
        Some(true) => Method::SoftwareKey,
        None => {
            tracing::warn!("a new passkey without its backup flag: taken as one that syncs");
            Method::SoftwareKey
        }
    };
    let counter = stored
        .pointer("/cred/counter")
        .and_then(serde_json::Value::as_i64)
        .filter(|c| *c > 0);
    let name = super::factors::factor_name(name).unwrap_or_else(|| "Passkey".to_owned());
    let txn = p.db.begin().await?;
    let inserted = factors::insert(
        &txn,
        &Factor {
            id: crypto::b64url(&crypto::random_bytes::<12>()?),
            user_id: user.id.clone(),
            kind: PASSKEY.to_owned(),
            name,
            secret: stored.to_string(),
            last_step: counter,
            created_at: now,
            confirmed_at: Some(now),
            last_used_at: Some(now),
            session_id_hash: None,
            credential_id: Some(credential_key(passkey.cred_id())),
        },
    )
    .await;
    match inserted {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(Err(Refusal::Registered)),
        Err(e) => return Err(e.into()),
    }
    // Counted after the insert, in its transaction: of two first registrations at once,
    // one makes the recovery codes.
    let first = factors::list(&txn, &user.id)
        .await?
        .iter()
        .filter(|f| f.confirmed_at.is_some())
        .count()
        == 1;
    let recovery_codes = if first {
        Some(super::factors::new_recovery_codes(p, &txn, &user.id, now).await?)
    } else {
        None
    };
    let amr = super::factors::raise_session(&txn, session, method, now).await?;
    txn.commit().await?;
    tracing::info!(user_id = %user.id, "passkey registered");
    Ok(Ok(Registered {
        amr,
        recovery_codes,
    }))
}

/// Starts a sign-in with a discoverable passkey in `session` (nobody named yet): the page
/// offers it in the username field's autofill and behind a button.
pub async fn begin_sign_in(
    p: Provider<'_>,
    session: &BrowserSession,
    now: UnixTime,
) -> Result<Prompt, OAuthError> {
    let (options, state) = rp(p)?
        .start_discoverable_authentication()
        .map_err(server_error)?;
    let state = serde_json::to_string(&state).map_err(server_error)?;
    let options = serde_json::to_string(&options).map_err(server_error)?;
    start(p, session, Purpose::SignIn, None, state, options, now).await
}

/// Finishes a sign-in with a passkey alone: the account it belongs to, and how `amr` names
/// it.
pub async fn finish_sign_in(
    p: Provider<'_>,
    session: &BrowserSession,
    handle: &str,
    response: &str,
    now: UnixTime,
) -> Result<Result<(User, Method), Refusal>, OAuthError> {
    let rp = rp(p)?;
    let Some(state) =
        take::<DiscoverableAuthentication>(p, session, Purpose::SignIn, None, handle, now).await?
    else {
        return Ok(Err(Refusal::Expired));
    };
    let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(response) else {
        return Ok(Err(Refusal::Failed));
    };
    let Ok((handle_uuid, credential_id)) = rp.identify_discoverable_authentication(&answer) else {
        return Ok(Err(Refusal::Failed));
    };
    let Some(factor) = factors::find_by_credential(p.db, &crypto::b64url(credential_id)).await?
    else {
        tracing::info!("sign-in with an unknown passkey");
        return Ok(Err(Refusal::Unknown));
    };
    let user = match store::users::get(p.db, &factor.user_id).await {
        Ok(user) if !user.disabled && user_handle(&user.id) == handle_uuid => user,
        Ok(_) | Err(StoreError::NotFound) => return Ok(Err(Refusal::Unknown)),
        Err(e) => return Err(e.into()),
    };
    let Some(key) = stored_key(&factor) else {
        return Ok(Err(Refusal::Failed));
    };
    let result =
        match rp.finish_discoverable_authentication(&answer, state, &[DiscoverableKey::from(&key)])
        {
            Ok(result) => result,
            Err(e) => {
                log_refusal(&user.id, "passkey sign-in", &e);
                return Ok(Err(Refusal::Failed));
            }
        };
    match record_use(p, &factor, key, &result, now).await? {
        Some(method) => {
            tracing::info!(user_id = %user.id, "login with a passkey");
            Ok(Ok((user, method)))
        }
        None => Ok(Err(Refusal::Failed)),
    }
}

/// Writes a passkey's counter and backup flags back after a use: how `amr` names it, or
/// `None` when the counter did not move forward (the write lost to another use with the
/// same counter: a cloned authenticator, or one answer sent twice).
async fn record_use(
    p: Provider<'_>,
    factor: &Factor,
    mut key: Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
    now: UnixTime,
) -> Result<Option<Method>, OAuthError> {
    let stored = match key.update_credential(result) {
        Some(true) => Some(serde_json::to_string(&key).map_err(server_error)?),
        _ => None,
    };
    if !factors::passkey_used(p.db, &factor.id, stored.as_deref(), result.counter(), now).await? {
        tracing::warn!(
            user_id = %factor.user_id,
            factor_id = %factor.id,
            "passkey refused: another use with the same counter won (a cloned authenticator, \
             or one answer sent twice), or it was removed meanwhile"
        );
        return Ok(None);
    }
    Ok(Some(if result.backup_eligible() {
        Method::SoftwareKey
    } else {
        Method::HardwareKey
    }))
}

/// Starts asking `user`, who gave their password in `session`, for one of their passkeys;
/// `None` when passkeys are off or they have none.
pub async fn begin_second_factor(
    p: Provider<'_>,
    session: &BrowserSession,
    user_id: &str,
    now: UnixTime,
) -> Result<Option<Prompt>, OAuthError> {
    let Some(rp) = p.webauthn else {
        return Ok(None);
    };
    let keys: Vec<Passkey> = passkeys_of(p, user_id)
        .await?
        .into_iter()
        .map(|(_, key)| key)
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let (options, state) = rp
        .start_passkey_authentication(&keys)
        .map_err(server_error)?;
    let state = serde_json::to_string(&state).map_err(server_error)?;
    let options = serde_json::to_string(&options).map_err(server_error)?;
    start(
        p,
        session,
        Purpose::SecondFactor,
        Some(user_id),
        state,
        options,
        now,
    )
    .await
    .map(Some)
}

/// Checks one of `user`'s passkeys, answered in `session`: how `amr` names it.
pub async fn finish_second_factor(
    p: Provider<'_>,
    session: &BrowserSession,
    user: &User,
    handle: &str,
    response: &str,
    now: UnixTime,
) -> Result<Result<Method, Refusal>, OAuthError> {
    let rp = rp(p)?;
    let Some(state) = take::<PasskeyAuthentication>(
        p,
        session,
        Purpose::SecondFactor,
        Some(&user.id),
        handle,
        now,
    )
    .await?
    else {
        return Ok(Err(Refusal::Expired));
    };
    let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(response) else {
        return Ok(Err(Refusal::Failed));
    };
    let Some(factor) =
        factors::find_by_credential(p.db, &crypto::b64url(answer.get_credential_id())).await?
    else {
        return Ok(Err(Refusal::Unknown));
    };
    if factor.user_id != user.id {
        return Ok(Err(Refusal::Unknown));
    }
    let Some(key) = stored_key(&factor) else {
        return Ok(Err(Refusal::Failed));
    };
    let result = match rp.finish_passkey_authentication(&answer, &state) {
        Ok(result) => result,
        Err(e) => {
            log_refusal(&user.id, "passkey as a second factor", &e);
            return Ok(Err(Refusal::Failed));
        }
    };
    Ok(record_use(p, &factor, key, &result, now)
        .await?
        .ok_or(Refusal::Failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_issuers_host() {
        assert!(relying_party("https://id.example.com", true).is_some());
        assert!(relying_party("https://id.example.com/tenant", true).is_some());
        assert!(relying_party("http://localhost:8080", true).is_some());
        assert!(relying_party("http://127.0.0.1:8080", true).is_none());
        assert!(relying_party("http://id.example.com", true).is_none());
        assert!(relying_party("https://id.example.com", false).is_none());
    }

    #[test]
    fn user_handles_are_stable_uuids() {
        let id = "6f1c2b1e-8d4a-4f7e-9a51-0c2d3e4f5a6b";
        assert_eq!(user_handle(id).to_string(), id);
        assert_eq!(user_handle("alice-1"), user_handle("alice-1"));
        assert_ne!(user_handle("alice-1"), user_handle("alice-2"));
    }
}
