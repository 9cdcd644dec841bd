use sea_orm_migration::{prelude::*, schema::*};

/// RS256 signing keys shared by every instance. The private part is a compact JWE
/// (dir + A256GCM) under the key-encryption key, which never enters the database.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .if_not_exists()
                    .col(string(SigningKeys::Kid).primary_key())
                    // next | active | retired
                    .col(string(SigningKeys::State))
                    .col(string(SigningKeys::Alg))
                    .col(text(SigningKeys::PublicJwk))
                    .col(text(SigningKeys::PrivateJwe))
                    .col(big_integer(SigningKeys::CreatedAt))
                    .col(big_integer_null(SigningKeys::ActivatedAt))
                    .col(big_integer_null(SigningKeys::RetiredAt))
                    // A retired key stays published until this instant: the end of the longest
                    // lifetime of anything it signed.
                    .col(big_integer_null(SigningKeys::PublishedUntil))
                    .to_owned(),
            )
            .await?;
        // At most one active and one next key, whichever instance writes: two instances that
        // bootstrap or rotate at once cannot both succeed. Partial unique indexes work the same
        // on SQLite and PostgreSQL.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS idx_signing_keys_one_active \
             ON signing_keys (state) WHERE state = 'active'",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS idx_signing_keys_one_next \
             ON signing_keys (state) WHERE state = 'next'",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum SigningKeys {
    Table,
    Kid,
    State,
    Alg,
    PublicJwk,
    PrivateJwe,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
    PublishedUntil,
}
