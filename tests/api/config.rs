//! Start-up: zero configuration works; every bad setting stops it with a message naming it.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::{run_oidcd, stderr, Backend, TestApp, TestEnv};

fn fresh_dir() -> crate::helpers::ScratchDir {
    crate::helpers::ScratchDir::new("oidcd-cfg")
}

#[tokio::test]
async fn serve_with_no_configuration_creates_its_database_and_keys_and_serves_discovery() {
    let dir = fresh_dir();
    // Only the port is chosen by the test, so it cannot collide with anything on 8080.
    let mut child = Command::new(env!("CARGO_BIN_EXE_oidcd"))
        .current_dir(&dir)
        .env_clear()
        .env("OIDCD_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let issuer = first
        .strip_prefix("oidcd is serving ")
        .unwrap_or_else(|| panic!("unexpected banner: {first}"))
        .to_owned();
    let discovery_line = lines.next().unwrap().unwrap();
    assert!(discovery_line.contains(&format!("{issuer}/.well-known/openid-configuration")));

    let client = crate::helpers::http_client();
    let doc: serde_json::Value = client
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], issuer.as_str());
    let jwks: serde_json::Value = client
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);

    // It made oidcd.db and keys/kek (0600) in the working directory.
    assert!(dir.join("oidcd.db").exists());
    let kek = dir.join("keys").join("kek");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&kek).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // SIGTERM stops it cleanly.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

#[test]
fn bad_settings_stop_start_up_with_a_message_that_names_them() {
    let dir = fresh_dir();
    std::fs::write(dir.join("broken.toml"), "bind = \"127.0.0.1:0\n").unwrap();
    std::fs::write(
        dir.join("unknown.toml"),
        "bind = \"127.0.0.1:0\"\nfavourite_colour = \"blue\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("nested.toml"), "[lifetimes]\naccess_tokn = 60\n").unwrap();
    /// (label, arguments, environment, what the error must say)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "unparsable file",
            &["--config", "broken.toml", "serve"],
            &[],
            "broken.toml is not valid",
        ),
        (
            "unknown setting",
            &["--config", "unknown.toml", "serve"],
            &[],
            "favourite_colour",
        ),
        (
            "unknown nested setting",
            &["--config", "nested.toml", "serve"],
            &[],
            "access_tokn",
        ),
        (
            "missing file",
            &["--config", "absent.toml", "serve"],
            &[],
            "absent.toml",
        ),
        (
            "unknown variable",
            &["serve"],
            &[("OIDCD_DATABSE_URL", "sqlite://x.db")],
            "OIDCD_DATABSE_URL",
        ),
        (
            "bad lifetime",
            &["serve"],
            &[("OIDCD_ACCESS_TOKEN_LIFETIME", "forever")],
            "OIDCD_ACCESS_TOKEN_LIFETIME",
        ),
        (
            "bad kek",
            &["serve"],
            &[("OIDCD_KEK", "not-a-key")],
            "OIDCD_KEK",
        ),
        (
            // Read as a target name, it would have silenced every log line.
            "bad log filter",
            &["serve"],
            &[("OIDCD_LOG", "verbose")],
            "log (OIDCD_LOG)",
        ),
        (
            "unreachable database",
            &["serve"],
            &[("OIDCD_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")],
            "cannot connect to the database at postgres://postgres@127.0.0.1:1/none",
        ),
    ];
    for (label, args, env, needle) in cases {
        let mut env = env.to_vec();
        env.push(("OIDCD_BIND", "127.0.0.1:0"));
        let out = run_oidcd(&dir, args, &env, None);
        assert!(!out.status.success(), "{label}: started");
        assert!(
            stderr(&out).contains(needle),
            "{label}: `{}` lacks `{needle}`",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"), "{label}: panicked");
    }
}

#[tokio::test]
async fn a_wrong_or_missing_key_encryption_key_stops_start_up_and_writes_nothing() {
    // A database whose keys were made under one KEK...
    let app = TestApp::spawn(Backend::Sqlite).await;
    let env: TestEnv = app.stop().await;
    let other = oidcd::keys::Kek::generate().unwrap().to_base64url();

    // ...refuses another one, naming the problem.
    let out = run_oidcd(
        &env.dir,
        &["serve"],
        &[
            ("OIDCD_DATABASE_URL", env.database_url.as_str()),
            ("OIDCD_KEK", other.as_str()),
            ("OIDCD_BIND", "127.0.0.1:0"),
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("key-encryption key does not match"),
        "{}",
        stderr(&out)
    );

    // ...and refuses to invent a new one when none is configured.
    let out = run_oidcd(
        &env.dir,
        &["serve"],
        &[
            ("OIDCD_DATABASE_URL", env.database_url.as_str()),
            ("OIDCD_BIND", "127.0.0.1:0"),
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no key-encryption key"),
        "{}",
        stderr(&out)
    );
    assert!(!env.dir.join("keys").join("kek").exists());

    // The right one still works, with the same keys.
    let app = env.spawn().await;
    assert_eq!(app.state.keys.current().published().len(), 2);
}

/// `sqlite_in_place` reaches the database handle: on (the default) a SQLite file is used in
/// place, off it goes through the pool alone, as the `::sqlite_pool` variants rely on; on
/// PostgreSQL there is no in-place path either way.
#[tokio::test]
async fn sqlite_in_place_decides_how_a_sqlite_file_is_used() {
    let on = TestApp::spawn(Backend::Sqlite).await;
    assert!(on.state.db.in_place());
    let off = TestApp::spawn(Backend::SqlitePool).await;
    assert!(!off.state.db.in_place());
    assert_eq!(
        off.get_json("/.well-known/openid-configuration").await["issuer"],
        off.address.as_str()
    );
    if !crate::helpers::postgres_skipped() {
        let postgres = TestApp::spawn(Backend::Postgres).await;
        assert!(!postgres.state.db.in_place());
    }
}
