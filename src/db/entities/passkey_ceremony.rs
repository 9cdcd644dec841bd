use sea_orm::entity::prelude::*;

/// A passkey ceremony (registration or sign-in) started for a browser session, waiting for
/// the browser's answer; by keyed hash of the handle its page holds.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkey_ceremonies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub session_id_hash: String,
    /// `register`, `sign_in` or `second_factor`.
    pub purpose: String,
    /// The person it is for (none for a sign-in that finds them by their passkey).
    pub user_id: Option<String>,
    /// The library's ceremony state (JSON).
    pub state: String,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
