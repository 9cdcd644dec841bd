use sea_orm::entity::prelude::*;

/// A client's logo, fetched from its `logo_uri` and served from here: the image's bytes, its
/// type (checked against its first bytes) and a digest that names its version in URLs.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_logos")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub digest: String,
    pub fetched_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
