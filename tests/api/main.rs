// The test binary: a failed unwrap is a failed test, which is what it should be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod helpers;

mod cli;
mod config;
mod discovery;
mod health;
mod jwks;
mod keys;
