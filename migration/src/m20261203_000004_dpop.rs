use sea_orm_migration::{prelude::*, schema::*};

/// DPoP (RFC 9449): a client whose access tokens must be bound to a key
/// (`dpop_bound_access_tokens`), the thumbprint of the key a public client's grant (its
/// refresh tokens) is bound to, and the one an authorization code is bound to (`dpop_jkt`,
/// RFC 9449 section 10).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut bound = boolean(Clients::DpopBoundAccessTokens);
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(bound.default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Grants::Table)
                    .add_column(string_null(Grants::DpopJkt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthCodes::Table)
                    .add_column(string_null(AuthCodes::DpopJkt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuthCodes::Table)
                    .drop_column(AuthCodes::DpopJkt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Grants::Table)
                    .drop_column(Grants::DpopJkt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::DpopBoundAccessTokens)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    DpopBoundAccessTokens,
}

#[derive(DeriveIden)]
enum AuthCodes {
    Table,
    DpopJkt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    DpopJkt,
}
