use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;
use crate::m20260101_000001_create_clients::Clients;
use crate::m20260101_000002_create_users::Users;

/// Authorization codes, stored by hash, single-use. `grant_id` is set when the code is
/// redeemed, so a second redemption can revoke what the first one issued.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthCodes::Table)
                    .if_not_exists()
                    .col(string(AuthCodes::CodeHash).primary_key())
                    .col(string(AuthCodes::ClientId))
                    .col(string(AuthCodes::UserId))
                    .col(string_null(AuthCodes::SessionId))
                    .col(text(AuthCodes::RedirectUri))
                    .col(text(AuthCodes::Scope))
                    .col(text_null(AuthCodes::Nonce))
                    .col(string_null(AuthCodes::CodeChallenge))
                    .col(string_null(AuthCodes::CodeChallengeMethod))
                    .col(big_integer(AuthCodes::AuthTime))
                    .col(string_null(AuthCodes::GrantId))
                    .col(big_integer_null(AuthCodes::UsedAt))
                    .col(big_integer(AuthCodes::CreatedAt))
                    .col(big_integer(AuthCodes::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuthCodes::Table, AuthCodes::ClientId)
                            .to(Clients::Table, Clients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuthCodes::Table, AuthCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                AuthCodes::Table,
                AuthCodes::ExpiresAt,
                "idx_auth_codes_expires_at",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuthCodes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuthCodes {
    Table,
    CodeHash,
    ClientId,
    UserId,
    SessionId,
    RedirectUri,
    Scope,
    Nonce,
    CodeChallenge,
    CodeChallengeMethod,
    AuthTime,
    GrantId,
    UsedAt,
    CreatedAt,
    ExpiresAt,
}
