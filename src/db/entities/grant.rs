use sea_orm::entity::prelude::*;

/// A grant (and refresh-token family) a user gave a client.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    pub auth_time: i64,
    /// The authentication methods used (RFC 8176), space-separated; none before they were
    /// recorded (a password).
    pub amr: Option<String>,
    pub session_id: Option<String>,
    pub refresh_generation: i64,
    pub rotated_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// A JSON list of the claims asked for in the ID token (the `claims` parameter).
    #[sea_orm(column_type = "Text", nullable)]
    pub id_token_claims: Option<String>,
    /// The thumbprint of the DPoP key a public client's refresh tokens are bound to.
    pub dpop_jkt: Option<String>,
    /// The resources (RFC 8707) tokens may be issued for, a JSON array.
    #[sea_orm(column_type = "Text")]
    pub resources: String,
    /// Access tokens of the grant issued at or before this time are dead (the session they
    /// were issued in ended); its refresh tokens are not.
    pub access_revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
