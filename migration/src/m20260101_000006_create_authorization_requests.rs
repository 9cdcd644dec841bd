use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;
use crate::m20260101_000001_create_clients::Clients;

/// Validated authorization requests waiting for the user to log in or consent.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthorizationRequests::Table)
                    .if_not_exists()
                    .col(string(AuthorizationRequests::IdHash).primary_key())
                    .col(string(AuthorizationRequests::ClientId))
                    // The browser session the request belongs to (hash of its id).
                    .col(string_null(AuthorizationRequests::SessionIdHash))
                    // The validated parameters as a JSON object.
                    .col(text(AuthorizationRequests::Params))
                    .col(big_integer(AuthorizationRequests::CreatedAt))
                    .col(big_integer(AuthorizationRequests::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuthorizationRequests::Table, AuthorizationRequests::ClientId)
                            .to(Clients::Table, Clients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                AuthorizationRequests::Table,
                AuthorizationRequests::ExpiresAt,
                "idx_authorization_requests_expires_at",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuthorizationRequests::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuthorizationRequests {
    Table,
    IdHash,
    ClientId,
    SessionIdHash,
    Params,
    CreatedAt,
    ExpiresAt,
}
