//! The whole HTTP surface assembled: the routes of the protocol endpoints, the pages and the
//! admin API with their middleware, and the one OpenAPI service that describes them.

pub mod openapi;
pub mod router;
