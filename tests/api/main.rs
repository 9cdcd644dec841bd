// The test binary: a failed unwrap is a failed test, which is what it should be; case tables
// are tuples of borrowed data.
#![allow(
    clippy::type_complexity,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod helpers;

mod abuse;
mod accessibility;
mod account;
mod admin;
mod authorize;
mod backchannel_logout;
mod browser;
mod claims_request;
mod cli;
mod cli_safety;
mod client_assertions;
mod client_auth;
mod client_credentials;
mod config;
mod cors;
mod custom_claims;
mod device;
mod discovery;
mod dpop;
mod factors;
mod faults;
mod guards;
mod hardening;
mod health;
mod introspect_revoke;
mod jwks;
mod keys;
mod limits;
mod logout;
mod logs;
mod mail;
mod metadata_documents;
mod metrics;
mod migrations;
mod native_app;
mod openapi;
mod openapi_examples;
mod pages;
mod pairwise;
mod parsers;
mod passkeys;
mod proxy;
mod pushed_requests;
mod refresh;
mod registration;
mod resources;
mod rotation;
mod rp_library;
mod rp_scripts;
mod sweeper;
mod token_code;
mod userinfo;
mod webdriver;
