//! The admin API under `/admin` (clients, resources, initial access tokens, users,
//! keys), described by poem-openapi. Every
//! operation takes `AdminAuth` first; logic stays in `store`, `oauth::registration`,
//! `oidc::accounts` and `keys`. Every change is logged with who made it.

pub mod auth;
pub mod clients;
pub mod initial_access_tokens;
pub mod keys;
pub mod logout_deliveries;
pub mod objects;
pub mod payload;
pub mod resources;
pub mod users;

pub use clients::ClientsApi;
pub use initial_access_tokens::InitialAccessTokensApi;
pub use keys::KeysApi;
pub use logout_deliveries::LogoutDeliveriesApi;
pub use resources::ResourcesApi;
pub use users::UsersApi;

/// Page sizes: `limit` defaults to this and is capped at `MAX_LIMIT`.
pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

pub fn limit(requested: Option<u64>) -> u64 {
    requested.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}
