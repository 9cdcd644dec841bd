//! Transport: routing and the protocol's JSON endpoints.

pub mod discovery_api;
pub mod health;
pub mod router;
