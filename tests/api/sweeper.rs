//! The sweeper removes what has expired, and nothing else.

use oidcd::config::Seconds;
use oidcd::oauth::registration::{ClientRegistration, SecretChoice};
use oidcd::Clock;
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{Backend, Browser, TestApp, TestEnv, T0};
use crate::on_both_databases;

on_both_databases!(the_sweeper_removes_what_expired_and_nothing_else);

async fn count(app: &TestApp, table: &str) -> i64 {
    let db = &app.state.db;
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn the_sweeper_removes_what_expired_and_nothing_else(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let clock = Clock::fixed(T0);
    let mut config = env.config();
    let l = &mut config.lifetimes;
    l.authorization_request = Seconds(100);
    l.access_token = Seconds(100);
    l.id_token = Seconds(100);
    l.refresh_token_idle = Seconds(1000);
    l.refresh_token_absolute = Seconds(2000);
    l.session = Seconds(500);
    l.device_code = Seconds(100);
    config.device.guess_window = Seconds(100);
    let app = env.spawn_config(config, clock.clone()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;

    // A pending request (a login page left open), an unredeemed code, a grant without and one
    // with a refresh token, a revoked access token, a device code, a wrong-code counter.
    Browser::new(&app)
        .get(&app.code_request_url(&client, "openid", &[]))
        .await;
    app.code_for(&client, &user, "openid", &[]).await;
    let short = app.signed_in_tokens(&client, &user, "openid").await;
    let long = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;
    crate::helpers::http_client()
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", short["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let device = app
        .register_client_with(ClientRegistration {
            secret: SecretChoice::Public,
            grant_types: vec!["device_code".into()],
            redirect_uris: vec![],
            ..Default::default()
        })
        .await;
    crate::helpers::http_client()
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", device.id.as_str()), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    let browser = Browser::new(&app);
    let entry = browser.get(&app.url("/device")).await.text().await.unwrap();
    browser
        .http
        .post(app.url("/device"))
        .form(&[
            (
                "csrf_token",
                crate::helpers::input_value(&entry, "csrf_token")
                    .unwrap()
                    .as_str(),
            ),
            ("step", "code"),
            ("user_code", "ZZZZ-ZZZZ"),
        ])
        .send()
        .await
        .unwrap();
    let before = [
        (
            "authorization_requests",
            count(&app, "authorization_requests").await,
        ),
        ("auth_codes", count(&app, "auth_codes").await),
        ("grants", count(&app, "grants").await),
        ("revocations", count(&app, "revocations").await),
        ("device_codes", count(&app, "device_codes").await),
        ("throttles", count(&app, "throttles").await),
        ("browser_sessions", count(&app, "browser_sessions").await),
    ];
    for (table, n) in before {
        assert!(n > 0, "{table} has rows to sweep");
    }

    // Nothing has expired yet: nothing goes.
    let swept = oidcd::tasks::sweeper::sweep_once(&app.state).await.unwrap();
    assert_eq!(swept, Default::default());

    // 150 s later: the short-lived rows go; codes (kept an hour after expiry to recognise
    // reuse), sessions and the long grant stay.
    clock.advance(150);
    let swept = oidcd::tasks::sweeper::sweep_once(&app.state).await.unwrap();
    assert!(swept.authorization_requests >= 1);
    assert_eq!(swept.device_codes, 1);
    // A grant without a refresh token outlives its access token and the session it was
    // made in (500 s here), so that session's end still reaches its app.
    assert_eq!(
        swept.grants, 0,
        "the grant without a refresh token waits for its session"
    );
    assert_eq!(swept.revocations, 1);
    assert!(swept.throttles >= 1);
    assert_eq!(swept.auth_codes, 0);
    // Sessions nobody signed in to go with their sign-in requests; signed-in ones stay.
    assert!(swept.sessions >= 1, "the anonymous /device session");
    assert!(count(&app, "browser_sessions").await >= 1);
    assert_eq!(count(&app, "authorization_requests").await, 0);
    assert_eq!(count(&app, "grants").await, 2);
    let refreshed = app
        .refresh(&client, long["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), 200, "the live family was left alone");

    // Long after: everything expired is gone.
    clock.advance(4000);
    let swept = oidcd::tasks::sweeper::sweep_once(&app.state).await.unwrap();
    assert!(swept.auth_codes >= 3);
    assert!(swept.sessions >= 1);
    assert_eq!(swept.grants, 2);
    for table in [
        "auth_codes",
        "grants",
        "refresh_tokens",
        "browser_sessions",
        "device_codes",
        "revocations",
        "throttles",
    ] {
        assert_eq!(count(&app, table).await, 0, "{table}");
    }
    // Clients, users, consents and keys are not the sweeper's.
    assert!(count(&app, "clients").await >= 2);
    assert_eq!(count(&app, "users").await, 1);
    assert_eq!(count(&app, "consents").await, 1);
    assert_eq!(count(&app, "signing_keys").await, 2);
}
