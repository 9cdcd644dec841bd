//! The tokens oidcd signs: JWT access tokens (RFC 9068) and ID tokens (OIDC Core 2), and the
//! memo of access tokens verified recently. The protocol rooms (`oauth/`, `oidc/`) decide
//! what a token says; this room writes, signs and checks it, with the keys of `keys/`.

pub mod access;
pub mod id;
pub mod memo;

pub use access::{AccessClaims, AccessGrant, AccessTokens, Rejected};

use crate::crypto::CryptoError;
use crate::keys::SignError;

/// Why a token could not be issued: the server's fault, never the client's.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Random(#[from] CryptoError),
}
