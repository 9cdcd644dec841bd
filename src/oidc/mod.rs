//! OpenID Connect on top of `oauth`: accounts, browser sessions and sign-in, the user's side
//! of the authorization and device flows, ID tokens, claims, userinfo, logout, discovery
//! metadata.

pub mod account;
pub mod accounts;
pub mod claims;
pub mod device_verification;
pub mod discovery;
pub mod factors;
pub mod interaction;
pub mod logout;
pub mod passkeys;
pub mod recovery;
pub mod sessions;
pub mod sign_in;
pub mod sign_out;
pub mod userinfo;

use crate::config::Config;
use crate::crypto::KeyedHasher;
use crate::db::Db;
use crate::keys::Kek;
use crate::metrics::Metrics;
use crate::password::PasswordHasher;

/// What the user-facing rules (sessions, sign-in, the authorization and device pages' steps)
/// work with. Borrowed from the application's state by the pages that call them; the clock
/// is passed to each call.
#[derive(Clone, Copy)]
pub struct Provider<'a> {
    pub db: &'a Db,
    pub config: &'a Config,
    /// Keyed hash for session ids, codes and proofs.
    pub secrets: &'a KeyedHasher,
    pub passwords: &'a PasswordHasher,
    /// Wraps the one-time code secrets kept in the database.
    pub kek: &'a Kek,
    pub metrics: &'a Metrics,
    /// The issuer identifier, without a trailing slash.
    pub issuer: &'a str,
    /// The passkey relying party; `None` when passkeys are off.
    pub webauthn: Option<&'a webauthn_rs::Webauthn>,
}
