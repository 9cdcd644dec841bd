//! Typed configuration: defaults, then an optional TOML file, then `OIDCD_*` environment
//! variables, which win. `validate()` names the offending setting; nothing reads the
//! environment after start-up.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use url::Url;

/// Every environment variable starts with this; one that is not a known setting stops start-up.
pub const ENV_PREFIX: &str = "OIDCD_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{name}: {message}")]
    Invalid { name: String, message: String },
    #[error("unknown setting {0} in the environment (known settings: oidcd --help)")]
    UnknownVariable(String),
}

impl ConfigError {
    pub fn invalid(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            name: name.into(),
            message: message.into(),
        }
    }
}

/// A value that never reaches a log: `Debug` prints `[redacted]`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A database URL whose password is hidden when printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// The URL with any password replaced, fit for messages and logs.
    pub fn redacted(&self) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                // set_password only fails for URLs that cannot have one.
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl FromStr for Secret<String> {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// A span of time in whole seconds. Written as an integer (seconds) or with a unit:
/// `90s`, `10m`, `12h`, `30d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub u64);

impl Seconds {
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }
}

impl FromStr for Seconds {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => s.split_at(i),
            None => (s, ""),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{s}` is not a duration (use seconds, or 90s, 10m, 12h, 30d)"))?;
        let factor = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("`{s}` has an unknown unit (use s, m, h or d)")),
        };
        n.checked_mul(factor)
            .map(Seconds)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

impl fmt::Display for Seconds {
    /// In the largest unit that divides it exactly (`1d`, `2h`, `30m`, `90s`), as `from_str`
    /// reads it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let (value, unit) = if n == 0 || n % 60 != 0 {
            (n, "s")
        } else if n % 86_400 == 0 {
            (n / 86_400, "d")
        } else if n % 3600 == 0 {
            (n / 3600, "h")
        } else {
            (n / 60, "m")
        };
        write!(f, "{value}{unit}")
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecondsVisitor;
        impl Visitor<'_> for SecondsVisitor {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: seconds as an integer, or a string such as \"10m\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                Ok(Seconds(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                u64::try_from(v)
                    .map(Seconds)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SecondsVisitor)
    }
}

/// The whole configuration. Each setting's environment variable, default and meaning are in
/// [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The issuer URL; `None` means `http://` + the bound address.
    pub issuer: Option<String>,
    /// The listen address.
    pub bind: String,
    pub database_url: DatabaseUrl,
    /// Whether SQLite statements run in place on the request's thread rather than through
    /// the connection pool.
    pub sqlite_in_place: bool,
    /// The key-encryption key; `None` means the `kek` file in `keys_dir`.
    pub kek: Option<Secret<String>>,
    /// Where the `kek` file lives.
    pub keys_dir: PathBuf,
    /// The log filter.
    pub log: String,
    pub log_format: LogFormat,
    pub lifetimes: Lifetimes,
    pub argon2: Argon2Config,
    pub keys: KeysConfig,
    pub device: DeviceConfig,
    pub login: LoginConfig,
    pub client_auth: ClientAuthConfig,
    pub authorize: AuthorizeConfig,
    pub dpop: DpopConfig,
    pub fetch: FetchConfig,
    pub registration: RegistrationConfig,
    pub http: HttpConfig,
    pub pages: PagesConfig,
    pub claims: ClaimsConfig,
    pub logout: LogoutConfig,
    pub mail: MailConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: None,
            bind: "127.0.0.1:8080".into(),
            database_url: DatabaseUrl::new("sqlite://oidcd.db?mode=rwc"),
            sqlite_in_place: true,
            kek: None,
            keys_dir: PathBuf::from("keys"),
            log: "info,sea_orm_migration=warn,sqlx=warn".into(),
            log_format: LogFormat::Text,
            lifetimes: Lifetimes::default(),
            argon2: Argon2Config::default(),
            keys: KeysConfig::default(),
            device: DeviceConfig::default(),
            login: LoginConfig::default(),
            client_auth: ClientAuthConfig::default(),
            authorize: AuthorizeConfig::default(),
            dpop: DpopConfig::default(),
            fetch: FetchConfig::default(),
            registration: RegistrationConfig::default(),
            http: HttpConfig::default(),
            pages: PagesConfig::default(),
            claims: ClaimsConfig::default(),
            logout: LogoutConfig::default(),
            mail: MailConfig::default(),
        }
    }
}

/// How long things live. Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lifetimes {
    pub access_token: Seconds,
    pub id_token: Seconds,
    pub authorization_code: Seconds,
    /// How long a login or consent page stays usable.
    pub authorization_request: Seconds,
    /// A refresh token unused this long dies.
    pub refresh_token_idle: Seconds,
    /// No refresh token outlives its grant by more.
    pub refresh_token_absolute: Seconds,
    /// A retry with a just-rotated refresh token inside this window gets the same successor.
    pub refresh_grace: Seconds,
    /// A browser session's longest life.
    pub session: Seconds,
    /// A browser session unused this long ends.
    pub session_idle: Seconds,
    pub device_code: Seconds,
    /// How long a pushed authorization request's `request_uri` can be used.
    pub pushed_request: Seconds,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access_token: Seconds(3600),
            id_token: Seconds(3600),
            authorization_code: Seconds(60),
            authorization_request: Seconds(1800),
            refresh_token_idle: Seconds(14 * 86_400),
            refresh_token_absolute: Seconds(90 * 86_400),
            refresh_grace: Seconds(10),
            session: Seconds(86_400),
            session_idle: Seconds(7200),
            device_code: Seconds(600),
            pushed_request: Seconds(60),
        }
    }
}

impl Lifetimes {
    /// The longest a token signed by a key can stay valid: a retired key is published at
    /// least this long after its last signature.
    pub fn longest_signed(&self) -> Seconds {
        self.access_token.max(self.id_token)
    }
}

/// argon2id parameters for user passwords (OWASP defaults) and the bound on concurrent hashes.
/// Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes computed at once.
    pub max_concurrent: usize,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
        }
    }
}

/// Signing keys. Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// The RSA modulus size of new keys.
    pub rsa_bits: u32,
    /// How often the signing key changes.
    pub rotation_interval: Seconds,
    /// How soon every instance sees a key change.
    pub cache_ttl: Seconds,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            rsa_bits: 2048,
            rotation_interval: Seconds(30 * 86_400),
            cache_ttl: Seconds(30),
        }
    }
}

impl KeysConfig {
    /// The `Cache-Control: max-age` of `/jwks.json`. A `next` key is published for a whole
    /// rotation interval before it signs, so relying parties may cache the set for up to half
    /// of it (at most an hour), less the time instances take to see a change.
    pub fn jwks_max_age(&self) -> Seconds {
        let half = self.rotation_interval.0 / 2;
        Seconds(half.min(3600).saturating_sub(self.cache_ttl.0).max(1))
    }
}

/// The device authorization grant (RFC 8628). Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// The polling interval devices are told.
    pub interval: Seconds,
    /// Wrong user codes one browser session may enter per window.
    pub guesses_per_session: u32,
    /// Wrong user codes one client IP may enter per window.
    pub guesses_per_ip: u32,
    /// The window those limits count in.
    pub guess_window: Seconds,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            interval: Seconds(5),
            guesses_per_session: 5,
            guesses_per_ip: 20,
            guess_window: Seconds(900),
        }
    }
}

/// Brute-force protection for the login forms. Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failed logins for one username per window before it is locked until the window ends.
    pub failures_per_account: u32,
    /// Failed logins from one client IP per window.
    pub failures_per_ip: u32,
    /// The window those limits count in.
    pub window: Seconds,
    /// Sign-in pages one client address may start per window for browsers nobody is signed
    /// in to.
    pub pending_requests_per_ip: u32,
    /// Whether a password change also revokes every grant of the user.
    pub password_change_revokes_grants: bool,
    /// Who is asked for a second factor.
    pub second_factor: SecondFactorPolicy,
    /// Whether people may register passkeys and sign in with them.
    pub passkeys: bool,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            failures_per_account: 5,
            failures_per_ip: 20,
            window: Seconds(900),
            pending_requests_per_ip: 1000,
            password_change_revokes_grants: true,
            second_factor: SecondFactorPolicy::Enrolled,
            passkeys: true,
        }
    }
}

