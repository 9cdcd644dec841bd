use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::usernames;

/// Stored usernames brought under the one username rule (`usernames::canonical`), so that
/// `Alice` and `alice` can no longer be two accounts. Two accounts that the rule makes one
/// stop the migration with their names: an operator decides which one keeps the name.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let select = Query::select()
            .columns([Users::Id, Users::Username])
            .from(Users::Table)
            .to_owned();
        let rows = db.query_all(backend.build(&select)).await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let username: String = row.try_get("", "username")?;
            users.push((id, username));
        }
        let mut seen = std::collections::HashMap::new();
        let mut clashes = Vec::new();
        for (_, username) in &users {
            if let Some(first) = seen.insert(usernames::canonical(username), username) {
                clashes.push(format!("`{first}` and `{username}`"));
            }
        }
        if !clashes.is_empty() {
            return Err(DbErr::Migration(format!(
                "usernames now compare without case; these accounts would become one: {}. \
                 Delete or rename one of each pair with the previous version, then start again",
                clashes.join(", ")
            )));
        }
        for (id, username) in users {
            let canonical = usernames::canonical(&username);
            if canonical != username {
                let update = Query::update()
                    .table(Users::Table)
                    .value(Users::Username, canonical)
                    .and_where(Expr::col(Users::Id).eq(id))
                    .to_owned();
                db.execute(backend.build(&update)).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The typed forms are gone; canonical names are valid names for the older version.
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
}
