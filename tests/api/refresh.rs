//! Refresh tokens (RFC 6749 6, RFC 9700 4.14.2, OIDC Core 11 and 12).

use oidcd::oauth::registration::ClientRegistration;

use crate::helpers::{assert_oauth_error, jwt_claims, Backend, TestApp, TestClient, TestEnv, T0};
use crate::on_both_databases;

on_both_databases!(
    a_refresh_token_is_issued_only_with_offline_access_and_a_refresh_grant,
    each_refresh_rotates_and_returns_a_new_id_token,
    a_retry_inside_the_grace_window_gets_the_same_successor,
    reuse_after_the_grace_window_revokes_that_family_only,
    a_refresh_may_narrow_the_scope_but_never_widen_it,
    idle_and_absolute_lifetimes_end_a_family,
    concurrent_refreshes_of_one_token_yield_one_successor,
    a_refresh_token_is_bound_to_its_client,
);

async fn a_refresh_token_is_issued_only_with_offline_access_and_a_refresh_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let no_refresh_grant = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["authorization_code".into()],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;

    assert!(app
        .signed_in_tokens(&client, &user, "openid")
        .await
        .get("refresh_token")
        .is_none());
    let with = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;
    assert!(with["refresh_token"].is_string());
    assert!(with["scope"].as_str().unwrap().contains("offline_access"));
    let without = app
        .signed_in_tokens(&no_refresh_grant, &user, "openid offline_access")
        .await;
    assert!(without.get("refresh_token").is_none());
    assert!(!without["scope"]
        .as_str()
        .unwrap()
        .contains("offline_access"));
    // offline_access needs consent, so prompt=none drops it, even when consented before.
    let browser = crate::helpers::Browser::new(&app);
    let url = |prompt: Option<&'static str>| {
        let prompt = prompt.map(|v| ("prompt", v));
        app.code_request_url(&client, "openid offline_access", prompt.as_slice())
    };
    browser.authorize(&url(None), &user).await;
    let silent = browser.get(&url(Some("none"))).await;
    let silent_code = crate::helpers::location_params(&silent)["code"].clone();
    let silent: serde_json::Value = app
        .exchange(&client, &silent_code, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(silent.get("refresh_token").is_none());
    assert_eq!(silent["scope"], "openid");
}

