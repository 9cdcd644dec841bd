//! Dynamic client registration (RFC 7591) and the management of a registration by the app
//! that made it (RFC 7592): the metadata an app sends, read into a [`ClientRegistration`];
//! the policy that bounds what it may ask for (`registration.*`); initial access tokens,
//! which operators mint; registration access tokens, which apps get; and the client
//! information answered. Everything else about a client (defaults, validation, secrets) is
//! `registration`'s, the same for an app as for an operator.

use serde_json::{Map, Value};

use super::error::{ErrorCode, OAuthError};
use super::redirect::RedirectKind;
use super::registration::{
    self, field_error, ClientPages, ClientRegistration, FieldError, Keeper, Registered,
    RegistrationError, SecretChoice,
};
use super::scope;
use crate::clock::UnixTime;
use crate::config::{self, ConfigError, RegistrationConfig, RegistrationMode};
use crate::crypto::{self, KeyedHasher};
use crate::db::Db;
use crate::store::clients::{AuthMethod, Client, GrantType, LogoutChannels};
use crate::store::{self, StoreError};

/// The most values a list member may hold.
const MAX_LIST: usize = 100;

/// What a registered app may ask for, from `registration.*`, names checked at start-up.
#[derive(Clone, Debug)]
pub struct Policy {
    pub mode: RegistrationMode,
    grant_types: Vec<GrantType>,
    scopes: Vec<String>,
    redirect_kinds: Vec<RedirectKind>,
    auth_methods: Vec<AuthMethod>,
    resources: Vec<String>,
    /// Whether a `client_id` may be the URL of the app's metadata document.
    pub metadata_documents: bool,
    /// The hosts those documents may be on; any when empty.
    pub document_hosts: Vec<String>,
    /// Hosts and `client_id` URLs whose documents are refused.
    pub blocked_documents: Vec<String>,
    /// A digest of what a document is held to, to tell when a copy was checked under
    /// another policy.
    pub digest: String,
}

fn each<T>(
    key: &str,
    names: &config::NameList,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    names
        .0
        .iter()
        .map(|n| parse(n).map_err(|why| ConfigError::invalid(config::named(key), why)))
        .collect()
}

impl Policy {
    pub fn new(config: &RegistrationConfig) -> Result<Self, ConfigError> {
        let scopes = each("registration.scopes", &config.scopes, |s| {
            if !scope::is_scope_token(s) {
                Err(format!("`{s}` is not a scope"))
            } else if s == scope::ADMIN {
                Err("the admin scope is never open to registered apps".into())
            } else {
                Ok(s.to_owned())
            }
        })?;
        let resources = each("registration.resources", &config.resources, |r| {
            if super::resource::is_identifier(r) {
                Ok(r.to_owned())
            } else {
                Err(format!("`{r}` is not a resource identifier"))
            }
        })?;
        for (key, list) in [
            ("registration.grant_types", &config.grant_types),
            ("registration.scopes", &config.scopes),
            ("registration.redirect_uris", &config.redirect_uris),
            ("registration.auth_methods", &config.auth_methods),
        ] {
            if list.0.is_empty() {
                return Err(ConfigError::invalid(
                    config::named(key),
                    "must name at least one (to let no app register, set registration.mode off)",
                ));
            }
        }
        let mut policy = Self {
            mode: config.mode,
            grant_types: each("registration.grant_types", &config.grant_types, str::parse)?,
            scopes,
            redirect_kinds: each(
                "registration.redirect_uris",
                &config.redirect_uris,
                str::parse,
            )?,
            auth_methods: each(
                "registration.auth_methods",
                &config.auth_methods,
                str::parse,
            )?,
            resources,
            metadata_documents: config.metadata_documents,
            document_hosts: each("registration.document_hosts", &config.document_hosts, |h| {
                match url::Host::parse(h) {
                    Ok(host) if host.to_string() == *h => Ok(h.to_owned()),
                    _ => Err(format!("`{h}` is not a host name in lower case")),
                }
            })?,
            blocked_documents: config.blocked_documents.0.clone(),
            digest: String::new(),
        };
        policy.digest = crypto::b64url(&crypto::sha256(format!("{policy:?}").as_bytes()));
        Ok(policy)
    }

