//! Client rows and the `Client` they hold.

use std::fmt;
use std::str::FromStr;

use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};
use serde::Serialize;

use super::{conflict_or_db, from_json_list, to_json_list, StoreError};
use crate::clock::UnixTime;
use crate::db::entities::client;

/// The grant types a client may be registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    DeviceCode,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
    ];

    /// The value of `grant_type` at the token endpoint (RFC 6749, RFC 8628 section 3.4).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = String;
    /// Accepts the wire value, and `device_code` as a short name for the device grant.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "device_code" => Ok(Self::DeviceCode),
            _ => Self::ALL
                .into_iter()
                .find(|g| g.as_str() == s)
                .ok_or_else(|| {
                    format!(
                        "`{s}` is not a grant type (authorization_code, refresh_token, \
                         client_credentials, device_code)"
                    )
                }),
        }
    }
}

impl Serialize for GrantType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 section 2, OIDC Core 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with the client's secret (HMAC, RFC 7523).
    ClientSecretJwt,
    /// A JWT signed with one of the client's private keys (RFC 7523).
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 5] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::ClientSecretJwt,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// Whether the client proves itself with a signed JWT (a client assertion).
    pub fn uses_assertion(self) -> bool {
        matches!(self, Self::ClientSecretJwt | Self::PrivateKeyJwt)
    }

    /// Whether the client holds a shared secret.
    pub fn has_secret(self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }
}

impl FromStr for AuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                "`{s}` is not an authentication method (client_secret_basic, client_secret_post, \
                 client_secret_jwt, private_key_jwt, none)"
            )
            })
    }
}

/// What a client's users' `sub` is (OIDC Core 8): the user's id everywhere, or one of its
/// own for each sector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    #[default]
    Public,
    Pairwise,
}

impl SubjectType {
    pub const ALL: [SubjectType; 2] = [SubjectType::Public, SubjectType::Pairwise];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }
}

impl FromStr for SubjectType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a subject type (public, pairwise)"))
    }
}

/// A registered client.
#[derive(Clone, Debug, Serialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// Keyed hash of the secret; `None` for a public client.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// The secret a rotation replaced (keyed hash) and when it stops being accepted.
    #[serde(skip)]
    pub previous_secret: Option<(String, UnixTime)>,
    /// For `client_secret_jwt`: the secret wrapped with the key-encryption key (an HMAC is
    /// checked with the secret itself), and the one a rotation replaced, for its overlap.
    #[serde(skip)]
    pub secret_wrapped: Option<String>,
    #[serde(skip)]
    pub previous_secret_wrapped: Option<String>,
    /// For `private_key_jwt`: the client's public keys, a JWK Set (JSON)...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// ...or the https URL they are fetched from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<String>,
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    /// Browser origins allowed beside those of the redirect URIs (CORS).
    pub allowed_origins: Vec<String>,
    /// Authorization requests must come through the pushed authorization request endpoint
    /// (RFC 9126 section 6).
    pub require_pushed_authorization_requests: bool,
    /// Authorization requests must be signed request objects (RFC 9101 section 10.5).
    pub require_signed_request_object: bool,
    /// Token requests must carry a DPoP proof: every access token is bound to a key
    /// (RFC 9449 section 5.2).
    pub dpop_bound_access_tokens: bool,
    /// Only people who used a second factor may sign in to it.
    pub require_mfa: bool,
    /// The resources (RFC 8707 identifiers) this client may ask tokens for.
    pub resources: Vec<String>,
    pub subject_type: SubjectType,
    /// The document listing the redirect URIs of a pairwise client's sector (OIDC Core 8.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// The sector a pairwise client's users' `sub`s are computed for, fixed at registration:
    /// the host of its redirect URIs or of its `sector_identifier_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// The client's home page, privacy policy and terms of service, linked from the consent
    /// page (RFC 7591 section 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Where its logo was fetched from; the consent page shows the copy kept here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Who to contact about the client (e-mail addresses).
    pub contacts: Vec<String>,
    /// For a client that registered itself (RFC 7591): the keyed hash of its registration
    /// access token (RFC 7592). `None` for a client an operator registered.
    #[serde(skip)]
    pub registration_token_hash: Option<String>,
    /// The row's revision when it was read: [`update`] writes only over that one.
    #[serde(skip)]
    pub revision: i64,
    /// For a client described by a Client ID Metadata Document (its id is the document's
    /// URL): how fresh the copy on this row is. `None` for every other client.
    #[serde(skip)]
    pub document: Option<DocumentCopy>,
    /// Where the client learns that a session it took part in ended.
    #[serde(flatten)]
    pub logout: LogoutChannels,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// How a client hears of the end of a session it took part in (OpenID Connect Back-Channel
