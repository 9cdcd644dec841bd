//! Desktop and command-line apps (RFC 8252): a loopback redirect URI on an IP literal matches
//! whatever port the app's listener got, private-use URI schemes work for public clients, and
//! `oidcd try` signs in through a loopback listener on an ephemeral port as such an app does.

use std::io::{BufRead as _, BufReader, Read as _};

use std::process::{Command, Stdio};

use oidcd::oauth::registration::{ClientRegistration, SecretChoice};

use crate::helpers::{http_client, location, pkce_pair, Backend, Browser, TestApp};
use crate::on_both_databases;

on_both_databases!(
    loopback_redirect_uris_match_on_any_port,
    a_private_use_scheme_receives_the_code,
);

/// Redeems the code in `callback` as a public client with its PKCE verifier.
async fn redeem(
    app: &TestApp,
    client_id: &str,
    callback: &str,
    redirect_uri: &str,
    verifier: &str,
) -> reqwest::Response {
    let code = url::Url::parse(callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    app.token(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await
}

async fn loopback_redirect_uris_match_on_any_port(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .register_client_with(ClientRegistration {
            secret: SecretChoice::Public,
            redirect_uris: vec![
                "http://127.0.0.1:9999/cb".into(),
                "http://[::1]/cb".into(),
                "http://localhost:9999/cb".into(),
            ],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let (verifier, challenge) = pkce_pair();
    let authorize = |redirect_uri: &str| {
        app.authorize_url(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid"),
            ("state", "st"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
    };

    // The port the app's listener got, not the registered one: signed in, code delivered there.
    let done = Browser::new(&app)
        .authorize(&authorize("http://127.0.0.1:54321/cb"), &user)
        .await;
    let to = location(&done);
    assert!(to.starts_with("http://127.0.0.1:54321/cb?"), "{to}");
    let tokens = redeem(
        &app,
        &client.id,
        &to,
        "http://127.0.0.1:54321/cb",
        &verifier,
    )
    .await;
    assert_eq!(tokens.status(), 200);

    // IPv6 loopback, any port.
    let page = http_client()
        .get(authorize("http://[::1]:61000/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the login page");

    // Nothing but the port may differ, and `localhost` is a name, matched exactly.
    for refused in [
        "http://127.0.0.1:54321/cb/",
        "http://127.0.0.1:54321/other",
        "http://127.0.0.2:9999/cb",
        "http://localhost:1234/cb",
        "https://127.0.0.1:9999/cb",
    ] {
        let page = http_client().get(authorize(refused)).send().await.unwrap();
        assert_eq!(page.status(), 400, "{refused}");
        assert!(page.headers().get("location").is_none(), "{refused}");
    }
}

async fn a_private_use_scheme_receives_the_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .register_client_with(ClientRegistration {
            secret: SecretChoice::Public,
            redirect_uris: vec!["com.example.app:/oauth2redirect".into()],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let (verifier, challenge) = pkce_pair();
    let url = app.authorize_url(&[
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", "com.example.app:/oauth2redirect"),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    let to = location(&done);
    assert!(
        to.starts_with("com.example.app:/oauth2redirect?code="),
        "{to}"
    );
    let tokens = redeem(
        &app,
        &client.id,
        &to,
        "com.example.app:/oauth2redirect",
        &verifier,
    )
    .await;
    assert_eq!(tokens.status(), 200);
}

#[tokio::test]
async fn oidcd_try_signs_in_through_a_loopback_listener_on_an_ephemeral_port() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app
        .register_client_with(ClientRegistration {
            name: "oidcd try".into(),
            secret: SecretChoice::Public,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;

    let mut child = Command::new(env!("CARGO_BIN_EXE_oidcd"))
        .args([
            "try",
            &client.id,
            "--issuer",
            &app.address,
            "--no-browser",
            "--timeout",
            "60",
        ])
        .current_dir(&app.env.dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read on a thread of its own: this test's runtime must keep serving the provider, which
    // `oidcd try` asks for its discovery document before it prints anything.
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = String::new();
    let prefix = format!("{}/oauth/authorize?", app.address);
    let authorize_url = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.recv())
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("oidcd try printed no URL: {printed}"));
        printed.push_str(&line);
        printed.push('\n');
        if line.trim().starts_with(&prefix) {
            break line.trim().to_owned();
        }
    };

    // The person signs in; the browser follows the redirect to the app's listener.
    let done = Browser::new(&app).authorize(&authorize_url, &user).await;
    let callback = location(&done);
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    assert!(
        !callback.starts_with("http://127.0.0.1/"),
        "an ephemeral port"
    );
    let page = http_client().get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Signed in"));

    let mut rest = String::new();
    while let Some(line) = lines.recv().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{printed}{rest}{err}");
    assert!(rest.contains("Signed in."), "{rest}");
    let json_start = rest.find('{').unwrap();
    let summary: serde_json::Value = serde_json::from_str(&rest[json_start..]).unwrap();
    assert_eq!(summary["id_token"]["verified"], true);
    assert_eq!(summary["id_token"]["claims"]["sub"], user.sub.as_str());
    assert_eq!(summary["userinfo"]["sub"], user.sub.as_str());
    assert_eq!(
        summary["access_token"]["claims"]["client_id"],
        client.id.as_str()
    );
}
