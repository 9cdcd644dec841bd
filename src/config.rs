//! Typed configuration: defaults, then an optional TOML file, then `OIDCD_*` environment
//! variables, which win. `validate()` names the offending setting; nothing reads the
//! environment after start-up.

use std::collections::HashSet;
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
    fn invalid(name: impl Into<String>, message: impl Into<String>) -> Self {
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

/// The whole configuration. Each field documents its default and its environment variable.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `OIDCD_ISSUER`: the issuer URL (https, or http on a loopback host). Default:
    /// `http://` + the bound address.
    pub issuer: Option<String>,
    /// `OIDCD_BIND`: listen address. Default `127.0.0.1:8080`.
    pub bind: String,
    /// `OIDCD_DATABASE_URL`: `sqlite://FILE?mode=rwc` or `postgres://...`.
    /// Default `sqlite://oidcd.db?mode=rwc` (in the working directory).
    pub database_url: DatabaseUrl,
    /// `OIDCD_KEK`: the key-encryption key (32 bytes, base64url). When unset it is read from
    /// `<keys_dir>/kek`, which is created (mode 0600) on first start.
    pub kek: Option<Secret<String>>,
    /// `OIDCD_KEYS_DIR`: where `kek` lives. Default `keys`.
    pub keys_dir: PathBuf,
    /// `OIDCD_LOG`: log filter, e.g. `debug` or `info,oidcd=debug`. Default `info` (warnings
    /// only from the SQL and migration libraries).
    pub log: String,
    /// `OIDCD_LOG_FORMAT`: `text` (default) or `json` (one JSON object per line).
    pub log_format: LogFormat,
    pub lifetimes: Lifetimes,
    pub argon2: Argon2Config,
    pub keys: KeysConfig,
    pub device: DeviceConfig,
    pub login: LoginConfig,
    pub client_auth: ClientAuthConfig,
    pub http: HttpConfig,
    pub pages: PagesConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: None,
            bind: "127.0.0.1:8080".into(),
            database_url: DatabaseUrl::new("sqlite://oidcd.db?mode=rwc"),
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
            http: HttpConfig::default(),
            pages: PagesConfig::default(),
        }
    }
}

/// How long things live.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lifetimes {
    /// `OIDCD_ACCESS_TOKEN_LIFETIME`, default 1h.
    pub access_token: Seconds,
    /// `OIDCD_ID_TOKEN_LIFETIME`, default 1h.
    pub id_token: Seconds,
    /// `OIDCD_CODE_LIFETIME`, default 60s, at most 10m.
    pub authorization_code: Seconds,
    /// `OIDCD_AUTHORIZATION_REQUEST_LIFETIME`: how long a login or consent page stays
    /// usable, default 30m.
    pub authorization_request: Seconds,
    /// `OIDCD_REFRESH_IDLE_LIFETIME`: a refresh token unused this long dies, default 14d.
    pub refresh_token_idle: Seconds,
    /// `OIDCD_REFRESH_ABSOLUTE_LIFETIME`: no refresh token outlives its grant by more,
    /// default 90d.
    pub refresh_token_absolute: Seconds,
    /// `OIDCD_REFRESH_GRACE`: a retry with a just-rotated refresh token inside this window
    /// gets the same successor, default 10s.
    pub refresh_grace: Seconds,
    /// `OIDCD_SESSION_LIFETIME`: browser session, default 24h.
    pub session: Seconds,
    /// `OIDCD_SESSION_IDLE_LIFETIME`: a browser session unused this long ends, default 2h.
    pub session_idle: Seconds,
    /// `OIDCD_DEVICE_CODE_LIFETIME`, default 10m.
    pub device_code: Seconds,
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
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    /// `OIDCD_ARGON2_MEMORY_KIB`, default 19456.
    pub memory_kib: u32,
    /// `OIDCD_ARGON2_ITERATIONS`, default 2.
    pub iterations: u32,
    /// `OIDCD_ARGON2_PARALLELISM`, default 1.
    pub parallelism: u32,
    /// `OIDCD_ARGON2_MAX_CONCURRENT`: hashes computed at once, default the number of CPUs.
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

