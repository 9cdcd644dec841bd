use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260101_000001_create_clients::Clients as CreatedClients;

/// Dynamic client registration (RFC 7591, RFC 7592) and what a consent page shows of a
/// client:
/// - on `clients`: the pages a client names (`client_uri`, `policy_uri`, `tos_uri`), its
///   `logo_uri`, its `contacts` (a JSON array), and the keyed hash of the registration access
///   token of a client that registered itself, and a revision that every write of the row
///   counts up (a write made from an older read is refused rather than undoing another);
/// - `client_logos`: the logo fetched from `logo_uri`, served from here so the consent page
///   loads nothing from elsewhere;
/// - `initial_access_tokens`: what an operator hands out to let apps register (keyed
///   hashes, each with the registrations it has left and when it expires).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Clients::ClientUri,
            Clients::LogoUri,
            Clients::PolicyUri,
            Clients::TosUri,
            Clients::RegistrationTokenHash,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .add_column(string_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(text(Clients::Contacts).default("[]"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(big_integer(Clients::Revision).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClientLogos::Table)
                    .if_not_exists()
                    .col(string(ClientLogos::ClientId).primary_key())
                    .col(string(ClientLogos::ContentType))
                    .col(blob(ClientLogos::Bytes))
                    .col(string(ClientLogos::Digest))
                    .col(big_integer(ClientLogos::FetchedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ClientLogos::Table, ClientLogos::ClientId)
                            .to(CreatedClients::Table, CreatedClients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InitialAccessTokens::Table)
                    .if_not_exists()
                    .col(string(InitialAccessTokens::Id).primary_key())
                    .col(string_uniq(InitialAccessTokens::TokenHash))
                    .col(string(InitialAccessTokens::Note))
                    .col(big_integer(InitialAccessTokens::UsesLeft))
                    .col(big_integer(InitialAccessTokens::ExpiresAt))
                    .col(big_integer(InitialAccessTokens::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(InitialAccessTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ClientLogos::Table).to_owned())
            .await?;
        for column in [
            Clients::Revision,
            Clients::Contacts,
            Clients::RegistrationTokenHash,
            Clients::TosUri,
            Clients::PolicyUri,
            Clients::LogoUri,
            Clients::ClientUri,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    ClientUri,
    LogoUri,
    PolicyUri,
    TosUri,
    Contacts,
    RegistrationTokenHash,
    Revision,
}

#[derive(DeriveIden)]
enum ClientLogos {
    Table,
    ClientId,
    ContentType,
    Bytes,
    Digest,
    FetchedAt,
}

#[derive(DeriveIden)]
enum InitialAccessTokens {
    Table,
    Id,
    TokenHash,
    Note,
    UsesLeft,
    ExpiresAt,
    CreatedAt,
}
