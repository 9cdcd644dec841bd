use sea_orm_migration::{prelude::*, schema::*};

/// Clients described by a Client ID Metadata Document (a `client_id` that is the URL of a
/// JSON document): when the copy of the document on the row stops being fresh (from the
/// document's HTTP caching headers), and its entity tag, to revalidate it with
/// `If-None-Match`, and a digest of the registration policy it was checked against (a
/// stricter policy checks it again rather than revalidating it). All three are null on
/// every other client.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(big_integer_null(Clients::DocumentExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(string_null(Clients::DocumentEtag))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(string_null(Clients::DocumentPolicy))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Clients::DocumentPolicy,
            Clients::DocumentEtag,
            Clients::DocumentExpiresAt,
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
    DocumentExpiresAt,
    DocumentEtag,
    DocumentPolicy,
}