    pub fn is_on(&self) -> bool {
        self.mode != RegistrationMode::Off
    }

    /// The metadata an app sent, held to the policy and completed with its defaults: the
    /// authorization code grant (and refresh tokens, when open), `client_secret_basic`
    /// (RFC 7591 section 2), every scope open to apps, and the resources every app gets.
    pub fn admit(&self, mut reg: ClientRegistration) -> Result<ClientRegistration, FieldError> {
        if reg.grant_types.is_empty() {
            reg.grant_types = [GrantType::AuthorizationCode, GrantType::RefreshToken]
                .into_iter()
                .filter(|g| *g == GrantType::AuthorizationCode || self.grant_types.contains(g))
                .map(|g| g.as_str().to_owned())
                .collect();
        }
        for name in &reg.grant_types {
            if let Ok(grant) = name.parse::<GrantType>() {
                if !self.grant_types.contains(&grant) {
                    return Err(refused("grant_types", name, "registration.grant_types"));
                }
            }
        }
        let method = reg
            .token_endpoint_auth_method
            .get_or_insert_with(|| AuthMethod::ClientSecretBasic.as_str().to_owned());
        if let Ok(parsed) = method.parse::<AuthMethod>() {
            if !self.auth_methods.contains(&parsed) {
                return Err(refused(
                    "token_endpoint_auth_method",
                    method,
                    "registration.auth_methods",
                ));
            }
            if parsed == AuthMethod::None {
                reg.secret = SecretChoice::Public;
            }
        }
        if reg.scopes.is_empty() {
            reg.scopes.clone_from(&self.scopes);
        } else if let Some(s) = reg.scopes.iter().find(|s| !self.scopes.contains(s)) {
            return Err(refused("scope", s, "registration.scopes"));
        }
        for (field, uris) in [
            ("redirect_uris", &reg.redirect_uris),
            ("post_logout_redirect_uris", &reg.post_logout_redirect_uris),
        ] {
            for uri in uris {
                if let Some(kind) = RedirectKind::of(uri) {
                    if !self.redirect_kinds.contains(&kind) {
                        return Err(field_error(
                            field,
                            format!(
                                "`{uri}`: {} redirect URIs are not open to registered apps here \
                                 (registration.redirect_uris)",
                                kind.as_str()
                            ),
                        ));
                    }
                }
            }
        }
        reg.resources.clone_from(&self.resources);
        reg.admin = false;
        reg.client_id = None;
        reg.allowed_origins = Vec::new();
        Ok(reg)
    }
}

fn refused(field: &'static str, value: &str, setting: &str) -> FieldError {
    FieldError {
        field,
        message: format!("`{value}` is not open to registered apps here ({setting})"),
    }
}

/// Client metadata as an app sends it: RFC 7591 section 2, OIDC Dynamic Registration
/// section 2, and the rules of RFC 9126, 9101 and 9449. Members this provider does not know
/// are ignored (RFC 7591 section 2); a `null` member is left out.
#[derive(Debug)]
pub struct Metadata {
    pub registration: ClientRegistration,
    /// Sent back when an app updates its registration (RFC 7592 section 2.2).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).filter(|v| !v.is_null())
}

fn string(map: &Map<String, Value>, name: &'static str) -> Result<Option<String>, FieldError> {
    match member(map, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(field_error(name, "must be a string")),
    }
}

fn strings(map: &Map<String, Value>, name: &'static str) -> Result<Vec<String>, FieldError> {
    let Some(value) = member(map, name) else {
        return Ok(Vec::new());
    };
    let list = value
        .as_array()
        .filter(|l| l.len() <= MAX_LIST)
        .ok_or_else(|| {
            field_error(
                name,
                format!("must be an array of at most {MAX_LIST} strings"),
            )
        })?;
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| field_error(name, "must be an array of strings"))
        })
        .collect()
}

