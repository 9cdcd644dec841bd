//! Client registration rules, shared by the CLI and the admin API: defaults, validation that
//! names the offending field, and server-generated secrets stored as keyed hashes.

use sea_orm::ConnectionTrait;

use super::{client_keys, redirect, resource, scope, subject};
use crate::clock::UnixTime;
use crate::crypto::{self, KeyedHasher};
use crate::fetch::Fetcher;
use crate::keys::Kek;
use crate::store::clients::{AuthMethod, Client, GrantType, LogoutChannels, SubjectType};
use crate::store::{self, StoreError};

/// Minimum length of an operator-supplied client secret.
pub const MIN_SECRET_LEN: usize = 32;
const MAX_SECRET_LEN: usize = 512;
const MAX_ID_LEN: usize = 128;
const MAX_NAME_LEN: usize = 200;

/// How the client's secret comes to be.
#[derive(Clone, Default)]
pub enum SecretChoice {
    /// 256 random bits, shown once.
    #[default]
    Generate,
    /// Supplied by the operator (at least 32 characters).
    Given(String),
    /// A public client: no secret, PKCE S256 required.
    Public,
}

impl std::fmt::Debug for SecretChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Generate => "Generate",
            Self::Given(_) => "Given([redacted])",
            Self::Public => "Public",
        })
    }
}

/// A request to register a client, as typed by an operator.
#[derive(Clone, Debug, Default)]
pub struct ClientRegistration {
    pub name: String,
    pub client_id: Option<String>,
    pub secret: SecretChoice,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty means authorization_code + refresh_token.
    pub grant_types: Vec<String>,
    /// Empty means the user scopes for user-facing grants.
    pub scopes: Vec<String>,
    /// Empty means client_secret_basic, or none for a public client.
    pub token_endpoint_auth_method: Option<String>,
    /// Adds client_credentials and the `admin` scope.
    pub admin: bool,
    /// Browser origins allowed beside those of the redirect URIs (CORS).
    pub allowed_origins: Vec<String>,
    /// For private_key_jwt: the client's public keys as a JWK Set (JSON)...
    pub jwks: Option<String>,
    /// ...or the https URL they are fetched from.
    pub jwks_uri: Option<String>,
    /// Authorization requests only through the pushed authorization request endpoint.
    pub require_pushed_authorization_requests: bool,
    /// Authorization requests only as signed request objects.
    pub require_signed_request_object: bool,
    /// Token requests only with a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// Only people who used a second factor may sign in (set by operators only).
    pub require_mfa: bool,
    /// The registered resources (RFC 8707) the client may ask tokens for.
    pub resources: Vec<String>,
    /// `public` (the default) or `pairwise` (OIDC Core 8).
    pub subject_type: Option<String>,
    /// For a pairwise client whose redirect URIs are on several hosts: an https URL of a
    /// JSON array listing them all; its host is the sector.
    pub sector_identifier_uri: Option<String>,
    /// What the consent page shows of the client (RFC 7591 section 2): its home page, its
    /// logo (fetched, and served from here), its privacy policy and terms of service.
    pub pages: ClientPages,
    /// Who to contact about the client (e-mail addresses).
    pub contacts: Vec<String>,
    /// Where it hears of the end of a session it took part in.
    pub logout: LogoutChannels,
}

/// The pages a client names for people, and its logo. `None` leaves one out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientPages {
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
}

/// What registration needs from the server: the keyed hash for secrets, the key-encryption
/// key that wraps the secrets of `client_secret_jwt` clients, whether a `jwks_uri` may be
/// plain http on loopback (`fetch.allow_loopback`), and what fetches a
/// `sector_identifier_uri`.
#[derive(Clone, Copy)]
pub struct Keeper<'a> {
    pub hasher: &'a KeyedHasher,
    pub kek: &'a Kek,
    pub allow_loopback: bool,
    pub fetcher: &'a Fetcher,
    /// The scopes a user-facing client gets when it names none: every scope users' apps may
    /// be granted (`oauth::scope::Catalog`).
    pub user_scopes: &'a [String],
}

/// A validation failure, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

