use sea_orm::entity::prelude::*;

/// A person's second factor. A TOTP generator keeps its secret wrapped by the
/// key-encryption key; it counts once confirmed by a first code. A passkey keeps its public
/// key, counter and backup flags (the library's `Passkey`, as JSON) in `secret`, and its
/// counter in `last_step` too.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_factors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    /// `totp` or `passkey`.
    pub kind: String,
    /// What the person calls it.
    pub name: String,
    pub secret: String,
    /// The last TOTP time step accepted: a code for it or an earlier one is refused.
    pub last_step: Option<i64>,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// While unconfirmed: the browser session setting it up; no other may see or confirm it.
    pub session_id_hash: Option<String>,
    /// A passkey's credential id (base64url), unique across accounts.
    pub credential_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
