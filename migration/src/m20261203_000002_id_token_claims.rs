use sea_orm_migration::{prelude::*, schema::*};

/// The claims an authorization request asked to have in its ID tokens (the `claims`
/// parameter's `id_token` member, OIDC Core 5.5), kept with the code and then with the grant,
/// so that ID tokens issued on refresh carry them too. A JSON list of claim names.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuthCodes::Table)
                    .add_column(text_null(AuthCodes::IdTokenClaims))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Grants::Table)
                    .add_column(text_null(Grants::IdTokenClaims))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Grants::Table)
                    .drop_column(Grants::IdTokenClaims)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthCodes::Table)
                    .drop_column(AuthCodes::IdTokenClaims)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum AuthCodes {
    Table,
    IdTokenClaims,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    IdTokenClaims,
}
