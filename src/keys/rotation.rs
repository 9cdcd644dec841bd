//! The key lifecycle: `next` -> `active` -> `retired` -> removed.
//!
//! A `next` key is published before it signs, so a relying party that caches the JWKS never
//! meets an unknown `kid`; a retired key stays published until the longest-lived token it
//! signed has expired. Partial unique indexes allow one `active` and one `next` row, and every
//! state change is a conditional update, so two instances can never both rotate.

use sea_orm::ConnectionTrait;

use super::generate::{self, NewKey};
use super::{Kek, KeyError, KeyState};
use crate::clock::UnixTime;
use crate::config::{KeysConfig, Lifetimes};
use crate::db::Db;
use crate::store::{self, keys::KeyRow, StoreError};

/// Generates a key on the blocking pool (RSA generation takes tens of milliseconds).
pub async fn generate_key(bits: u32) -> Result<NewKey, KeyError> {
    Ok(tokio::task::spawn_blocking(move || generate::generate(bits)).await??)
}

fn row(key: &NewKey, kek: &Kek, state: KeyState, now: UnixTime) -> Result<KeyRow, KeyError> {
    Ok(KeyRow {
        kid: key.kid.clone(),
        state,
        alg: generate::ALG.to_owned(),
        public_jwk: key.public_jwk.to_string(),
        private_jwe: kek.wrap(&key.private_der)?,
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        published_until: None,
    })
}

/// Makes sure an `active` and a `next` key exist (first start, or after an operator removed
/// one). Safe to run from several instances at once: a losing insert is ignored and the
/// winner's key is used.
pub async fn ensure_keys(
    db: &Db,
    kek: &Kek,
    config: &KeysConfig,
    now: UnixTime,
) -> Result<(), KeyError> {
    let rows = store::keys::list(db).await?;
    let has = |state| rows.iter().any(|r| r.state == state);
    if !has(KeyState::Active) {
        if has(KeyState::Next) {
            // A next key exists but nothing signs: promote it rather than sign with a key
            // nobody has seen.
            let next = rows
                .iter()
                .find(|r| r.state == KeyState::Next)
                .ok_or(KeyError::NoNextKey)?;
            ignore_conflict(store::keys::activate(db, &next.kid, now).await.map(|_| ()))?;
        } else {
            let active = generate_key(config.rsa_bits).await?;
            ignore_conflict(
                store::keys::insert(db, row(&active, kek, KeyState::Active, now)?).await,
            )?;
        }
    }
    let rows = store::keys::list(db).await?;
    if !rows.iter().any(|r| r.state == KeyState::Next) {
        let next = generate_key(config.rsa_bits).await?;
        ignore_conflict(store::keys::insert(db, row(&next, kek, KeyState::Next, now)?).await)?;
    }
    Ok(())
}

fn ignore_conflict(result: Result<(), StoreError>) -> Result<(), KeyError> {
    match result {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    pub retired: String,
    pub activated: String,
    pub next: String,
    pub removed: u64,
}

/// How long a `next` key must have been published before it may sign: the JWKS cache
/// lifetime plus the time instances take to see a change.
pub fn minimum_publication(config: &KeysConfig) -> i64 {
    config.jwks_max_age().as_i64() + config.cache_ttl.as_i64()
}

/// One rotation step: active -> retired (published until its last token expires),
/// next -> active, a new next, and retired keys past their publication removed, in one
/// transaction. Unless `force`, refuses when the next key has not been published long enough
/// for caching relying parties to know it.
pub async fn rotate(
    db: &Db,
    kek: &Kek,
    config: &KeysConfig,
    lifetimes: &Lifetimes,
    now: UnixTime,
    force: bool,
) -> Result<Rotation, KeyError> {
    let rows = store::keys::list(db).await?;
    let active = rows
        .iter()
        .find(|r| r.state == KeyState::Active)
        .ok_or(KeyError::NoActiveKey)?;
    let next = rows
        .iter()
        .find(|r| r.state == KeyState::Next)
        .ok_or(KeyError::NoNextKey)?;
    let published = now - next.created_at;
    let required = minimum_publication(config);
    if !force && published < required {
        return Err(KeyError::TooSoon {
            kid: next.kid.clone(),
            published,
            required,
            wait: required - published,
        });
    }
    // Generate before the transaction opens, so no lock is held while the CPU works.
    let new_next = generate_key(config.rsa_bits).await?;
    let new_row = row(&new_next, kek, KeyState::Next, now)?;
    let published_until = now + lifetimes.longest_signed().as_i64();

    let txn = db.begin().await.map_err(StoreError::from)?;
    if !store::keys::retire(&txn, &active.kid, now, published_until).await? {
        return Err(KeyError::Concurrent);
    }
    match store::keys::activate(&txn, &next.kid, now).await {
        Ok(true) => {}
        Ok(false) | Err(StoreError::Conflict(_)) => return Err(KeyError::Concurrent),
        Err(e) => return Err(e.into()),
    }
    match store::keys::insert(&txn, new_row).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(KeyError::Concurrent),
        Err(e) => return Err(e.into()),
    }
    let removed = store::keys::delete_expired(&txn, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    tracing::info!(
        retired = %active.kid,
        activated = %next.kid,
        next = %new_next.kid,
        removed,
        "signing keys rotated"
    );
    Ok(Rotation {
        retired: active.kid.clone(),
        activated: next.kid.clone(),
        next: new_next.kid,
        removed,
    })
}

/// Rotates when the active key has signed for a whole rotation interval. Of several instances
/// calling this at once exactly one rotates (the conditional updates in `rotate`); the others
/// get `Ok(None)`. Also removes retired keys whose publication has ended.
pub async fn rotate_if_due(
    db: &Db,
    kek: &Kek,
    config: &KeysConfig,
    lifetimes: &Lifetimes,
    now: UnixTime,
) -> Result<Option<Rotation>, KeyError> {
    store::keys::delete_expired(db, now).await?;
    let rows = store::keys::list(db).await?;
    let Some(active) = rows.iter().find(|r| r.state == KeyState::Active) else {
        return Ok(None);
    };
    let since = active.activated_at.unwrap_or(active.created_at);
    if now - since < config.rotation_interval.as_i64() {
        return Ok(None);
    }
    match rotate(db, kek, config, lifetimes, now, false).await {
        Ok(r) => Ok(Some(r)),
        Err(KeyError::Concurrent | KeyError::TooSoon { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stops publishing a retired key now (it is suspected compromised): tokens it signed no
/// longer verify. The active and next keys cannot be retired this way; rotate instead.
pub async fn retire_early<C>(db: &C, kid: &str, now: UnixTime) -> Result<(), KeyError>
where
    C: ConnectionTrait,
{
    if store::keys::end_publication(db, kid, now).await? {
        tracing::warn!(kid, "retired key withdrawn from publication early");
        return Ok(());
    }
    let rows = store::keys::list(db).await?;
    match rows.iter().find(|r| r.kid == kid) {
        None => Err(KeyError::Store(StoreError::NotFound)),
        Some(_) => Err(KeyError::NotRetired(kid.to_owned())),
    }
}