/// Logout 1.0 and Front-Channel Logout 1.0, their metadata names).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogoutChannels {
    /// Where logout tokens are POSTed, server to server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Whether the client needs `sid` in them (it is always sent).
    pub backchannel_logout_session_required: bool,
    /// The page loaded in a hidden iframe of the signed-out page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// Whether that page needs `iss` and `sid` in its query.
    pub frontchannel_logout_session_required: bool,
}

/// How fresh a client's copy of its metadata document is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentCopy {
    /// When it must be fetched (or revalidated) again, from its HTTP caching headers.
    pub expires_at: UnixTime,
    /// Its entity tag, sent back in `If-None-Match` to revalidate it.
    pub etag: Option<String>,
    /// A digest of the registration policy it was checked against: under another policy it
    /// is fetched whole and checked again, not revalidated.
    pub policy: String,
}

impl Client {
    /// A client that cannot keep a secret or a key: it authenticates with `none`.
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == AuthMethod::None
    }

    /// The sector its users' `sub`s are computed for: `Some` for a pairwise client.
    pub fn pairwise_sector(&self) -> Option<&str> {
        match self.subject_type {
            SubjectType::Pairwise => self.sector.as_deref(),
            SubjectType::Public => None,
        }
    }

    /// Whether the client registered itself (RFC 7591), or is described by a metadata
    /// document it hosts, rather than being registered by an operator: nobody vouches for
    /// its name.
    pub fn self_registered(&self) -> bool {
        self.registration_token_hash.is_some() || self.document.is_some()
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether a browser page at `origin` (`scheme://host[:port]`, as the `Origin` header
    /// sends it) may read this client's answers: an origin of one of its redirect URIs, or
    /// one listed in `allowed_origins`.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
            || self
                .redirect_uris
                .iter()
                .filter_map(|uri| url::Url::parse(uri).ok())
                .map(|url| url.origin())
                .any(|o| o.is_tuple() && o.ascii_serialization() == origin)
    }
}

