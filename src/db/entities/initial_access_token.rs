use sea_orm::entity::prelude::*;

/// An initial access token (RFC 7591 section 3): what lets an app register itself while
/// `registration.mode` is `initial_access_token`. Only its keyed hash is kept.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "initial_access_tokens")]
pub struct Model {
    /// A public handle for listing and revoking it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    /// What the operator minted it for.
    pub note: String,
    /// Registrations it may still make.
    pub uses_left: i64,
    pub expires_at: i64,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
