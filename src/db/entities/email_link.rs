use sea_orm::entity::prelude::*;

/// A password-reset or address-verification link sent by mail, by keyed hash of its token.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// `reset` or `verify`.
    pub purpose: String,
    pub user_id: String,
    /// The address it was sent to (lower case).
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
