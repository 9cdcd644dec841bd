//! The schema's history. Every change is a new file listed here in order; a file that has
//! landed is never edited. No data lives in migrations (one brings stored usernames under the username rule): admin
//! clients and keys are made at run time.

pub use sea_orm_migration::prelude::*;

pub mod emails;
mod m20260101_000001_create_clients;
mod m20260101_000002_create_users;
mod m20260101_000003_create_signing_keys;
mod m20260101_000004_create_browser_sessions;
mod m20260101_000005_create_consents;
mod m20260101_000006_create_authorization_requests;
mod m20260101_000007_create_grants;
mod m20260101_000008_create_auth_codes;
mod m20260101_000009_create_refresh_tokens;
mod m20260101_000010_create_device_codes;
mod m20260101_000011_create_revocations;
mod m20260102_000001_create_throttles;
mod m20261202_000001_add_client_allowed_origins;
mod m20261202_000002_add_client_previous_secret;
mod m20261202_000003_canonical_usernames;
mod m20261203_000001_client_keys;
mod m20261203_000002_id_token_claims;
mod m20261203_000003_request_rules;
mod m20261203_000004_dpop;
mod m20261203_000005_resources;
mod m20261203_000006_pairwise;
mod m20261203_000007_consent_resources;
mod m20261203_000008_registration;
mod m20261203_000009_metadata_documents;
mod m20261204_000001_logout;
mod m20261204_000002_factors;
mod m20261204_000003_mail;
mod m20261204_000004_passkeys;
pub mod usernames;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_clients::Migration),
            Box::new(m20260101_000002_create_users::Migration),
            Box::new(m20260101_000003_create_signing_keys::Migration),
            Box::new(m20260101_000004_create_browser_sessions::Migration),
            Box::new(m20260101_000005_create_consents::Migration),
            Box::new(m20260101_000006_create_authorization_requests::Migration),
            Box::new(m20260101_000007_create_grants::Migration),
            Box::new(m20260101_000008_create_auth_codes::Migration),
            Box::new(m20260101_000009_create_refresh_tokens::Migration),
            Box::new(m20260101_000010_create_device_codes::Migration),
            Box::new(m20260101_000011_create_revocations::Migration),
            Box::new(m20260102_000001_create_throttles::Migration),
            Box::new(m20261202_000001_add_client_allowed_origins::Migration),
            Box::new(m20261202_000002_add_client_previous_secret::Migration),
            Box::new(m20261202_000003_canonical_usernames::Migration),
            Box::new(m20261203_000001_client_keys::Migration),
            Box::new(m20261203_000002_id_token_claims::Migration),
            Box::new(m20261203_000003_request_rules::Migration),
            Box::new(m20261203_000004_dpop::Migration),
            Box::new(m20261203_000005_resources::Migration),
            Box::new(m20261203_000006_pairwise::Migration),
            Box::new(m20261203_000007_consent_resources::Migration),
            Box::new(m20261203_000008_registration::Migration),
            Box::new(m20261203_000009_metadata_documents::Migration),
            Box::new(m20261204_000001_logout::Migration),
            Box::new(m20261204_000002_factors::Migration),
            Box::new(m20261204_000003_mail::Migration),
            Box::new(m20261204_000004_passkeys::Migration),
        ]
    }
}

/// Names the index `idx_<table>_<column>` so every migration spells it the same way.
pub(crate) fn index_on<T, C>(table: T, column: C, name: &str) -> IndexCreateStatement
where
    T: IntoIden + 'static,
    C: IntoIden + 'static,
{
    Index::create()
        .name(name)
        .table(table)
        .col(column)
        .to_owned()
}
