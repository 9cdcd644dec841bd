use sea_orm_migration::{prelude::*, schema::*};

/// Passkeys (WebAuthn):
/// - `user_factors.credential_id`: a passkey's credential id (base64url), unique across
///   every account, so a sign-in with a discoverable credential finds its row and no
///   credential is registered twice; null for other kinds of factor;
/// - `passkey_ceremonies`: a registration or sign-in ceremony started for a browser session
///   (by keyed hash of its handle), waiting for the browser's answer until `expires_at`; one
///   per session and purpose; a ceremony is spent by deleting its row, so each challenge is
///   answered once;
/// - `browser_sessions.reauth_at`: when the person last signed in or gave their password
///   again in the session (a second factor added or used later does not move it), which
///   changing the sign-in methods asks to be recent; sessions from before have none.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UserFactors::Table)
                    .add_column(string_null(UserFactors::CredentialId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_factors_credential_id")
                    .table(UserFactors::Table)
                    .col(UserFactors::CredentialId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PasskeyCeremonies::Table)
                    .if_not_exists()
                    .col(string(PasskeyCeremonies::IdHash).primary_key())
                    .col(string(PasskeyCeremonies::SessionIdHash))
                    // register, sign_in, second_factor
                    .col(string(PasskeyCeremonies::Purpose))
                    .col(string_null(PasskeyCeremonies::UserId))
                    .col(text(PasskeyCeremonies::State))
                    .col(big_integer(PasskeyCeremonies::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PasskeyCeremonies::Table, PasskeyCeremonies::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_passkey_ceremonies_session")
                    .table(PasskeyCeremonies::Table)
                    .col(PasskeyCeremonies::SessionIdHash)
                    .col(PasskeyCeremonies::Purpose)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BrowserSessions::Table)
                    .add_column(big_integer_null(BrowserSessions::ReauthAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BrowserSessions::Table)
                    .drop_column(BrowserSessions::ReauthAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(PasskeyCeremonies::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_user_factors_credential_id")
                    .table(UserFactors::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UserFactors::Table)
                    .drop_column(UserFactors::CredentialId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum BrowserSessions {
    Table,
    ReauthAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserFactors {
    Table,
    CredentialId,
}

#[derive(DeriveIden, Clone, Copy)]
enum PasskeyCeremonies {
    Table,
    IdHash,
    SessionIdHash,
    Purpose,
    UserId,
    State,
    ExpiresAt,
}