/// Signing keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// `OIDCD_KEY_BITS`: RSA modulus size, default 2048 (2048 to 8192).
    pub rsa_bits: u32,
    /// `OIDCD_ROTATION_INTERVAL`: how often the signing key changes, default 30d.
    pub rotation_interval: Seconds,
    /// `OIDCD_KEY_CACHE_TTL`: how soon every instance sees a key change, default 30s.
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

/// The device authorization grant (RFC 8628).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// `OIDCD_DEVICE_INTERVAL`: the polling interval devices are told, default 5s.
    pub interval: Seconds,
    /// `OIDCD_DEVICE_GUESSES_PER_SESSION`: wrong user codes one browser session may enter per
    /// window, default 5.
    pub guesses_per_session: u32,
    /// `OIDCD_DEVICE_GUESSES_PER_IP`: wrong user codes one client IP may enter per window,
    /// default 20.
    pub guesses_per_ip: u32,
    /// `OIDCD_DEVICE_GUESS_WINDOW`: the window those limits count in, default 15m.
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

/// Brute-force protection for the login forms.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// `OIDCD_LOGIN_FAILURES_PER_ACCOUNT`: failed logins for one username per window before
    /// it is locked until the window ends, default 5.
    pub failures_per_account: u32,
    /// `OIDCD_LOGIN_FAILURES_PER_IP`: failed logins from one client IP per window, default 20.
    pub failures_per_ip: u32,
    /// `OIDCD_LOGIN_WINDOW`: default 15m.
    pub window: Seconds,
    /// `OIDCD_LOGIN_PENDING_REQUESTS_PER_IP`: sign-in pages one client address may start per
    /// window for browsers nobody is signed in to (each is stored until it expires), default
    /// 1000.
    pub pending_requests_per_ip: u32,
    /// `OIDCD_LOGIN_PASSWORD_CHANGE_REVOKES_GRANTS`: a password change also revokes every
    /// grant of the user (their apps must sign in again), default true. Their browser
    /// sessions end either way.
    pub password_change_revokes_grants: bool,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            failures_per_account: 5,
            failures_per_ip: 20,
            window: Seconds(900),
            pending_requests_per_ip: 1000,
            password_change_revokes_grants: true,
        }
    }
}

/// Brute-force protection for client authentication at the token, device authorization,
/// introspection and revocation endpoints.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuthConfig {
    /// `OIDCD_CLIENT_AUTH_FAILURES_PER_CLIENT`: failed authentications for one client id from
    /// one client address per window before that address is refused for that client until
    /// the window ends, default 20. Never per client id alone: anyone could lock an app out.
    pub failures_per_client: u32,
    /// `OIDCD_CLIENT_AUTH_FAILURES_PER_IP`: failed authentications from one IP per window,
    /// default 50.
    pub failures_per_ip: u32,
    /// `OIDCD_CLIENT_AUTH_WINDOW`: default 15m.
    pub window: Seconds,
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        Self {
            failures_per_client: 20,
            failures_per_ip: 50,
            window: Seconds(900),
        }
    }
}

/// The look of the pages, without rebuilding.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagesConfig {
    /// `OIDCD_TEMPLATES_DIR`: a directory of `*.html` minijinja templates that replace the
    /// built-in ones of the same name (`base.html`, `login.html`, `consent.html`, ...) or are
    /// included by them (`head.html` at the end of `<head>`, `brand.html` above the card).
    pub templates_dir: Option<PathBuf>,
    /// `OIDCD_STATIC_DIR`: files served at `/static/NAME` (a flat directory: logo, stylesheet,
    /// fonts).
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

