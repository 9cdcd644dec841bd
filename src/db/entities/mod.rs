//! Table definitions: data only. Domain types and conversions live in `store`.

pub mod client;
pub mod prelude;
pub mod signing_key;
pub mod user;
