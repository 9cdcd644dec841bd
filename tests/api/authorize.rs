//! The authorization endpoint and its pages (RFC 6749 4.1, OIDC Core 3.1.2).

use oidcd::oauth::registration::ClientRegistration;

use crate::helpers::{
    input_value, location, location_params, pkce_pair, Backend, Browser, TestApp, REDIRECT_URI,
};
use crate::jwks::verify_with_jwks;
use crate::on_both_databases;

on_both_databases!(
    the_whole_flow_for_a_confidential_client_yields_verifiable_tokens,
    the_whole_flow_for_a_public_client_with_pkce,
    unknown_clients_and_unregistered_redirect_uris_get_a_page_never_a_redirect,
    bad_parameters_are_sent_back_to_the_client_with_state_and_iss,
    denying_consent_redirects_with_access_denied,
    prompt_none_without_a_session_answers_login_required,
    remembered_consent_skips_the_page_and_prompt_consent_asks_again,
    prompt_login_and_max_age_force_a_fresh_login,
    a_forged_csrf_token_or_a_replayed_form_is_refused,
    wrong_credentials_show_the_login_page_again_with_a_generic_message,
    form_post_returns_the_code_in_an_auto_submitting_form,
    the_session_cookie_is_http_only_and_same_site,
);

async fn the_whole_flow_for_a_confidential_client_yields_verifiable_tokens(backend: Backend) {
    // Arrange
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let url = app.code_request_url(
        &client,
        "openid profile email",
        &[("state", "af0ifjsldkj"), ("nonce", "n-0S6_WzA2Mj")],
    );

    // Act: the login page, then the consent page, then the redirect with the code.
    let login = browser.get(&url).await;
    assert_eq!(login.status(), 200);
    let page = login.text().await.unwrap();
    assert!(page.contains("Test App"), "the login page names the client");
    let consent = browser.login(&page, &user).await;
    assert_eq!(consent.status(), 200);
    let page = consent.text().await.unwrap();
    assert!(page.contains("See your email address"), "scopes in words");
    assert!(page.contains("Allow") && page.contains("Deny"));
    let done = browser.consent(&page, "allow").await;

    // Assert: RFC 6749 4.1.2 and RFC 9207.
    assert_eq!(done.status(), 303);
    assert!(location(&done).starts_with(REDIRECT_URI));
    let params = location_params(&done);
    assert_eq!(params["state"], "af0ifjsldkj");
    assert_eq!(params["iss"], app.address);
    let code = &params["code"];
    assert!(code.len() >= 43, "at least 128 bits, here 256");

    let response = app.exchange(&client, code, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile email");
    assert!(tokens["expires_in"].as_i64().unwrap() > 0);
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );

    // The id_token, checked independently against the served JWKS (OIDC Core 3.1.3.7).
    let jwks = app.get_json("/jwks.json").await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let id = verify_with_jwks(tokens["id_token"].as_str().unwrap(), &jwks);
    assert_eq!(id["iss"], app.address);
    assert_eq!(id["aud"], client.id);
    assert_eq!(id["azp"], client.id);
    assert_eq!(id["sub"], user.sub);
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert!(id["sid"].is_string());
    let now = app.state.clock.now();
    assert!(id["exp"].as_i64().unwrap() > now);
    assert!((id["auth_time"].as_i64().unwrap() - now).abs() < 60);
    assert_eq!(id["at_hash"], expected_at_hash(access_token));

    // The access token: RFC 9068, verifiable offline.
    let at = verify_with_jwks(access_token, &jwks);
    assert_eq!(at["iss"], app.address);
    assert_eq!(at["sub"], user.sub);
    assert_eq!(at["client_id"], client.id);
    assert_eq!(at["scope"], "openid profile email");
    assert!(at["jti"].is_string());
    assert_eq!(header_of(access_token)["typ"], "at+jwt");

    // And userinfo answers with what the scopes allow.
    let info: serde_json::Value = app.userinfo(access_token).await.json().await.unwrap();
    assert_eq!(info["sub"], user.sub);
    assert_eq!(info["name"], "Ada Lovelace");
    assert_eq!(info["email"], format!("{}@example.com", user.username));
    assert!(
        info.get("phone_number").is_none(),
        "phone was not requested"
    );
}

