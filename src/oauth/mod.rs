//! OAuth 2.0 protocol rules. No web types here: functions take `now` and a connection and
//! return domain values or errors.

pub mod redirect;
pub mod registration;
pub mod scope;
