//! Introspection (RFC 7662) and revocation (RFC 7009).

use oidcd::oauth::registration::ClientRegistration;

use crate::helpers::{assert_oauth_error, Backend, TestApp, TestClient, TestEnv};
use crate::on_both_databases;

on_both_databases!(
    introspection_describes_live_access_and_refresh_tokens,
    introspection_needs_client_authentication_and_hides_other_clients_tokens,
    revoking_an_access_token_stops_it_at_userinfo_and_introspection,
    revoking_a_refresh_token_revokes_its_family,
    revocation_answers_200_for_unknown_tokens_and_refuses_other_clients_tokens,
    expired_tokens_are_inactive,
);

/// The scope of the tokens these tests sign in for.
const SCOPE: &str = "openid email offline_access";

async fn introspect(
    app: &TestApp,
    client: &TestClient,
    token: &str,
    hint: Option<&str>,
) -> serde_json::Value {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let response = crate::helpers::http_client()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revoke(app: &TestApp, client: &TestClient, token: &str) -> reqwest::Response {
    crate::helpers::http_client()
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn introspection_describes_live_access_and_refresh_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app.signed_in_tokens(&client, &user, SCOPE).await;

    let access = introspect(
        &app,
        &client,
        tokens["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(access["active"], true);
    assert_eq!(access["client_id"], client.id);
    assert_eq!(access["sub"], user.sub);
    assert_eq!(access["scope"], "openid email offline_access");
    assert_eq!(access["token_type"], "Bearer");
    assert!(access["exp"].as_i64().unwrap() > access["iat"].as_i64().unwrap());

    let refresh = introspect(
        &app,
        &client,
        tokens["refresh_token"].as_str().unwrap(),
        Some("refresh_token"),
    )
    .await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(refresh["sub"], user.sub);
    // The hint is only a hint.
    let unhinted = introspect(
        &app,
        &client,
        tokens["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(unhinted["active"], true);
    let wrong_hint = introspect(
        &app,
        &client,
        tokens["access_token"].as_str().unwrap(),
        Some("refresh_token"),
    )
    .await;
    assert_eq!(wrong_hint["active"], true);

    // Once rotated, the old refresh token is no longer active.
    let rotated: serde_json::Value = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let old = introspect(
        &app,
        &client,
        tokens["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(old, serde_json::json!({"active": false}));
    let new = introspect(
        &app,
        &client,
        rotated["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(new["active"], true);

    // Unknown and malformed tokens are simply inactive.
    for junk in ["made-up", "a.b.c", &"x".repeat(5000)] {
        assert_eq!(
            introspect(&app, &client, junk, None).await,
            serde_json::json!({"active": false})
        );
    }
}

async fn introspection_needs_client_authentication_and_hides_other_clients_tokens(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let other = app.register_client().await;
    let resource_server = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["introspect".into()],
            ..Default::default()
        })
        .await;
    let public = app.register_public_client().await;
    let user = app.create_user().await;
    let tokens = app.signed_in_tokens(&client, &user, SCOPE).await;
    let access = tokens["access_token"].as_str().unwrap();

    // No authentication.
    let anonymous = crate::helpers::http_client()
        .post(app.url("/oauth/introspect"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(anonymous, 401, "invalid_client").await;
    // A public client cannot authenticate, so cannot introspect.
    let public_attempt = crate::helpers::http_client()
        .post(app.url("/oauth/introspect"))
        .form(&[("token", access), ("client_id", public.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(public_attempt, 401, "invalid_client").await;
    // Wrong secret.
    let wrong = crate::helpers::http_client()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.id, Some("wrong"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(wrong, 401, "invalid_client").await;
    // Missing token parameter.
    let missing = crate::helpers::http_client()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(missing, 400, "invalid_request").await;

    // Another client learns nothing about this client's tokens...
    assert_eq!(
        introspect(&app, &other, access, None).await,
        serde_json::json!({"active": false})
    );
    // ...a resource server allowed the introspect scope does.
    assert_eq!(
        introspect(&app, &resource_server, access, None).await["active"],
        true
    );
}

async fn revoking_an_access_token_stops_it_at_userinfo_and_introspection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app.signed_in_tokens(&client, &user, SCOPE).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo(access).await.status(), 200);

    let response = revoke(&app, &client, access).await;

    assert_eq!(response.status(), 200);
    assert_eq!(app.userinfo(access).await.status(), 401);
    assert_eq!(
        introspect(&app, &client, access, None).await["active"],
        false
    );
    // The refresh token still works: only that access token was revoked.
    let refreshed = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), 200);
    // Revoking twice is fine.
    assert_eq!(revoke(&app, &client, access).await.status(), 200);
}

async fn revoking_a_refresh_token_revokes_its_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app.signed_in_tokens(&client, &user, SCOPE).await;
    let other_user = app.create_user().await;
    let others = app.signed_in_tokens(&client, &other_user, SCOPE).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();

    assert_eq!(revoke(&app, &client, refresh).await.status(), 200);

    assert_oauth_error(app.refresh(&client, refresh).await, 400, "invalid_grant").await;
    assert_eq!(
        introspect(&app, &client, refresh, None).await["active"],
        false
    );
    // Access tokens issued in that grant die with it (RFC 7009 2.1).
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    // Another grant is untouched.
    assert_eq!(
        app.userinfo(others["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.refresh(&client, others["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

async fn revocation_answers_200_for_unknown_tokens_and_refuses_other_clients_tokens(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let other = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app.signed_in_tokens(&client, &user, SCOPE).await;

    assert_eq!(revoke(&app, &client, "no-such-token").await.status(), 200);
    let response = revoke(&app, &other, tokens["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    let response = revoke(&app, &other, tokens["access_token"].as_str().unwrap()).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    // Nothing was revoked by those attempts.
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    // Unauthenticated revocation is refused.
    let anonymous = crate::helpers::http_client()
        .post(app.url("/oauth/revoke"))
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(anonymous, 401, "invalid_client").await;
    let missing = crate::helpers::http_client()
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(missing, 400, "invalid_request").await;
}

async fn expired_tokens_are_inactive(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app.signed_in_tokens(&client, &user, SCOPE).await;
    let access = tokens["access_token"].as_str().unwrap();
    // Verified while good: the memo of verified tokens must not outlive the expiry.
    assert_eq!(
        introspect(&app, &client, access, None).await["active"],
        true
    );
    // An ID token is signed by the same keys but is no access token: inactive, with or
    // without a hint that it might be a refresh token.
    let id_token = tokens["id_token"].as_str().unwrap();
    for hint in [None, Some("refresh_token")] {
        assert_eq!(
            introspect(&app, &client, id_token, hint).await,
            serde_json::json!({"active": false})
        );
    }

    clock.advance(3601);

    assert_eq!(
        introspect(
            &app,
            &client,
            tokens["access_token"].as_str().unwrap(),
            None
        )
        .await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(
            &app,
            &client,
            tokens["refresh_token"].as_str().unwrap(),
            None
        )
        .await["active"],
        true
    );
}
