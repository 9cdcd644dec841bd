//! The migrations that change stored data, run on a database that holds data from before
//! them: `m20261202_000003_canonical_usernames` brings stored usernames under the username
//! rule, and stops, naming both, where two accounts would become one.

use migration::{Migrator, MigratorTrait as _};
use oidcd::password::PasswordHasher;
use oidcd::Application;
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, DbBackend, DbErr, Statement};
use serde_json::Value;

use crate::helpers::{jwt_claims, Backend, TestEnv, TestUser};
use crate::on_both_databases;

on_both_databases!(
    stored_usernames_are_brought_under_the_username_rule,
    a_migration_that_would_merge_two_accounts_stops_and_names_them,
    stored_addresses_fill_the_column_a_reset_looks_up,
);

/// The migration that adds `users.email`.
const MAIL: &str = "m20261204_000003_mail";

/// The migration under test.
const CANONICAL_USERNAMES: &str = "m20261202_000003_canonical_usernames";

const PASSWORD: &str = "correct-horse-battery-staple";

/// A fresh database (this test's) with every migration before [`CANONICAL_USERNAMES`]
/// applied, as an older oidcd left it.
async fn database_before_the_migration(env: &TestEnv) -> DatabaseConnection {
    database_before(env, CANONICAL_USERNAMES).await
}

/// A fresh database with every migration before `name` applied.
async fn database_before(env: &TestEnv, name: &str) -> DatabaseConnection {
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == name)
        .expect("the migration is in the Migrator's list");
    let db = Database::connect(&env.database_url).await.unwrap();
    Migrator::up(&db, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    let pending: Vec<String> = Migrator::get_pending_migrations(&db)
        .await
        .unwrap()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(
        pending.first().map(String::as_str),
        Some(name),
        "pending: {pending:?}"
    );
    db
}

/// A password hash as oidcd stores it, with the tests' cheap parameters.
fn password_hash(env: &TestEnv) -> String {
    PasswordHasher::new(&env.config().argon2)
        .unwrap()
        .hash_blocking(PASSWORD)
        .unwrap()
}

/// Inserts a user as an older oidcd stored it: the username exactly as typed.
async fn insert_user(db: &DatabaseConnection, id: &str, username: &str, password_hash: &str) {
    insert_user_with_claims(db, id, username, password_hash, "{}").await;
}

/// The same, with `claims` (text, as stored).
async fn insert_user_with_claims(
    db: &DatabaseConnection,
    id: &str,
    username: &str,
    password_hash: &str,
    claims: &str,
) {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO users (id, username, password_hash, claims, disabled, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        }
        _ => {
            "INSERT INTO users (id, username, password_hash, claims, disabled, created_at, \
             updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        }
    };
    db.execute(Statement::from_sql_and_values(
        backend,
        sql,
        [
            id.to_owned().into(),
            username.to_owned().into(),
            password_hash.to_owned().into(),
            claims.to_owned().into(),
            false.into(),
            1_700_000_000_i64.into(),
            1_700_000_000_i64.into(),
        ],
    ))
    .await
    .unwrap();
}

/// Every stored (id, username), sorted by id.
async fn stored_usernames(db: &DatabaseConnection) -> Vec<(String, String)> {
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, username FROM users",
        ))
        .await
        .unwrap();
    let mut users: Vec<(String, String)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get::<String>("", "id").unwrap(),
                row.try_get::<String>("", "username").unwrap(),
            )
        })
        .collect();
    users.sort();
    users
}

fn pairs(users: &[(&str, &str)]) -> Vec<(String, String)> {
    users
        .iter()
        .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()))
        .collect()
}