async fn each_refresh_rotates_and_returns_a_new_id_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let first = app
        .signed_in_tokens(&client, &user, "openid offline_access email")
        .await;
    let r0 = first["refresh_token"].as_str().unwrap();

    let response = app.refresh(&client, r0).await;

    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: serde_json::Value = response.json().await.unwrap();
    let r1 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r0, r1);
    assert_ne!(first["access_token"], second["access_token"]);
    let id = jwt_claims(second["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], user.sub);
    assert_eq!(id["aud"], client.id);
    assert_eq!(
        id["auth_time"],
        jwt_claims(first["id_token"].as_str().unwrap())["auth_time"]
    );
    assert!(id.get("nonce").is_none());
    assert_eq!(
        app.userinfo(second["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    // The new one works in turn.
    let third: serde_json::Value = app.refresh(&client, r1).await.json().await.unwrap();
    assert!(third["refresh_token"].is_string());
}

async fn a_retry_inside_the_grace_window_gets_the_same_successor(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let r0 = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let first: serde_json::Value = app.refresh(&client, &r0).await.json().await.unwrap();
    clock.advance(9);
    let retry: serde_json::Value = app.refresh(&client, &r0).await.json().await.unwrap();

    assert_eq!(
        first["refresh_token"], retry["refresh_token"],
        "the same successor, not a third token"
    );
    assert!(retry["access_token"].is_string());
    // The successor is live; the family was not revoked.
    let r1 = first["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(&client, r1).await.status(), 200);
}

async fn reuse_after_the_grace_window_revokes_that_family_only(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let stolen = app
        .signed_in_tokens(&client, &alice, "openid offline_access")
        .await;
    let other_grant = app
        .signed_in_tokens(&client, &alice, "openid offline_access")
        .await;
    let other_user = app
        .signed_in_tokens(&client, &bob, "openid offline_access")
        .await;
    let r0 = stolen["refresh_token"].as_str().unwrap();
    let rotated: serde_json::Value = app.refresh(&client, r0).await.json().await.unwrap();

    clock.advance(11); // the grace window is 10 s
    let reuse = app.refresh(&client, r0).await;

    assert_oauth_error(reuse, 400, "invalid_grant").await;
    let counted = &app.state.metrics.refresh_reuse_detected;
    assert_eq!(
        oidcd::metrics::Metrics::get(counted),
        1,
        "the reuse is counted"
    );
    // Every token of that family is dead: the rotated refresh token and its access token.
    assert_oauth_error(
        app.refresh(&client, rotated["refresh_token"].as_str().unwrap())
            .await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        app.userinfo(rotated["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    assert_eq!(
        app.userinfo(stolen["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    // Another grant of the same user, and another user's, keep working.
    assert_eq!(
        app.userinfo(other_grant["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.refresh(&client, other_grant["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.refresh(&client, other_user["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

async fn a_refresh_may_narrow_the_scope_but_never_widen_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let r0 = app
        .signed_in_tokens(&client, &user, "openid offline_access email")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let basic = Some((client.id.as_str(), client.secret.as_deref().unwrap()));

    let wider = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r0),
                ("scope", "openid email phone"),
            ],
            basic,
        )
        .await;
    assert_oauth_error(wider, 400, "invalid_scope").await;

    let narrower: serde_json::Value = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r0),
                ("scope", "email"),
            ],
            basic,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(narrower["scope"], "email");
    assert!(
        narrower.get("id_token").is_none(),
        "no openid in the narrowed scope"
    );
    // The grant itself keeps its scope: the next refresh may ask for all of it again.
    let again: serde_json::Value = app
        .refresh(&client, narrower["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["scope"], "openid offline_access email");
}

async fn idle_and_absolute_lifetimes_end_a_family(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let clock = oidcd::Clock::fixed(T0);
    let mut config = env.config();
    config.lifetimes.refresh_token_idle = oidcd::config::Seconds(100);
    config.lifetimes.refresh_token_absolute = oidcd::config::Seconds(250);
    let app = env.spawn_config(config, clock.clone()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;

    // Idle: unused for longer than 100 s.
    let idle = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;
    // Absolute: used every 90 s, but the family ends at 250 s.
    let busy = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;
    let mut current = busy["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        clock.advance(90);
        let next: serde_json::Value = app.refresh(&client, &current).await.json().await.unwrap();
        current = next["refresh_token"].as_str().unwrap().to_owned();
    }
    assert_oauth_error(
        app.refresh(&client, idle["refresh_token"].as_str().unwrap())
            .await,
        400,
        "invalid_grant",
    )
    .await;
    clock.advance(90); // 270 s after the grant
    assert_oauth_error(app.refresh(&client, &current).await, 400, "invalid_grant").await;
}

async fn concurrent_refreshes_of_one_token_yield_one_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let r0 = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let responses = futures_join(&app, &client, &r0, 4).await;

    let mut successors = std::collections::BTreeSet::new();
    for r in responses {
        assert_eq!(r["token_type"], "Bearer", "{r}");
        successors.insert(r["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        successors.len(),
        1,
        "one successor, seen by every concurrent retry"
    );
    let rows = app
        .state
        .db
        .query_one(sea_orm::Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT MAX(refresh_generation) AS g, COUNT(*) AS n FROM grants",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.try_get::<i64>("", "g").unwrap(), 1);
    let tokens_in_family = app
        .state
        .db
        .query_one(sea_orm::Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM refresh_tokens",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        tokens_in_family.try_get::<i64>("", "n").unwrap(),
        2,
        "the original and one successor"
    );
}

async fn futures_join(
    app: &TestApp,
    client: &TestClient,
    token: &str,
    n: usize,
) -> Vec<serde_json::Value> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let url = app.url("/oauth/token");
        let (id, secret, token) = (
            client.id.clone(),
            client.secret.clone().unwrap(),
            token.to_owned(),
        );
        handles.push(tokio::spawn(async move {
            crate::helpers::http_client()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn a_refresh_token_is_bound_to_its_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let other = app.register_client().await;
    let user = app.create_user().await;
    let r0 = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_oauth_error(app.refresh(&other, &r0).await, 400, "invalid_grant").await;
    assert_oauth_error(
        app.refresh(&client, "not-a-token").await,
        400,
        "invalid_grant",
    )
    .await;
    // The attempt by another client did not harm the family.
    assert_eq!(app.refresh(&client, &r0).await.status(), 200);
}

use sea_orm::ConnectionTrait as _;
