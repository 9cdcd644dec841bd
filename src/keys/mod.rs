//! Signing keys: generation, encryption at rest, the lifecycle next -> active -> retired ->
//! removed, the per-instance cache and the published JWK set. Every private-key operation
//! goes through OpenSSL: key generation through josekit, signing through the `openssl` crate
//! (see `signer`).

pub mod cache;
pub mod generate;
pub mod jwks;
pub mod kek;
pub mod rotation;
pub mod signer;

pub use crate::db::entities::signing_key::KeyState;
pub use cache::{KeyCache, KeySet};
pub use kek::Kek;
pub use signer::{SignError, Signer, Verifiers, VerifyError};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Unwrap(#[from] kek::UnwrapError),
    #[error(transparent)]
    Kek(#[from] kek::KekError),
    #[error("a signing key operation failed: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error(transparent)]
    Sign(#[from] signer::SignError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the database holds no active signing key")]
    NoActiveKey,
    #[error("the database holds no next signing key to activate")]
    NoNextKey,
    #[error("stored public key {kid} is malformed: {message}")]
    Corrupt { kid: String, message: String },
    #[error(
        "another instance changed the signing keys at the same moment; nothing was changed here"
    )]
    Concurrent,
    #[error(
        "the next key {kid} has been published for {published}s only, and relying parties may \
         cache the key set for {required}s: rotating now could sign with a key they have not \
         fetched. Wait {wait}s, or force the rotation."
    )]
    TooSoon {
        kid: String,
        published: i64,
        required: i64,
        wait: i64,
    },
    #[error("key {0} is not retired: rotate first, then withdraw it")]
    NotRetired(String),
    #[error("key generation did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
}
