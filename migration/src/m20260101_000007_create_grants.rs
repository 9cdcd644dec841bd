use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;
use crate::m20260101_000001_create_clients::Clients;
use crate::m20260101_000002_create_users::Users;

/// One row per grant a user gave a client (a code exchange or a device approval). It is the
/// refresh-token family: `refresh_generation` is the counter that rotation advances with one
/// conditional update, and revoking the grant kills every token issued from it.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Grants::Table)
                    .if_not_exists()
                    .col(string(Grants::Id).primary_key())
                    .col(string(Grants::ClientId))
                    .col(string(Grants::UserId))
                    .col(text(Grants::Scope))
                    .col(big_integer(Grants::AuthTime))
                    .col(string_null(Grants::SessionId))
                    .col(big_integer(Grants::RefreshGeneration).default(0))
                    .col(big_integer_null(Grants::RotatedAt))
                    .col(big_integer(Grants::CreatedAt))
                    .col(big_integer(Grants::LastUsedAt))
                    // Absolute end of the grant (the refresh token's absolute lifetime).
                    .col(big_integer(Grants::ExpiresAt))
                    .col(big_integer_null(Grants::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Grants::Table, Grants::ClientId)
                            .to(Clients::Table, Clients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Grants::Table, Grants::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                Grants::Table,
                Grants::ExpiresAt,
                "idx_grants_expires_at",
            ))
            .await?;
        manager
            .create_index(index_on(
                Grants::Table,
                Grants::UserId,
                "idx_grants_user_id",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Grants::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Grants {
    Table,
    Id,
    ClientId,
    UserId,
    Scope,
    AuthTime,
    SessionId,
    RefreshGeneration,
    RotatedAt,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
}
