use sea_orm::entity::prelude::*;

/// A resource (RFC 8707): an API that access tokens can be issued for, by its identifier (an
/// absolute URI, the tokens' `aud`), with the scopes it accepts (a JSON array).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "resources")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub identifier: String,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
