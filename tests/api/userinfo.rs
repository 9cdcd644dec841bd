//! UserInfo (OIDC Core 5.3) and bearer token errors (RFC 6750 3).

use crate::helpers::{Backend, TestApp, TestEnv};
use crate::on_both_databases;

on_both_databases!(
    userinfo_returns_the_claims_the_scopes_allow,
    missing_tampered_expired_and_unscoped_tokens_are_refused,
);

async fn userinfo_returns_the_claims_the_scopes_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app
        .signed_in_tokens(&client, &user, "openid email phone")
        .await;
    let token = tokens["access_token"].as_str().unwrap();

    let get = app.userinfo(token).await;
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["cache-control"], "no-store");
    let info: serde_json::Value = get.json().await.unwrap();
    assert_eq!(info["sub"], user.sub);
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["phone_number"], "+44 20 7946 0000");
    assert!(info.get("name").is_none(), "profile was not granted");

    // POST with the token in the body works too (RFC 6750 2.2).
    let post: serde_json::Value = crate::helpers::http_client()
        .post(app.url("/oauth/userinfo"))
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(post, info);
}

async fn missing_tampered_expired_and_unscoped_tokens_are_refused(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app.signed_in_tokens(&client, &user, "openid email").await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();

    // No token: a bare challenge (RFC 6750 3.1).
    let none = crate::helpers::http_client()
        .get(app.url("/oauth/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"oidcd\"");
    let body: serde_json::Value = none.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");

    // A tampered token: one character of the payload changed.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let flipped = if parts[1].ends_with('A') { 'B' } else { 'A' };
    parts[1].pop();
    parts[1].push(flipped);
    let cases = [
        ("tampered", parts.join(".")),
        ("garbage", "not.a.jwt".to_owned()),
        (
            "id_token as access token",
            tokens["id_token"].as_str().unwrap().to_owned(),
        ),
        // Long, but under the 16 KiB header bound (past it, 431 before any handler).
        ("huge", "a".repeat(12_000)),
    ];
    for (label, bad) in cases {
        let response = app.userinfo(&bad).await;
        assert_eq!(response.status(), 401, "{label}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{label}: {challenge}"
        );
    }

    // A token for another scheme.
    let basic = crate::helpers::http_client()
        .get(app.url("/oauth/userinfo"))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 400);

    // A token without openid: insufficient_scope (403).
    let no_openid = app
        .register_client_with(oidcd::oauth::registration::ClientRegistration {
            scopes: vec!["email".into()],
            ..Default::default()
        })
        .await;
    let plain = app.signed_in_tokens(&no_openid, &user, "email").await;
    let response = app.userinfo(plain["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));

    // Expired: one second past its lifetime, though it was verified (and remembered) while
    // it was good.
    assert_eq!(app.userinfo(&token).await.status(), 200);
    clock.advance(3600);
    assert_eq!(app.userinfo(&token).await.status(), 401);
    clock.advance(1);
    let response = app.userinfo(&token).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("expired"));
}