fn from_row(row: client::Model) -> Result<Client, StoreError> {
    // A pairwise client without its sector would hand out its users' ids: refuse the row.
    if row.subject_type == SubjectType::Pairwise.as_str() && row.sector.is_none() {
        return Err(StoreError::Corrupt(format!(
            "client {}: pairwise without a sector",
            row.client_id
        )));
    }
    let parse_list = |column: &str, text: &str| from_json_list(column, text);
    let grant_types = parse_list("grant_types", &row.grant_types)?
        .iter()
        .map(|g| g.parse().map_err(StoreError::Corrupt))
        .collect::<Result<_, _>>()?;
    Ok(Client {
        redirect_uris: parse_list("redirect_uris", &row.redirect_uris)?,
        post_logout_redirect_uris: parse_list(
            "post_logout_redirect_uris",
            &row.post_logout_redirect_uris,
        )?,
        grant_types,
        response_types: parse_list("response_types", &row.response_types)?,
        scopes: parse_list("scopes", &row.scopes)?,
        allowed_origins: parse_list("allowed_origins", &row.allowed_origins)?,
        resources: parse_list("resources", &row.resources)?,
        subject_type: row.subject_type.parse().map_err(StoreError::Corrupt)?,
        sector_identifier_uri: row.sector_identifier_uri,
        sector: row.sector,
        contacts: parse_list("contacts", &row.contacts)?,
        client_uri: row.client_uri,
        logo_uri: row.logo_uri,
        policy_uri: row.policy_uri,
        tos_uri: row.tos_uri,
        registration_token_hash: row.registration_token_hash,
        revision: row.revision,
        document: row.document_expires_at.map(|expires_at| DocumentCopy {
            expires_at,
            etag: row.document_etag,
            policy: row.document_policy.unwrap_or_default(),
        }),
        token_endpoint_auth_method: row
            .token_endpoint_auth_method
            .parse()
            .map_err(StoreError::Corrupt)?,
        client_id: row.client_id,
        name: row.name,
        secret_hash: row.secret_hash,
        previous_secret: row.previous_secret_hash.zip(row.previous_secret_expires_at),
        secret_wrapped: row.secret_wrapped,
        previous_secret_wrapped: row.previous_secret_wrapped,
        jwks: row.jwks,
        jwks_uri: row.jwks_uri,
        require_pushed_authorization_requests: row.require_pushed_authorization_requests,
        require_signed_request_object: row.require_signed_request_object,
        dpop_bound_access_tokens: row.dpop_bound_access_tokens,
        require_mfa: row.require_mfa,
        logout: LogoutChannels {
            backchannel_logout_uri: row.backchannel_logout_uri,
            backchannel_logout_session_required: row.backchannel_logout_session_required,
            frontchannel_logout_uri: row.frontchannel_logout_uri,
            frontchannel_logout_session_required: row.frontchannel_logout_session_required,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Every column of the client's row.
fn active(c: &Client) -> client::ActiveModel {
    let grant_types: Vec<String> = c
        .grant_types
        .iter()
        .map(|g| g.as_str().to_owned())
        .collect();
    client::ActiveModel {
        client_id: Set(c.client_id.clone()),
        name: Set(c.name.clone()),
        secret_hash: Set(c.secret_hash.clone()),
        redirect_uris: Set(to_json_list(&c.redirect_uris)),
        post_logout_redirect_uris: Set(to_json_list(&c.post_logout_redirect_uris)),
        grant_types: Set(to_json_list(&grant_types)),
        response_types: Set(to_json_list(&c.response_types)),
        scopes: Set(to_json_list(&c.scopes)),
        token_endpoint_auth_method: Set(c.token_endpoint_auth_method.as_str().to_owned()),
        allowed_origins: Set(to_json_list(&c.allowed_origins)),
        previous_secret_hash: Set(c.previous_secret.as_ref().map(|(h, _)| h.clone())),
        previous_secret_expires_at: Set(c.previous_secret.as_ref().map(|(_, t)| *t)),
        secret_wrapped: Set(c.secret_wrapped.clone()),
        previous_secret_wrapped: Set(c.previous_secret_wrapped.clone()),
        jwks: Set(c.jwks.clone()),
        jwks_uri: Set(c.jwks_uri.clone()),
        require_pushed_authorization_requests: Set(c.require_pushed_authorization_requests),
        require_signed_request_object: Set(c.require_signed_request_object),
        dpop_bound_access_tokens: Set(c.dpop_bound_access_tokens),
        require_mfa: Set(c.require_mfa),
        resources: Set(to_json_list(&c.resources)),
        subject_type: Set(c.subject_type.as_str().to_owned()),
        sector_identifier_uri: Set(c.sector_identifier_uri.clone()),
        sector: Set(c.sector.clone()),
        client_uri: Set(c.client_uri.clone()),
        logo_uri: Set(c.logo_uri.clone()),
        policy_uri: Set(c.policy_uri.clone()),
        tos_uri: Set(c.tos_uri.clone()),
        contacts: Set(to_json_list(&c.contacts)),
        registration_token_hash: Set(c.registration_token_hash.clone()),
        revision: Set(c.revision),
        document_expires_at: Set(c.document.as_ref().map(|d| d.expires_at)),
        document_etag: Set(c.document.as_ref().and_then(|d| d.etag.clone())),
        document_policy: Set(c.document.as_ref().map(|d| d.policy.clone())),
        backchannel_logout_uri: Set(c.logout.backchannel_logout_uri.clone()),
        backchannel_logout_session_required: Set(c.logout.backchannel_logout_session_required),
        frontchannel_logout_uri: Set(c.logout.frontchannel_logout_uri.clone()),
        frontchannel_logout_session_required: Set(c.logout.frontchannel_logout_session_required),
        created_at: Set(c.created_at),
        updated_at: Set(c.updated_at),
    }
}

pub async fn insert(db: &impl ConnectionTrait, c: &Client) -> Result<(), StoreError> {
    client::Entity::insert(active(c))
        .exec_without_returning(db)
        .await
        .map_err(|e| conflict_or_db(e, format!("a client with id `{}`", c.client_id)))?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, client_id: &str) -> Result<Client, StoreError> {
    let row = client::Entity::find_by_id(client_id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    from_row(row)
}

/// The client and whether `rules` (see [`super::throttle::at_limit`]) hold it back, in one
/// query; `None` when there is no such client.
pub async fn get_with_limits(
    db: &impl ConnectionTrait,
    client_id: &str,
    rules: &[(&str, i64, i64)],
    now: UnixTime,
) -> Result<Option<(Client, bool)>, StoreError> {
    use sea_orm::{FromQueryResult as _, QueryTrait as _};
    const AT_LIMIT: &str = "at_limit";
    // On every client authentication: rendered once per number of rules (0 to 3).
    static RENDERED: super::rendered::Rendered<8> = super::rendered::Rendered::new();
    let limits: Vec<(String, i64, i64)> = rules
        .iter()
        .map(|&(key, max, window)| (key.to_owned(), max, now - window))
        .collect();
    let backend = db.get_database_backend();
    let inputs = (client_id.to_owned(), limits);
    let query = RENDERED.statement(
        backend,
        rules.len(),
        inputs,
        |(client_id, limits), backend| {
            client::Entity::find_by_id(client_id.clone())
                .column_as(super::throttle::at_limit(limits), AT_LIMIT)
                .build(backend)
        },
    );
    let Some(row) = db.query_one(query).await? else {
        return Ok(None);
    };
    let at_limit = super::flag(&row, AT_LIMIT)?;
    Ok(Some((
        from_row(client::Model::from_query_result(&row, "")?)?,
        at_limit,
    )))
}

/// Clients ordered by id, `limit` at most, starting after `after` (keyset paging).
pub async fn list(
    db: &impl ConnectionTrait,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Client>, StoreError> {
    let mut query = client::Entity::find().order_by_asc(client::Column::ClientId);
    if let Some(after) = after {
        query = query.filter(client::Column::ClientId.gt(after));
    }
    query
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

pub async fn delete(db: &impl ConnectionTrait, client_id: &str) -> Result<(), StoreError> {
    let result = client::Entity::delete_by_id(client_id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Writes every field of a client back to its row, if the row is still the revision `c` was
/// read at: a write made from an older read would undo the one made since (a resource
/// deleted, a secret rotated), so it is refused with [`StoreError::Stale`].
pub async fn update(db: &impl ConnectionTrait, c: &Client) -> Result<(), StoreError> {
    let mut row = active(c);
    row.revision = Set(c.revision + 1);
    let result = client::Entity::update_many()
        .set(row)
        .filter(client::Column::ClientId.eq(c.client_id.as_str()))
        .filter(client::Column::Revision.eq(c.revision))
        .exec(db)
        .await?;
    if result.rows_affected == 1 {
        return Ok(());
    }
    match client::Entity::find_by_id(c.client_id.as_str())
        .one(db)
        .await?
    {
        Some(_) => Err(StoreError::Stale),
        None => Err(StoreError::NotFound),
    }
}
