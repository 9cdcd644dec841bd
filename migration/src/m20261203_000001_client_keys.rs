use sea_orm_migration::{prelude::*, schema::*};

use crate::index_on;

/// Key-based client authentication (RFC 7523, OIDC Core 9):
/// - a client's public keys, inline (`jwks`) or by URL (`jwks_uri`), for `private_key_jwt`;
/// - the secret of a `client_secret_jwt` client wrapped with the key-encryption key (an HMAC
///   needs the secret itself, so a hash is not enough), and the one a rotation replaced;
/// - the `jti`s of client assertions already accepted, so none is accepted twice.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            text_null(Clients::Jwks),
            string_null(Clients::JwksUri),
            text_null(Clients::SecretWrapped),
            text_null(Clients::PreviousSecretWrapped),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Clients::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ClientAssertions::Table)
                    .if_not_exists()
                    .col(string(ClientAssertions::JtiHash).primary_key())
                    .col(big_integer(ClientAssertions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                ClientAssertions::Table,
                ClientAssertions::ExpiresAt,
                "idx_client_assertions_expires_at",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClientAssertions::Table).to_owned())
            .await?;
        for column in [
            Clients::PreviousSecretWrapped,
            Clients::SecretWrapped,
            Clients::JwksUri,
            Clients::Jwks,
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
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Jwks,
    JwksUri,
    SecretWrapped,
    PreviousSecretWrapped,
}

#[derive(DeriveIden)]
enum ClientAssertions {
    Table,
    JtiHash,
    ExpiresAt,
}