/// Brute-force protection for client authentication at the token, device authorization,
/// introspection and revocation endpoints. Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuthConfig {
    /// Failed authentications for one client id from one client address per window before
    /// that address is refused for that client until the window ends.
    pub failures_per_client: u32,
    /// Failed authentications from one IP per window.
    pub failures_per_ip: u32,
    /// The window those limits count in.
    pub window: Seconds,
    /// Whether clients may authenticate with a signed JWT (private_key_jwt,
    /// client_secret_jwt).
    pub jwt: bool,
    /// The latest `exp` a client assertion may carry, from now.
    pub assertion_max_lifetime: Seconds,
    /// How long keys fetched from a client's `jwks_uri` are used before being fetched again.
    pub jwks_cache_ttl: Seconds,
    /// The least time between two fetches of one `jwks_uri` for an unknown `kid`.
    pub jwks_refetch_interval: Seconds,
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        Self {
            failures_per_client: 20,
            failures_per_ip: 50,
            window: Seconds(900),
            jwt: true,
            assertion_max_lifetime: Seconds(600),
            jwks_cache_ttl: Seconds(300),
            jwks_refetch_interval: Seconds(10),
        }
    }
}

/// How authorization requests may arrive: pushed first (RFC 9126), as signed request
/// objects (RFC 9101). Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizeConfig {
    /// Whether the pushed authorization request endpoint is offered.
    pub par: bool,
    /// Whether every client must push its authorization requests.
    pub require_par: bool,
    /// Whether signed request objects (`request`) are accepted.
    pub request_objects: bool,
}

impl Default for AuthorizeConfig {
    fn default() -> Self {
        Self {
            par: true,
            require_par: false,
            request_objects: true,
        }
    }
}

/// Sender-constrained tokens (RFC 9449). Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// Whether DPoP proofs are taken (and tokens bound to their keys).
    pub enabled: bool,
    /// Whether proofs must carry a nonce this server handed out.
    pub require_nonce: bool,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            require_nonce: true,
        }
    }
}

/// Fetching documents that clients name by URL (`jwks_uri`). Each field is described in
/// [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Whether http URLs on loopback hosts may be fetched (development).
    pub allow_loopback: bool,
    /// How long a fetch may take, redirects included.
    pub timeout: Seconds,
    /// The largest document fetched.
    pub max_bytes: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            timeout: Seconds(5),
            max_bytes: 64 * 1024,
        }
    }
}

/// What the end of a browser session reaches. Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogoutConfig {
    /// Which tokens of the grants made in a session die when it ends.
    pub revoke: LogoutRevoke,
    /// How long a logout token that cannot be delivered is tried again.
    pub retry_for: Seconds,
}

impl Default for LogoutConfig {
    fn default() -> Self {
        Self {
            revoke: LogoutRevoke::AccessTokens,
            retry_for: Seconds(86_400),
        }
    }
}

/// Mail to people (password reset, address verification) over SMTP. Each field is described
/// in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The SMTP server; `None` sends no mail (and offers no password reset).
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret<String>>,
    /// The sender, `Name <address>` or an address.
    pub from: Option<String>,
    /// How long a password-reset link works.
    pub reset_link_lifetime: Seconds,
    /// How long an address-verification link works.
    pub verify_link_lifetime: Seconds,
    /// Reset mails to one account per window from browsers that have not signed in to it.
    pub per_account: u32,
    /// Mails to one account per window asked from one client address (or one browser that
    /// signed in to it before).
    pub per_account_per_ip: u32,
    /// Mails one client address may ask for per window.
    pub per_ip: u32,
    /// The window those limits count in.
    pub window: Seconds,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
            from: None,
            reset_link_lifetime: Seconds(1800),
            verify_link_lifetime: Seconds(86_400),
            per_account: 10,
            per_account_per_ip: 3,
            per_ip: 20,
            window: Seconds(3600),
        }
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain, then STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on the same machine or in the same private network.
    None,
}

impl FromStr for SmtpTls {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "starttls" => Ok(Self::Starttls),
            "tls" => Ok(Self::Tls),
            "none" => Ok(Self::None),
            other => Err(format!("`{other}` is not one of `starttls`, `tls`, `none`")),
        }
    }
}

impl fmt::Display for SmtpTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Starttls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        })
    }
}

/// Which tokens of the grants made in a session die when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogoutRevoke {
    /// Nothing: tokens live on until they expire.
    None,
    /// The access tokens issued until then; refresh tokens (`offline_access`) live on.
    AccessTokens,
    /// Everything: the grants are revoked, refresh tokens included.
    Grants,
}

impl FromStr for LogoutRevoke {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "access_tokens" => Ok(Self::AccessTokens),
            "grants" => Ok(Self::Grants),
            other => Err(format!("`{other}` is not none, access_tokens or grants")),
        }
    }
}

impl fmt::Display for LogoutRevoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::AccessTokens => "access_tokens",
            Self::Grants => "grants",
        })
    }
}

/// Who is asked for a second factor at sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorPolicy {
    /// Everyone who set one up, at every sign-in.
    Enrolled,
    /// Only where an app requires it or asks for it (`acr_values`): step-up.
    Requested,
    /// Everyone: people without one set one up before they go on.
    Required,
}

impl FromStr for SecondFactorPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enrolled" => Ok(Self::Enrolled),
            "requested" => Ok(Self::Requested),
            "required" => Ok(Self::Required),
            other => Err(format!("`{other}` is not enrolled, requested or required")),
        }
    }
}

impl fmt::Display for SecondFactorPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enrolled => "enrolled",
            Self::Requested => "requested",
            Self::Required => "required",
        })
    }
}

/// Whether apps may register themselves (RFC 7591).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    /// Only operators register clients (CLI, admin API).
    Off,
    /// An app registers with an initial access token an operator minted.
    InitialAccessToken,
    /// Anyone may register an app, within `registration.per_ip`.
    Open,
}

impl FromStr for RegistrationMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "initial_access_token" => Ok(Self::InitialAccessToken),
            "open" => Ok(Self::Open),
            other => Err(format!(
                "`{other}` is not off, initial_access_token or open"
            )),
        }
    }
}

impl fmt::Display for RegistrationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::InitialAccessToken => "initial_access_token",
            Self::Open => "open",
        })
    }
}

/// A list of names: a TOML array, or comma-separated (in the environment, or a TOML string).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

impl<'de> Deserialize<'de> for NameList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            List(Vec<String>),
            Text(String),
        }
        Ok(match Given::deserialize(deserializer)? {
            Given::List(names) => Self(names),
            Given::Text(text) => text.parse().unwrap_or_default(),
        })
    }
}

impl NameList {
    pub fn of(names: &[&str]) -> Self {
        Self(names.iter().map(|n| (*n).to_owned()).collect())
    }
}

impl FromStr for NameList {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(
            s.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

impl fmt::Display for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// Dynamic client registration (RFC 7591, RFC 7592) and what a registered app may ask for.
/// Each field is described in [`SETTINGS`]. The names in the lists are checked when the
/// server starts (`oauth::dynamic::Policy`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    pub mode: RegistrationMode,
    /// The grant types a registered app may ask for.
    pub grant_types: NameList,
    /// The scopes a registered app may ask for; all of them when it names none.
    pub scopes: NameList,
    /// The kinds of redirect URI a registered app may use: `https`, `loopback`,
    /// `private_use`.
    pub redirect_uris: NameList,
    /// The token endpoint authentication methods a registered app may use.
    pub auth_methods: NameList,
    /// The registered resources (RFC 8707) every registered app may ask tokens for.
    pub resources: NameList,
    /// Registrations one client address may make per window in `open` mode.
    pub per_ip: u32,
    /// The window those are counted in.
    pub window: Seconds,
    /// Whether a `client_id` that is an https URL names the client's metadata document.
    pub metadata_documents: bool,
    /// The hosts such documents may be on; any host when empty.
    pub document_hosts: NameList,
    /// Hosts and `client_id` URLs whose documents are refused.
    pub blocked_documents: NameList,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            mode: RegistrationMode::Off,
            grant_types: NameList::of(&["authorization_code", "refresh_token"]),
            scopes: NameList::of(&["openid", "profile", "email", "offline_access"]),
            redirect_uris: NameList::of(&["https", "loopback", "private_use"]),
            auth_methods: NameList::of(&[
                "client_secret_basic",
                "client_secret_post",
                "client_secret_jwt",
                "private_key_jwt",
                "none",
            ]),
            resources: NameList::default(),
            per_ip: 20,
            window: Seconds(3600),
            metadata_documents: false,
            document_hosts: NameList::default(),
            blocked_documents: NameList::default(),
        }
    }
}

