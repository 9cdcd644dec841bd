use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;
use crate::m20260101_000001_create_clients::Clients;
use crate::m20260101_000002_create_users::Users;

/// RFC 8628 device authorizations. Both codes are stored by hash only.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeviceCodes::Table)
                    .if_not_exists()
                    .col(string(DeviceCodes::DeviceCodeHash).primary_key())
                    .col(string_uniq(DeviceCodes::UserCodeHash))
                    .col(string(DeviceCodes::ClientId))
                    .col(text(DeviceCodes::Scope))
                    // pending | approved | denied
                    .col(string(DeviceCodes::Status))
                    .col(string_null(DeviceCodes::UserId))
                    .col(big_integer_null(DeviceCodes::AuthTime))
                    .col(string_null(DeviceCodes::SessionId))
                    .col(big_integer(DeviceCodes::Interval))
                    .col(big_integer_null(DeviceCodes::LastPolledAt))
                    .col(big_integer_null(DeviceCodes::UsedAt))
                    .col(big_integer(DeviceCodes::CreatedAt))
                    .col(big_integer(DeviceCodes::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeviceCodes::Table, DeviceCodes::ClientId)
                            .to(Clients::Table, Clients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeviceCodes::Table, DeviceCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                DeviceCodes::Table,
                DeviceCodes::ExpiresAt,
                "idx_device_codes_expires_at",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceCodes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum DeviceCodes {
    Table,
    DeviceCodeHash,
    UserCodeHash,
    ClientId,
    Scope,
    Status,
    UserId,
    AuthTime,
    SessionId,
    Interval,
    LastPolledAt,
    UsedAt,
    CreatedAt,
    ExpiresAt,
}
