use sea_orm_migration::sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

use crate::{emails, index_on};

/// Mail to people: password-reset and address-verification links.
/// - `users.email`: the `email` claim by `emails::normalized`, kept beside the claims so a
///   reset can be asked for by address; filled here from the claims already stored;
/// - `email_links`: the links sent, by keyed hash of their token, each for one purpose
///   (`reset` or `verify`), one user and the address it went to, until `expires_at`; a link
///   is spent by deleting its row.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_null(Users::Email))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(Users::Table, Users::Email, "idx_users_email"))
            .await?;
        // The column for users stored before, by the same rule the server keeps it with; a
        // row whose claims do not read as JSON is left without one.
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let select = Query::select()
            .columns([Users::Id, Users::Claims])
            .from(Users::Table)
            .to_owned();
        for row in db.query_all(backend.build(&select)).await? {
            let id: String = row.try_get("", "id")?;
            let claims: String = row.try_get("", "claims")?;
            if let Some(email) = emails::of_claims(&claims) {
                let update = Query::update()
                    .table(Users::Table)
                    .value(Users::Email, email)
                    .and_where(Expr::col(Users::Id).eq(id))
                    .to_owned();
                db.execute(backend.build(&update)).await?;
            }
        }
        manager
            .create_table(
                Table::create()
                    .table(EmailLinks::Table)
                    .if_not_exists()
                    .col(string(EmailLinks::TokenHash).primary_key())
                    .col(string(EmailLinks::Purpose))
                    .col(string(EmailLinks::UserId))
                    .col(string(EmailLinks::Email))
                    .col(big_integer(EmailLinks::CreatedAt))
                    .col(big_integer(EmailLinks::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(EmailLinks::Table, EmailLinks::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index_on(
                EmailLinks::Table,
                EmailLinks::UserId,
                "idx_email_links_user_id",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmailLinks::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_users_email")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::Email)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Claims,
    Email,
}

#[derive(DeriveIden, Clone, Copy)]
enum EmailLinks {
    Table,
    TokenHash,
    Purpose,
    UserId,
    Email,
    CreatedAt,
    ExpiresAt,
}