/// Claims beyond OIDC's standard set. Each field is described in [`SETTINGS`]; the
/// declarations are checked when the server starts (`oauth::scope::Catalog`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimsConfig {
    /// Whether the built-in `groups` claim (a list of names) and its `groups` scope are
    /// offered.
    pub groups: bool,
    /// The operator's own claims.
    pub custom: CustomClaims,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            groups: true,
            custom: CustomClaims::default(),
        }
    }
}

/// The operator's claims: a TOML array of tables (`[[claims.custom]]`), or the same as a JSON
/// array in the environment.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(transparent)]
pub struct CustomClaims(pub Vec<CustomClaim>);

/// A claim the operator declares: users carry a value for it, and the scope releases it
/// where it is to go.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomClaim {
    pub name: String,
    /// The JSON type its values must have.
    #[serde(rename = "type")]
    pub kind: ClaimKind,
    /// The scope that releases it.
    pub scope: String,
    /// What it is, in the words the consent page shows: "your department".
    pub description: String,
    /// Whether it goes into ID tokens (when its scope is granted).
    #[serde(default)]
    pub id_token: bool,
    /// Whether it goes into access tokens (when its scope is among theirs).
    #[serde(default)]
    pub access_token: bool,
    /// Whether userinfo returns it (when its scope is granted).
    #[serde(default = "yes")]
    pub userinfo: bool,
}

fn yes() -> bool {
    true
}

/// The JSON type of a declared claim's values.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    String,
    Boolean,
    Integer,
    Number,
    /// An array of strings, like `groups`.
    StringArray,
    Object,
}

impl ClaimKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::StringArray => "string_array",
            Self::Object => "object",
        }
    }
}

/// The look of the pages, without rebuilding. Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagesConfig {
    /// A directory of `*.html` minijinja templates that replace the built-in ones of the same
    /// name (`base.html`, `login.html`, `consent.html`, ...) or are included by them
    /// (`head.html` at the end of `<head>`, `brand.html` above the card).
    pub templates_dir: Option<PathBuf>,
    /// A flat directory of files served at `/static/NAME`.
    pub static_dir: Option<PathBuf>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("`{other}` is not text or json")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

/// Connection and request limits. Each field is described in [`SETTINGS`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The longest a request may take, from its first byte to the start of its response. A
    /// handler still running then is cancelled (its transaction rolls back) and answered 503
    /// `temporarily_unavailable`; a client still sending its request a few seconds later has
    /// its connection closed.
    pub request_timeout: Seconds,
    /// A kept-alive connection with no traffic for this long is closed.
    pub idle_timeout: Seconds,
    /// The reverse proxies in front. Only for a request whose TCP peer is one of them is the
    /// client's address read from `forwarded_header`; with none, the peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// Which header the trusted proxies set. Only that one is read: a proxy passes the other
    /// through from the client unchanged.
    pub forwarded_header: ForwardedHeader,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout: Seconds(30),
            idle_timeout: Seconds(60),
            trusted_proxies: TrustedProxies::default(),
            forwarded_header: ForwardedHeader::XForwardedFor,
        }
    }
}

/// Addresses and CIDR ranges of trusted reverse proxies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Whether `ip` is one of them (an IPv4 address mapped into IPv6 counts as itself).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn parse_one(entry: &str) -> Result<ipnet::IpNet, String> {
        let entry = entry.trim();
        if let Ok(ip) = entry.parse::<std::net::IpAddr>() {
            return Ok(ipnet::IpNet::from(ip.to_canonical()));
        }
        entry.parse::<ipnet::IpNet>().map_err(|_| {
            format!("`{entry}` is not an IP address or a CIDR range such as 10.0.0.0/8")
        })
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list; empty means none.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .filter(|e| !e.trim().is_empty())
            .map(Self::parse_one)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl fmt::Display for TrustedProxies {
    /// Comma-separated, as `from_str` reads them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&entries.join(","))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        entries
            .iter()
            .map(|e| Self::parse_one(e))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
            .map_err(de::Error::custom)
    }
}

/// The header that carries the client's address through the trusted proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    XForwardedFor,
    Forwarded,
}

impl FromStr for ForwardedHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!("`{other}` is not x-forwarded-for or forwarded")),
        }
    }
}

impl fmt::Display for ForwardedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        })
    }
}

/// One setting, declared once in [`SETTINGS`]: its TOML key, its environment variable, what it
/// does, and how its value is read from the environment and shown as a default. `--help`
/// ([`settings_help`]) and the README's table ([`settings_markdown`]) are made from these.
pub struct Setting {
    /// The key in the TOML file, dotted for a section: `lifetimes.access_token`.
    pub key: &'static str,
    /// The environment variable that overrides it.
    pub env: &'static str,
    /// What it does, in Markdown, without the default.
    pub about: &'static str,
    /// The default in words, for one that is not a value (it depends on other settings or on
    /// the machine); otherwise the default is shown from `Config::default()`.
    default_text: Option<&'static str>,
    /// Sets the field from the environment variable's value.
    apply: fn(&mut Config, &str) -> Result<(), String>,
    /// The field's value as text, `None` for an unset option or a secret.
    show: fn(&Config) -> Option<String>,
}

/// A setting as messages name it: its key and its environment variable,
/// `lifetimes.session (OIDCD_SESSION_LIFETIME)`.
pub fn named(key: &str) -> String {
    match SETTINGS.iter().find(|setting| setting.key == key) {
        Some(setting) => format!("{key} ({})", setting.env),
        None => {
            debug_assert!(false, "no setting is named {key}");
            key.to_owned()
        }
    }
}

impl Setting {
    /// The default as the README shows it: a value in backticks, or words.
    fn default_markdown(&self, defaults: &Config) -> String {
        if let Some(text) = self.default_text {
            return text.to_owned();
        }
        match (self.show)(defaults) {
            Some(value) => format!("`{value}`"),
            None => "none".to_owned(),
        }
    }
}

/// The type of a setting: read from an environment variable, and shown as a default.
trait SettingValue: Sized {
    fn parse_setting(raw: &str) -> Result<Self, String>;
    /// The value as `--help` and the README show it; `None` for nothing to show.
    fn show_setting(&self) -> Option<String>;
}

/// [`SettingValue`] for types whose `FromStr` reads back what their `Display` writes.
macro_rules! setting_value_from_str {
    ($($ty:ty),+) => {$(
        impl SettingValue for $ty {
            fn parse_setting(raw: &str) -> Result<Self, String> {
                raw.parse::<Self>().map_err(|e| e.to_string())
            }

            fn show_setting(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )+};
}

setting_value_from_str!(
    bool,
    u16,
    u32,
    usize,
    Seconds,
    LogFormat,
    ForwardedHeader,
    RegistrationMode,
    LogoutRevoke,
    SecondFactorPolicy,
    SmtpTls
);

impl SettingValue for NameList {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        Ok(raw.parse().unwrap_or_default())
    }

    /// `None` for an empty list.
    fn show_setting(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.to_string())
    }
}

