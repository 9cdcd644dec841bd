use sea_orm_migration::{prelude::*, schema::*};

/// Registered relying parties. List-valued columns hold JSON arrays of strings.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .if_not_exists()
                    .col(string(Clients::ClientId).primary_key())
                    .col(string(Clients::Name))
                    // HMAC-SHA-256 of the secret under a key derived from the KEK; NULL for
                    // public clients.
                    .col(string_null(Clients::SecretHash))
                    .col(text(Clients::RedirectUris))
                    .col(text(Clients::PostLogoutRedirectUris))
                    .col(text(Clients::GrantTypes))
                    .col(text(Clients::ResponseTypes))
                    .col(text(Clients::Scopes))
                    .col(string(Clients::TokenEndpointAuthMethod))
                    .col(big_integer(Clients::CreatedAt))
                    .col(big_integer(Clients::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Clients::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Clients {
    Table,
    ClientId,
    Name,
    SecretHash,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    ResponseTypes,
    Scopes,
    TokenEndpointAuthMethod,
    CreatedAt,
    UpdatedAt,
}
