use sea_orm::entity::prelude::*;

/// List-valued columns hold JSON arrays of strings.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub redirect_uris: String,
    #[sea_orm(column_type = "Text")]
    pub post_logout_redirect_uris: String,
    #[sea_orm(column_type = "Text")]
    pub grant_types: String,
    #[sea_orm(column_type = "Text")]
    pub response_types: String,
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    pub token_endpoint_auth_method: String,
    #[sea_orm(column_type = "Text")]
    pub allowed_origins: String,
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub secret_wrapped: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub previous_secret_wrapped: Option<String>,
    pub require_pushed_authorization_requests: bool,
    pub require_signed_request_object: bool,
    pub dpop_bound_access_tokens: bool,
    /// The resources (RFC 8707) tokens may be issued for, a JSON array.
    #[sea_orm(column_type = "Text")]
    pub resources: String,
    /// `public` or `pairwise` (OIDC Core 8).
    pub subject_type: String,
    pub sector_identifier_uri: Option<String>,
    /// The sector a pairwise client's `sub`s are computed for.
    pub sector: Option<String>,
    /// The pages a consent page links to, and the logo it shows (served from here).
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// Who to contact about the client, a JSON array.
    #[sea_orm(column_type = "Text")]
    pub contacts: String,
    /// For a client that registered itself (RFC 7592): the keyed hash of the token it
    /// manages its registration with.
    pub registration_token_hash: Option<String>,
    /// Counted up by every write, so that a write made from an older read is refused.
    pub revision: i64,
    /// For a client described by a metadata document (its id is the document's URL): when
    /// the copy here stops being fresh, the document's entity tag, and the policy it met.
    pub document_expires_at: Option<i64>,
    pub document_etag: Option<String>,
    /// A digest of the registration policy the copy was checked against.
    pub document_policy: Option<String>,
    /// Where logout tokens are POSTed (Back-Channel Logout 1.0), and whether it needs `sid`.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// The page loaded in an iframe when a session ends (Front-Channel Logout 1.0), and
    /// whether it needs `iss` and `sid`.
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    /// Only people who used a second factor may sign in to it.
    pub require_mfa: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
