//! The command line works on the same database the server uses.

use oidcd::oidc::accounts;
use oidcd::store;
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{stderr, stdout, Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(
    a_client_made_by_the_cli_is_found_by_the_server_and_its_secret_is_shown_once,
    a_user_made_by_the_cli_can_log_in_with_production_argon2_parameters,
    duplicates_and_bad_input_are_clear_errors_with_a_failing_exit,
);

async fn a_client_made_by_the_cli_is_found_by_the_server_and_its_secret_is_shown_once(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;

    let created = app.env.oidcd(
        &[
            "client",
            "create",
            "--name",
            "Photo App",
            "--id",
            "photos",
            "--redirect-uri",
            "https://photos.example.com/cb",
            "--redirect-uri",
            "http://127.0.0.1:5000/cb",
            "--scope",
            "openid",
            "--scope",
            "profile",
        ],
        &[],
    );

    assert!(created.status.success(), "{}", stderr(&created));
    let json: serde_json::Value = serde_json::from_str(&stdout(&created)).unwrap();
    assert_eq!(json["client_id"], "photos");
    assert_eq!(json["client_name"], "Photo App");
    assert_eq!(json["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        json["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(json["scope"], "openid profile");
    let secret = json["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43, "256 random bits, base64url");

    // The running server finds the client, and the printed secret authenticates it.
    let client = store::clients::get(&app.state.db, "photos").await.unwrap();
    assert_eq!(client.redirect_uris.len(), 2);
    let hash = client.secret_hash.clone().unwrap();
    assert!(app.state.secrets.verify(&secret, &hash));
    assert!(!app.state.secrets.verify("not-the-secret", &hash));

    // Only the hash is stored: the raw row does not contain the secret.
    let db = &app.state.db;
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT * FROM clients WHERE client_id = 'photos'",
        ))
        .await
        .unwrap()
        .unwrap();
    let stored: String = row.try_get("", "secret_hash").unwrap();
    assert_ne!(stored, secret);
    assert!(!format!("{row:?}").contains(&secret));

    // Never shown again.
    let shown = app.env.oidcd(&["client", "show", "photos"], &[]);
    assert!(shown.status.success());
    assert!(!stdout(&shown).contains(&secret));
    assert!(stdout(&shown).contains("Photo App"));
    let listed = app.env.oidcd(&["client", "list"], &[]);
    assert!(stdout(&listed).contains("photos"));
    assert!(!stdout(&listed).contains(&secret));

    // A public client has no secret at all.
    let public = app.env.oidcd(
        &[
            "client",
            "create",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example.com/",
        ],
        &[],
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&public)).unwrap();
    assert!(json.get("client_secret").is_none());
    assert_eq!(json["token_endpoint_auth_method"], "none");

    // An admin client gets client_credentials and the admin scope.
    let admin = app.env.oidcd(
        &[
            "client",
            "create",
            "--name",
            "Ops",
            "--admin",
            "--grant-type",
            "client_credentials",
        ],
        &[],
    );
    assert!(admin.status.success(), "{}", stderr(&admin));
    let json: serde_json::Value = serde_json::from_str(&stdout(&admin)).unwrap();
    assert_eq!(
        json["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(json["scope"], "admin");

    // The running server sees what another process wrote at once, over HTTP too: the new
    // client authenticates, and once deleted it no longer does (nothing is cached).
    let ops_id = json["client_id"].as_str().unwrap().to_owned();
    let ops_secret = json["client_secret"].as_str().unwrap().to_owned();
    let token = |app: &TestApp| {
        app.client
            .post(app.url("/oauth/token"))
            .basic_auth(&ops_id, Some(&ops_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    assert_eq!(token(&app).await.unwrap().status(), 200);
    let deleted = app.env.oidcd(&["client", "delete", &ops_id], &[]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let refused = token(&app).await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let deleted = app.env.oidcd(&["client", "delete", "photos"], &[]);
    assert!(deleted.status.success());
    assert!(matches!(
        store::clients::get(&app.state.db, "photos").await,
        Err(store::StoreError::NotFound)
    ));

    // A generated id begins with `-` one time in 64 (base64url): the commands that take an
    // id read it as the id, not as an option.
    let hyphen = app.env.oidcd(
        &[
            "client",
            "create",
            "--name",
            "H",
            "--id",
            "-bH",
            "--grant-type",
            "client_credentials",
        ],
        &[],
    );
    assert!(hyphen.status.success(), "{}", stderr(&hyphen));
    let shown = app.env.oidcd(&["client", "show", "-bH"], &[]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let json: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(json["client_id"], "-bH");
    let deleted = app.env.oidcd(&["client", "delete", "-bH"], &[]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(matches!(
        store::clients::get(&app.state.db, "-bH").await,
        Err(store::StoreError::NotFound)
    ));
}

async fn a_user_made_by_the_cli_can_log_in_with_production_argon2_parameters(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // The binary runs with the default (OWASP) argon2 parameters; the password comes on stdin.
    let created = crate::helpers::run_oidcd(
        &app.env.dir,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password-stdin",
            "--email",
            "alice@example.com",
            "--name",
            "Alice Liddell",
            "--email-verified",
        ],
        &[
            ("OIDCD_DATABASE_URL", app.env.database_url.as_str()),
            ("OIDCD_KEK", app.env.kek.as_str()),
        ],
        Some("wonderland-42\n"),
    );

    assert!(created.status.success(), "{}", stderr(&created));
    let json: serde_json::Value = serde_json::from_str(&stdout(&created)).unwrap();
    assert_eq!(json["username"], "alice");
    assert_eq!(json["claims"]["email"], "alice@example.com");
    assert_eq!(json["claims"]["email_verified"], true);
    assert!(json.get("password_hash").is_none());
    // Dates as every other command prints them.
    let created_at = json["created_at"].as_str().unwrap();
    assert!(
        created_at.len() == 20 && created_at.ends_with('Z') && created_at.contains('T'),
        "{created_at}"
    );
    let sub = json["id"].as_str().unwrap().to_owned();

    let user = store::users::find_by_username(&app.state.db, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id, sub);
    assert!(user
        .password_hash
        .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(!user.password_hash.contains("wonderland"));
    // The server's own password check accepts it (it reads the parameters from the hash).
    let found = accounts::authenticate(
        &app.state.db,
        &app.state.passwords,
        "alice",
        "wonderland-42",
    )
    .await
    .unwrap();
    assert_eq!(found.map(|u| u.id), Some(sub));
    let wrong = accounts::authenticate(
        &app.state.db,
        &app.state.passwords,
        "alice",
        "wrong-password",
    )
    .await
    .unwrap();
    assert!(wrong.is_none());

    // set-password replaces it.
    let changed = app.env.oidcd(
        &[
            "user",
            "set-password",
            "alice",
            "--password",
            "looking-glass-7",
        ],
        &[],
    );
    assert!(changed.status.success(), "{}", stderr(&changed));
    let found = accounts::authenticate(
        &app.state.db,
        &app.state.passwords,
        "alice",
        "looking-glass-7",
    )
    .await
    .unwrap();
    assert!(found.is_some());

    let listed = app.env.oidcd(&["user", "list"], &[]);
    assert!(stdout(&listed).contains("alice@example.com"));
    let deleted = app.env.oidcd(&["user", "delete", "alice"], &[]);
    assert!(deleted.status.success());
    assert!(store::users::find_by_username(&app.state.db, "alice")
        .await
        .unwrap()
        .is_none());
}

async fn duplicates_and_bad_input_are_clear_errors_with_a_failing_exit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let env = &app.env;
    let cheap = [
        ("OIDCD_ARGON2_MEMORY_KIB", "64"),
        ("OIDCD_ARGON2_ITERATIONS", "1"),
    ];
    let ok = env.oidcd(
        &[
            "client",
            "create",
            "--name",
            "A",
            "--id",
            "dup",
            "--redirect-uri",
            "https://a.example.com/cb",
        ],
        &[],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let ok = env.oidcd(
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--password",
            "builder-123",
        ],
        &cheap,
    );
    assert!(ok.status.success(), "{}", stderr(&ok));

    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "duplicate client id",
            vec![
                "client",
                "create",
                "--name",
                "B",
                "--id",
                "dup",
                "--redirect-uri",
                "https://b.example.com/cb",
            ],
            "a client with id `dup` already exists",
        ),
        (
            "duplicate username",
            vec![
                "user",
                "create",
                "--username",
                "bob",
                "--password",
                "another-123",
            ],
            "a user named `bob` already exists",
        ),
        (
            "short secret",
            vec![
                "client",
                "create",
                "--name",
                "C",
                "--secret",
                "tooshort",
                "--redirect-uri",
                "https://c.example.com/cb",
            ],
            "client_secret",
        ),
        (
            "open redirect",
            vec![
                "client",
                "create",
                "--name",
                "C",
                "--redirect-uri",
                "javascript:alert(1)",
            ],
            "redirect_uris",
        ),
        (
            "unknown grant",
            vec![
                "client",
                "create",
                "--name",
                "C",
                "--grant-type",
                "password",
                "--redirect-uri",
                "https://c.example.com/cb",
            ],
            "grant_types",
        ),
        (
            "short password",
            vec![
                "user",
                "create",
                "--username",
                "carol",
                "--password",
                "short",
            ],
            "password",
        ),
        (
            "bad email",
            vec![
                "user",
                "create",
                "--username",
                "carol",
                "--password",
                "long-enough",
                "--email",
                "nope",
            ],
            "email",
        ),
        (
            "no password",
            vec!["user", "create", "--username", "carol"],
            "--password",
        ),
        (
            "unknown client",
            vec!["client", "show", "nobody"],
            "no client `nobody`",
        ),
        (
            "unknown user",
            vec!["user", "delete", "nobody"],
            "no user `nobody`",
        ),
    ];
    for (label, args, needle) in cases {
        let out = env.oidcd(&args, &cheap);
        assert!(!out.status.success(), "{label}: succeeded");
        assert!(
            stderr(&out).contains(needle),
            "{label}: `{}` lacks `{needle}`",
            stderr(&out)
        );
    }
    // The failed attempts changed nothing.
    let clients = store::clients::list(&app.state.db, None, 100)
        .await
        .unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].name, "A");
}

#[test]
fn help_documents_every_command_and_setting() {
    let dir = std::env::temp_dir();
    let output = crate::helpers::run_oidcd(&dir, &["--help"], &[], None);
    assert!(output.status.success());
    let help = crate::helpers::stdout(&output);
    for command in [
        "serve", "migrate", "client", "resource", "user", "keys", "openapi", "try",
    ] {
        assert!(help.contains(command), "--help names {command}");
    }
    for name in oidcd::Config::variable_names() {
        assert!(help.contains(name), "--help documents {name}");
    }
}

#[test]
fn every_flag_and_argument_of_every_command_has_help_text() {
    let dir = std::env::temp_dir();
    let commands: &[&[&str]] = &[
        &["serve"],
        &["migrate"],
        &["openapi"],
        &["try"],
        &["client", "create"],
        &["client", "list"],
        &["client", "show"],
        &["client", "delete"],
        &["resource", "add"],
        &["resource", "list"],
        &["resource", "remove"],
        &["user", "create"],
        &["user", "list"],
        &["user", "delete"],
        &["user", "set-password"],
        &["keys", "list"],
        &["keys", "rotate"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let output = crate::helpers::run_oidcd(&dir, &args, &[], None);
        assert!(output.status.success(), "{command:?}");
        let help = crate::helpers::stdout(&output);
        // Under "Arguments:" and "Options:", clap puts each flag on a line of its own, its
        // help text after a gap; a flag without help stands alone.
        let mut in_list = false;
        for line in help.lines() {
            if line == "Arguments:" || line == "Options:" {
                in_list = true;
                continue;
            }
            if line.is_empty() || !line.starts_with(' ') {
                in_list = line.is_empty() && in_list;
                continue;
            }
            let entry = line.trim_start();
            if in_list
                && (entry.starts_with('-') || entry.starts_with('<') || entry.starts_with('['))
            {
                assert!(
                    entry.contains("  "),
                    "{command:?}: `{entry}` has no help text\n{help}"
                );
            }
        }
    }
}
