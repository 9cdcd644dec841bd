use sea_orm_migration::{prelude::*, schema::*};

/// Per-client rules for authorization requests: the client must push them first
/// (`require_pushed_authorization_requests`, RFC 9126 section 6) or sign them
/// (`require_signed_request_object`, RFC 9101 section 10.5).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            Clients::RequirePushedAuthorizationRequests,
            Clients::RequireSignedRequestObject,
        ] {
            let mut column = boolean(column);
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .add_column(column.default(false))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Clients::RequireSignedRequestObject,
            Clients::RequirePushedAuthorizationRequests,
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

#[derive(DeriveIden)]
enum Clients {
    Table,
    RequirePushedAuthorizationRequests,
    RequireSignedRequestObject,
}