/// `Alice`, `ＢＯＢ` (full-width) and `carol`, stored as typed by an older version, are
/// `alice`, `bob` and `carol` once the migration has run, and each still signs in as typed.
async fn stored_usernames_are_brought_under_the_username_rule(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let db = database_before_the_migration(&env).await;
    let hash = password_hash(&env);
    let typed = [
        ("u-1-alice", "Alice"),
        ("u-2-bob", "ＢＯＢ"),
        ("u-3-carol", "carol"),
    ];
    for (id, username) in typed {
        insert_user(&db, id, username, &hash).await;
    }
    assert_eq!(stored_usernames(&db).await, pairs(&typed));

    Migrator::up(&db, None).await.unwrap();

    assert_eq!(
        stored_usernames(&db).await,
        pairs(&[
            ("u-1-alice", "alice"),
            ("u-2-bob", "bob"),
            ("u-3-carol", "carol"),
        ])
    );
    assert!(Migrator::get_pending_migrations(&db)
        .await
        .unwrap()
        .is_empty());
    db.close().await.unwrap();

    // The server starts on the migrated database, and every account signs in under the name
    // its user always typed, and under the stored one, as the same `sub`.
    let app = env.spawn().await;
    let client = app.register_client().await;
    for (id, username) in typed {
        for name in [
            username.to_owned(),
            migration::usernames::canonical(username),
        ] {
            let user = TestUser {
                username: name.clone(),
                password: PASSWORD.to_owned(),
                sub: id.to_owned(),
            };
            let code = app.code_for(&client, &user, "openid", &[]).await;
            let response = app.exchange(&client, &code, None).await;
            assert_eq!(response.status(), 200, "signed in as {name}");
            let tokens: Value = response.json().await.unwrap();
            let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
            assert_eq!(claims["sub"], id, "signed in as {name}");
        }
    }
    app.stop().await;
}

/// `Alice` and `alice` would become one account: the migration stops before it changes
/// anything and names both, the server refuses to start with the same message, and once the
/// operator has removed one of them the migration goes through.
async fn a_migration_that_would_merge_two_accounts_stops_and_names_them(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let db = database_before_the_migration(&env).await;
    let hash = password_hash(&env);
    let typed = [("u-1", "Alice"), ("u-2", "alice"), ("u-3", "ＢＯＢ")];
    for (id, username) in typed {
        insert_user(&db, id, username, &hash).await;
    }

    let err = Migrator::up(&db, None)
        .await
        .expect_err("two accounts would become one");
    assert!(matches!(err, DbErr::Migration(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("Alice") && message.contains("alice"),
        "{message}"
    );
    // Nothing written: not the other rows (`ＢＯＢ` is not renamed), not the migration as
    // applied. On PostgreSQL the migrations run in one transaction; on SQLite the check comes
    // before any update.
    assert_eq!(stored_usernames(&db).await, pairs(&typed));
    let pending: Vec<String> = Migrator::get_pending_migrations(&db)
        .await
        .unwrap()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(
        pending.first().map(String::as_str),
        Some(CANONICAL_USERNAMES)
    );
    db.close().await.unwrap();

    // The server does not start on it, and says why.
    let startup = match Application::build(env.config()).await {
        Ok(_) => panic!("the server started on a database whose migration fails"),
        Err(e) => e.to_string(),
    };
    assert!(
        startup.contains("Alice") && startup.contains("alice"),
        "{startup}"
    );

    // Still nothing written; the operator deletes one of the pair and starts again.
    let db = Database::connect(&env.database_url).await.unwrap();
    assert_eq!(stored_usernames(&db).await, pairs(&typed));
    db.execute_unprepared("DELETE FROM users WHERE id = 'u-2'")
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(
        stored_usernames(&db).await,
        pairs(&[("u-1", "alice"), ("u-3", "bob")])
    );
    db.close().await.unwrap();
}

/// Users stored before `users.email` existed get it from their `email` claim, by the rule
/// the server keeps it with (trimmed, lower case, beyond ASCII too); a reset asked by
/// address finds them.
async fn stored_addresses_fill_the_column_a_reset_looks_up(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let db = database_before(&env, MAIL).await;
    let hash = password_hash(&env);
    let stored = [
        ("u-1", "ada", r#"{"email":" Ada@Example.COM "}"#),
        (
            "u-2",
            "elodie",
            r#"{"email":"ÉLODIE@EXAMPLE.FR","name":"Élodie"}"#,
        ),
        ("u-3", "nobody", r#"{"name":"No Address"}"#),
        ("u-4", "number", r#"{"email":7}"#),
    ];
    for (id, username, claims) in stored {
        insert_user_with_claims(&db, id, username, &hash, claims).await;
    }
    Migrator::up(&db, None).await.unwrap();
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, email FROM users ORDER BY id",
        ))
        .await
        .unwrap();
    let emails: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get::<String>("", "id").unwrap(),
                row.try_get::<Option<String>>("", "email").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        emails,
        vec![
            ("u-1".to_owned(), Some("ada@example.com".to_owned())),
            ("u-2".to_owned(), Some("élodie@example.fr".to_owned())),
            ("u-3".to_owned(), None),
            ("u-4".to_owned(), None),
        ]
    );
    db.close().await.unwrap();
    let app = env.spawn().await;
    let found = oidcd::store::users::find_by_email(&app.state.db, "élodie@Example.fr")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "u-2");
    app.stop().await;
}
