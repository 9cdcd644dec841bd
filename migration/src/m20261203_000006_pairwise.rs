use sea_orm_migration::{prelude::*, schema::*};

/// Pairwise subject identifiers (OIDC Core 8.1): a client's `subject_type` (`public` or
/// `pairwise`), the `sector_identifier_uri` it registered, if any, and the sector its users'
/// pairwise `sub`s are computed for, fixed at registration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut subject_type = string(Clients::SubjectType);
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(subject_type.default("public"))
                    .to_owned(),
            )
            .await?;
        for column in [Clients::SectorIdentifierUri, Clients::Sector] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .add_column(string_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Clients::Sector,
            Clients::SectorIdentifierUri,
            Clients::SubjectType,
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
    SubjectType,
    SectorIdentifierUri,
    Sector,
}
