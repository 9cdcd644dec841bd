use sea_orm_migration::{prelude::*, schema::*};

/// The resources (RFC 8707) a user's remembered consent covers, beside its scopes: a JSON
/// array. A request for another resource asks the user again.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Consents::Table)
                    .add_column(text(Consents::Resources).default("[]"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Consents::Table)
                    .drop_column(Consents::Resources)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    Resources,
}
