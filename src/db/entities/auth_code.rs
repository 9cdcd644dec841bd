use sea_orm::entity::prelude::*;

/// An authorization code by keyed hash; single-use (`used_at`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: i64,
    /// The authentication methods used (RFC 8176), space-separated; none before they were
    /// recorded (a password).
    pub amr: Option<String>,
    pub grant_id: Option<String>,
    /// A JSON list of the claims asked for in the ID token (the `claims` parameter).
    #[sea_orm(column_type = "Text", nullable)]
    pub id_token_claims: Option<String>,
    /// The thumbprint of the DPoP key the code is bound to (`dpop_jkt`, RFC 9449 10).
    pub dpop_jkt: Option<String>,
    pub used_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The resources (RFC 8707) tokens may be issued for, a JSON array.
    #[sea_orm(column_type = "Text")]
    pub resources: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
