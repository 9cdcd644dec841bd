//! OpenID Connect on top of `oauth`: accounts, ID tokens, claims, userinfo, logout,
//! discovery metadata.

pub mod accounts;
pub mod claims;
pub mod discovery;
pub mod id_token;
pub mod logout;
pub mod userinfo;
