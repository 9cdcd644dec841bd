//! oidcd: an OpenID Connect provider. `Application::build(config)` builds the whole server;
//! the `oidcd` binary and the tests both start it that way.

mod abuse;
mod admin;
pub mod app;
pub mod cli;
mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod fetch;
pub mod http;
pub mod keys;
mod mail;
pub mod metrics;
pub mod oauth;
pub mod oidc;
pub mod password;
pub mod server;
pub mod state;
pub mod store;
pub mod tasks;
mod telemetry;
mod templates;
pub mod tokens;
mod web;

pub use app::{Application, Runtime, StartupError};
pub use clock::Clock;
pub use config::Config;