pub(crate) fn field_error(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    #[error(transparent)]
    Kek(#[from] crate::keys::kek::KekError),
}

/// A newly registered client and its secret in clear, which is never shown again.
pub struct Registered {
    pub client: Client,
    pub secret: Option<String>,
}

fn is_unreserved(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn dedup<T: PartialEq>(values: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Characters that change how the text around them looks without showing themselves:
/// bidirectional overrides and isolates, zero-width characters, the soft hyphen. In a name
/// shown to people they serve only to disguise it.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn valid_name(name: &str) -> Result<String, FieldError> {
    let name = name.trim().to_owned();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_LEN
        || name.chars().any(|c| c.is_control() || is_invisible(c))
    {
        return Err(field_error(
            "client_name",
            format!("must be 1 to {MAX_NAME_LEN} printable characters"),
        ));
    }
    Ok(name)
}

const MAX_PAGE_URI_LEN: usize = 1024;
const MAX_CONTACTS: usize = 10;
const MAX_CONTACT_LEN: usize = 254;

/// A page people follow from the consent page: an https URL (http on a loopback host with
/// `fetch.allow_loopback`), without credentials or a fragment.
fn valid_page_uri(
    field: &'static str,
    uri: Option<String>,
    allow_loopback: bool,
) -> Result<Option<String>, FieldError> {
    let Some(uri) = uri.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if uri.len() > MAX_PAGE_URI_LEN {
        return Err(field_error(
            field,
            format!("must be at most {MAX_PAGE_URI_LEN} characters"),
        ));
    }
    let url = url::Url::parse(&uri)
        .map_err(|e| field_error(field, format!("`{uri}` is not a URL: {e}")))?;
    crate::fetch::check_url(&url, allow_loopback)
        .map_err(|why| field_error(field, format!("`{uri}` {why}")))?;
    Ok(Some(uri))
}

fn valid_pages(pages: ClientPages, allow_loopback: bool) -> Result<ClientPages, FieldError> {
    Ok(ClientPages {
        client_uri: valid_page_uri("client_uri", pages.client_uri, allow_loopback)?,
        logo_uri: valid_page_uri("logo_uri", pages.logo_uri, allow_loopback)?,
        policy_uri: valid_page_uri("policy_uri", pages.policy_uri, allow_loopback)?,
        tos_uri: valid_page_uri("tos_uri", pages.tos_uri, allow_loopback)?,
    })
}

/// E-mail addresses, at most ten.
fn valid_contacts(contacts: Vec<String>) -> Result<Vec<String>, FieldError> {
    if contacts.len() > MAX_CONTACTS {
        return Err(field_error(
            "contacts",
            format!("at most {MAX_CONTACTS} addresses"),
        ));
    }
    for c in &contacts {
        let plausible = c.len() <= MAX_CONTACT_LEN
            && c.split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !c.chars().any(|ch| ch.is_control() || ch.is_whitespace());
        if !plausible {
            return Err(field_error(
                "contacts",
                format!("`{c}` is not an e-mail address"),
            ));
        }
    }
    Ok(dedup(contacts))
}

impl Client {
    fn set_pages(&mut self, pages: ClientPages) {
        self.client_uri = pages.client_uri;
        self.logo_uri = pages.logo_uri;
        self.policy_uri = pages.policy_uri;
        self.tos_uri = pages.tos_uri;
    }
}

/// The client's logo from its `logo_uri`, fetched with the limits of every fetch
/// (`fetch.*`): a PNG, JPEG, GIF or WebP image. `None` when it names none.
pub async fn fetch_logo(
    fetcher: &Fetcher,
    client: &Client,
) -> Result<Option<store::client_logos::Logo>, RegistrationError> {
    let Some(uri) = &client.logo_uri else {
        return Ok(None);
    };
    let bytes = fetcher
        .get_image(uri)
        .await
        .map_err(|e| field_error("logo_uri", format!("`{uri}` could not be fetched: {e}")))?;
    let content_type = crate::fetch::image_type(&bytes).ok_or_else(|| {
        field_error(
            "logo_uri",
            format!("`{uri}` is not a PNG, JPEG, GIF or WebP image"),
        )
    })?;
    Ok(Some(store::client_logos::Logo {
        content_type: content_type.to_owned(),
        digest: crypto::b64url(&crypto::sha256(&bytes)),
        bytes,
    }))
}

/// Keeps the client's logo, or forgets the one it had when it has none.
pub async fn keep_logo(
    db: &impl ConnectionTrait,
    client_id: &str,
    logo: Option<&store::client_logos::Logo>,
    now: UnixTime,
) -> Result<(), StoreError> {
    match logo {
        Some(logo) => store::client_logos::put(db, client_id, logo, now).await,
        None => store::client_logos::delete(db, client_id).await,
    }
}

fn valid_uris(redirect_uris: &[String], post_logout: &[String]) -> Result<(), FieldError> {
    for uri in redirect_uris {
        redirect::validate_for_registration(uri).map_err(|m| field_error("redirect_uris", m))?;
    }
    for uri in post_logout {
        redirect::validate_for_registration(uri)
            .map_err(|m| field_error("post_logout_redirect_uris", m))?;
    }
    Ok(())
}

/// zxcvbn's estimate, in digits of guesses per character, that an operator-supplied secret
/// must reach: a random string reaches 1 (zxcvbn counts ten guesses a character for what
/// it cannot explain), while repeats, sequences, keyboard rows and dictionary words score far
/// less (a passphrase of common words about 0.7-0.8).
const MIN_GUESS_DIGITS_PER_CHAR: f64 = 0.9;

/// Whether a secret an operator chose is hard to guess. Length alone is not strength:
/// `"a"` x 32 is 32 characters. zxcvbn caps its estimate near 10^19 guesses, which any long
/// string reaches, so the secret is judged in pieces of 12 characters, each well under the cap.
fn strong_secret(secret: &str) -> bool {
    let chars: Vec<char> = secret.chars().take(256).collect();
    if chars.is_empty() {
        return false;
    }
    let digits: f64 = chars
        .chunks(12)
        .map(|piece| zxcvbn::zxcvbn(&piece.iter().collect::<String>(), &[]).guesses_log10())
        .sum();
    #[allow(clippy::cast_precision_loss)] // at most 256
    let per_char = digits / chars.len() as f64;
    per_char >= MIN_GUESS_DIGITS_PER_CHAR
}

/// Origins as a browser sends them: `scheme://host[:port]`, nothing more, in the form the
/// `Origin` header uses (lower-case host, no default port).
fn valid_origins(origins: &[String]) -> Result<Vec<String>, FieldError> {
    let mut out = Vec::with_capacity(origins.len());
    for origin in origins {
        let url = url::Url::parse(origin).map_err(|e| {
            field_error(
                "allowed_origins",
                format!("`{origin}` is not an origin: {e}"),
            )
        })?;
        let serialized = url.origin().ascii_serialization();
        if !matches!(url.scheme(), "https" | "http") || serialized != origin.as_str() {
            return Err(field_error(
                "allowed_origins",
                format!(
                    "`{origin}` is not an origin: give scheme, host and port only, as a browser \
                     sends it (for example `https://app.example.com` or `http://localhost:5173`)"
                ),
            ));
        }
        if url.scheme() == "http" && !redirect::is_loopback(&url) {
            return Err(field_error(
                "allowed_origins",
                format!("`{origin}` uses plain http on a host that is not loopback"),
            ));
        }
        out.push(serialized);
    }
    Ok(dedup(out))
}

/// Scope tokens only, and `admin` only for admin clients.
fn valid_scopes(scopes: &[String], admin: bool) -> Result<(), FieldError> {
    for s in scopes {
        if !scope::is_scope_token(s) {
            return Err(field_error(
                "scope",
                format!("`{s}` is not a valid scope token"),
            ));
        }
        if s == scope::ADMIN && !admin {
            return Err(field_error(
                "scope",
                "the admin scope is given by --admin (admin: true) only",
            ));
        }
    }
    Ok(())
}

/// Resource identifiers (RFC 8707 section 2), duplicates dropped. Whether each is registered
/// is [`check_resources`]'s to say.
fn valid_resources(resources: Vec<String>) -> Result<Vec<String>, FieldError> {
    if let Some(bad) = resources.iter().find(|r| !resource::is_identifier(r)) {
        return Err(field_error(
            "resources",
            format!("`{bad}` is not a resource identifier (an absolute URI without a fragment)"),
        ));
    }
    Ok(dedup(resources))
}

/// A client's subject type and, for a pairwise one, its `sector_identifier_uri` (https, or
/// http on loopback with `fetch.allow_loopback`) and sector.
fn valid_subjects(
    client_id: &str,
    subject_type: Option<&str>,
    redirect_uris: &[String],
    sector_identifier_uri: Option<String>,
    allow_loopback: bool,
) -> Result<(SubjectType, Option<String>, Option<String>), FieldError> {
    let subject_type = match subject_type {
        None => SubjectType::Public,
        Some(t) => t.parse().map_err(|m| field_error("subject_type", m))?,
    };
    if subject_type == SubjectType::Public {
        if sector_identifier_uri.is_some() {
            return Err(field_error(
                "sector_identifier_uri",
                "is for pairwise clients (subject_type pairwise)",
            ));
        }
        return Ok((subject_type, None, None));
    }
    if let Some(uri) = &sector_identifier_uri {
        let url = url::Url::parse(uri).map_err(|e| {
            field_error(
                "sector_identifier_uri",
                format!("`{uri}` is not a URL: {e}"),
            )
        })?;
        crate::fetch::check_url(&url, allow_loopback)
            .map_err(|why| field_error("sector_identifier_uri", format!("`{uri}` {why}")))?;
    }
    let sector = subject::sector_of(client_id, redirect_uris, sector_identifier_uri.as_deref())
        .map_err(|why| field_error("sector_identifier_uri", why))?;
    Ok((subject_type, sector_identifier_uri, Some(sector)))
}

/// A pairwise client's `sector_identifier_uri` lists every one of its redirect URIs (OIDC
/// Core 8.1): fetched with the limits of every fetch (`fetch.*`).
pub async fn check_sector(fetcher: &Fetcher, client: &Client) -> Result<(), RegistrationError> {
    let Some(uri) = &client.sector_identifier_uri else {
        return Ok(());
    };
    let document = fetcher.get_json(uri).await.map_err(|e| {
        field_error(
            "sector_identifier_uri",
            format!("`{uri}` could not be fetched: {e}"),
        )
    })?;
    let listed = subject::listed(&document)
        .map_err(|why| field_error("sector_identifier_uri", format!("`{uri}` {why}")))?;
    match client.redirect_uris.iter().find(|r| !listed.contains(r)) {
        Some(missing) => Err(field_error(
            "sector_identifier_uri",
            format!("`{uri}` does not list the redirect URI `{missing}`"),
        )
        .into()),
        None => Ok(()),
    }
}

/// Every resource the client lists is registered.
pub async fn check_resources(
    db: &impl ConnectionTrait,
    client: &Client,
) -> Result<(), RegistrationError> {
    let found = store::resources::find_many(db, &client.resources).await?;
    match client
        .resources
        .iter()
        .find(|r| !found.iter().any(|f| &f.identifier == *r))
    {
        Some(unknown) => Err(field_error(
            "resources",
            format!("`{unknown}` is not a registered resource: register it first"),
        )
        .into()),
        None => Ok(()),
    }
}

/// Changes an operator may make to a registered client. `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    /// `false` demotes an admin client (its `admin` scope goes, and its admin tokens stop
    /// working at once); `true` promotes a confidential client credentials client.
    pub admin: Option<bool>,
    /// A private_key_jwt client's new keys: a JWK Set, or a URL (either replaces both).
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub require_pushed_authorization_requests: Option<bool>,
    pub require_signed_request_object: Option<bool>,
    pub dpop_bound_access_tokens: Option<bool>,
    pub require_mfa: Option<bool>,
    pub resources: Option<Vec<String>>,
    /// Each page replaces the one the client had; an empty string takes it away.
    pub pages: ClientPages,
    pub contacts: Option<Vec<String>>,
    /// Each URI replaces the one the client had; an empty string takes it away.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: Option<bool>,
}

/// The logout URIs (Back-Channel Logout 1.0 section 2.2, Front-Channel Logout 1.0 section
/// 2): absolute, without a fragment, at most 2000 characters. This server POSTs to the
/// back-channel one from inside the network, so every rule of a fetch applies to it (https,
/// or plain http on loopback with `fetch.allow_loopback`; public addresses only). The
/// front-channel one is loaded by the person's browser, like a redirect URI: https, or plain
/// http on a loopback host. An empty one is none.
pub fn valid_logout(
    given: LogoutChannels,
    allow_loopback: bool,
) -> Result<LogoutChannels, FieldError> {
    let check = |field: &'static str,
                 uri: Option<String>,
                 fetched: bool|
     -> Result<Option<String>, FieldError> {
        let Some(uri) = uri.filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        if uri.len() > 2000 {
            return Err(field_error(field, "is longer than 2000 characters"));
        }
        let url = url::Url::parse(&uri)
            .map_err(|e| field_error(field, format!("`{uri}` is not a URL: {e}")))?;
        if fetched {
            crate::fetch::check_url(&url, allow_loopback)
                .map_err(|why| field_error(field, format!("`{uri}` {why}")))?;
        } else {
            let loopback = matches!(
                url.host(),
                Some(url::Host::Ipv4(ip)) if ip.is_loopback()
            ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || url.host_str() == Some("localhost");
            let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
            if !scheme_ok || url.fragment().is_some() || url.host().is_none() {
                return Err(field_error(
                    field,
                    format!("`{uri}` must be https (http on a loopback host), without a fragment"),
                ));
            }
        }
        Ok(Some(uri))
    };
    Ok(LogoutChannels {
        backchannel_logout_uri: check(
            "backchannel_logout_uri",
            given.backchannel_logout_uri,
            true,
        )?,
        backchannel_logout_session_required: given.backchannel_logout_session_required,
        frontchannel_logout_uri: check(
            "frontchannel_logout_uri",
            given.frontchannel_logout_uri,
            false,
        )?,
        frontchannel_logout_session_required: given.frontchannel_logout_session_required,
    })
}

/// The rules for authorization requests: a client that must sign them needs something to
/// sign with (its keys, or a secret it signs with: `private_key_jwt`, `client_secret_jwt`),
/// and both rules are about the authorization code grant.
fn valid_request_rules(
    method: AuthMethod,
    grant_types: &[GrantType],
    require_pushed: bool,
    require_signed: bool,
) -> Result<(), FieldError> {
    let code_flow = grant_types.contains(&GrantType::AuthorizationCode);
    if require_pushed && !code_flow {
        return Err(field_error(
            "require_pushed_authorization_requests",
            "is for clients of the authorization_code grant",
        ));
    }
    if require_signed && !(code_flow && method.uses_assertion()) {
        return Err(field_error(
            "require_signed_request_object",
            "needs an authorization_code client that can sign: private_key_jwt (its keys) or \
             client_secret_jwt (its secret)",
        ));
    }
    Ok(())
}

/// The keys of a `private_key_jwt` client: exactly one of `jwks` (checked key by key, kept as
/// compact JSON) and `jwks_uri` (https, or http on loopback with `fetch.allow_loopback`).
fn valid_keys(
    method: AuthMethod,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    allow_loopback: bool,
) -> Result<(Option<String>, Option<String>), FieldError> {
    if method != AuthMethod::PrivateKeyJwt {
        if jwks.is_some() || jwks_uri.is_some() {
            let field = if jwks.is_some() { "jwks" } else { "jwks_uri" };
            return Err(field_error(
                field,
                "is for private_key_jwt clients only (token_endpoint_auth_method)",
            ));
        }
        return Ok((None, None));
    }
    match (jwks, jwks_uri) {
        (Some(_), Some(_)) => Err(field_error("jwks", "give jwks or jwks_uri, not both")),
        (None, None) => Err(field_error(
            "jwks",
            "a private_key_jwt client needs its public keys: jwks (a JWK Set) or jwks_uri",
        )),
        (Some(jwks), None) => {
            let keys =
                client_keys::parse_set(jwks.as_bytes()).map_err(|why| field_error("jwks", why))?;
            let compact = serde_json::json!({
                "keys": keys.iter().map(|k| serde_json::Value::Object(k.as_ref().clone())).collect::<Vec<_>>()
            });
            Ok((Some(compact.to_string()), None))
        }
        (None, Some(uri)) => {
            let url = url::Url::parse(&uri)
                .map_err(|e| field_error("jwks_uri", format!("`{uri}` is not a URL: {e}")))?;
            crate::fetch::check_url(&url, allow_loopback)
                .map_err(|why| field_error("jwks_uri", format!("`{uri}` {why}")))?;
            Ok((None, Some(uri)))
        }
    }
}

/// Applies an update with the same rules as registration.
pub fn apply_update(
    mut client: Client,
    update: ClientUpdate,
    allow_loopback: bool,
    now: UnixTime,
) -> Result<Client, FieldError> {
    if let Some(name) = update.name {
        client.name = valid_name(&name)?;
    }
    if update.jwks.is_some() || update.jwks_uri.is_some() {
        (client.jwks, client.jwks_uri) = valid_keys(
            client.token_endpoint_auth_method,
            update.jwks,
            update.jwks_uri,
            allow_loopback,
        )?;
    }
    let redirect_uris = update
        .redirect_uris
        .map(dedup)
        .unwrap_or(client.redirect_uris);
    let post_logout = update
        .post_logout_redirect_uris
        .map(dedup)
        .unwrap_or(client.post_logout_redirect_uris);
    valid_uris(&redirect_uris, &post_logout)?;
    if client.grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(field_error(
            "redirect_uris",
            "at least one is required for the authorization_code grant",
        ));
    }
    let sector = (client.subject_type == SubjectType::Pairwise)
        .then(|| client.sector.clone())
        .flatten();
    if let Some(sector) = sector {
        let moved = subject::sector_of(
            &client.client_id,
            &redirect_uris,
            client.sector_identifier_uri.as_deref(),
        );
        if moved.as_deref() != Ok(sector.as_str()) {
            return Err(field_error(
                "redirect_uris",
                format!(
                    "would move this pairwise client out of its sector `{sector}`, which would \
                     change the sub of every user it knows: keep its redirect URIs there, or \
                     list them all in its sector_identifier_uri"
                ),
            ));
        }
    }
    client.redirect_uris = redirect_uris;
    client.post_logout_redirect_uris = post_logout;
    if let Some(origins) = update.allowed_origins {
        client.allowed_origins = valid_origins(&origins)?;
    }
    if let Some(require) = update.require_pushed_authorization_requests {
        client.require_pushed_authorization_requests = require;
    }
    if let Some(require) = update.require_signed_request_object {
        client.require_signed_request_object = require;
    }
    if let Some(require) = update.dpop_bound_access_tokens {
        client.dpop_bound_access_tokens = require;
    }
    if let Some(require) = update.require_mfa {
        client.require_mfa = require;
    }
    if let Some(resources) = update.resources {
        client.resources = valid_resources(resources)?;
    }
    let given = update.pages;
    let pages = valid_pages(
        ClientPages {
            client_uri: given.client_uri.or(client.client_uri.take()),
            logo_uri: given.logo_uri.or(client.logo_uri.take()),
            policy_uri: given.policy_uri.or(client.policy_uri.take()),
            tos_uri: given.tos_uri.or(client.tos_uri.take()),
        },
        allow_loopback,
    )?;
    client.set_pages(pages);
    if let Some(contacts) = update.contacts {
        client.contacts = valid_contacts(contacts)?;
    }
    let logout = std::mem::take(&mut client.logout);
    client.logout = valid_logout(
        LogoutChannels {
            backchannel_logout_uri: update
                .backchannel_logout_uri
                .or(logout.backchannel_logout_uri),
            backchannel_logout_session_required: update
                .backchannel_logout_session_required
                .unwrap_or(logout.backchannel_logout_session_required),
            frontchannel_logout_uri: update
                .frontchannel_logout_uri
                .or(logout.frontchannel_logout_uri),
            frontchannel_logout_session_required: update
                .frontchannel_logout_session_required
                .unwrap_or(logout.frontchannel_logout_session_required),
        },
        allow_loopback,
    )?;
    valid_request_rules(
        client.token_endpoint_auth_method,
        &client.grant_types,
        client.require_pushed_authorization_requests,
        client.require_signed_request_object,
    )?;
    let was_admin = client.scopes.iter().any(|s| s == scope::ADMIN);
    let is_admin = update.admin.unwrap_or(was_admin);
    if is_admin
        && !was_admin
        && (client.is_public() || !client.allows_grant(GrantType::ClientCredentials))
    {
        return Err(field_error(
            "admin",
            "only a confidential client registered for client_credentials can become an admin client",
        ));
    }
    let mut scopes = match update.scopes {
        Some(scopes) => {
            let scopes = dedup(scopes);
            valid_scopes(&scopes, is_admin)?;
            scopes
        }
        None => client.scopes.clone(),
    };
    // The admin scope is what makes an admin client: it follows `admin` alone.
    scopes.retain(|s| s != scope::ADMIN);
    if is_admin {
        scopes.push(scope::ADMIN.to_owned());
    }
    client.scopes = scopes;
    client.updated_at = now;
    Ok(client)
}

/// The longest overlap a rotation may give the secret it replaces.
pub const MAX_SECRET_OVERLAP: i64 = 30 * 86_400;

/// A fresh secret for a confidential client: the client with the new hash, and the secret
/// in clear (shown once). The replaced secret keeps working for `overlap` seconds (0: it
/// stops at once), so an app can roll to the new one without downtime; a secret replaced
/// earlier is forgotten.
pub fn new_secret(
    mut client: Client,
    keeper: Keeper<'_>,
    overlap: i64,
    now: UnixTime,
) -> Result<(Client, String), RegistrationError> {
    if client.is_public() {
        return Err(field_error("client_secret", "a public client has no secret").into());
    }
    if !client.token_endpoint_auth_method.has_secret() {
        return Err(field_error(
            "client_secret",
            "a private_key_jwt client has keys, not a secret: change its jwks or jwks_uri",
        )
        .into());
    }
    if !(0..=MAX_SECRET_OVERLAP).contains(&overlap) {
        return Err(field_error(
            "old_secret_valid_for",
            format!("must be 0 to {MAX_SECRET_OVERLAP} seconds (30 days)"),
        )
        .into());
    }
    let secret = crypto::random_token()?;
    let replaced = client.secret_hash.replace(keeper.hasher.hash(&secret));
    client.previous_secret = replaced
        .filter(|_| overlap > 0)
        .map(|hash| (hash, now + overlap));
    if client.token_endpoint_auth_method == AuthMethod::ClientSecretJwt {
        let replaced = client
            .secret_wrapped
            .replace(keeper.kek.wrap(secret.as_bytes())?);
        client.previous_secret_wrapped = replaced.filter(|_| overlap > 0);
    }
    client.updated_at = now;
    Ok((client, secret))
}

/// Applies the defaults and checks every field. Pure except for drawing random values.
pub fn prepare(
    reg: ClientRegistration,
    keeper: Keeper<'_>,
    now: UnixTime,
) -> Result<Registered, RegistrationError> {
    let hasher = keeper.hasher;
    let name = valid_name(&reg.name)?;

    let client_id = match reg.client_id {
        Some(id) => {
            if id.is_empty() || id.len() > MAX_ID_LEN || !is_unreserved(&id) {
                return Err(field_error(
                    "client_id",
                    format!("must be 1 to {MAX_ID_LEN} characters from A-Z a-z 0-9 - . _ ~"),
                )
                .into());
            }
            id
        }
        None => crypto::b64url(&crypto::random_bytes::<16>()?),
    };

    let key_based =
        reg.token_endpoint_auth_method.as_deref() == Some(AuthMethod::PrivateKeyJwt.as_str());
    let (secret, public) = match reg.secret {
        SecretChoice::Generate if key_based => (None, false),
        SecretChoice::Given(_) if key_based => {
            return Err(field_error(
                "client_secret",
                "a private_key_jwt client authenticates with its keys and has no secret",
            )
            .into())
        }
        SecretChoice::Generate => (Some(crypto::random_token()?), false),
        SecretChoice::Given(s) => {
            if s.len() < MIN_SECRET_LEN
                || s.len() > MAX_SECRET_LEN
                || s.chars().any(char::is_control)
            {
                return Err(field_error(
                    "client_secret",
                    format!("must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} printable characters"),
                )
                .into());
            }
            if !strong_secret(&s) {
                return Err(field_error(
                    "client_secret",
                    "is too easy to guess (repeated characters, sequences, keyboard patterns or \
                     dictionary words); leave it out to have one generated",
                )
                .into());
            }
            (Some(s), false)
        }
        SecretChoice::Public => (None, true),
    };

    let mut grant_types = if reg.grant_types.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        reg.grant_types
            .iter()
            .map(|g| {
                g.parse::<GrantType>()
                    .map_err(|m| field_error("grant_types", m))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if reg.admin {
        grant_types.push(GrantType::ClientCredentials);
    }
    let grant_types = dedup(grant_types);
    if public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(field_error(
            "grant_types",
            "client_credentials needs a confidential client (a public client has no secret)",
        )
        .into());
    }

    let auth_method = match reg.token_endpoint_auth_method.as_deref() {
        None if public => AuthMethod::None,
        None => AuthMethod::ClientSecretBasic,
        Some(m) => m
            .parse::<AuthMethod>()
            .map_err(|e| field_error("token_endpoint_auth_method", e))?,
    };
    if public != (auth_method == AuthMethod::None) {
        return Err(field_error(
            "token_endpoint_auth_method",
            "`none` is for public clients only, and a public client can only use `none`",
        )
        .into());
    }

    let user_facing = grant_types
        .iter()
        .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::DeviceCode));
    if grant_types.contains(&GrantType::RefreshToken) && !user_facing {
        return Err(field_error(
            "grant_types",
            "refresh_token needs authorization_code or device_code to start from",
        )
        .into());
    }

    valid_uris(&reg.redirect_uris, &reg.post_logout_redirect_uris)?;
    let redirect_uris = dedup(reg.redirect_uris);
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(field_error(
            "redirect_uris",
            "at least one is required for the authorization_code grant",
        )
        .into());
    }

    let mut scopes = if reg.scopes.is_empty() && user_facing {
        keeper.user_scopes.to_vec()
    } else {
        reg.scopes
    };
    valid_scopes(&scopes, reg.admin)?;
    if reg.admin {
        scopes.push(scope::ADMIN.to_owned());
    }
    let scopes = dedup(scopes);

    let response_types = if grant_types.contains(&GrantType::AuthorizationCode) {
        vec!["code".to_owned()]
    } else {
        Vec::new()
    };

    let (jwks, jwks_uri) = valid_keys(auth_method, reg.jwks, reg.jwks_uri, keeper.allow_loopback)?;
    let (subject_type, sector_identifier_uri, sector) = valid_subjects(
        &client_id,
        reg.subject_type.as_deref(),
        &redirect_uris,
        reg.sector_identifier_uri,
        keeper.allow_loopback,
    )?;
    valid_request_rules(
        auth_method,
        &grant_types,
        reg.require_pushed_authorization_requests,
        reg.require_signed_request_object,
    )?;
    let secret_wrapped = match (&secret, auth_method) {
        (Some(secret), AuthMethod::ClientSecretJwt) => Some(keeper.kek.wrap(secret.as_bytes())?),
        _ => None,
    };

    let pages = valid_pages(reg.pages, keeper.allow_loopback)?;
    let client = Client {
        client_id,
        name,
        secret_hash: secret.as_deref().map(|s| hasher.hash(s)),
        previous_secret: None,
        secret_wrapped,
        previous_secret_wrapped: None,
        jwks,
        jwks_uri,
        redirect_uris,
        post_logout_redirect_uris: dedup(reg.post_logout_redirect_uris),
        grant_types,
        response_types,
        scopes,
        token_endpoint_auth_method: auth_method,
        allowed_origins: valid_origins(&reg.allowed_origins)?,
        require_pushed_authorization_requests: reg.require_pushed_authorization_requests,
        require_signed_request_object: reg.require_signed_request_object,
        dpop_bound_access_tokens: reg.dpop_bound_access_tokens,
        require_mfa: reg.require_mfa,
        resources: valid_resources(reg.resources)?,
        subject_type,
        sector_identifier_uri,
        sector,
        client_uri: pages.client_uri,
        logo_uri: pages.logo_uri,
        policy_uri: pages.policy_uri,
        tos_uri: pages.tos_uri,
        contacts: valid_contacts(reg.contacts)?,
        registration_token_hash: None,
        revision: 0,
        document: None,
        logout: valid_logout(reg.logout, keeper.allow_loopback)?,
        created_at: now,
        updated_at: now,
    };
    Ok(Registered { client, secret })
}