fn boolean(map: &Map<String, Value>, name: &'static str) -> Result<bool, FieldError> {
    match member(map, name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(field_error(name, "must be true or false")),
    }
}

/// Members naming what this provider does not do: encrypted responses and signed userinfo.
const UNSUPPORTED: [&str; 7] = [
    "userinfo_signed_response_alg",
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
    "request_object_encryption_alg",
    "authorization_encrypted_response_alg",
];

/// Reads the metadata an app sent. Shapes are checked here; values are checked by
/// [`Policy::admit`] and `registration::prepare`.
pub fn read(body: &Value) -> Result<Metadata, FieldError> {
    let map = body
        .as_object()
        .ok_or_else(|| field_error("body", "must be a JSON object of client metadata"))?;
    if let Some(name) = UNSUPPORTED.iter().find(|n| member(map, n).is_some()) {
        return Err(field_error(name, "is not supported here"));
    }
    if let Some(alg) = string(map, "id_token_signed_response_alg")? {
        if alg != "RS256" {
            return Err(field_error(
                "id_token_signed_response_alg",
                "ID tokens are signed with RS256 here",
            ));
        }
    }
    let grant_types = strings(map, "grant_types")?;
    let response_types = strings(map, "response_types")?;
    if let Some(other) = response_types.iter().find(|r| *r != "code") {
        return Err(field_error(
            "response_types",
            format!("`{other}` is not supported: the response type is code"),
        ));
    }
    let code_grant = grant_types.is_empty()
        || grant_types
            .iter()
            .any(|g| g == GrantType::AuthorizationCode.as_str());
    if !response_types.is_empty() && !code_grant {
        return Err(field_error(
            "response_types",
            "code needs the authorization_code grant",
        ));
    }
    let scopes = match string(map, "scope")? {
        Some(s) => scope::parse(&s).map_err(|e| field_error("scope", e.description))?,
        None => Vec::new(),
    };
    let jwks = match member(map, "jwks") {
        None => None,
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(field_error("jwks", "must be a JWK Set (a JSON object)")),
    };
    let redirect_uris = strings(map, "redirect_uris")?;
    let name = match string(map, "client_name")? {
        Some(name) => name,
        // RFC 7591 section 2: without a name, the app is shown by where it sends people.
        None => redirect_uris
            .first()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(|h| h.chars().take(200).collect()))
            .unwrap_or_else(|| "Unnamed app".to_owned()),
    };
    Ok(Metadata {
        registration: ClientRegistration {
            name,
            redirect_uris,
            post_logout_redirect_uris: strings(map, "post_logout_redirect_uris")?,
            grant_types,
            scopes,
            token_endpoint_auth_method: string(map, "token_endpoint_auth_method")?,
            jwks,
            jwks_uri: string(map, "jwks_uri")?,
            require_pushed_authorization_requests: boolean(
                map,
                "require_pushed_authorization_requests",
            )?,
            require_signed_request_object: boolean(map, "require_signed_request_object")?,
            dpop_bound_access_tokens: boolean(map, "dpop_bound_access_tokens")?,
            subject_type: string(map, "subject_type")?,
            sector_identifier_uri: string(map, "sector_identifier_uri")?,
            pages: ClientPages {
                client_uri: string(map, "client_uri")?,
                logo_uri: string(map, "logo_uri")?,
                policy_uri: string(map, "policy_uri")?,
                tos_uri: string(map, "tos_uri")?,
            },
            contacts: strings(map, "contacts")?,
            logout: LogoutChannels {
                backchannel_logout_uri: string(map, "backchannel_logout_uri")?,
                backchannel_logout_session_required: boolean(
                    map,
                    "backchannel_logout_session_required",
                )?,
                frontchannel_logout_uri: string(map, "frontchannel_logout_uri")?,
                frontchannel_logout_session_required: boolean(
                    map,
                    "frontchannel_logout_session_required",
                )?,
            },
            ..ClientRegistration::default()
        },
        client_id: string(map, "client_id")?,
        client_secret: string(map, "client_secret")?,
    })
}

