//! Transport: request extraction, error mapping, the middleware and the protocol's JSON
//! endpoints. `server` assembles them with the pages and the admin API.

pub mod assets;
pub mod conn;
pub mod cors;
pub mod discovery_api;
pub mod dto;
pub mod errors;
pub mod extract;
pub mod forwarded;
pub mod health;
pub mod limits;
pub mod observe;
pub mod payload;
pub mod protocol_api;
pub mod registration_api;
pub mod tags;