/// A resource (RFC 8707) as an operator registers it.
#[derive(Clone, Debug, Default)]
pub struct ResourceRegistration {
    /// An absolute URI without a fragment: what clients send as `resource`, and the `aud`
    /// of the tokens issued for it.
    pub identifier: String,
    /// What the consent page calls it; the identifier when left out.
    pub name: Option<String>,
    /// The scopes a token for it may carry.
    pub scopes: Vec<String>,
}

fn valid_resource_name(name: &str) -> Result<String, FieldError> {
    valid_name(name).map_err(|e| FieldError { field: "name", ..e })
}

/// Scope tokens, never `admin` (the admin API is the issuer's own).
fn valid_resource_scopes(scopes: Vec<String>) -> Result<Vec<String>, FieldError> {
    for s in &scopes {
        if !scope::is_scope_token(s) {
            return Err(field_error(
                "scope",
                format!("`{s}` is not a valid scope token"),
            ));
        }
        if s == scope::ADMIN {
            return Err(field_error(
                "scope",
                "the admin scope is for the admin API only, whose tokens are for the issuer",
            ));
        }
    }
    Ok(dedup(scopes))
}

/// Checks a new resource and stores it. A taken identifier is `StoreError::Conflict`.
///
/// `issuer` is this provider's own identifier, which cannot be a resource: tokens for the
/// issuer are what its own APIs take, whatever scopes a resource would narrow them to.
pub async fn register_resource(
    db: &impl ConnectionTrait,
    reg: ResourceRegistration,
    issuer: Option<&str>,
    now: UnixTime,
) -> Result<store::resources::Resource, RegistrationError> {
    if !resource::is_identifier(&reg.identifier) {
        return Err(field_error(
            "identifier",
            format!(
                "must be an absolute URI without a fragment, at most {} characters \
                 (for example `https://api.example.com`)",
                resource::MAX_LEN
            ),
        )
        .into());
    }
    if issuer
        .is_some_and(|issuer| issuer.trim_end_matches('/') == reg.identifier.trim_end_matches('/'))
    {
        return Err(field_error(
            "identifier",
            "is this provider's issuer: tokens without a resource are already for it",
        )
        .into());
    }
    let name = match reg.name {
        Some(name) => valid_resource_name(&name)?,
        None => reg.identifier.clone(),
    };
    let registered = store::resources::Resource {
        name,
        scopes: valid_resource_scopes(reg.scopes)?,
        identifier: reg.identifier,
        created_at: now,
        updated_at: now,
    };
    store::resources::insert(db, &registered).await?;
    Ok(registered)
}

