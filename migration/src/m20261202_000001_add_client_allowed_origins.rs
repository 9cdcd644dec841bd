use sea_orm_migration::{prelude::*, schema::*};

/// Browser origins a client may call the token, userinfo, revocation, introspection and
/// device authorization endpoints from (CORS), beside the origins of its redirect URIs: a
/// JSON array of strings.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(text(Clients::AllowedOrigins).default("[]"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::AllowedOrigins)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    AllowedOrigins,
}
