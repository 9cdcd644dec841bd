use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;

/// Second factors and what a sign-in proved:
/// - `user_factors`: a person's one-time code generators (TOTP, the secret wrapped by the
///   key-encryption key) and, later, passkeys; a factor counts once `confirmed_at` is set;
///   `last_step` is the last TOTP time step accepted, so each code is accepted once;
/// - `recovery_codes`: single-use codes, by keyed hash;
/// - `amr` (the methods, space-separated) beside each `auth_time`: on browser sessions,
///   authorization codes, device codes and grants, so tokens say how the person signed in;
/// - `clients.require_mfa`: an app that admits only people who used a second factor.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserFactors::Table)
                    .if_not_exists()
                    .col(string(UserFactors::Id).primary_key())
                    .col(string(UserFactors::UserId))
                    // totp
                    .col(string(UserFactors::Kind))
                    .col(string(UserFactors::Name))
                    .col(text(UserFactors::Secret))
                    .col(big_integer_null(UserFactors::LastStep))
                    .col(big_integer(UserFactors::CreatedAt))
                    .col(big_integer_null(UserFactors::ConfirmedAt))
                    .col(big_integer_null(UserFactors::LastUsedAt))
                    // While unconfirmed: the browser session setting it up (keyed hash).
                    .col(string_null(UserFactors::SessionIdHash))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UserFactors::Table, UserFactors::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                UserFactors::Table,
                UserFactors::UserId,
                "idx_user_factors_user_id",
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .if_not_exists()
                    .col(string(RecoveryCodes::CodeHash).primary_key())
                    .col(string(RecoveryCodes::UserId))
                    .col(big_integer(RecoveryCodes::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RecoveryCodes::Table, RecoveryCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                RecoveryCodes::Table,
                RecoveryCodes::UserId,
                "idx_recovery_codes_user_id",
            ))
            .await?;
        for table in [
            Signed::BrowserSessions,
            Signed::AuthCodes,
            Signed::DeviceCodes,
            Signed::Grants,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(string_null(Signed::Amr))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(
                        ColumnDef::new(Clients::RequireMfa)
                            .boolean()
                            .not_null()
                            .default(false)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::RequireMfa)
                    .to_owned(),
            )
            .await?;
        for table in [
            Signed::BrowserSessions,
            Signed::AuthCodes,
            Signed::DeviceCodes,
            Signed::Grants,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Signed::Amr)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(RecoveryCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(UserFactors::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum UserFactors {
    Table,
    Id,
    UserId,
    Kind,
    Name,
    Secret,
    LastStep,
    CreatedAt,
    ConfirmedAt,
    LastUsedAt,
    SessionIdHash,
}

#[derive(DeriveIden, Clone, Copy)]
enum RecoveryCodes {
    Table,
    CodeHash,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    RequireMfa,
}

#[derive(DeriveIden, Clone, Copy)]
enum Signed {
    BrowserSessions,
    AuthCodes,
    DeviceCodes,
    Grants,
    Amr,
}