/// Applies changes to a resource's name and scopes, with the rules of registration.
pub fn update_resource(
    mut registered: store::resources::Resource,
    name: Option<String>,
    scopes: Option<Vec<String>>,
    now: UnixTime,
) -> Result<store::resources::Resource, FieldError> {
    if let Some(name) = name {
        registered.name = valid_resource_name(&name)?;
    }
    if let Some(scopes) = scopes {
        registered.scopes = valid_resource_scopes(scopes)?;
    }
    registered.updated_at = now;
    Ok(registered)
}

/// Validates and stores a new client, with its logo, in one transaction. A duplicate
/// `client_id` is `StoreError::Conflict`.
pub async fn register(
    db: &crate::db::Db,
    reg: ClientRegistration,
    keeper: Keeper<'_>,
    now: UnixTime,
) -> Result<Registered, RegistrationError> {
    let registered = prepare(reg, keeper, now)?;
    let logo = check_fetched(db, keeper.fetcher, &registered.client).await?;
    let txn = db.begin().await.map_err(StoreError::from)?;
    store_new(&txn, &registered.client, logo.as_ref(), now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(registered)
}

/// The checks of a new client that read the database or fetch what it names: its resources
/// are registered, its sector document lists its redirect URIs, its logo is an image (which
/// is returned, to be kept with it).
pub async fn check_fetched(
    db: &impl ConnectionTrait,
    fetcher: &Fetcher,
    client: &Client,
) -> Result<Option<store::client_logos::Logo>, RegistrationError> {
    check_resources(db, client).await?;
    check_sector(fetcher, client).await?;
    fetch_logo(fetcher, client).await
}

/// A client that changes what it is (an app's new registration, a new copy of its metadata
/// document) keeps its subject type and pairwise sector: every `sub` its users have would
/// change otherwise.
pub fn keeps_subjects(current: &Client, fresh: &Client) -> Result<(), FieldError> {
    if fresh.subject_type != current.subject_type {
        return Err(field_error(
            "subject_type",
            "cannot change once registered: register a new client",
        ));
    }
    if current.pairwise_sector().is_some() && fresh.sector != current.sector {
        return Err(field_error(
            "redirect_uris",
            "would move this pairwise client out of its sector, which would change the sub of \
             every user it knows: keep its redirect URIs there, or list them all in its \
             sector_identifier_uri",
        ));
    }
    Ok(())
}

/// Whether what the users of a client allowed no longer holds for what it became: they
/// allowed a client that kept a secret or a key, at these redirect hosts. One that drops its
/// secret or key, or sends people elsewhere, starts again (its grants revoked, its consents
/// forgotten).
pub fn starts_again(current: &Client, fresh: &Client) -> bool {
    let hosts = |c: &Client| {
        let mut hosts: Vec<String> = c
            .redirect_uris
            .iter()
            .filter_map(|u| url::Url::parse(u).ok())
            .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()))
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    };
    (!current.is_public() && fresh.is_public())
        || (current.secret_hash.is_some() && fresh.secret_hash.is_none())
        || hosts(current) != hosts(fresh)
}

