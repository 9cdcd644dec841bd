use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;

/// What ending a session reaches:
/// - `grants.access_revoked_at`: access tokens of the grant issued at or before it are dead
///   (a session's end kills them while its refresh tokens may live on), and an index on
///   `grants.session_id` to find a session's grants;
/// - `browser_sessions.user_agent`, so a person can tell their sessions apart;
/// - each client's back-channel and front-channel logout URIs (OpenID Connect Back-Channel
///   Logout 1.0, Front-Channel Logout 1.0);
/// - `logout_deliveries`, the outbox of logout tokens to POST: each row is sent by one
///   instance at a time (`lease_until`), retried with backoff until it is delivered or
///   `expires_at` passes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Grants::Table)
                    .add_column(big_integer_null(Grants::AccessRevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                Grants::Table,
                Grants::SessionId,
                "idx_grants_session_id",
            ))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BrowserSessions::Table)
                    .add_column(string_null(BrowserSessions::UserAgent))
                    .to_owned(),
            )
            .await?;
        for column in [
            ColumnDef::new(Clients::BackchannelLogoutUri)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Clients::BackchannelLogoutSessionRequired)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(Clients::FrontchannelLogoutUri)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Clients::FrontchannelLogoutSessionRequired)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(LogoutDeliveries::Table)
                    .if_not_exists()
                    // The logout token's `jti`.
                    .col(string(LogoutDeliveries::Id).primary_key())
                    .col(string(LogoutDeliveries::ClientId))
                    .col(string(LogoutDeliveries::Uri))
                    .col(string(LogoutDeliveries::Subject))
                    .col(string_null(LogoutDeliveries::Sid))
                    // pending, delivered, failed
                    .col(string(LogoutDeliveries::State))
                    .col(big_integer(LogoutDeliveries::Attempts).default(0))
                    .col(big_integer(LogoutDeliveries::NextAttemptAt))
                    .col(big_integer_null(LogoutDeliveries::LeaseUntil))
                    .col(string_null(LogoutDeliveries::LastError))
                    .col(big_integer(LogoutDeliveries::CreatedAt))
                    .col(big_integer_null(LogoutDeliveries::DeliveredAt))
                    // Given up after this; the row itself is swept a while later.
                    .col(big_integer(LogoutDeliveries::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LogoutDeliveries::Table, LogoutDeliveries::ClientId)
                            .to(Clients::Table, Clients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                LogoutDeliveries::Table,
                LogoutDeliveries::NextAttemptAt,
                "idx_logout_deliveries_next_attempt_at",
            ))
            .await?;
        manager
            .create_index(index_on(
                LogoutDeliveries::Table,
                LogoutDeliveries::ClientId,
                "idx_logout_deliveries_client_id",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LogoutDeliveries::Table).to_owned())
            .await?;
        for column in [
            Clients::FrontchannelLogoutSessionRequired,
            Clients::FrontchannelLogoutUri,
            Clients::BackchannelLogoutSessionRequired,
            Clients::BackchannelLogoutUri,
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
        manager
            .alter_table(
                Table::alter()
                    .table(BrowserSessions::Table)
                    .drop_column(BrowserSessions::UserAgent)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_grants_session_id")
                    .table(Grants::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Grants::Table)
                    .drop_column(Grants::AccessRevokedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Grants {
    Table,
    SessionId,
    AccessRevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum BrowserSessions {
    Table,
    UserAgent,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    ClientId,
    BackchannelLogoutUri,
    BackchannelLogoutSessionRequired,
    FrontchannelLogoutUri,
    FrontchannelLogoutSessionRequired,
}

#[derive(DeriveIden, Clone, Copy)]
enum LogoutDeliveries {
    Table,
    Id,
    ClientId,
    Uri,
    Subject,
    Sid,
    State,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    DeliveredAt,
    ExpiresAt,
}
