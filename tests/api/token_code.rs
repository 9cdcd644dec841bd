//! The token endpoint with grant_type=authorization_code (RFC 6749 4.1.3, 5.2; RFC 7636).

use oidcd::oauth::registration::ClientRegistration;

use crate::helpers::{assert_oauth_error, pkce_pair, Backend, TestApp, TestEnv, REDIRECT_URI};
use crate::on_both_databases;

on_both_databases!(
    client_authentication_failures_are_invalid_client,
    a_wrong_or_missing_pkce_verifier_is_invalid_grant,
    a_second_use_of_a_code_fails_and_revokes_its_tokens,
    an_expired_code_is_invalid_grant,
    a_redirect_uri_mismatch_is_invalid_grant,
    malformed_token_requests_get_rfc_errors,
    two_concurrent_redemptions_of_one_code_yield_one_grant,
    a_code_issued_before_a_restart_redeems_after_it,
    client_secret_post_is_accepted_for_clients_registered_for_it,
);

async fn client_authentication_failures_are_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let code = app.code_for(&client, &user, "openid", &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];

    // Wrong secret with Basic: 401 naming the Basic scheme.
    let response = app.token(&form, Some((&client.id, "wrong-secret"))).await;
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        "Basic realm=\"oidcd\", charset=\"UTF-8\""
    );
    assert_oauth_error(response, 401, "invalid_client").await;
    // Unknown client: the same answer.
    let response = app.token(&form, Some(("nobody", "whatever"))).await;
    assert_oauth_error(response, 401, "invalid_client").await;
    // No authentication at all.
    assert_oauth_error(app.token(&form, None).await, 401, "invalid_client").await;
    // A confidential client pretending to be public.
    let mut public_style = form.to_vec();
    public_style.push(("client_id", &client.id));
    assert_oauth_error(app.token(&public_style, None).await, 401, "invalid_client").await;
    // The secret in the body when the client is registered for Basic.
    let mut post_style = form.to_vec();
    post_style.push(("client_id", &client.id));
    post_style.push(("client_secret", client.secret.as_deref().unwrap()));
    assert_oauth_error(app.token(&post_style, None).await, 401, "invalid_client").await;
    // Two methods at once.
    let mut both = form.to_vec();
    both.push(("client_secret", client.secret.as_deref().unwrap()));
    let response = app
        .token(&both, Some((&client.id, client.secret.as_deref().unwrap())))
        .await;
    assert_oauth_error(response, 400, "invalid_request").await;
    // Malformed Basic.
    let response = crate::helpers::http_client()
        .post(app.url("/oauth/token"))
        .header("authorization", "Basic !!!")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, 401, "invalid_client").await;

    // None of that burned the code.
    assert_eq!(app.exchange(&client, &code, None).await.status(), 200);
}