/// Why a registration request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// The protocol's error: `invalid_client_metadata`, `invalid_redirect_uri` (RFC 7591
    /// 3.2.2), `invalid_token` (RFC 6750, a missing or wrong token), `invalid_request`
    /// (registration is off), or a server error.
    Protocol(OAuthError),
    /// This address registered `registration.per_ip` apps in the window.
    Throttled { retry_after: i64 },
}

impl From<OAuthError> for Refusal {
    fn from(e: OAuthError) -> Self {
        Self::Protocol(e)
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Protocol(e.into())
    }
}

impl From<FieldError> for Refusal {
    fn from(e: FieldError) -> Self {
        let code = if e.field == "redirect_uris" {
            ErrorCode::InvalidRedirectUri
        } else {
            ErrorCode::InvalidClientMetadata
        };
        Self::Protocol(OAuthError::new(code, format!("{}: {}", e.field, e.message)))
    }
}

impl From<RegistrationError> for Refusal {
    fn from(e: RegistrationError) -> Self {
        match e {
            RegistrationError::Invalid(f) => f.into(),
            RegistrationError::Store(s) => s.into(),
            RegistrationError::Crypto(c) => OAuthError::server_error(&c).into(),
            RegistrationError::Kek(k) => OAuthError::server_error(&k).into(),
        }
    }
}

fn bad_token() -> Refusal {
    Refusal::Protocol(OAuthError::invalid_token(
        "The token is missing, unknown, expired or used up.",
    ))
}

/// A registered client as its app is told about it (RFC 7591 section 3.2.1, RFC 7592
/// section 3): its secret only when one was just issued, its registration access token
/// (the one it presented, or a new one).
#[derive(Debug)]
pub struct Information {
    pub client: Client,
    pub secret: Option<String>,
    pub registration_access_token: String,
}

/// Who may register: nobody when registration is off; the holder of a live initial access
/// token; or, when open, anyone, `registration.per_ip` times per window from one address.
/// Returns the keyed hash of the initial access token to spend.
pub async fn admit(
    db: &Db,
    config: &config::Config,
    policy: &Policy,
    hasher: &KeyedHasher,
    token: Option<&str>,
    address: &str,
    now: UnixTime,
) -> Result<Option<String>, Refusal> {
    match policy.mode {
        RegistrationMode::Off => Err(OAuthError::invalid_request(
            "Apps do not register themselves here (registration.mode is off): ask the \
             operator to register yours.",
        )
        .into()),
        RegistrationMode::InitialAccessToken => {
            let hash = hasher.hash(token.ok_or_else(bad_token)?);
            match store::initial_access_tokens::usable(db, &hash, now).await? {
                Some(_) => Ok(Some(hash)),
                None => Err(bad_token()),
            }
        }
        RegistrationMode::Open => {
            let rules = crate::abuse::registrations(config, address);
            match crate::abuse::reserve(db, &rules, now).await?.verdict {
                crate::abuse::Verdict::Allowed => Ok(None),
                crate::abuse::Verdict::Refused(_) => Err(Refusal::Throttled {
                    retry_after: config.registration.window.as_i64(),
                }),
            }
        }
    }
}

/// The registered resources among those every app gets (one an operator removed is left
/// out rather than refusing every app).
pub(crate) async fn open_resources(db: &Db, policy: &Policy) -> Result<Vec<String>, StoreError> {
    if policy.resources.is_empty() {
        return Ok(Vec::new());
    }
    let found = store::resources::find_many(db, &policy.resources).await?;
    Ok(policy
        .resources
        .iter()
        .filter(|r| found.iter().any(|f| &f.identifier == *r))
        .cloned()
        .collect())
}

