use sea_orm::entity::prelude::*;

/// A browser session; the cookie holds the id, this row only its keyed hash.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "browser_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    /// The authentication methods used (RFC 8176), space-separated; none before they were
    /// recorded (a password).
    pub amr: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// The browser's User-Agent at sign-in (shortened), so a person can tell sessions apart.
    pub user_agent: Option<String>,
    /// When the person last proved who they are here with a sign-in (a password, a passkey
    /// alone) or by giving the password again; a second factor used later does not move it.
    /// What changing the sign-in methods asks to be recent.
    pub reauth_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
