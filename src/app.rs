//! Builds the whole application from a `Config`: database, schema, key-encryption key,
//! signing keys, listener and routes. Tests call `Application::build` on port 0.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use poem::listener::{Acceptor as _, Listener as _, TcpAcceptor, TcpListener};
use poem::Server;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::crypto::{CryptoError, KeyedHasher};
use crate::db::{self, Access, Db, DbError};
use crate::fetch::Fetcher;
use crate::http::conn::DeadlineAcceptor;
use crate::keys::{self, kek::KekError, Kek, KeyCache, KeyError};
use crate::oauth::client_keys::JwksCache;
use crate::oauth::scope::Catalog;
use crate::oidc::discovery::{Features, Metadata};
use crate::password::PasswordHasher;
use crate::server::router;
use crate::state::AppState;
use crate::store::{self, StoreError};
use crate::tasks;
use crate::templates::Templates;
use crate::tokens::AccessTokens;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("reading the signing keys: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Templates(#[from] crate::templates::TemplateError),
    #[error("the client for fetching documents: {0}")]
    Fetch(#[from] crate::fetch::FetchError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Everything the server and the CLI share once the database is open: the connection, the
/// key-encryption key and what derives from it, the key cache.
pub struct Runtime {
    pub config: Arc<Config>,
    pub db: Db,
    pub keys: Arc<KeyCache>,
    pub secrets: KeyedHasher,
    pub passwords: PasswordHasher,
    pub clock: Clock,
    /// The scopes and claims users' apps may be granted (`claims.*`).
    pub claims: Arc<Catalog>,
}

impl Runtime {
    /// What the user-facing rules work with, for a command run offline (its metrics go
    /// nowhere; the issuer is the configured one, or empty).
    pub fn provider<'a>(
        &'a self,
        metrics: &'a crate::metrics::Metrics,
    ) -> crate::oidc::Provider<'a> {
        crate::oidc::Provider {
            db: &self.db,
            config: &self.config,
            secrets: &self.secrets,
            passwords: &self.passwords,
            kek: self.keys.kek(),
            metrics,
            issuer: self.config.issuer.as_deref().unwrap_or_default(),
            webauthn: None,
        }
    }

    /// Validates the configuration, connects, migrates, loads (or on first start creates)
    /// the key-encryption key and the signing keys, and checks that the KEK decrypts them.
    ///
    /// With [`Access::Existing`] (the CLI's commands) nothing is created: not the database,
    /// not its schema, not a key-encryption key file.
    pub async fn open(config: Config, clock: Clock, access: Access) -> Result<Self, StartupError> {
        config.validate()?;
        let claims = Arc::new(Catalog::new(&config.claims)?);
        let pool = db::open(&config.database_url, access).await?;
        let db = Db::new(pool, &config.database_url, config.sqlite_in_place);
        let existing = store::keys::list(&db).await?;
        let kek = Kek::load(
            config.kek.as_ref().map(|s| s.expose().as_str()),
            &config.keys_dir,
            existing.is_empty() && access == Access::Create,
        )?;
        let now = clock.now();
        // Before anything is written: a KEK that does not decrypt the stored keys stops here,
        // with a message naming it.
        keys::kek::check(&kek, existing.iter().map(|k| k.private_jwe.as_str()))
            .map_err(KeyError::from)?;
        keys::rotation::ensure_keys(&db, &kek, &config.keys, now).await?;
        let secrets = kek.derive("client-secret-and-token-hash")?;
        let keys = Arc::new(KeyCache::load(&db, kek, now).await?);
        let passwords = PasswordHasher::new(&config.argon2)?;
        Ok(Self {
            config: Arc::new(config),
            db,
            keys,
            secrets,
            passwords,
            clock,
            claims,
        })
    }
}

/// A built server, bound and ready to run.
pub struct Application {
    acceptor: TcpAcceptor,
    port: u16,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Clock::System).await
    }

    pub async fn build_with_clock(config: Config, clock: Clock) -> Result<Self, StartupError> {
        let runtime = Runtime::open(config, clock, Access::Create).await?;
        Self::from_runtime(runtime).await
    }

    pub async fn from_runtime(runtime: Runtime) -> Result<Self, StartupError> {
        let addr = runtime.config.bind_addr()?;
        let acceptor = TcpListener::bind(addr)
            .into_acceptor()
            .await
            .map_err(|source| StartupError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let local = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(addr);
        let issuer: Arc<str> = match &runtime.config.issuer {
            Some(issuer) => issuer.as_str().into(),
            None => format!("http://{local}").into(),
        };
        let discovery = Bytes::from(
            Metadata::build(
                &issuer,
                router::MOUNTED,
                Features::of(&runtime.config),
                &runtime.claims,
            )
            .to_bytes(),
        );
        let mut templates = Templates::new(runtime.config.pages.templates_dir.as_deref())?;
        if runtime.config.mail.smtp_host.is_some() {
            templates.add_global(
                "password_reset_url",
                format!("{issuer}{}", crate::web::recovery::FORGOT_PATH),
            );
        }
        let templates = Arc::new(templates);
        let mailer =
            crate::mail::Mailer::new(&runtime.config.mail, Arc::clone(&templates))?.map(Arc::new);
        let client_jwks = Arc::new(JwksCache::new(
            Fetcher::new(&runtime.config.fetch)?,
            runtime.config.client_auth.jwks_cache_ttl.as_duration(),
            runtime
                .config
                .client_auth
                .jwks_refetch_interval
                .as_duration(),
        ));
        let registration = Arc::new(crate::oauth::dynamic::Policy::new(
            &runtime.config.registration,
        )?);
        let webauthn = crate::oidc::passkeys::relying_party(&issuer, runtime.config.login.passkeys)
            .map(Arc::new);
        let state = AppState {
            webauthn,
            registration,
            client_jwks,
            db: runtime.db,
            config: runtime.config,
            access_tokens: Arc::new(AccessTokens::new(issuer.clone())),
            issuer,
            keys: runtime.keys,
            secrets: runtime.secrets,
            passwords: runtime.passwords,
            clock: runtime.clock,
            claims: runtime.claims,
            discovery,
            templates,
            mailer,
            metrics: Arc::default(),
            document_refusals: Arc::default(),
        };
        Ok(Self {
            acceptor,
            port: local.port(),
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish (up to 10 s).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let refresher = tokio::spawn(tasks::key_refresh::run(self.state.clone()));
        let rotator = tokio::spawn(tasks::rotation::run(self.state.clone()));
        let sweeper = tokio::spawn(tasks::sweeper::run(self.state.clone()));
        let logout_sender = tokio::spawn(tasks::logout_sender::run(self.state.clone()));
        let app = router::build(self.state.clone());
        let limits = &self.state.config.http;
        // A client still sending its request a few seconds after the handler would have
        // timed out is disconnected.
        let deadline = limits.request_timeout.as_duration() + std::time::Duration::from_secs(5);
        let result = Server::new_with_acceptor(DeadlineAcceptor::new(self.acceptor, deadline))
            .idle_timeout(limits.idle_timeout.as_duration())
            .run_with_graceful_shutdown(app, shutdown, Some(std::time::Duration::from_secs(10)))
            .await;
        refresher.abort();
        rotator.abort();
        sweeper.abort();
        logout_sender.abort();
        self.state.db.pool().close_by_ref().await.ok();
        result
    }
}
