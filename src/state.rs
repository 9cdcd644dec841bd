//! What every handler can reach, shared through poem's `.data(...)`. No globals: two apps
//! with different configurations can run in one process.

use std::sync::Arc;

use bytes::Bytes;

use crate::clock::Clock;
use crate::clock::UnixTime;
use crate::config::Config;
use crate::crypto::KeyedHasher;
use crate::db::Db;
use crate::keys::KeyCache;
use crate::metrics::Metrics;
use crate::oauth::authorize::Rules;
use crate::oauth::client_assertion::Verifier;
use crate::oauth::client_keys::JwksCache;
use crate::password::PasswordHasher;
use crate::templates::Templates;
use crate::tokens::AccessTokens;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// The issuer identifier, without a trailing slash.
    pub issuer: Arc<str>,
    pub keys: Arc<KeyCache>,
    /// The access tokens verified recently, remembered so they are not verified again.
    pub access_tokens: Arc<AccessTokens>,
    /// Keyed hash for client secrets, codes and tokens (derived from the KEK).
    pub secrets: KeyedHasher,
    /// The keys fetched from clients' `jwks_uri`s.
    pub client_jwks: Arc<JwksCache>,
    pub passwords: PasswordHasher,
    pub clock: Clock,
    /// The scopes and claims users' apps may be granted (`claims.*`).
    pub claims: Arc<crate::oauth::scope::Catalog>,
    /// The discovery document, prepared at start-up.
    pub discovery: Bytes,
    pub templates: Arc<Templates>,
    /// Sends password-reset and verification mail; `None` without `mail.smtp_host`.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// The passkey relying party; `None` when passkeys are off (`login.passkeys`) or the
    /// issuer cannot have them.
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    pub metrics: Arc<Metrics>,
    /// What apps registering themselves may ask for (`registration.*`).
    pub registration: Arc<crate::oauth::dynamic::Policy>,
    /// Metadata documents refused lately, not fetched again for a while.
    pub document_refusals: Arc<crate::oauth::metadata_document::RecentRefusals>,
}

impl AppState {
    /// What the user-facing rules (sessions, sign-in, sign-out, accounts) work with.
    pub fn provider(&self) -> crate::oidc::Provider<'_> {
        crate::oidc::Provider {
            db: &self.db,
            config: &self.config,
            secrets: &self.secrets,
            passwords: &self.passwords,
            kek: self.keys.kek(),
            metrics: &self.metrics,
            issuer: &self.issuer,
            webauthn: self.webauthn.as_deref(),
        }
    }

    /// What registering a client needs from the server.
    pub fn keeper(&self) -> crate::oauth::registration::Keeper<'_> {
        crate::oauth::registration::Keeper {
            hasher: &self.secrets,
            kek: self.keys.kek(),
            allow_loopback: self.config.fetch.allow_loopback,
            fetcher: self.client_jwks.fetcher(),
            user_scopes: self.claims.user_scopes(),
        }
    }

    /// What reads the metadata documents `client_id` URLs name.
    pub fn documents(&self) -> crate::oauth::metadata_document::Documents<'_> {
        crate::oauth::metadata_document::Documents {
            db: &self.db,
            keeper: self.keeper(),
            policy: &self.registration,
            config: &self.config,
            refusals: &self.document_refusals,
        }
    }

    /// Whether the issuer is https: cookies are then Secure and pages send HSTS.
    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// What checks the JWTs clients sign (client assertions, request objects) naming one of
    /// `audiences`.
    pub fn client_jwt_verifier(&self, audiences: Vec<String>) -> Verifier {
        Verifier {
            audiences,
            max_lifetime: i64::try_from(self.config.client_auth.assertion_max_lifetime.0)
                .unwrap_or(i64::MAX),
            jwks: Arc::clone(&self.client_jwks),
            keys: Arc::clone(&self.keys),
        }
    }

    /// What validating an authorization request needs, as configured.
    pub fn authorize_rules(&self, now: UnixTime) -> Rules<'_> {
        let authorize = &self.config.authorize;
        Rules {
            issuer: &self.issuer,
            hasher: &self.secrets,
            request_objects: authorize
                .request_objects
                .then(|| self.client_jwt_verifier(vec![self.issuer.to_string()])),
            par: authorize.par,
            require_par: authorize.require_par,
            now,
        }
    }
}
