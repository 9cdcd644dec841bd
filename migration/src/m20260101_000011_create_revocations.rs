use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;

/// Revoked access tokens, by `jti`, kept until the token would have expired anyway.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Revocations::Table)
                    .if_not_exists()
                    .col(string(Revocations::Jti).primary_key())
                    .col(big_integer(Revocations::CreatedAt))
                    .col(big_integer(Revocations::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                Revocations::Table,
                Revocations::ExpiresAt,
                "idx_revocations_expires_at",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Revocations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Revocations {
    Table,
    Jti,
    CreatedAt,
    ExpiresAt,
}