impl SettingValue for CustomClaims {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        serde_json::from_str(raw).map_err(|e| format!("not a JSON array of claims: {e}"))
    }

    /// `None` for no claims.
    fn show_setting(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| serde_json::to_string(self).unwrap_or_default())
    }
}

impl SettingValue for String {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        Ok(raw.to_owned())
    }

    fn show_setting(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl SettingValue for PathBuf {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        Ok(PathBuf::from(raw))
    }

    fn show_setting(&self) -> Option<String> {
        Some(self.display().to_string())
    }
}

impl SettingValue for DatabaseUrl {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        Ok(DatabaseUrl::new(raw))
    }

    fn show_setting(&self) -> Option<String> {
        Some(self.redacted())
    }
}

impl SettingValue for Secret<String> {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        Ok(Secret::new(raw.to_owned()))
    }

    /// Never shown.
    fn show_setting(&self) -> Option<String> {
        None
    }
}

impl SettingValue for TrustedProxies {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        raw.parse()
    }

    /// `None` for no proxies.
    fn show_setting(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.to_string())
    }
}

/// An optional setting is `Some` once given.
impl<T: SettingValue> SettingValue for Option<T> {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        T::parse_setting(raw).map(Some)
    }

    fn show_setting(&self) -> Option<String> {
        self.as_ref().and_then(T::show_setting)
    }
}

/// One entry of [`SETTINGS`]: the field's path in [`Config`] (which is also its TOML key), the
/// environment variable, what it does and, for a default that is not a value, the default in
/// words (`default = "..."`).
macro_rules! setting {
    (@ $first:ident $(. $rest:ident)*, $env:literal, $about:literal, $default:expr) => {
        Setting {
            key: concat!(stringify!($first) $(, ".", stringify!($rest))*),
            env: $env,
            about: $about,
            default_text: $default,
            apply: |config: &mut Config, raw: &str| -> Result<(), String> {
                config.$first $(.$rest)* = SettingValue::parse_setting(raw)?;
                Ok(())
            },
            show: |config: &Config| config.$first $(.$rest)*.show_setting(),
        }
    };
    ($first:ident $(. $rest:ident)*, $env:literal, $about:literal) => {
        setting!(@ $first $(. $rest)*, $env, $about, None)
    };
    ($first:ident $(. $rest:ident)*, $env:literal, $about:literal, default = $default:literal) => {
        setting!(@ $first $(. $rest)*, $env, $about, Some($default))
    };
}