/// `POST /oauth/register` once admitted: reads, checks and stores the client, spending the
/// initial access token (`spend`, its keyed hash) in the same transaction.
pub async fn register(
    db: &Db,
    keeper: Keeper<'_>,
    policy: &Policy,
    body: &Value,
    spend: Option<&str>,
    now: UnixTime,
) -> Result<Information, Refusal> {
    let mut reg = policy.admit(read(body)?.registration)?;
    reg.resources = open_resources(db, policy).await?;
    let Registered { mut client, secret } = registration::prepare(reg, keeper, now)?;
    let logo = registration::check_fetched(db, keeper.fetcher, &client).await?;
    let token = crypto::random_token().map_err(|e| OAuthError::server_error(&e))?;
    client.registration_token_hash = Some(keeper.hasher.hash(&token));
    let txn = db.begin().await.map_err(StoreError::from)?;
    if let Some(hash) = spend {
        if !store::initial_access_tokens::spend(&txn, hash, now).await? {
            return Err(bad_token());
        }
    }
    registration::store_new(&txn, &client, logo.as_ref(), now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    tracing::info!(action = "client.register", client_id = %client.client_id, "an app registered itself");
    Ok(Information {
        client,
        secret,
        registration_access_token: token,
    })
}

/// The client whose registration `token` manages (RFC 7592 section 2). An unknown client, a
/// client an operator registered, and a wrong token are the same `invalid_token`.
pub async fn authenticate(
    db: &Db,
    policy: &Policy,
    hasher: &KeyedHasher,
    client_id: &str,
    token: Option<&str>,
) -> Result<Client, Refusal> {
    if !policy.is_on() {
        return Err(OAuthError::invalid_request(
            "Registrations are not managed here (registration.mode is off).",
        )
        .into());
    }
    let token = token.ok_or_else(bad_token)?;
    let client = match store::clients::get(db, client_id).await {
        Ok(client) => client,
        Err(StoreError::NotFound) => return Err(bad_token()),
        Err(e) => return Err(e.into()),
    };
    match &client.registration_token_hash {
        Some(stored) if hasher.verify(token, stored) => Ok(client),
        _ => Err(bad_token()),
    }
}

/// `PUT /oauth/register/{client_id}` (RFC 7592 section 2.2): the metadata sent replaces the
/// client's, held to the policy as at registration. What the app cannot change: its id, its
/// subject type and pairwise sector (every `sub` it knows would change), the resources and
/// origins operators gave it. Its secret stays unless its authentication method needs a new
/// one (which is then answered once). A client that drops its secret or moves to other
/// redirect hosts loses its grants and remembered consents: what users allowed was for the
/// client as it was. Written only over the revision read (a concurrent change is refused).
pub async fn replace(
    db: &Db,
    keeper: Keeper<'_>,
    policy: &Policy,
    current: Client,
    body: &Value,
    now: UnixTime,
) -> Result<(Client, Option<String>), Refusal> {
    let metadata = read(body)?;
    if metadata
        .client_id
        .as_deref()
        .is_some_and(|id| id != current.client_id)
    {
        return Err(field_error("client_id", "must be this client's id").into());
    }
    if let Some(secret) = &metadata.client_secret {
        // Its secret, or the one a rotation replaced while that one still works.
        let previous = current
            .previous_secret
            .as_ref()
            .filter(|(_, until)| *until > now)
            .map(|(hash, _)| hash.as_str());
        let matches = current
            .secret_hash
            .as_deref()
            .into_iter()
            .chain(previous)
            .any(|stored| keeper.hasher.verify(secret, stored));
        if !matches {
            return Err(field_error("client_secret", "is not this client's secret").into());
        }
    }
    let mut reg = policy.admit(metadata.registration)?;
    reg.client_id = Some(current.client_id.clone());
    let Registered {
        client: mut fresh,
        secret,
    } = registration::prepare(reg, keeper, now)?;
    registration::keeps_subjects(&current, &fresh)?;
    let (old, new) = (
        current.token_endpoint_auth_method,
        fresh.token_endpoint_auth_method,
    );
    let same_secret = old.has_secret()
        && (old == new
            || matches!(
                (old, new),
                (
                    AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost,
                    AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
                )
            ));
    let secret = if same_secret {
        fresh.secret_hash.clone_from(&current.secret_hash);
        fresh.previous_secret.clone_from(&current.previous_secret);
        fresh.secret_wrapped.clone_from(&current.secret_wrapped);
        fresh
            .previous_secret_wrapped
            .clone_from(&current.previous_secret_wrapped);
        None
    } else {
        secret
    };
    let start_again = registration::starts_again(&current, &fresh);
    // Documents are fetched again only when what names them changed.
    let sector_moved = fresh.sector_identifier_uri != current.sector_identifier_uri
        || fresh.redirect_uris != current.redirect_uris;
    let logo_moved = fresh.logo_uri != current.logo_uri;
    fresh.resources = current.resources;
    fresh.allowed_origins = current.allowed_origins;
    // Set by operators only: an app cannot lift it by registering itself again.
    fresh.require_mfa = current.require_mfa;
    fresh.created_at = current.created_at;
    fresh.registration_token_hash = current.registration_token_hash;
    fresh.revision = current.revision;
    if sector_moved {
        registration::check_sector(keeper.fetcher, &fresh).await?;
    }
    let logo = if logo_moved {
        Some(registration::fetch_logo(keeper.fetcher, &fresh).await?)
    } else {
        None
    };
    let txn = db.begin().await.map_err(StoreError::from)?;
    match store::clients::update(&txn, &fresh).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(bad_token()),
        Err(StoreError::Stale) => {
            return Err(OAuthError::invalid_request(
                "The registration changed while this request was made: read it again and retry.",
            )
            .into())
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(logo) = logo {
        registration::keep_logo(&txn, &fresh.client_id, logo.as_ref(), now).await?;
    }
    if start_again {
        store::grants::revoke_for_client(&txn, &fresh.client_id, now).await?;
        store::consents::forget_client(&txn, &fresh.client_id).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    tracing::info!(action = "client.reregister", client_id = %fresh.client_id, "an app updated its registration");
    Ok((fresh, secret))
}

/// `DELETE /oauth/register/{client_id}` (RFC 7592 section 2.3): the client goes, with
/// everything issued to it.
pub async fn delete(db: &Db, client: &Client) -> Result<(), Refusal> {
    match store::clients::delete(db, &client.client_id).await {
        Ok(()) | Err(StoreError::NotFound) => {
            tracing::info!(action = "client.unregister", client_id = %client.client_id, "an app deleted its registration");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A new initial access token: the row to store and the token in clear (shown once).
pub fn mint(
    hasher: &KeyedHasher,
    note: String,
    uses: i64,
    lifetime: i64,
    now: UnixTime,
) -> Result<(store::initial_access_tokens::InitialAccessToken, String), RegistrationError> {
    const MAX_USES: i64 = 10_000;
    const MAX_LIFETIME: i64 = 365 * 86_400;
    if !(1..=MAX_USES).contains(&uses) {
        return Err(field_error("uses", format!("must be 1 to {MAX_USES}")).into());
    }
    if !(1..=MAX_LIFETIME).contains(&lifetime) {
        return Err(field_error(
            "expires_in",
            format!("must be 1 to {MAX_LIFETIME} seconds (a year)"),
        )
        .into());
    }
    if note.chars().count() > 200 || note.chars().any(char::is_control) {
        return Err(field_error("note", "must be at most 200 printable characters").into());
    }
    let token = crypto::random_token()?;
    let id = crypto::b64url(&crypto::random_bytes::<9>()?);
    Ok((
        store::initial_access_tokens::InitialAccessToken {
            id,
            token_hash: hasher.hash(&token),
            note,
            uses_left: uses,
            expires_at: now + lifetime,
            created_at: now,
        },
        token,
    ))
}
