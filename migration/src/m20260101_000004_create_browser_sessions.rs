use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;
use crate::m20260101_000002_create_users::Users;

/// Server-side browser sessions. The cookie holds a random id; only its hash is stored.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BrowserSessions::Table)
                    .if_not_exists()
                    .col(string(BrowserSessions::IdHash).primary_key())
                    // NULL until someone logs in (a session may exist for CSRF alone).
                    .col(string_null(BrowserSessions::UserId))
                    .col(big_integer_null(BrowserSessions::AuthTime))
                    .col(big_integer(BrowserSessions::CreatedAt))
                    .col(big_integer(BrowserSessions::LastSeenAt))
                    .col(big_integer(BrowserSessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BrowserSessions::Table, BrowserSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                BrowserSessions::Table,
                BrowserSessions::ExpiresAt,
                "idx_browser_sessions_expires_at",
            ))
            .await?;
        manager
            .create_index(index_on(
                BrowserSessions::Table,
                BrowserSessions::UserId,
                "idx_browser_sessions_user_id",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BrowserSessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum BrowserSessions {
    Table,
    IdHash,
    UserId,
    AuthTime,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
}