/// Every setting, in the order `--help` and the README list them.
pub static SETTINGS: &[Setting] = &[
    setting!(
        issuer,
        "OIDCD_ISSUER",
        "the issuer URL; must be https except on loopback hosts",
        default = "`http://` + the bound address"
    ),
    setting!(bind, "OIDCD_BIND", "the address to listen on"),
    setting!(
        database_url,
        "OIDCD_DATABASE_URL",
        "a SQLite file (`sqlite://FILE?mode=rwc`) or PostgreSQL (`postgres://user:pass@host/db`)"
    ),
    setting!(
        sqlite_in_place,
        "OIDCD_SQLITE_IN_PLACE",
        "on a SQLite file, run statements in place on the request's thread (reads on a read-only \
         connection of the thread's own, writes on the one write connection); `false` sends \
         every statement through the connection pool, for ruling out the in-place path when a \
         bug is suspected in it"
    ),
    setting!(
        kek,
        "OIDCD_KEK",
        "the key-encryption key, 32 bytes in base64url",
        default = "read from `keys_dir/kek`, created (mode 0600) on first start"
    ),
    setting!(
        keys_dir,
        "OIDCD_KEYS_DIR",
        "the directory of the `kek` file"
    ),
    setting!(
        log,
        "OIDCD_LOG",
        "a log filter such as `debug` or `info,oidcd=debug`; an invalid one stops start-up"
    ),
    setting!(
        log_format,
        "OIDCD_LOG_FORMAT",
        "log lines as `text`, or as `json` (one JSON object per line)"
    ),
    setting!(
        lifetimes.access_token,
        "OIDCD_ACCESS_TOKEN_LIFETIME",
        "how long an access token is valid"
    ),
    setting!(
        lifetimes.id_token,
        "OIDCD_ID_TOKEN_LIFETIME",
        "how long an ID token is valid"
    ),
    setting!(
        lifetimes.authorization_code,
        "OIDCD_CODE_LIFETIME",
        "how long an authorization code can be redeemed; at most `10m`"
    ),
    setting!(
        lifetimes.authorization_request,
        "OIDCD_AUTHORIZATION_REQUEST_LIFETIME",
        "how long a login or consent page stays usable"
    ),
    setting!(
        lifetimes.refresh_token_idle,
        "OIDCD_REFRESH_IDLE_LIFETIME",
        "a refresh token unused this long dies"
    ),
    setting!(
        lifetimes.refresh_token_absolute,
        "OIDCD_REFRESH_ABSOLUTE_LIFETIME",
        "no refresh token outlives its grant by more"
    ),
    setting!(
        lifetimes.refresh_grace,
        "OIDCD_REFRESH_GRACE",
        "a retry with a just-rotated refresh token inside this window gets the same successor"
    ),
    setting!(
        lifetimes.session,
        "OIDCD_SESSION_LIFETIME",
        "the longest a browser session lasts"
    ),
    setting!(
        lifetimes.session_idle,
        "OIDCD_SESSION_IDLE_LIFETIME",
        "a browser session unused this long ends"
    ),
    setting!(
        lifetimes.device_code,
        "OIDCD_DEVICE_CODE_LIFETIME",
        "how long a device code stays usable"
    ),
    setting!(
        lifetimes.pushed_request,
        "OIDCD_PUSHED_REQUEST_LIFETIME",
        "how long the `request_uri` of a pushed authorization request can be used (once); at \
         most `10m`"
    ),
    setting!(
        argon2.memory_kib,
        "OIDCD_ARGON2_MEMORY_KIB",
        "argon2id memory per password hash, in KiB (OWASP)"
    ),
    setting!(
        argon2.iterations,
        "OIDCD_ARGON2_ITERATIONS",
        "argon2id iterations (OWASP)"
    ),
    setting!(
        argon2.parallelism,
        "OIDCD_ARGON2_PARALLELISM",
        "argon2id parallelism (OWASP)"
    ),
    setting!(
        argon2.max_concurrent,
        "OIDCD_ARGON2_MAX_CONCURRENT",
        "password hashes computed at once",
        default = "number of CPUs"
    ),
    setting!(
        keys.rsa_bits,
        "OIDCD_KEY_BITS",
        "the RSA modulus size of new signing keys, a multiple of 8 from 2048 to 8192"
    ),
    setting!(
        keys.rotation_interval,
        "OIDCD_ROTATION_INTERVAL",
        "how often the signing key changes"
    ),
    setting!(
        keys.cache_ttl,
        "OIDCD_KEY_CACHE_TTL",
        "how soon every instance sees a key change; at most half of `keys.rotation_interval`"
    ),
    setting!(
        device.interval,
        "OIDCD_DEVICE_INTERVAL",
        "how often devices may poll"
    ),
    setting!(
        device.guesses_per_session,
        "OIDCD_DEVICE_GUESSES_PER_SESSION",
        "wrong user codes per browser session per window"
    ),
    setting!(
        device.guesses_per_ip,
        "OIDCD_DEVICE_GUESSES_PER_IP",
        "wrong user codes per client IP per window"
    ),
    setting!(
        device.guess_window,
        "OIDCD_DEVICE_GUESS_WINDOW",
        "the window wrong user codes are counted in"
    ),
    setting!(
        login.failures_per_account,
        "OIDCD_LOGIN_FAILURES_PER_ACCOUNT",
        "failed logins per username per window, then locked until it ends for browsers that \
         have not signed in to it before (a browser that has keeps a count of its own)"
    ),
    setting!(
        login.failures_per_ip,
        "OIDCD_LOGIN_FAILURES_PER_IP",
        "failed logins per client IP per window"
    ),
    setting!(
        login.window,
        "OIDCD_LOGIN_WINDOW",
        "the window failed logins and sign-in pages are counted in"
    ),
    setting!(
        login.pending_requests_per_ip,
        "OIDCD_LOGIN_PENDING_REQUESTS_PER_IP",
        "sign-in pages per client address per window for browsers nobody is signed in to \
         (each is stored until it expires); past it, 429"
    ),
    setting!(
        login.password_change_revokes_grants,
        "OIDCD_LOGIN_PASSWORD_CHANGE_REVOKES_GRANTS",
        "a password change also revokes the user's grants (their browser sessions end either \
         way)"
    ),
    setting!(
        login.second_factor,
        "OIDCD_LOGIN_SECOND_FACTOR",
        "who is asked for a second factor (a one-time code or a passkey): enrolled (everyone \
         who set one up, at every sign-in), requested (only for apps that require one or ask \
         for it with acr_values), required (everyone; people without one set one up first)"
    ),
    setting!(
        login.passkeys,
        "OIDCD_LOGIN_PASSKEYS",
        "people may register passkeys (WebAuthn) on /account and sign in with one alone or use \
         it as the second factor; the relying party id is the issuer's host, and browsers \
         offer passkeys only on https or http://localhost"
    ),
    setting!(
        client_auth.failures_per_client,
        "OIDCD_CLIENT_AUTH_FAILURES_PER_CLIENT",
        "failed client authentications of one client id from one client address per window \
         (never per client id alone: anyone could lock the app out)"
    ),
    setting!(
        client_auth.failures_per_ip,
        "OIDCD_CLIENT_AUTH_FAILURES_PER_IP",
        "failed client authentications per client IP per window"
    ),
    setting!(
        client_auth.window,
        "OIDCD_CLIENT_AUTH_WINDOW",
        "the window failed client authentications are counted in"
    ),
    setting!(
        client_auth.jwt,
        "OIDCD_CLIENT_AUTH_JWT",
        "clients may authenticate with a signed JWT: `private_key_jwt` (their own keys) and \
         `client_secret_jwt` (their secret), RFC 7523"
    ),
    setting!(
        client_auth.assertion_max_lifetime,
        "OIDCD_CLIENT_AUTH_ASSERTION_MAX_LIFETIME",
        "the latest `exp` a client assertion may carry, counted from when it arrives"
    ),
    setting!(
        client_auth.jwks_cache_ttl,
        "OIDCD_CLIENT_AUTH_JWKS_CACHE_TTL",
        "keys fetched from a client's `jwks_uri` are used this long, then fetched again"
    ),
    setting!(
        client_auth.jwks_refetch_interval,
        "OIDCD_CLIENT_AUTH_JWKS_REFETCH_INTERVAL",
        "an assertion signed with a key not in the cached set fetches the `jwks_uri` again, at \
         most once per this interval"
    ),
    setting!(
        authorize.par,
        "OIDCD_AUTHORIZE_PAR",
        "the pushed authorization request endpoint (`/oauth/par`, RFC 9126) is offered"
    ),
    setting!(
        authorize.require_par,
        "OIDCD_AUTHORIZE_REQUIRE_PAR",
        "every client must push its authorization requests first; a client can also be held \
         to it alone (`require_pushed_authorization_requests`)"
    ),
    setting!(
        authorize.request_objects,
        "OIDCD_AUTHORIZE_REQUEST_OBJECTS",
        "authorization requests may come as request objects (`request`, RFC 9101) signed with \
         the client's keys or, for `client_secret_jwt`, its secret"
    ),
    setting!(
        dpop.enabled,
        "OIDCD_DPOP",
        "DPoP (RFC 9449): a token request with a `DPoP` proof gets an access token bound to the \
         proof's key (`cnf.jkt`, `token_type` DPoP), and a public client's refresh token too; \
         off, the header is ignored"
    ),
    setting!(
        dpop.require_nonce,
        "OIDCD_DPOP_REQUIRE_NONCE",
        "DPoP proofs must carry a nonce from this server (`DPoP-Nonce`; a proof without one gets \
         `use_dpop_nonce` and the nonce to retry with)"
    ),
    setting!(
        fetch.allow_loopback,
        "OIDCD_FETCH_ALLOW_LOOPBACK",
        "for development: documents clients name by URL (`jwks_uri`, `sector_identifier_uri`) may be plain http on a \
         loopback host; otherwise only https to public addresses is fetched"
    ),
    setting!(
        fetch.timeout,
        "OIDCD_FETCH_TIMEOUT",
        "the longest a fetch of such a document may take, redirects included"
    ),
    setting!(
        fetch.max_bytes,
        "OIDCD_FETCH_MAX_BYTES",
        "the largest such document, in bytes"
    ),
    setting!(
        registration.mode,
        "OIDCD_REGISTRATION_MODE",
        "whether apps may register themselves at `/oauth/register` (RFC 7591) and manage their \
         registration there (RFC 7592): `off`; `initial_access_token`, with a token an operator \
         mints (`oidcd initial-access-token create`, `/admin/initial-access-tokens`); or `open` to anyone"
    ),
    setting!(
        registration.grant_types,
        "OIDCD_REGISTRATION_GRANT_TYPES",
        "the grant types a registered app may ask for (`authorization_code`, `refresh_token`, \
         `device_code`, `client_credentials`)"
    ),
    setting!(
        registration.scopes,
        "OIDCD_REGISTRATION_SCOPES",
        "the scopes a registered app may ask for (never `admin`); it gets all of them when it \
         names none"
    ),
    setting!(
        registration.redirect_uris,
        "OIDCD_REGISTRATION_REDIRECT_URIS",
        "the kinds of redirect URI a registered app may use: `https`, `loopback` (http on \
         127.0.0.1, [::1] or localhost, for native apps) and `private_use` (a reverse-domain \
         scheme such as `com.example.app:/cb`)"
    ),
    setting!(
        registration.auth_methods,
        "OIDCD_REGISTRATION_AUTH_METHODS",
        "the token endpoint authentication methods a registered app may use \
         (`client_secret_basic`, `client_secret_post`, `client_secret_jwt`, `private_key_jwt`, \
         `none`)"
    ),
    setting!(
        registration.resources,
        "OIDCD_REGISTRATION_RESOURCES",
        "registered resources (RFC 8707) every registered app may ask tokens for"
    ),
    setting!(
        registration.per_ip,
        "OIDCD_REGISTRATION_PER_IP",
        "registrations one client address may make per window when `registration.mode` is \
         `open`; past it, 429"
    ),
    setting!(
        registration.window,
        "OIDCD_REGISTRATION_WINDOW",
        "the window those registrations are counted in"
    ),
    setting!(
        registration.metadata_documents,
        "OIDCD_REGISTRATION_METADATA_DOCUMENTS",
        "whether a `client_id` that is an https URL names a JSON document describing the app \
         (OAuth Client ID Metadata Documents, as MCP clients use): fetched with the `fetch.*` \
         limits, cached by its HTTP caching headers (1 minute to 1 day), held to the \
         `registration.*` policy, `none` or `private_key_jwt` only; a client address's first \
         use of a new one is counted like a registration (`registration.per_ip`, apart)"
    ),
    setting!(
        registration.document_hosts,
        "OIDCD_REGISTRATION_DOCUMENT_HOSTS",
        "the hosts such documents may be on (exact names); any host when empty"
    ),
    setting!(
        registration.blocked_documents,
        "OIDCD_REGISTRATION_BLOCKED_DOCUMENTS",
        "hosts, or whole `client_id` URLs, whose documents are refused: their apps stop at \
         once, copies kept here included"
    ),
    setting!(
        http.request_timeout,
        "OIDCD_REQUEST_TIMEOUT",
        "a request still unanswered then gets 503; a client still sending it 5 s later is \
         disconnected"
    ),
    setting!(
        http.idle_timeout,
        "OIDCD_IDLE_TIMEOUT",
        "a kept-alive connection idle this long is closed"
    ),
    setting!(
        http.trusted_proxies,
        "OIDCD_TRUSTED_PROXIES",
        "the reverse proxies in front, addresses and CIDR ranges (a TOML list, or \
         comma-separated in the environment)"
    ),
    setting!(
        http.forwarded_header,
        "OIDCD_FORWARDED_HEADER",
        "the one header the trusted proxies set, `x-forwarded-for` or `forwarded` (RFC 7239)"
    ),
    setting!(
        pages.templates_dir,
        "OIDCD_TEMPLATES_DIR",
        "`*.html` minijinja templates replacing the built-in ones of the same name",
        default = "the built-in templates"
    ),
    setting!(
        pages.static_dir,
        "OIDCD_STATIC_DIR",
        "files served at `/static/NAME` (images, stylesheets, fonts)",
        default = "none (`/static/` answers 404)"
    ),
    setting!(
        logout.revoke,
        "OIDCD_LOGOUT_REVOKE",
        "what dies when a browser session ends (sign-out, the account page, an admin, a \
         disabled account): `access_tokens` issued in it until then (refresh tokens from \
         `offline_access` live on), `grants` (refresh tokens too), or `none`"
    ),
    setting!(
        logout.retry_for,
        "OIDCD_LOGOUT_RETRY_FOR",
        "how long a back-channel logout token whose app does not answer is tried again \
         (backoff from 5 s to 10 min), across restarts"
    ),
    setting!(
        mail.smtp_host,
        "OIDCD_SMTP_HOST",
        "the SMTP server that sends password-reset and address-verification mail; unset, no \
         mail is sent and the sign-in pages offer no password reset",
        default = "none"
    ),
    setting!(mail.smtp_port, "OIDCD_SMTP_PORT", "the SMTP server's port"),
    setting!(
        mail.smtp_tls,
        "OIDCD_SMTP_TLS",
        "`starttls` (required, not opportunistic), `tls` (from the first byte, port 465), or \
         `none` (only for a relay on the same machine or private network)"
    ),
    setting!(
        mail.smtp_username,
        "OIDCD_SMTP_USERNAME",
        "the SMTP user, when the server wants one",
        default = "none"
    ),
    setting!(
        mail.smtp_password,
        "OIDCD_SMTP_PASSWORD",
        "the SMTP user's password",
        default = "none"
    ),
    setting!(
        mail.from,
        "OIDCD_MAIL_FROM",
        "the sender of every mail, `Name <address>` or an address; required with \
         `mail.smtp_host`",
        default = "none"
    ),
    setting!(
        mail.reset_link_lifetime,
        "OIDCD_RESET_LINK_LIFETIME",
        "how long a password-reset link works (once)"
    ),
    setting!(
        mail.verify_link_lifetime,
        "OIDCD_VERIFY_LINK_LIFETIME",
        "how long an address-verification link works (once)"
    ),
    setting!(
        mail.per_account,
        "OIDCD_MAIL_PER_ACCOUNT",
        "password-reset mails sent to one account per window, asked from browsers that have \
         not signed in to it (from any address); more are not sent, and the page says the same \
         as ever"
    ),
    setting!(
        mail.per_account_per_ip,
        "OIDCD_MAIL_PER_ACCOUNT_PER_IP",
        "mails sent to one account per window asked from one client address, or from one \
         browser that signed in to it before (counted apart, so strangers cannot keep the \
         owner from a reset); also the bound on verification links"
    ),
    setting!(
        mail.per_ip,
        "OIDCD_MAIL_PER_IP",
        "mails one client address may ask for per window"
    ),
    setting!(
        mail.window,
        "OIDCD_MAIL_WINDOW",
        "the window the mail limits count in"
    ),
    setting!(
        claims.groups,
        "OIDCD_GROUPS_CLAIM",
        "whether the built-in `groups` claim (an array of names, set per user) is offered, \
         released by the `groups` scope into ID tokens, access tokens and userinfo"
    ),
    setting!(
        claims.custom,
        "OIDCD_CUSTOM_CLAIMS",
        "the operator's own claims, a TOML array of tables `[[claims.custom]]` (a JSON array \
         in the variable), each with `name`, `type` (`string`, `boolean`, `integer`, \
         `number`, `string_array`, `object`), the `scope` that releases it, a `description` \
         for the consent page, and where it goes: `id_token`, `access_token` (both default \
         false), `userinfo` (default true)",
        default = "none"
    ),
];

