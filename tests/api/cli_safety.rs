//! The command line never makes a database, a key-encryption key or signing keys where it
//! should not: run in the wrong directory, or pointed at the wrong database, it stops and says
//! where it looked. What it creates on SQLite is readable by its owner only, and a reader that
//! goes away (`| head -1`) ends it quietly.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};

use sea_orm::{ConnectionTrait as _, Database};

use crate::helpers::{postgres_url, run_oidcd, stderr, Backend, TestApp};

fn fresh_dir() -> crate::helpers::ScratchDir {
    crate::helpers::ScratchDir::new("oidcd-cli")
}

#[test]
fn commands_other_than_serve_and_migrate_refuse_to_create_a_database() {
    let dir = fresh_dir();
    for args in [
        vec!["client", "list"],
        vec![
            "client",
            "create",
            "--name",
            "A",
            "--redirect-uri",
            "https://a.example.com/cb",
        ],
        vec!["user", "list"],
        vec!["keys", "list"],
    ] {
        let out = run_oidcd(&dir, &args, &[], None);
        assert!(!out.status.success(), "{args:?} succeeded");
        let message = stderr(&out);
        assert!(
            message.contains("there is no oidcd database at sqlite://oidcd.db?mode=rwc"),
            "{args:?}: {message}"
        );
        assert!(
            message.contains(&dir.join("oidcd.db").display().to_string()),
            "{message}"
        );
        assert!(message.contains("OIDCD_DATABASE_URL"), "{message}");
        assert!(!message.contains("panicked"), "{message}");
    }
    // Nothing was made: no database, no key-encryption key.
    let made: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(made.is_empty(), "{made:?}");
}

#[tokio::test]
async fn a_database_without_signing_keys_gets_no_key_encryption_key_from_the_cli() {
    // `migrate` makes the schema; the CLI then still will not invent a KEK in its own
    // directory (the server would never see it).
    let dir = fresh_dir();
    let migrated = run_oidcd(&dir, &["migrate"], &[], None);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let out = run_oidcd(&dir, &["client", "list"], &[], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no key-encryption key"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("keys").join("kek").exists());
}

#[tokio::test]
async fn postgres_databases_that_are_not_oidcds_are_refused() {
    let Some(server) = postgres_url() else {
        println!("skipped: TEST_POSTGRES_URL is not set");
        return;
    };
    let admin = Database::connect(&server).await.unwrap();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let empty = format!("oidcd_t_{id}_empty");
    let foreign = format!("oidcd_t_{id}_foreign");
    for name in [&empty, &foreign] {
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
    }
    let url_of = |name: &str| {
        let mut url = url::Url::parse(&server).unwrap();
        url.set_path(name);
        url.to_string()
    };
    let other_app = Database::connect(&url_of(&foreign)).await.unwrap();
    other_app
        .execute_unprepared("CREATE TABLE customers (id integer primary key)")
        .await
        .unwrap();
    other_app.close().await.unwrap();
    let dir = fresh_dir();

    // An empty database (such as the `postgres` maintenance database): the CLI's commands
    // do not make it oidcd's.
    let out = run_oidcd(
        &dir,
        &["client", "list"],
        &[("OIDCD_DATABASE_URL", &url_of(&empty))],
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("holds no oidcd tables"),
        "{}",
        stderr(&out)
    );
    // Another application's database: not even `migrate` or `serve` touch it.
    for command in ["migrate", "serve"] {
        let out = run_oidcd(
            &dir,
            &[command],
            &[
                ("OIDCD_DATABASE_URL", &url_of(&foreign)),
                ("OIDCD_BIND", "127.0.0.1:0"),
            ],
            None,
        );
        assert!(!out.status.success(), "{command} succeeded");
        assert!(
            stderr(&out).contains("already holds tables that are not oidcd's (`customers`"),
            "{command}: {}",
            stderr(&out)
        );
    }
    let check = Database::connect(&url_of(&foreign)).await.unwrap();
    let tables = check
        .query_all(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        ))
        .await
        .unwrap();
    assert_eq!(
        tables.len(),
        1,
        "nothing was added to the other application's database"
    );
    check.close().await.unwrap();
    for name in [&empty, &foreign] {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .unwrap();
    }
}

#[test]
fn files_created_on_sqlite_are_readable_by_their_owner_only() {
    let dir = fresh_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oidcd"))
        .arg("serve")
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OIDCD_BIND", "127.0.0.1:0")
        .env("OIDCD_ARGON2_MEMORY_KIB", "64")
        .env("OIDCD_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    assert!(banner.starts_with("oidcd is serving"), "{banner}");
    for file in ["oidcd.db", "oidcd.db-wal", "oidcd.db-shm", "keys/kek"] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} has mode {:o}", mode & 0o777);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Runs `oidcd ARGS | head -1`: reads one line, closes the pipe, and returns stderr and
/// whether the command succeeded.
fn first_line_only(app: &TestApp, args: &[&str]) -> (String, bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oidcd"))
        .args(args)
        .current_dir(&app.env.dir)
        .env_clear()
        .env("OIDCD_DATABASE_URL", &app.env.database_url)
        .env("OIDCD_KEK", &app.env.kek)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut first).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    (
        first,
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_closed_stdout_ends_a_command_quietly() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // More lines than a pipe holds (64 KiB), so the command is still writing when the reader
    // goes away.
    for _ in 0..800 {
        app.register_client().await;
    }
    for args in [&["client", "list"][..], &["openapi"][..]] {
        let (first, success, err) = first_line_only(&app, args);
        assert!(!first.is_empty(), "{args:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.trim().is_empty(), "{args:?}: {err}");
        assert!(
            success,
            "{args:?} ends with success: the reader only wanted less"
        );
    }
}
