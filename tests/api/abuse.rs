//! Abuse defenses that cannot be turned against the people and apps they protect. Each test
//! reproduces a finding of the security review through HTTP.

use serde_json::Value;

use oidcd::oauth::registration::{ClientRegistration, SecretChoice};
use oidcd::Clock;

use crate::helpers::{http_client, Backend, TestApp, TestEnv};
use crate::on_both_databases;

on_both_databases!(
    failures_from_one_address_do_not_lock_an_app_out_elsewhere,
    no_user_bound_token_carries_the_admin_scope,
);

/// The app runs behind a trusted proxy on 127.0.0.1, so each request names its client
/// address in `X-Forwarded-For`.
async fn behind_a_proxy(backend: Backend) -> TestApp {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.http.trusted_proxies = "127.0.0.1".parse().unwrap();
    config.client_auth.failures_per_client = 3;
    config.client_auth.failures_per_ip = 5;
    env.spawn_config(config, Clock::fixed(1_900_000_000)).await
}

async fn token_from(
    app: &TestApp,
    address: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut request = http_client()
        .post(app.url("/oauth/token"))
        .header("x-forwarded-for", address)
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn failures_from_one_address_do_not_lock_an_app_out_elsewhere(backend: Backend) {
    let app = behind_a_proxy(backend).await;
    let service = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api".into()],
            ..Default::default()
        })
        .await;
    let spa = app
        .register_client_with(ClientRegistration {
            secret: SecretChoice::Public,
            ..Default::default()
        })
        .await;
    let secret = service.secret.clone().unwrap();
    let grant = [("grant_type", "client_credentials")];

    // Someone at one address guesses the service's secret many times, and sends secrets for
    // the public client: far past every limit.
    for n in 0..25 {
        let (status, _) = token_from(
            &app,
            "203.0.113.66",
            &grant,
            Some((&service.id, &format!("guess-{n}"))),
        )
        .await;
        assert_eq!(status, 401);
        let (status, body) = token_from(
            &app,
            "203.0.113.66",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &spa.id),
                ("client_secret", "anything-at-all"),
            ],
            None,
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }
    // That address is held back, even with the right secret...
    let (status, body) =
        token_from(&app, "203.0.113.66", &grant, Some((&service.id, &secret))).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("Too many"));

    // ...but the apps themselves still work from anywhere else.
    let (status, body) =
        token_from(&app, "198.51.100.7", &grant, Some((&service.id, &secret))).await;
    assert_eq!(status, 200, "the right secret from elsewhere: {body}");
    let (status, body) = token_from(
        &app,
        "198.51.100.7",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &spa.id),
        ],
        None,
    )
    .await;
    assert_eq!(status, 400, "the public client authenticates: {body}");
    assert_eq!(body["error"], "invalid_grant");

    // A secret sent for a public client is refused, and does not count against the address.
    for _ in 0..10 {
        let (status, body) = token_from(
            &app,
            "198.51.100.8",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &spa.id),
                ("client_secret", "a-secret-it-never-had"),
            ],
            None,
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "invalid_client");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("public"),
            "{body}"
        );
    }
    let (status, body) =
        token_from(&app, "198.51.100.8", &grant, Some((&service.id, &secret))).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_request_with_thousands_of_parameters_is_refused_before_anything_else() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // 10,000 distinct names in under 64 KiB: the duplicate check used to compare every pair.
    let body: String = (0..10_000)
        .map(|n| format!("{n:x}="))
        .collect::<Vec<_>>()
        .join("&");
    assert!(body.len() < 64 * 1024);
    for path in [
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
        "/oauth/device_authorization",
    ] {
        let response = http_client()
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_request", "{path}");
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap()
                .contains("Too many parameters"),
            "{path}: {answer}"
        );
    }
    // The same for the pages' query strings (still well under the 8 KiB request target).
    let query = (0..150)
        .map(|n| format!("p{n}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let page = http_client()
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
}

#[tokio::test]
async fn a_value_cannot_forge_a_log_line() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let _app = env.spawn().await;
    let process = env.serve_process(&[]);
    let forged = "x\n2026-12-02T00:00:00.000000Z  INFO request: oidcd::admin::clients: admin=ops action=\"client.delete\" client_id=photos";
    let response = http_client()
        .post(format!("{}/oauth/token", process.issuer))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", forged),
            ("client_secret", "whatever-it-is"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let logs = process.wait_for_log("client authentication refused").await;
    assert!(logs.contains("client authentication refused"), "{logs}");
    // The value stays on its own line, its newline written as `\n`.
    for line in logs.lines() {
        assert!(
            !line.starts_with("2026-12-02T00:00:00.000000Z"),
            "a forged line: {line}"
        );
    }
    assert!(logs.contains("x\\n2026-12-02T00:00:00"), "{logs}");
}

async fn no_user_bound_token_carries_the_admin_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // An admin client registered with the default grants: it may also sign users in.
    let admin = app
        .register_client_with(ClientRegistration {
            admin: true,
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "device_code".into(),
            ],
            scopes: vec!["openid".into(), "profile".into()],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let (_, challenge) = crate::helpers::pkce_pair();
    let url = app.authorize_url(&[
        ("response_type", "code"),
        ("client_id", &admin.id),
        ("redirect_uri", crate::helpers::REDIRECT_URI),
        ("scope", "openid admin"),
        ("state", "st"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let answer = crate::helpers::Browser::new(&app)
        .authorize(&url, &user)
        .await;
    let params = crate::helpers::location_params(&answer);
    assert_eq!(params["error"], "invalid_scope", "{params:?}");
    assert!(params["error_description"].contains("client credentials"));

    let device = http_client()
        .post(app.url("/oauth/device_authorization"))
        .basic_auth(&admin.id, admin.secret.as_deref())
        .form(&[("scope", "openid admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(device.status(), 400);
    let body: Value = device.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");

    // Through client credentials, the admin client still gets it.
    let token = app
        .token(
            &[("grant_type", "client_credentials"), ("scope", "admin")],
            Some((&admin.id, admin.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(token.status(), 200);
}