/// Stores a new client and its logo.
pub async fn store_new(
    db: &impl ConnectionTrait,
    client: &Client,
    logo: Option<&store::client_logos::Logo>,
    now: UnixTime,
) -> Result<(), StoreError> {
    store::clients::insert(db, client).await?;
    if let Some(logo) = logo {
        store::client_logos::put(db, &client.client_id, logo, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    static HASHER: std::sync::LazyLock<KeyedHasher> =
        std::sync::LazyLock::new(|| KeyedHasher::new(b"test").unwrap());
    static KEK: std::sync::LazyLock<Kek> = std::sync::LazyLock::new(|| Kek::from_bytes([7; 32]));

    fn hasher() -> KeyedHasher {
        HASHER.clone()
    }

    static FETCHER: std::sync::LazyLock<Fetcher> =
        std::sync::LazyLock::new(|| Fetcher::new(&crate::config::FetchConfig::default()).unwrap());

    static USER_SCOPES: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| scope::Catalog::default().user_scopes().to_vec());

    fn keeper() -> Keeper<'static> {
        Keeper {
            hasher: &HASHER,
            kek: &KEK,
            allow_loopback: false,
            fetcher: &FETCHER,
            user_scopes: &USER_SCOPES,
        }
    }

    fn base() -> ClientRegistration {
        ClientRegistration {
            name: "App".into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            ..Default::default()
        }
    }

    #[test]
    fn defaults_make_a_confidential_code_client() {
        let r = prepare(base(), keeper(), 0).unwrap();
        let secret = r.secret.unwrap();
        assert_eq!(secret.len(), 43);
        assert_eq!(
            r.client.token_endpoint_auth_method,
            AuthMethod::ClientSecretBasic
        );
        assert_eq!(
            r.client.grant_types,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert!(r.client.scopes.contains(&"offline_access".to_owned()));
        assert!(hasher().verify(&secret, r.client.secret_hash.as_deref().unwrap()));
    }

    #[test]
    fn logout_uris_follow_their_rules() {
        let with = |back: &str, front: &str| {
            let reg = ClientRegistration {
                logout: LogoutChannels {
                    backchannel_logout_uri: Some(back.into()),
                    frontchannel_logout_uri: Some(front.into()),
                    ..Default::default()
                },
                ..base()
            };
            match prepare(reg, keeper(), 0) {
                Ok(r) => Ok(r.client.logout),
                Err(RegistrationError::Invalid(e)) => Err(e.field),
                Err(e) => panic!("{e}"),
            }
        };
        let ok = with("https://app.example.com/bcl", "https://app.example.com/fcl").unwrap();
        assert_eq!(
            ok.backchannel_logout_uri.as_deref(),
            Some("https://app.example.com/bcl")
        );
        // The server calls the back-channel URI: every rule of a fetch.
        for bad in [
            "http://app.example.com/bcl",
            "https://10.0.0.8/bcl",
            "https://127.0.0.1/bcl",
            "https://app.example.com/bcl#x",
            "not a url",
        ] {
            assert_eq!(
                with(bad, "").unwrap_err(),
                "backchannel_logout_uri",
                "{bad}"
            );
        }
        // The browser loads the front-channel one: like a redirect URI.
        assert!(with("", "http://127.0.0.1:8000/fcl").is_ok());
        for bad in [
            "http://app.example.com/fcl",
            "https://app.example.com/f#x",
            "javascript:alert(1)",
        ] {
            assert_eq!(
                with("", bad).unwrap_err(),
                "frontchannel_logout_uri",
                "{bad}"
            );
        }
        // Empty is none.
        assert_eq!(with("", "").unwrap(), LogoutChannels::default());
    }

    #[test]
    fn key_based_clients_have_keys_and_no_secret() {
        let key = openssl::rsa::Rsa::generate(2048).unwrap();
        let jwks = serde_json::json!({ "keys": [{
            "kty": "RSA",
            "kid": "k1",
            "n": crypto::b64url(&key.n().to_vec()),
            "e": crypto::b64url(&key.e().to_vec()),
        }]})
        .to_string();
        let key_based = |jwks: Option<String>, jwks_uri: Option<&str>| ClientRegistration {
            token_endpoint_auth_method: Some("private_key_jwt".into()),
            jwks,
            jwks_uri: jwks_uri.map(str::to_owned),
            ..base()
        };
        let r = prepare(key_based(Some(jwks.clone()), None), keeper(), 0).unwrap();
        assert!(r.secret.is_none() && r.client.secret_hash.is_none());
        assert!(!r.client.is_public());
        assert!(r.client.jwks.unwrap().contains("\"kid\":\"k1\""));

        let r = prepare(
            key_based(None, Some("https://app.example.com/jwks")),
            keeper(),
            0,
        );
        assert_eq!(
            r.unwrap().client.jwks_uri.as_deref(),
            Some("https://app.example.com/jwks")
        );

        let field = |reg| match prepare(reg, keeper(), 0) {
            Err(RegistrationError::Invalid(e)) => e.field,
            _ => "accepted",
        };
        assert_eq!(field(key_based(None, None)), "jwks");
        assert_eq!(
            field(key_based(Some(jwks.clone()), Some("https://a.example/j"))),
            "jwks"
        );
        assert_eq!(
            field(key_based(None, Some("http://app.example.com/jwks"))),
            "jwks_uri"
        );
        assert_eq!(
            field(key_based(None, Some("https://10.0.0.7/jwks"))),
            "jwks_uri"
        );
        assert_eq!(field(key_based(Some("{\"keys\":[]}".into()), None)), "jwks");
        assert_eq!(
            field(ClientRegistration {
                jwks: Some(jwks),
                ..base()
            }),
            "jwks"
        );
        assert_eq!(
            field(ClientRegistration {
                secret: SecretChoice::Given("x".repeat(40)),
                ..key_based(None, Some("https://app.example.com/jwks"))
            }),
            "client_secret"
        );
    }

    #[test]
    fn client_secret_jwt_secrets_are_kept_wrapped_and_rotate() {
        let reg = ClientRegistration {
            token_endpoint_auth_method: Some("client_secret_jwt".into()),
            ..base()
        };
        let r = prepare(reg, keeper(), 0).unwrap();
        let secret = r.secret.unwrap();
        let wrapped = r.client.secret_wrapped.clone().unwrap();
        assert!(!wrapped.contains(&secret));
        assert_eq!(KEK.unwrap(&wrapped).unwrap(), secret.as_bytes());
        let (rotated, new) = new_secret(r.client, keeper(), 60, 0).unwrap();
        assert_eq!(
            KEK.unwrap(rotated.secret_wrapped.as_deref().unwrap())
                .unwrap(),
            new.as_bytes()
        );
        assert_eq!(
            rotated.previous_secret_wrapped.as_deref(),
            Some(wrapped.as_str())
        );
    }

    #[test]
    fn admin_adds_client_credentials_and_the_admin_scope() {
        let r = prepare(
            ClientRegistration {
                admin: true,
                grant_types: vec!["client_credentials".into()],
                redirect_uris: vec![],
                ..base()
            },
            keeper(),
            0,
        )
        .unwrap();
        assert_eq!(r.client.grant_types, vec![GrantType::ClientCredentials]);
        assert_eq!(r.client.scopes, vec!["admin".to_owned()]);
    }

    #[test]
    fn weak_secrets_are_refused_whatever_their_length() {
        for weak in [
            "a".repeat(32),
            "abcdefghijklmnopqrstuvwxyz0123456789".to_owned(),
            "passwordpasswordpasswordpassword".to_owned(),
            "correcthorsebatterystaple-correcthorse".to_owned(),
            "qwertyuiopasdfghjklzxcvbnm1234567890".to_owned(),
            "ab".repeat(20),
            "tomato-bicycle-mountain-kettle-river".to_owned(),
            "thisismysecretforthephotoappclient".to_owned(),
            "MySuperSecretClientSecret2026!!!".to_owned(),
            "0123456789abcdef0123456789abcdef".to_owned(),
        ] {
            assert!(!strong_secret(&weak), "{weak}");
        }
        for strong in [
            "Xq3vL9pZ2mK7wR4tY8nB1cF6hJ0dG5sA",
            "k2J9-vQx7_Lm4Rz8Wn3Tb6Yp1Hc5Fd0Ga",
            "f3a9c2e17b8d4605a1c9e2f7b3d8a0c4",
            "7c1d0a2b9e8f4a3c5b6d7e8f9a0b1c2d3e4f5a6b",
        ] {
            assert!(strong_secret(strong), "{strong}");
        }
    }

    #[test]
    fn bad_registrations_name_the_field() {
        let cases: Vec<(&str, ClientRegistration, &str)> = vec![
            (
                "empty name",
                ClientRegistration {
                    name: " ".into(),
                    ..base()
                },
                "client_name",
            ),
            (
                "short secret",
                ClientRegistration {
                    secret: SecretChoice::Given("short".into()),
                    ..base()
                },
                "client_secret",
            ),
            (
                "bad id",
                ClientRegistration {
                    client_id: Some("a b".into()),
                    ..base()
                },
                "client_id",
            ),
            (
                "no redirect",
                ClientRegistration {
                    redirect_uris: vec![],
                    ..base()
                },
                "redirect_uris",
            ),
            (
                "fragment",
                ClientRegistration {
                    redirect_uris: vec!["https://a.example/#x".into()],
                    ..base()
                },
                "redirect_uris",
            ),
            (
                "bad grant",
                ClientRegistration {
                    grant_types: vec!["password".into()],
                    ..base()
                },
                "grant_types",
            ),
            (
                "public cc",
                ClientRegistration {
                    secret: SecretChoice::Public,
                    grant_types: vec!["client_credentials".into()],
                    ..base()
                },
                "grant_types",
            ),
            (
                "public basic",
                ClientRegistration {
                    secret: SecretChoice::Public,
                    token_endpoint_auth_method: Some("client_secret_basic".into()),
                    ..base()
                },
                "token_endpoint_auth_method",
            ),
            (
                "admin scope",
                ClientRegistration {
                    scopes: vec!["admin".into()],
                    ..base()
                },
                "scope",
            ),
            (
                "bad scope",
                ClientRegistration {
                    scopes: vec!["a\"b".into()],
                    ..base()
                },
                "scope",
            ),
        ];
        for (label, reg, field) in cases {
            match prepare(reg, keeper(), 0) {
                Err(RegistrationError::Invalid(e)) => assert_eq!(e.field, field, "{label}"),
                Err(e) => panic!("{label}: unexpected error {e}"),
                Ok(_) => panic!("{label}: accepted"),
            }
        }
    }
}