fn expected_at_hash(token: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

fn header_of(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn the_whole_flow_for_a_public_client_with_pkce(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_public_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let (verifier, challenge) = pkce_pair();

    let done = browser
        .authorize(
            &app.code_request_url(
                &client,
                "openid offline_access",
                &[
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            ),
            &user,
        )
        .await;
    let code = location_params(&done)["code"].clone();

    // A public client authenticates with nothing but its id, and proves the PKCE secret.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", client.id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let response = app.token(&form, None).await;
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    let jwks = app.get_json("/jwks.json").await;
    let id = verify_with_jwks(tokens["id_token"].as_str().unwrap(), &jwks);
    assert_eq!(id["aud"], client.id);
    // offline_access was consented to: a refresh token, usable by the public client.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refreshed = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", &client.id),
            ],
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 200);
}

async fn unknown_clients_and_unregistered_redirect_uris_get_a_page_never_a_redirect(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let browser = Browser::new(&app);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "unknown client",
            vec![("client_id", "nobody"), ("redirect_uri", REDIRECT_URI)],
        ),
        ("no client", vec![("redirect_uri", REDIRECT_URI)]),
        (
            "unregistered redirect",
            vec![
                ("client_id", &client.id),
                ("redirect_uri", "https://evil.example/cb"),
            ],
        ),
        (
            "prefix of a registered redirect",
            vec![
                ("client_id", &client.id),
                ("redirect_uri", "https://rp.example.com/callback/x"),
            ],
        ),
        ("no redirect", vec![("client_id", &client.id)]),
        (
            "duplicated redirect",
            vec![
                ("client_id", &client.id),
                ("redirect_uri", REDIRECT_URI),
                ("redirect_uri", "https://evil.example/cb"),
            ],
        ),
    ];
    for (label, mut params) in cases {
        params.extend([("response_type", "code"), ("scope", "openid")]);
        let response = browser.get(&app.authorize_url(&params)).await;
        assert_eq!(response.status(), 400, "{label}");
        assert!(
            response.headers().get("location").is_none(),
            "{label}: redirected"
        );
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let page = response.text().await.unwrap();
        assert!(
            !page.contains("evil.example"),
            "{label}: the page echoes the attacker URL"
        );
    }
}

async fn bad_parameters_are_sent_back_to_the_client_with_state_and_iss(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let public = app.register_public_client().await;
    let browser = Browser::new(&app);
    let base = |id: &str| {
        vec![
            ("client_id", id.to_owned()),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("state", "xyz".to_owned()),
        ]
    };
    let cases: Vec<(&str, &str, Vec<(&str, &str)>, &str)> = vec![
        (
            "missing response_type",
            &client.id,
            vec![("scope", "openid")],
            "invalid_request",
        ),
        (
            "token response type",
            &client.id,
            vec![("response_type", "token"), ("scope", "openid")],
            "unsupported_response_type",
        ),
        (
            "unknown scope",
            &client.id,
            vec![("response_type", "code"), ("scope", "openid admin")],
            "invalid_scope",
        ),
        (
            "missing scope",
            &client.id,
            vec![("response_type", "code")],
            "invalid_scope",
        ),
        (
            "bad prompt",
            &client.id,
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("prompt", "select_account"),
            ],
            "invalid_request",
        ),
        (
            "prompt none with login",
            &client.id,
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("prompt", "none login"),
            ],
            "invalid_request",
        ),
        (
            "bad max_age",
            &client.id,
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("max_age", "-1"),
            ],
            "invalid_request",
        ),
        (
            "duplicated scope",
            &client.id,
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("scope", "email"),
            ],
            "invalid_request",
        ),
        (
            "bad challenge method",
            &client.id,
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S512"),
            ],
            "invalid_request",
        ),
        (
            "short challenge",
            &client.id,
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", "short"),
            ],
            "invalid_request",
        ),
        (
            "public client without PKCE",
            &public.id,
            vec![("response_type", "code"), ("scope", "openid")],
            "invalid_request",
        ),
        (
            "public client with plain PKCE",
            &public.id,
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                (
                    "code_challenge",
                    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                ),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            "request object",
            &client.id,
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("request", "eyJ..."),
            ],
            "invalid_request_object",
        ),
        (
            "unknown response_mode",
            &client.id,
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("response_mode", "fragment"),
            ],
            "invalid_request",
        ),
    ];
    for (label, id, extra, error) in cases {
        let mut params = base(id);
        params.extend(extra.into_iter().map(|(k, v)| (k, v.to_owned())));
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = browser.get(&app.authorize_url(&pairs)).await;
        assert_eq!(response.status(), 302, "{label}");
        assert!(location(&response).starts_with(REDIRECT_URI), "{label}");
        let q = location_params(&response);
        assert_eq!(q["error"], error, "{label}");
        assert!(q.contains_key("error_description"), "{label}");
        assert_eq!(q["state"], "xyz", "{label}");
        assert_eq!(q["iss"], app.address, "{label}");
    }
}

