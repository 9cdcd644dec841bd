use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;

/// Counters for rate limits (failed guesses per browser session, per IP, ...), in the
/// database so they hold across instances and restarts.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Throttles::Table)
                    .if_not_exists()
                    // e.g. "device-guess:ip:203.0.113.7"
                    .col(string(Throttles::Key).primary_key())
                    .col(big_integer(Throttles::Count))
                    .col(big_integer(Throttles::WindowStart))
                    .col(big_integer(Throttles::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                Throttles::Table,
                Throttles::ExpiresAt,
                "idx_throttles_expires_at",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Throttles::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Throttles {
    Table,
    Key,
    Count,
    WindowStart,
    ExpiresAt,
}