/// The settings part of `oidcd --help`: each setting's key and environment variable, then its
/// default and what it does, as in the README without the Markdown.
pub fn settings_help() -> String {
    const WIDTH: usize = 100;
    const INDENT: &str = "      ";
    let defaults = Config::default();
    let key_width = SETTINGS.iter().map(|s| s.key.len()).max().unwrap_or(0) + 2;
    let mut lines = vec![
        "Settings (a TOML file given by --config, overridden by environment variables):".to_owned(),
    ];
    for setting in SETTINGS {
        lines.push(format!("  {:<key_width$}{}", setting.key, setting.env));
        let text = format!(
            "default {}: {}",
            setting.default_markdown(&defaults),
            setting.about
        )
        .replace('`', "");
        lines.extend(
            wrap(&text, WIDTH - INDENT.len())
                .into_iter()
                .map(|line| format!("{INDENT}{line}")),
        );
    }
    lines.push("Durations are seconds, or a number with a unit: 90s, 10m, 12h, 30d.".to_owned());
    lines.join("\n")
}

/// The README's table of settings (between its `<!-- settings -->` markers), each line ended.
pub fn settings_markdown() -> String {
    let defaults = Config::default();
    let mut lines = vec![
        "| setting | environment | default |".to_owned(),
        "|---|---|---|".to_owned(),
    ];
    lines.extend(SETTINGS.iter().map(|s| {
        format!(
            "| `{}` | `{}` | {}: {} |",
            s.key,
            s.env,
            s.default_markdown(&defaults),
            s.about
        )
    }));
    let mut table = lines.join("\n");
    table.push('\n');
    table
}

/// `text` in lines of at most `width` bytes, broken at spaces (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