async fn denying_consent_redirects_with_access_denied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let url = app.code_request_url(&client, "openid", &[("state", "s1")]);

    let page = browser.get(&url).await.text().await.unwrap();
    let page = browser.login(&page, &user).await.text().await.unwrap();
    let denied = browser.consent(&page, "deny").await;

    assert_eq!(denied.status(), 303);
    let q = location_params(&denied);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["error_description"], "The user did not consent.");
    assert_eq!(q["state"], "s1");
    assert_eq!(q["iss"], app.address);
    assert!(!q.contains_key("code"));
    // The answer is final: the same form cannot now allow it.
    let again = browser.consent(&page, "allow").await;
    assert_eq!(again.status(), 400);
}

async fn prompt_none_without_a_session_answers_login_required(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let url = |prompt: &str| {
        app.code_request_url(
            &client,
            "openid email",
            &[("prompt", prompt), ("state", "p")],
        )
    };

    let response = browser.get(&url("none")).await;
    assert_eq!(response.status(), 302);
    assert_eq!(location_params(&response)["error"], "login_required");

    // Signed in but without consent: consent_required, still no page.
    let page = browser.get(&url("login")).await.text().await.unwrap();
    let consent_page = browser.login(&page, &user).await;
    assert_eq!(consent_page.status(), 200);
    let response = browser.get(&url("none")).await;
    assert_eq!(location_params(&response)["error"], "consent_required");
}

async fn remembered_consent_skips_the_page_and_prompt_consent_asks_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let url = |scope: &str, prompt: Option<&str>| {
        let prompt = prompt.map(|prompt| ("prompt", prompt));
        app.code_request_url(&client, scope, prompt.as_slice())
    };
    let first = browser.authorize(&url("openid email", None), &user).await;
    assert!(location_params(&first).contains_key("code"));

    // Same scopes again: straight back with a code, no page; prompt=none too.
    let second = browser.get(&url("openid email", None)).await;
    assert_eq!(second.status(), 302);
    assert!(location_params(&second).contains_key("code"));
    let silent = browser.get(&url("email openid", Some("none"))).await;
    assert!(location_params(&silent).contains_key("code"));

    // A new scope, or prompt=consent, shows the consent page.
    let wider = browser.get(&url("openid email phone", None)).await;
    assert_eq!(wider.status(), 200);
    assert!(wider.text().await.unwrap().contains("phone number"));
    let forced = browser.get(&url("openid email", Some("consent"))).await;
    assert_eq!(forced.status(), 200);
    assert!(forced
        .text()
        .await
        .unwrap()
        .contains("name=\"step\" value=\"consent\""));
}

async fn prompt_login_and_max_age_force_a_fresh_login(backend: Backend) {
    let env = crate::helpers::TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let url =
        |extra: &[(&'static str, &'static str)]| app.code_request_url(&client, "openid", extra);
    browser.authorize(&url(&[]), &user).await;

    // prompt=login: the login page although a session exists.
    let page = browser.get(&url(&[("prompt", "login")])).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("name=\"step\" value=\"login\""));
    let done = browser.login(&page, &user).await;
    assert!(location_params(&done).contains_key("code"));

    // max_age: fine while the login is recent, the login page once it is older.
    clock.advance(30);
    assert_eq!(browser.get(&url(&[("max_age", "60")])).await.status(), 302);
    clock.advance(60);
    let page = browser.get(&url(&[("max_age", "60")])).await;
    assert_eq!(page.status(), 200);
    let done = browser.login(&page.text().await.unwrap(), &user).await;
    let code = location_params(&done)["code"].clone();
    let tokens: serde_json::Value = app
        .exchange(&client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let id = crate::helpers::jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["auth_time"], clock.now(), "auth_time is the fresh login");
}

