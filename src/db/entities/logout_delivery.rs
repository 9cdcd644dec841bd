use sea_orm::entity::prelude::*;

/// A logout token waiting to be POSTed to a client's back-channel logout URI, or the record
/// of one that was (or could not be).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "logout_deliveries")]
pub struct Model {
    /// The logout token's `jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    pub uri: String,
    /// The `sub` as the client knows the user (pairwise where the client is).
    pub subject: String,
    pub sid: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// While an instance is sending it: until when the others leave it alone.
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    /// Given up after this.
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