/// Connection and request limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `OIDCD_REQUEST_TIMEOUT`: the longest a request may take, from its first byte to the
    /// start of its response, default 30s. A handler still running then is cancelled (its
    /// transaction rolls back) and answered 503 `temporarily_unavailable`; a client still
    /// sending its request a few seconds later has its connection closed.
    pub request_timeout: Seconds,
    /// `OIDCD_IDLE_TIMEOUT`: a kept-alive connection with no traffic for this long is closed,
    /// default 60s.
    pub idle_timeout: Seconds,
    /// `OIDCD_TRUSTED_PROXIES`: the reverse proxies in front (addresses and CIDR ranges,
    /// comma-separated in the environment). Only for a request whose TCP peer is one of them
    /// is the client's address read from `forwarded_header`. Default: none (the peer is the
    /// client).
    pub trusted_proxies: TrustedProxies,
    /// `OIDCD_FORWARDED_HEADER`: which header the trusted proxies set, `x-forwarded-for`
    /// (default) or `forwarded` (RFC 7239). Only that one is read: a proxy passes the other
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

/// Reads environment variables and remembers which ones were asked for, so that a variable
/// nobody asked for (a typo) can be reported.
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    asked: HashSet<&'static str>,
}

impl Env<'_> {
    fn parse<T>(&mut self, name: &'static str, field: &mut T) -> Result<(), ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.asked.insert(name);
        if let Some(raw) = (self.lookup)(name) {
            *field = raw
                .parse()
                .map_err(|e| ConfigError::invalid(name, format!("{e}")))?;
        }
        Ok(())
    }

    fn parse_opt<T>(&mut self, name: &'static str, field: &mut Option<T>) -> Result<(), ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.asked.insert(name);
        if let Some(raw) = (self.lookup)(name) {
            *field = Some(
                raw.parse()
                    .map_err(|e| ConfigError::invalid(name, format!("{e}")))?,
            );
        }
        Ok(())
    }
}

