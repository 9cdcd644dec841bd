use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;
use crate::m20260101_000007_create_grants::Grants;

/// Every refresh token ever issued in a family, by hash, with the generation it was issued
/// at. Presenting one whose generation is behind the family's is reuse.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    .col(string(RefreshTokens::TokenHash).primary_key())
                    .col(string(RefreshTokens::GrantId))
                    .col(big_integer(RefreshTokens::Generation))
                    .col(big_integer(RefreshTokens::CreatedAt))
                    // Idle expiry of this token.
                    .col(big_integer(RefreshTokens::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::GrantId)
                            .to(Grants::Table, Grants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                RefreshTokens::Table,
                RefreshTokens::GrantId,
                "idx_refresh_tokens_grant_id",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    GrantId,
    Generation,
    CreatedAt,
    ExpiresAt,
}
