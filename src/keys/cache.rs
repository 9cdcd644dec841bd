//! The keys an instance works with, loaded from the database and refreshed when another
//! instance (or the CLI) changes them. The active private key is decrypted once per change,
//! and the JWKS document is prepared bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use josekit::jwk::Jwk;
use sea_orm::ConnectionTrait;

use super::{jwks, Kek, KeyError, KeyState, Signer, Verifiers};
use crate::clock::UnixTime;
use crate::store::{self, keys::KeyRow};

/// The id the next key set built gets.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One published key as operators see it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishedKey {
    pub kid: String,
    pub state: KeyState,
    pub created_at: UnixTime,
    pub activated_at: Option<UnixTime>,
    pub retired_at: Option<UnixTime>,
    pub published_until: Option<UnixTime>,
}

/// A consistent view of the keys at one moment.
pub struct KeySet {
    /// Unique among the key sets this process builds (see [`KeySet::id`]).
    id: u64,
    signer: Arc<Signer>,
    verifiers: Verifiers,
    jwks: Bytes,
    published: Vec<PublishedKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("active", &self.signer.kid())
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

/// Rows that are published at `now`: next, active, and retired ones whose tokens may still
/// be live.
fn published_rows(rows: &[KeyRow], now: UnixTime) -> impl Iterator<Item = &KeyRow> {
    rows.iter().filter(move |r| match r.state {
        KeyState::Next | KeyState::Active => true,
        KeyState::Retired => r.published_until.is_some_and(|until| until > now),
    })
}

fn fingerprint(rows: &[KeyRow], now: UnixTime) -> Vec<(String, KeyState)> {
    published_rows(rows, now)
        .map(|r| (r.kid.clone(), r.state))
        .collect()
}

impl KeySet {
    /// Builds the set from key rows: decrypts the active key and prepares the JWKS.
    pub fn from_rows(rows: &[KeyRow], kek: &Kek, now: UnixTime) -> Result<Self, KeyError> {
        let active = rows
            .iter()
            .find(|r| r.state == KeyState::Active)
            .ok_or(KeyError::NoActiveKey)?;
        let der = kek.unwrap(&active.private_jwe)?;
        let signer = Arc::new(Signer::from_der(&active.kid, &der)?);

        let mut verifiers = Verifiers::default();
        let mut documents = Vec::new();
        let mut published = Vec::new();
        for row in published_rows(rows, now) {
            let corrupt = |message: String| KeyError::Corrupt {
                kid: row.kid.clone(),
                message,
            };
            let members =
                jwks::public_members(&row.public_jwk).map_err(|e| corrupt(e.to_string()))?;
            let jwk = Jwk::from_map(members.clone()).map_err(|e| corrupt(e.to_string()))?;
            verifiers.insert(&row.kid, &jwk)?;
            documents.push(members);
            published.push(PublishedKey {
                kid: row.kid.clone(),
                state: row.state,
                created_at: row.created_at,
                activated_at: row.activated_at,
                retired_at: row.retired_at,
                published_until: row.published_until,
            });
        }
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            signer,
            verifiers,
            jwks: Bytes::from(jwks::document(documents)),
            published,
        })
    }

    pub fn signer(&self) -> &Arc<Signer> {
        &self.signer
    }

    pub fn verifiers(&self) -> &Verifiers {
        &self.verifiers
    }

    /// A number no other key set built by this process has: what was verified under these
    /// keys is remembered under it, and forgotten when the keys change.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The `/jwks.json` body.
    pub fn jwks(&self) -> &Bytes {
        &self.jwks
    }

    pub fn published(&self) -> &[PublishedKey] {
        &self.published
    }

    fn fingerprint(&self) -> Vec<(String, KeyState)> {
        self.published
            .iter()
            .map(|k| (k.kid.clone(), k.state))
            .collect()
    }
}

/// The per-instance cache: readers take a cheap `Arc` snapshot; a refresh swaps it.
pub struct KeyCache {
    kek: Kek,
    current: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("current", &self.current())
            .finish()
    }
}

impl KeyCache {
    pub async fn load(
        db: &impl ConnectionTrait,
        kek: Kek,
        now: UnixTime,
    ) -> Result<Self, KeyError> {
        let rows = store::keys::list(db).await?;
        let set = KeySet::from_rows(&rows, &kek, now)?;
        Ok(Self {
            kek,
            current: RwLock::new(Arc::new(set)),
        })
    }

    pub fn kek(&self) -> &Kek {
        &self.kek
    }

    pub fn current(&self) -> Arc<KeySet> {
        // A poisoned lock still holds a complete set: the swap below is a single assignment.
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the key rows and swaps in a new set when the published keys changed (a
    /// rotation, or a retired key reaching the end of its publication). Returns whether it
    /// changed.
    pub async fn refresh(
        &self,
        db: &impl ConnectionTrait,
        now: UnixTime,
    ) -> Result<bool, KeyError> {
        let rows = store::keys::list(db).await?;
        if fingerprint(&rows, now) == self.current().fingerprint() {
            return Ok(false);
        }
        let set = Arc::new(KeySet::from_rows(&rows, &self.kek, now)?);
        match self.current.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(true)
    }
}
