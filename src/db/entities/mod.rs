//! Table definitions: data only. Domain types and conversions live in `store`.

pub mod auth_code;
pub mod authorization_request;
pub mod browser_session;
pub mod client;
pub mod client_assertion;
pub mod client_logo;
pub mod consent;
pub mod device_code;
pub mod email_link;
pub mod grant;
pub mod initial_access_token;
pub mod logout_delivery;
pub mod passkey_ceremony;
pub mod prelude;
pub mod recovery_code;
pub mod refresh_token;
pub mod resource;
pub mod revocation;
pub mod signing_key;
pub mod throttle;
pub mod user;
pub mod user_factor;
