//! OpenID Connect on top of `oauth`: accounts, discovery metadata.

pub mod accounts;
pub mod discovery;