impl Config {
    /// Loads the configuration the way `oidcd` does: defaults, then `file` (if any), then the
    /// `OIDCD_*` variables from `env_vars`, then validation. `env_vars` is the whole process
    /// environment (name, value) so an unknown `OIDCD_*` name can be reported; `also_known`
    /// are the `OIDCD_*` names read elsewhere.
    pub fn load(
        file: Option<&Path>,
        env_vars: &[(String, String)],
        also_known: &[&str],
    ) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_toml_file(path)?,
            None => Self::default(),
        };
        config.apply_env(env_vars)?;
        for (name, _) in env_vars {
            if name.starts_with(ENV_PREFIX)
                && !SETTINGS.iter().any(|s| s.env == name)
                && !also_known.contains(&name.as_str())
            {
                return Err(ConfigError::UnknownVariable(name.clone()));
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Every `OIDCD_*` variable the configuration reads, sorted.
    pub fn variable_names() -> Vec<&'static str> {
        let mut names: Vec<_> = SETTINGS.iter().map(|s| s.env).collect();
        names.sort_unstable();
        names
    }

    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Sets every setting whose environment variable is in `env_vars`; the error names the
    /// variable.
    fn apply_env(&mut self, env_vars: &[(String, String)]) -> Result<(), ConfigError> {
        for setting in SETTINGS {
            if let Some((_, raw)) = env_vars.iter().find(|(name, _)| name == setting.env) {
                (setting.apply)(self, raw)
                    .map_err(|message| ConfigError::invalid(setting.env, message))?;
            }
        }
        Ok(())
    }

    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        validate_log_filter(&self.log)?;
        if let Some(issuer) = &self.issuer {
            validate_issuer(issuer)?;
        }
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::invalid(
                named("database_url"),
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if let Some(kek) = &self.kek {
            crate::crypto::decode_key(kek.expose())
                .map_err(|e| ConfigError::invalid(named("kek"), e))?;
        }
        let l = &self.lifetimes;
        for (name, value) in [
            (named("lifetimes.access_token"), l.access_token),
            (named("lifetimes.id_token"), l.id_token),
            (named("lifetimes.authorization_code"), l.authorization_code),
            (
                named("lifetimes.authorization_request"),
                l.authorization_request,
            ),
            (named("lifetimes.refresh_token_idle"), l.refresh_token_idle),
            (
                named("lifetimes.refresh_token_absolute"),
                l.refresh_token_absolute,
            ),
            (named("lifetimes.session"), l.session),
            (named("lifetimes.session_idle"), l.session_idle),
            (named("lifetimes.device_code"), l.device_code),
            (named("lifetimes.pushed_request"), l.pushed_request),
            (named("keys.rotation_interval"), self.keys.rotation_interval),
            (named("keys.cache_ttl"), self.keys.cache_ttl),
            (named("device.interval"), self.device.interval),
            (named("device.guess_window"), self.device.guess_window),
            (named("login.window"), self.login.window),
            (named("client_auth.window"), self.client_auth.window),
            (
                named("client_auth.assertion_max_lifetime"),
                self.client_auth.assertion_max_lifetime,
            ),
            (
                named("client_auth.jwks_cache_ttl"),
                self.client_auth.jwks_cache_ttl,
            ),
            (named("fetch.timeout"), self.fetch.timeout),
            (named("registration.window"), self.registration.window),
            (named("http.request_timeout"), self.http.request_timeout),
            (named("http.idle_timeout"), self.http.idle_timeout),
            (named("logout.retry_for"), self.logout.retry_for),
            (
                named("mail.reset_link_lifetime"),
                self.mail.reset_link_lifetime,
            ),
            (
                named("mail.verify_link_lifetime"),
                self.mail.verify_link_lifetime,
            ),
            (named("mail.window"), self.mail.window),
        ] {
            if value.0 == 0 {
                return Err(ConfigError::invalid(name, "must be more than zero"));
            }
            // Keep every lifetime representable as i64 seconds after adding it to "now".
            if value.0 > 100 * 365 * 86_400 {
                return Err(ConfigError::invalid(name, "must be at most 100 years"));
            }
        }
        if l.authorization_code.0 > 600 {
            return Err(ConfigError::invalid(
                named("lifetimes.authorization_code"),
                "must be at most 10 minutes",
            ));
        }
        if l.pushed_request.0 > 600 {
            return Err(ConfigError::invalid(
                named("lifetimes.pushed_request"),
                "must be at most 10 minutes",
            ));
        }
        if self.fetch.max_bytes < 1024 || self.fetch.max_bytes > 10 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                named("fetch.max_bytes"),
                "must be 1024 to 10485760 (10 MiB)",
            ));
        }
        if self.client_auth.failures_per_client == 0 || self.client_auth.failures_per_ip == 0 {
            return Err(ConfigError::invalid(
                "client_auth.failures_per_client / failures_per_ip (OIDCD_CLIENT_AUTH_FAILURES_PER_*)",
                "must be at least 1",
            ));
        }
        if self.login.failures_per_account == 0
            || self.login.failures_per_ip == 0
            || self.login.pending_requests_per_ip == 0
        {
            return Err(ConfigError::invalid(
                "login.failures_per_account / failures_per_ip / pending_requests_per_ip (OIDCD_LOGIN_*)",
                "must be at least 1",
            ));
        }
        if self.registration.per_ip == 0 {
            return Err(ConfigError::invalid(
                named("registration.per_ip"),
                "must be at least 1",
            ));
        }
        if self.device.guesses_per_session == 0 || self.device.guesses_per_ip == 0 {
            return Err(ConfigError::invalid(
                "device.guesses_per_session / guesses_per_ip (OIDCD_DEVICE_GUESSES_PER_*)",
                "must be at least 1",
            ));
        }
        if l.refresh_token_idle > l.refresh_token_absolute {
            return Err(ConfigError::invalid(
                named("lifetimes.refresh_token_idle"),
                "must not exceed lifetimes.refresh_token_absolute",
            ));
        }
        let a = &self.argon2;
        argon2::Params::new(a.memory_kib, a.iterations, a.parallelism, None).map_err(|e| {
            ConfigError::invalid(
                "argon2 (OIDCD_ARGON2_MEMORY_KIB / _ITERATIONS / _PARALLELISM)",
                e.to_string(),
            )
        })?;
        if a.max_concurrent == 0 {
            return Err(ConfigError::invalid(
                "argon2.max_concurrent (OIDCD_ARGON2_MAX_CONCURRENT)",
                "must be at least 1",
            ));
        }
        if !(2048..=8192).contains(&self.keys.rsa_bits) || self.keys.rsa_bits % 8 != 0 {
            return Err(ConfigError::invalid(
                named("keys.rsa_bits"),
                "must be a multiple of 8 from 2048 to 8192",
            ));
        }
        for (name, dir) in [
            (named("pages.templates_dir"), &self.pages.templates_dir),
            (named("pages.static_dir"), &self.pages.static_dir),
        ] {
            if let Some(dir) = dir {
                if !dir.is_dir() {
                    return Err(ConfigError::invalid(
                        name,
                        format!("{} is not a directory", dir.display()),
                    ));
                }
            }
        }
        if self.mail.smtp_host.is_some() && self.mail.from.is_none() {
            return Err(ConfigError::invalid(
                named("mail.from"),
                "must be set with mail.smtp_host: mail needs a sender",
            ));
        }
        if self.keys.cache_ttl.0 * 2 > self.keys.rotation_interval.0 {
            return Err(ConfigError::invalid(
                named("keys.cache_ttl"),
                "must be at most half of keys.rotation_interval",
            ));
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.bind.parse().map_err(|_| {
            ConfigError::invalid(
                named("bind"),
                format!("`{}` is not an address such as 127.0.0.1:8080", self.bind),
            )
        })
    }
}

/// A log filter: comma-separated directives, each a level (`info`) or `target=level`
/// (`oidcd=debug`). A bare word that is not a level (`verbose`) would be read as a target name
/// and silence everything else, so it is refused.
fn validate_log_filter(filter: &str) -> Result<(), ConfigError> {
    use tracing_subscriber::filter::LevelFilter;
    let bad = |why: String| {
        ConfigError::invalid(
            named("log"),
            format!(
                "`{filter}` is not a log filter: {why}. Give a level (trace, debug, info, warn, \
                 error, off) or target=level directives, such as `info,oidcd=debug`"
            ),
        )
    };
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.split_once('=') {
            Some((target, level)) => {
                if target.trim().is_empty() {
                    return Err(bad(format!("`{directive}` names no target")));
                }
                level
                    .trim()
                    .parse::<LevelFilter>()
                    .map_err(|_| bad(format!("`{level}` is not a level")))?;
            }
            None => {
                directive
                    .parse::<LevelFilter>()
                    .map_err(|_| bad(format!("`{directive}` is not a level")))?;
            }
        }
    }
    filter
        .parse::<tracing_subscriber::filter::Targets>()
        .map(|_| ())
        .map_err(|e| bad(e.to_string()))
}