impl Config {
    /// Loads the configuration the way `oidcd` does: defaults, then `file` (if any), then the
    /// `OIDCD_*` variables from `env_vars`, then validation. `env_vars` is the whole process
    /// environment (name, value) so an unknown `OIDCD_*` name can be reported.
    pub fn load(
        file: Option<&Path>,
        env_vars: &[(String, String)],
        also_known: &[&str],
    ) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_toml_file(path)?,
            None => Self::default(),
        };
        let lookup = |name: &str| {
            env_vars
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut env = Env {
            lookup: &lookup,
            asked: HashSet::new(),
        };
        config.apply_env(&mut env)?;
        for (name, _) in env_vars {
            if name.starts_with(ENV_PREFIX)
                && !env.asked.contains(name.as_str())
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
        let lookup = |_: &str| None;
        let mut env = Env {
            lookup: &lookup,
            asked: HashSet::new(),
        };
        let _ = Self::default().apply_env(&mut env);
        let mut names: Vec<_> = env.asked.into_iter().collect();
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

    fn apply_env(&mut self, env: &mut Env<'_>) -> Result<(), ConfigError> {
        env.parse_opt("OIDCD_ISSUER", &mut self.issuer)?;
        env.parse("OIDCD_BIND", &mut self.bind)?;
        env.parse("OIDCD_DATABASE_URL", &mut self.database_url)?;
        env.parse_opt("OIDCD_KEK", &mut self.kek)?;
        env.parse("OIDCD_KEYS_DIR", &mut self.keys_dir)?;
        env.parse("OIDCD_LOG", &mut self.log)?;
        env.parse("OIDCD_LOG_FORMAT", &mut self.log_format)?;
        let l = &mut self.lifetimes;
        env.parse("OIDCD_ACCESS_TOKEN_LIFETIME", &mut l.access_token)?;
        env.parse("OIDCD_ID_TOKEN_LIFETIME", &mut l.id_token)?;
        env.parse("OIDCD_CODE_LIFETIME", &mut l.authorization_code)?;
        env.parse(
            "OIDCD_AUTHORIZATION_REQUEST_LIFETIME",
            &mut l.authorization_request,
        )?;
        env.parse("OIDCD_REFRESH_IDLE_LIFETIME", &mut l.refresh_token_idle)?;
        env.parse(
            "OIDCD_REFRESH_ABSOLUTE_LIFETIME",
            &mut l.refresh_token_absolute,
        )?;
        env.parse("OIDCD_REFRESH_GRACE", &mut l.refresh_grace)?;
        env.parse("OIDCD_SESSION_LIFETIME", &mut l.session)?;
        env.parse("OIDCD_SESSION_IDLE_LIFETIME", &mut l.session_idle)?;
        env.parse("OIDCD_DEVICE_CODE_LIFETIME", &mut l.device_code)?;
        let a = &mut self.argon2;
        env.parse("OIDCD_ARGON2_MEMORY_KIB", &mut a.memory_kib)?;
        env.parse("OIDCD_ARGON2_ITERATIONS", &mut a.iterations)?;
        env.parse("OIDCD_ARGON2_PARALLELISM", &mut a.parallelism)?;
        env.parse("OIDCD_ARGON2_MAX_CONCURRENT", &mut a.max_concurrent)?;
        let k = &mut self.keys;
        env.parse("OIDCD_KEY_BITS", &mut k.rsa_bits)?;
        env.parse("OIDCD_ROTATION_INTERVAL", &mut k.rotation_interval)?;
        env.parse("OIDCD_KEY_CACHE_TTL", &mut k.cache_ttl)?;
        let d = &mut self.device;
        env.parse("OIDCD_DEVICE_INTERVAL", &mut d.interval)?;
        env.parse(
            "OIDCD_DEVICE_GUESSES_PER_SESSION",
            &mut d.guesses_per_session,
        )?;
        env.parse("OIDCD_DEVICE_GUESSES_PER_IP", &mut d.guesses_per_ip)?;
        env.parse("OIDCD_DEVICE_GUESS_WINDOW", &mut d.guess_window)?;
        let g = &mut self.login;
        env.parse(
            "OIDCD_LOGIN_FAILURES_PER_ACCOUNT",
            &mut g.failures_per_account,
        )?;
        env.parse("OIDCD_LOGIN_FAILURES_PER_IP", &mut g.failures_per_ip)?;
        env.parse("OIDCD_LOGIN_WINDOW", &mut g.window)?;
        env.parse(
            "OIDCD_LOGIN_PENDING_REQUESTS_PER_IP",
            &mut g.pending_requests_per_ip,
        )?;
        env.parse(
            "OIDCD_LOGIN_PASSWORD_CHANGE_REVOKES_GRANTS",
            &mut g.password_change_revokes_grants,
        )?;
        let c = &mut self.client_auth;
        env.parse(
            "OIDCD_CLIENT_AUTH_FAILURES_PER_CLIENT",
            &mut c.failures_per_client,
        )?;
        env.parse("OIDCD_CLIENT_AUTH_FAILURES_PER_IP", &mut c.failures_per_ip)?;
        env.parse("OIDCD_CLIENT_AUTH_WINDOW", &mut c.window)?;
        env.parse("OIDCD_REQUEST_TIMEOUT", &mut self.http.request_timeout)?;
        env.parse("OIDCD_IDLE_TIMEOUT", &mut self.http.idle_timeout)?;
        env.parse("OIDCD_TRUSTED_PROXIES", &mut self.http.trusted_proxies)?;
        env.parse("OIDCD_FORWARDED_HEADER", &mut self.http.forwarded_header)?;
        env.parse_opt("OIDCD_TEMPLATES_DIR", &mut self.pages.templates_dir)?;
        env.parse_opt("OIDCD_STATIC_DIR", &mut self.pages.static_dir)?;
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
                "database_url (OIDCD_DATABASE_URL)",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if let Some(kek) = &self.kek {
            crate::crypto::decode_key(kek.expose())
                .map_err(|e| ConfigError::invalid("kek (OIDCD_KEK)", e))?;
        }
        let l = &self.lifetimes;
        for (name, value) in [
            (
                "lifetimes.access_token (OIDCD_ACCESS_TOKEN_LIFETIME)",
                l.access_token,
            ),
            ("lifetimes.id_token (OIDCD_ID_TOKEN_LIFETIME)", l.id_token),
            (
                "lifetimes.authorization_code (OIDCD_CODE_LIFETIME)",
                l.authorization_code,
            ),
            (
                "lifetimes.authorization_request (OIDCD_AUTHORIZATION_REQUEST_LIFETIME)",
                l.authorization_request,
            ),
            (
                "lifetimes.refresh_token_idle (OIDCD_REFRESH_IDLE_LIFETIME)",
                l.refresh_token_idle,
            ),
            (
                "lifetimes.refresh_token_absolute (OIDCD_REFRESH_ABSOLUTE_LIFETIME)",
                l.refresh_token_absolute,
            ),
            ("lifetimes.session (OIDCD_SESSION_LIFETIME)", l.session),
            (
                "lifetimes.session_idle (OIDCD_SESSION_IDLE_LIFETIME)",
                l.session_idle,
            ),
            (
                "lifetimes.device_code (OIDCD_DEVICE_CODE_LIFETIME)",
                l.device_code,
            ),
            (
                "keys.rotation_interval (OIDCD_ROTATION_INTERVAL)",
                self.keys.rotation_interval,
            ),
            ("keys.cache_ttl (OIDCD_KEY_CACHE_TTL)", self.keys.cache_ttl),
            (
                "device.interval (OIDCD_DEVICE_INTERVAL)",
                self.device.interval,
            ),
            (
                "device.guess_window (OIDCD_DEVICE_GUESS_WINDOW)",
                self.device.guess_window,
            ),
            ("login.window (OIDCD_LOGIN_WINDOW)", self.login.window),
            (
                "client_auth.window (OIDCD_CLIENT_AUTH_WINDOW)",
                self.client_auth.window,
            ),
            (
                "http.request_timeout (OIDCD_REQUEST_TIMEOUT)",
                self.http.request_timeout,
            ),
            (
                "http.idle_timeout (OIDCD_IDLE_TIMEOUT)",
                self.http.idle_timeout,
            ),
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
                "lifetimes.authorization_code (OIDCD_CODE_LIFETIME)",
                "must be at most 10 minutes",
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
        if self.device.guesses_per_session == 0 || self.device.guesses_per_ip == 0 {
            return Err(ConfigError::invalid(
                "device.guesses_per_session / guesses_per_ip (OIDCD_DEVICE_GUESSES_PER_*)",
                "must be at least 1",
            ));
        }
        if l.refresh_token_idle > l.refresh_token_absolute {
            return Err(ConfigError::invalid(
                "lifetimes.refresh_token_idle (OIDCD_REFRESH_IDLE_LIFETIME)",
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
                "keys.rsa_bits (OIDCD_KEY_BITS)",
                "must be a multiple of 8 from 2048 to 8192",
            ));
        }
        for (name, dir) in [
            (
                "pages.templates_dir (OIDCD_TEMPLATES_DIR)",
                &self.pages.templates_dir,
            ),
            (
                "pages.static_dir (OIDCD_STATIC_DIR)",
                &self.pages.static_dir,
            ),
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
        if self.keys.cache_ttl.0 * 2 > self.keys.rotation_interval.0 {
            return Err(ConfigError::invalid(
                "keys.cache_ttl (OIDCD_KEY_CACHE_TTL)",
                "must be at most half of keys.rotation_interval",
            ));
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.bind.parse().map_err(|_| {
            ConfigError::invalid(
                "bind (OIDCD_BIND)",
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
            "log (OIDCD_LOG)",
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
    let name = "issuer (OIDCD_ISSUER)";
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
    fn database_password_is_redacted() {
        let url = DatabaseUrl::new("postgres://app:hunter2@db/oidcd");
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
