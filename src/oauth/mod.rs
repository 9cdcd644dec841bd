//! OAuth 2.0 protocol rules. No web types here: functions take `now` and a connection and
//! return domain values or errors.

pub mod auth_context;
pub mod authorize;
pub mod claims_request;
pub mod client_assertion;
pub mod client_auth;
pub mod client_keys;
pub mod device;
pub mod dpop;
pub mod dynamic;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod metadata_document;
pub mod params;
pub mod pkce;
pub mod redirect;
pub mod registration;
pub mod request_object;
pub mod resource;
pub mod revoke;
pub mod scope;
pub mod subject;
pub mod token;
