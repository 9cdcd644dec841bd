use sea_orm::entity::prelude::*;

/// An RFC 8628 device authorization; both codes by keyed hash.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub device_code_hash: String,
    #[sea_orm(unique)]
    pub user_code_hash: String,
    pub client_id: String,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// pending | approved | denied
    pub status: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    /// The authentication methods used (RFC 8176), space-separated; none before they were
    /// recorded (a password).
    pub amr: Option<String>,
    pub session_id: Option<String>,
    pub interval: i64,
    pub last_polled_at: Option<i64>,
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
