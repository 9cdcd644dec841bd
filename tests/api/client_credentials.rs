//! grant_type=client_credentials (RFC 6749 4.4).

use oidcd::oauth::registration::ClientRegistration;

use crate::helpers::{assert_oauth_error, Backend, TestApp};
use crate::jwks::verify_with_jwks;
use crate::on_both_databases;

on_both_databases!(
    a_service_gets_a_verifiable_access_token_and_nothing_else,
    client_credentials_refusals,
);

async fn a_service_gets_a_verifiable_access_token_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let service = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["photos:read".into(), "photos:write".into()],
            ..Default::default()
        })
        .await;
    let basic = Some((service.id.as_str(), service.secret.as_deref().unwrap()));

    let response = app
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "photos:read"),
            ],
            basic,
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "photos:read");
    assert!(tokens.get("refresh_token").is_none());
    assert!(tokens.get("id_token").is_none());
    let claims = verify_with_jwks(
        tokens["access_token"].as_str().unwrap(),
        &app.get_json("/jwks.json").await,
    );
    assert_eq!(claims["iss"], app.address);
    assert_eq!(claims["sub"], service.id);
    assert_eq!(claims["client_id"], service.id);
    assert_eq!(claims["scope"], "photos:read");
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

    // Without a scope parameter: everything the client is allowed.
    let all: serde_json::Value = app
        .token(&[("grant_type", "client_credentials")], basic)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["scope"], "photos:read photos:write");
}

async fn client_credentials_refusals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let service = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["photos:read".into()],
            ..Default::default()
        })
        .await;
    let web_app = app.register_client().await;
    let public = app.register_public_client().await;
    let secret = service.secret.as_deref().unwrap();

    let wrong_secret = app
        .token(
            &[("grant_type", "client_credentials")],
            Some((&service.id, "not-the-secret")),
        )
        .await;
    assert_oauth_error(wrong_secret, 401, "invalid_client").await;

    let public_client = app
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &public.id),
            ],
            None,
        )
        .await;
    assert_oauth_error(public_client, 400, "unauthorized_client").await;

    let not_registered = app
        .token(
            &[("grant_type", "client_credentials")],
            Some((&web_app.id, web_app.secret.as_deref().unwrap())),
        )
        .await;
    assert_oauth_error(not_registered, 400, "unauthorized_client").await;

    for scope in [
        "photos:write",
        "openid",
        "offline_access",
        "photos:read admin",
    ] {
        let response = app
            .token(
                &[("grant_type", "client_credentials"), ("scope", scope)],
                Some((&service.id, secret)),
            )
            .await;
        assert_oauth_error(response, 400, "invalid_scope").await;
    }
}