/// OIDC Discovery 1.0 section 3 and RFC 8414 section 2: an https URL with no query or
/// fragment. Plain http is accepted for loopback hosts only, for development.
fn validate_issuer(issuer: &str) -> Result<(), ConfigError> {
    let name = &*named("issuer");
    let url = Url::parse(issuer).map_err(|e| ConfigError::invalid(name, e.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::invalid(
            name,
            "must not have a query or fragment",
        ));
    }
    if issuer.ends_with('/') {
        return Err(ConfigError::invalid(name, "must not end with a slash"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(ConfigError::invalid(
            name,
            "must use https (plain http is allowed on localhost only)",
        )),
        other => Err(ConfigError::invalid(
            name,
            format!("scheme `{other}` is not http or https"),
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("oidcd-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("oidcd.toml");
        if let Some(t) = toml {
            std::fs::write(&path, t).unwrap();
        }
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let r = Config::load(toml.map(|_| path.as_path()), &env, &["OIDCD_CONFIG"]);
        std::fs::remove_dir_all(&dir).unwrap();
        r
    }

    #[test]
    fn defaults_validate() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.argon2.memory_kib, 19_456);
        assert_eq!(c.lifetimes.authorization_code, Seconds(60));
    }

    #[test]
    fn environment_wins_over_the_file() {
        let c = load(
            Some("bind = \"127.0.0.1:9000\"\n[lifetimes]\naccess_token = \"5m\"\n"),
            &[("OIDCD_BIND", "127.0.0.1:9001")],
        )
        .unwrap();
        assert_eq!(c.bind, "127.0.0.1:9001");
        assert_eq!(c.lifetimes.access_token, Seconds(300));
    }

    #[test]
    fn trusted_proxies_come_as_a_list_in_the_file_or_comma_separated_in_the_environment() {
        let c = load(
            Some("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\"]\nforwarded_header = \"forwarded\"\n"),
            &[],
        )
        .unwrap();
        assert!(c.http.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(c
            .http
            .trusted_proxies
            .contains("192.0.2.7".parse().unwrap()));
        assert!(!c
            .http
            .trusted_proxies
            .contains("192.0.2.8".parse().unwrap()));
        assert_eq!(c.http.forwarded_header, ForwardedHeader::Forwarded);
        let c = load(None, &[("OIDCD_TRUSTED_PROXIES", "::1, 172.16.0.0/12")]).unwrap();
        assert!(c.http.trusted_proxies.contains("::1".parse().unwrap()));
        assert!(c
            .http
            .trusted_proxies
            .contains("172.20.0.1".parse().unwrap()));
        assert!(load(None, &[]).unwrap().http.trusted_proxies.is_empty());
        // Valid log filters still pass.
        for filter in [
            "info",
            "warn,oidcd=debug",
            "info,sea_orm_migration=warn,sqlx=warn",
            "off",
        ] {
            assert!(load(None, &[("OIDCD_LOG", filter)]).is_ok(), "{filter}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        type Case<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("unknown key", Some("colour = 1\n"), &[], "colour"),
            ("unparsable", Some("bind = \n"), &[], "not valid"),
            (
                "unknown env",
                None,
                &[("OIDCD_DATABSE_URL", "x")],
                "OIDCD_DATABSE_URL",
            ),
            (
                "bad duration",
                None,
                &[("OIDCD_CODE_LIFETIME", "soon")],
                "OIDCD_CODE_LIFETIME",
            ),
            (
                "code too long",
                None,
                &[("OIDCD_CODE_LIFETIME", "11m")],
                "OIDCD_CODE_LIFETIME",
            ),
            (
                "http issuer",
                None,
                &[("OIDCD_ISSUER", "http://id.example.com")],
                "OIDCD_ISSUER",
            ),
            (
                "small key",
                None,
                &[("OIDCD_KEY_BITS", "1024")],
                "OIDCD_KEY_BITS",
            ),
            ("bad kek", None, &[("OIDCD_KEK", "short")], "OIDCD_KEK"),
            (
                "bad bind",
                None,
                &[("OIDCD_BIND", "localhost")],
                "OIDCD_BIND",
            ),
            (
                "bad db",
                None,
                &[("OIDCD_DATABASE_URL", "mysql://x")],
                "OIDCD_DATABASE_URL",
            ),
            (
                "bad proxy",
                None,
                &[("OIDCD_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")],
                "OIDCD_TRUSTED_PROXIES",
            ),
            (
                "bad proxy in the file",
                Some("[http]\ntrusted_proxies = [\"10.0.0.0/33\"]\n"),
                &[],
                "10.0.0.0/33",
            ),
            (
                "bad forwarded header",
                None,
                &[("OIDCD_FORWARDED_HEADER", "x-real-ip")],
                "OIDCD_FORWARDED_HEADER",
            ),
            ("log filter", None, &[("OIDCD_LOG", "verbose")], "OIDCD_LOG"),
            (
                "log level",
                None,
                &[("OIDCD_LOG", "oidcd=loud")],
                "OIDCD_LOG",
            ),
        ];
        for (label, toml, env, needle) in cases {
            let err = load(*toml, env).expect_err(label).to_string();
            assert!(
                err.contains(needle),
                "{label}: `{err}` does not name `{needle}`"
            );
        }
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!("90".parse::<Seconds>().unwrap(), Seconds(90));
        assert_eq!("10m".parse::<Seconds>().unwrap(), Seconds(600));
        assert_eq!("2d".parse::<Seconds>().unwrap(), Seconds(172_800));
        assert!("10w".parse::<Seconds>().is_err());
        assert!("-1".parse::<Seconds>().is_err());
    }

    #[test]
    fn durations_display_in_the_largest_exact_unit_and_read_back() {
        for (seconds, text) in [
            (0, "0s"),
            (5, "5s"),
            (60, "1m"),
            (90, "90s"),
            (1800, "30m"),
            (3600, "1h"),
            (5400, "90m"),
            (7200, "2h"),
            (86_400, "1d"),
            (90_000, "25h"),
            (90 * 86_400, "90d"),
        ] {
            assert_eq!(Seconds(seconds).to_string(), text);
            assert_eq!(text.parse::<Seconds>().unwrap(), Seconds(seconds));
        }
    }

    #[test]
    fn settings_from_the_environment_reach_their_fields() {
        let c = load(
            None,
            &[
                ("OIDCD_SQLITE_IN_PLACE", "false"),
                ("OIDCD_ISSUER", "https://id.example.com"),
                ("OIDCD_LOGIN_WINDOW", "1h"),
                ("OIDCD_STATIC_DIR", "."),
            ],
        )
        .unwrap();
        assert!(!c.sqlite_in_place);
        assert_eq!(c.issuer.as_deref(), Some("https://id.example.com"));
        assert_eq!(c.login.window, Seconds(3600));
        assert_eq!(c.pages.static_dir, Some(PathBuf::from(".")));
        assert!(load(None, &[]).unwrap().sqlite_in_place);
        let err = load(None, &[("OIDCD_SQLITE_IN_PLACE", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("OIDCD_SQLITE_IN_PLACE: "), "{err}");
    }

    #[test]
    fn every_setting_has_its_own_variable_and_a_default_that_reads_back() {
        let defaults = Config::default();
        let mut variables = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(s.env.starts_with(ENV_PREFIX), "{}", s.env);
            assert!(variables.insert(s.env), "{} is declared twice", s.env);
            assert!(
                !s.about.is_empty() && !s.about.contains(['|', '\n']),
                "{}: the about text must fit in a table cell",
                s.key
            );
            let Some(shown) = (s.show)(&defaults) else {
                continue;
            };
            // From the environment...
            let mut from_env = Config::default();
            (s.apply)(&mut from_env, &shown).unwrap();
            assert_eq!(
                (s.show)(&from_env).as_deref(),
                Some(shown.as_str()),
                "{}",
                s.key
            );
            // ...and from the file, under the setting's key.
            let value = if shown.parse::<u64>().is_ok() || shown.parse::<bool>().is_ok() {
                shown.clone()
            } else {
                format!("{shown:?}")
            };
            let from_file: Config = toml::from_str(&format!("{} = {value}\n", s.key))
                .map_err(|e| format!("{}: {e}", s.key))
                .unwrap();
            assert_eq!(
                (s.show)(&from_file).as_deref(),
                Some(shown.as_str()),
                "{}",
                s.key
            );
        }
    }

    #[test]
    fn the_readme_table_of_settings_is_generated_from_them() {
        const START: &str =
            "<!-- settings: generated from src/config.rs SETTINGS; cargo test checks it -->\n";
        const END: &str = "<!-- /settings -->";
        let readme = include_str!("../README.md");
        let table = readme
            .split_once(START)
            .and_then(|(_, rest)| rest.split_once(END))
            .map(|(table, _)| table)
            .unwrap();
        let expected = settings_markdown();
        assert!(
            table == expected,
            "README.md's table of settings is out of date; between its markers it should \
             read:\n{expected}"
        );
    }

    #[test]
    fn database_password_is_redacted() {
        let url = DatabaseUrl::new("postgres://app:hunter2@db/oidcd");
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
