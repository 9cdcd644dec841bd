use sea_orm_migration::{prelude::*, schema::*};

/// Resource indicators (RFC 8707): the resources (APIs) tokens can be issued for, each with
/// the scopes it accepts; the resources each client may ask for; and the resources an
/// authorization code, a device code and a grant were issued for. Lists are JSON arrays of
/// strings.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Resources::Table)
                    .if_not_exists()
                    .col(string(Resources::Identifier).primary_key())
                    .col(string(Resources::Name))
                    .col(text(Resources::Scopes))
                    .col(big_integer(Resources::CreatedAt))
                    .col(big_integer(Resources::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for table in [
            Lists::Clients,
            Lists::AuthCodes,
            Lists::DeviceCodes,
            Lists::Grants,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(text(Lists::Resources).default("[]"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Lists::Grants,
            Lists::DeviceCodes,
            Lists::AuthCodes,
            Lists::Clients,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Lists::Resources)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Resources::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Resources {
    Table,
    Identifier,
    Name,
    Scopes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Lists {
    Clients,
    AuthCodes,
    DeviceCodes,
    Grants,
    Resources,
}