async fn a_forged_csrf_token_or_a_replayed_form_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let url = app.code_request_url(&client, "openid", &[]);
    let page = browser.get(&url).await.text().await.unwrap();
    let request_id = input_value(&page, "request_id").unwrap();

    // A forged CSRF token.
    let forged = browser
        .http
        .post(app.url("/oauth/authorize"))
        .form(&[
            ("request_id", request_id.as_str()),
            ("csrf_token", "forged"),
            ("step", "login"),
            ("username", &user.username),
            ("password", &user.password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(forged
        .text()
        .await
        .unwrap()
        .contains("could not be verified"));

    // Another browser (no session cookie) replaying the whole form.
    let other = Browser::new(&app);
    let replay = other.login(&page, &user).await;
    assert_eq!(replay.status(), 400);

    // A form for a step the request is not at (consent before login).
    let skipped = browser.consent(&page, "allow").await;
    assert_eq!(skipped.status(), 400);

    // The genuine form still works.
    let ok = browser.login(&page, &user).await;
    assert_eq!(ok.status(), 200);
}

async fn wrong_credentials_show_the_login_page_again_with_a_generic_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let url = app.code_request_url(&client, "openid", &[("login_hint", "someone@example.com")]);
    let page = browser.get(&url).await.text().await.unwrap();
    assert_eq!(
        input_value(&page, "username").as_deref(),
        Some("someone@example.com")
    );

    let wrong_password = browser
        .submit(
            &page,
            "login",
            &[("username", &user.username), ("password", "not-it-at-all")],
        )
        .await;
    let unknown_user = browser
        .submit(
            &page,
            "login",
            &[("username", "nobody-here"), ("password", "not-it-at-all")],
        )
        .await;

    assert_eq!(wrong_password.status(), 200);
    assert_eq!(unknown_user.status(), 200);
    let a = wrong_password.text().await.unwrap();
    let b = unknown_user.text().await.unwrap();
    assert!(a.contains("Wrong username or password."));
    assert!(b.contains("Wrong username or password."));
    // The same words for both: the page does not tell whether the account exists.
    assert_eq!(
        a.replace(&user.username, "X")
            .replace(&input_value(&a, "csrf_token").unwrap(), ""),
        b.replace("nobody-here", "X")
            .replace(&input_value(&b, "csrf_token").unwrap(), "")
    );
}

async fn form_post_returns_the_code_in_an_auto_submitting_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let url = app.code_request_url(
        &client,
        "openid",
        &[("state", "st"), ("response_mode", "form_post")],
    );
    let page = browser.get(&url).await.text().await.unwrap();
    let page = browser.login(&page, &user).await.text().await.unwrap();

    let response = browser.consent(&page, "allow").await;

    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("form-action https://rp.example.com"), "{csp}");
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!(
        "action=\"{}\"",
        REDIRECT_URI.replace('/', "&#x2f;")
    )));
    let code = input_value(&html, "code").unwrap();
    assert_eq!(input_value(&html, "state").as_deref(), Some("st"));
    assert_eq!(app.exchange(&client, &code, None).await.status(), 200);
}

async fn the_session_cookie_is_http_only_and_same_site(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .register_client_with(ClientRegistration {
            ..Default::default()
        })
        .await;
    let response = crate::helpers::http_client()
        .get(app.code_request_url(&client, "openid", &[]))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("oidcd_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
    let value = cookie.split(';').next().unwrap().split('=').nth(1).unwrap();
    assert!(value.len() >= 43, "256 random bits");
    // Only a hash of it is stored.
    let sessions = app
        .state
        .db
        .query_all(sea_orm::Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT id_hash FROM browser_sessions",
        ))
        .await
        .unwrap();
    for row in sessions {
        let stored: String = row.try_get("", "id_hash").unwrap();
        assert_ne!(stored, value);
    }
}

use sea_orm::ConnectionTrait as _;