async fn a_wrong_or_missing_pkce_verifier_is_invalid_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let (verifier, challenge) = pkce_pair();
    let (other_verifier, _) = pkce_pair();
    let code = app
        .code_for(
            &client,
            &user,
            "openid",
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;

    assert_oauth_error(
        app.exchange(&client, &code, Some(&other_verifier)).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        app.exchange(&client, &code, None).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        app.exchange(&client, &code, Some("too-short")).await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(
        app.exchange(&client, &code, Some(&verifier)).await.status(),
        200
    );

    // A verifier for a code issued without a challenge is a downgrade attempt (RFC 9700 4.8.2).
    let plain_code = app.code_for(&client, &user, "openid", &[]).await;
    assert_oauth_error(
        app.exchange(&client, &plain_code, Some(&verifier)).await,
        400,
        "invalid_grant",
    )
    .await;

    // plain is supported for confidential clients.
    let plain = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let code = app
        .code_for(
            &client,
            &user,
            "openid",
            &[
                ("code_challenge", plain),
                ("code_challenge_method", "plain"),
            ],
        )
        .await;
    assert_eq!(
        app.exchange(&client, &code, Some(plain)).await.status(),
        200
    );
}

async fn a_second_use_of_a_code_fails_and_revokes_its_tokens(backend: Backend) {
    // RFC 6749 4.1.2: "If an authorization code is used more than once ... SHOULD revoke
    // all tokens previously issued based on that authorization code."
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let code = app
        .code_for(&client, &user, "openid offline_access", &[])
        .await;
    let first: serde_json::Value = app
        .exchange(&client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert_eq!(app.userinfo(access).await.status(), 200);

    let second = app.exchange(&client, &code, None).await;

    assert_oauth_error(second, 400, "invalid_grant").await;
    assert_eq!(
        oidcd::metrics::Metrics::get(&app.state.metrics.code_reuse_detected),
        1
    );
    let userinfo = app.userinfo(access).await;
    assert_eq!(userinfo.status(), 401);
    assert!(userinfo.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    assert_oauth_error(app.refresh(&client, refresh).await, 400, "invalid_grant").await;
}

async fn an_expired_code_is_invalid_grant(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let code = app.code_for(&client, &user, "openid", &[]).await;

    clock.advance(61); // codes live 60 s by default

    assert_oauth_error(
        app.exchange(&client, &code, None).await,
        400,
        "invalid_grant",
    )
    .await;
}

async fn a_redirect_uri_mismatch_is_invalid_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .register_client_with(ClientRegistration {
            redirect_uris: vec![REDIRECT_URI.into(), "https://rp.example.com/other".into()],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let code = app.code_for(&client, &user, "openid", &[]).await;
    let basic = Some((client.id.as_str(), client.secret.as_deref().unwrap()));

    let other = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://rp.example.com/other"),
            ],
            basic,
        )
        .await;
    assert_oauth_error(other, 400, "invalid_grant").await;
    let missing = app
        .token(
            &[("grant_type", "authorization_code"), ("code", &code)],
            basic,
        )
        .await;
    assert_oauth_error(missing, 400, "invalid_request").await;
    // A code issued to another client is not this one's to redeem.
    let thief = app.register_client().await;
    assert_oauth_error(
        app.exchange(&thief, &code, None).await,
        400,
        "invalid_grant",
    )
    .await;
}

async fn malformed_token_requests_get_rfc_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let cc_only = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            ..Default::default()
        })
        .await;
    let basic = Some((client.id.as_str(), client.secret.as_deref().unwrap()));
    let huge = "x".repeat(5000);
    let cases: Vec<(&str, Vec<(&str, &str)>, u16, &str)> = vec![
        ("no grant_type", vec![("code", "x")], 400, "invalid_request"),
        (
            "password grant",
            vec![
                ("grant_type", "password"),
                ("username", "u"),
                ("password", "p"),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            "unknown grant",
            vec![("grant_type", "urn:example:nothing")],
            400,
            "unsupported_grant_type",
        ),
        (
            "no code",
            vec![
                ("grant_type", "authorization_code"),
                ("redirect_uri", REDIRECT_URI),
            ],
            400,
            "invalid_request",
        ),
        (
            "unknown code",
            vec![
                ("grant_type", "authorization_code"),
                ("code", "made-up"),
                ("redirect_uri", REDIRECT_URI),
            ],
            400,
            "invalid_grant",
        ),
        (
            "huge code",
            vec![
                ("grant_type", "authorization_code"),
                ("code", &huge),
                ("redirect_uri", REDIRECT_URI),
            ],
            400,
            "invalid_grant",
        ),
        (
            "repeated code",
            vec![
                ("grant_type", "authorization_code"),
                ("code", "a"),
                ("code", "b"),
                ("redirect_uri", REDIRECT_URI),
            ],
            400,
            "invalid_request",
        ),
    ];
    for (label, form, status, error) in cases {
        let response = app.token(&form, basic).await;
        assert_eq!(response.status().as_u16(), status, "{label}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{label}");
    }
    // A client not registered for the grant.
    let response = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", REDIRECT_URI),
            ],
            Some((&cc_only.id, cc_only.secret.as_deref().unwrap())),
        )
        .await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    // Not a form.
    let response = crate::helpers::http_client()
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, 400, "invalid_request").await;
    // Too large a body.
    let response = crate::helpers::http_client()
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&code={}",
            "x".repeat(100_000)
        ))
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, 400, "invalid_request").await;
    // GET is not a token request.
    let response = crate::helpers::http_client()
        .get(app.url("/oauth/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

async fn two_concurrent_redemptions_of_one_code_yield_one_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    for _ in 0..3 {
        let code = app
            .code_for(&client, &user, "openid offline_access", &[])
            .await;

        let (a, b) = tokio::join!(
            app.exchange(&client, &code, None),
            app.exchange(&client, &code, None)
        );

        let statuses = [a.status().as_u16(), b.status().as_u16()];
        assert!(
            statuses.contains(&200) && statuses.contains(&400),
            "{statuses:?}"
        );
        let loser = if a.status() == 400 { a } else { b };
        assert_oauth_error(loser, 400, "invalid_grant").await;
    }
    let grants = app
        .state
        .db
        .query_one(sea_orm::Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM grants",
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = grants.try_get("", "n").unwrap();
    assert_eq!(n, 3, "one grant per code");
}

async fn a_code_issued_before_a_restart_redeems_after_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let code = app
        .code_for(&client, &user, "openid offline_access", &[])
        .await;
    let env = app.stop().await;

    let app = env.spawn().await;
    let response = app.exchange(&client, &code, None).await;

    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    // And a refresh token works across another restart.
    let env = app.stop().await;
    let app = env.spawn().await;
    assert_eq!(
        app.refresh(&client, tokens["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

async fn client_secret_post_is_accepted_for_clients_registered_for_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .register_client_with(ClientRegistration {
            token_endpoint_auth_method: Some("client_secret_post".into()),
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let code = app.code_for(&client, &user, "openid", &[]).await;

    let response = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", &client.id),
                ("client_secret", client.secret.as_deref().unwrap()),
            ],
            None,
        )
        .await;

    assert_eq!(response.status(), 200);
}

use sea_orm::ConnectionTrait as _;
