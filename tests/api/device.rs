//! The device authorization grant (RFC 8628).

use oidcd::oauth::registration::{ClientRegistration, SecretChoice};

use crate::helpers::{
    assert_oauth_error, input_value, Backend, Browser, TestApp, TestClient, TestEnv, TestUser,
};
use crate::jwks::verify_with_jwks;
use crate::on_both_databases;

on_both_databases!(
    a_device_is_approved_end_to_end_and_gets_tokens_once,
    a_denied_device_gets_access_denied,
    polling_too_fast_slows_down_and_an_expired_code_says_so,
    a_device_code_is_bound_to_its_client,
    a_mistyped_code_is_refused_and_guessing_hits_the_limit,
    device_authorization_checks_the_client_and_scope,
);

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub(crate) async fn device_client(app: &TestApp) -> TestClient {
    app.register_client_with(ClientRegistration {
        secret: SecretChoice::Public,
        grant_types: vec!["device_code".into(), "refresh_token".into()],
        redirect_uris: vec![],
        ..Default::default()
    })
    .await
}

pub(crate) async fn start(app: &TestApp, client: &TestClient, scope: &str) -> serde_json::Value {
    let response = crate::helpers::http_client()
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", client.id.as_str()), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

pub(crate) async fn poll(
    app: &TestApp,
    client: &TestClient,
    device_code: &str,
) -> reqwest::Response {
    app.token(
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", &client.id),
        ],
        None,
    )
    .await
}

/// Posts a /device form with the page's CSRF token.
pub(crate) async fn post(
    browser: &Browser,
    page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![(
        "csrf_token".to_owned(),
        input_value(page, "csrf_token").unwrap(),
    )];
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    browser
        .http
        .post(format!("{}/device", browser.issuer))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Types the code (as a person might: lower case, no dash), signs in, and answers.
pub(crate) async fn answer(
    app: &TestApp,
    browser: &Browser,
    user_code: &str,
    user: &TestUser,
    decision: &str,
) -> String {
    let confirm = confirmation(app, browser, user_code, user).await;
    let done = post(
        browser,
        &confirm,
        &[
            ("step", "decide"),
            ("user_code", user_code),
            ("code_proof", &input_value(&confirm, "code_proof").unwrap()),
            ("decision", decision),
        ],
    )
    .await;
    assert_eq!(done.status(), 200);
    done.text().await.unwrap()
}

/// Types the code and signs in: the confirmation page.
pub(crate) async fn confirmation(
    app: &TestApp,
    browser: &Browser,
    user_code: &str,
    user: &TestUser,
) -> String {
    let entry = browser.get(&app.url("/device")).await.text().await.unwrap();
    let typed = user_code.replace('-', "").to_lowercase();
    let login = post(browser, &entry, &[("step", "code"), ("user_code", &typed)]).await;
    assert_eq!(login.status(), 200);
    let login = login.text().await.unwrap();
    assert!(login.contains("Sign in"));
    let confirm = post(
        browser,
        &login,
        &[
            ("step", "login"),
            ("user_code", &input_value(&login, "user_code").unwrap()),
            ("code_proof", &input_value(&login, "code_proof").unwrap()),
            ("username", &user.username),
            ("password", &user.password),
        ],
    )
    .await;
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.unwrap();
    assert!(
        confirm.contains(user_code),
        "the confirmation page shows the code to compare"
    );
    confirm
}

async fn a_device_is_approved_end_to_end_and_gets_tokens_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = device_client(&app).await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);

    let auth = start(&app, &client, "openid profile offline_access").await;
    let user_code = auth["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(auth["verification_uri"], app.url("/device"));
    assert_eq!(
        auth["verification_uri_complete"],
        app.url(&format!("/device?user_code={user_code}"))
    );
    assert_eq!(auth["expires_in"], 600);
    assert_eq!(auth["interval"], 5);
    let device_code = auth["device_code"].as_str().unwrap();

    // Pending until the user answers.
    assert_oauth_error(
        poll(&app, &client, device_code).await,
        400,
        "authorization_pending",
    )
    .await;

    // verification_uri_complete fills the code in.
    let prefilled = browser
        .get(auth["verification_uri_complete"].as_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        input_value(&prefilled, "user_code").as_deref(),
        Some(user_code.as_str())
    );
    let done = answer(&app, &browser, &user_code, &user, "approve").await;
    assert!(done.contains("Device connected"));

    clock.advance(5);
    let response = poll(&app, &client, device_code).await;
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    let jwks = app.get_json("/jwks.json").await;
    let id = verify_with_jwks(tokens["id_token"].as_str().unwrap(), &jwks);
    assert_eq!(id["sub"], user.sub);
    assert_eq!(id["aud"], client.id);
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access was approved"
    );
    let info: serde_json::Value = app
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "Ada Lovelace");

    // Exactly once.
    clock.advance(5);
    assert_oauth_error(poll(&app, &client, device_code).await, 400, "invalid_grant").await;
    // And the code cannot be approved again.
    let entry = browser.get(&app.url("/device")).await.text().await.unwrap();
    let again = post(
        &browser,
        &entry,
        &[("step", "code"), ("user_code", &user_code)],
    )
    .await;
    assert_eq!(again.status(), 400);
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("expired or was already used"));
}

async fn a_denied_device_gets_access_denied(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = device_client(&app).await;
    let user = app.create_user().await;
    let auth = start(&app, &client, "openid").await;

    let done = answer(
        &app,
        &Browser::new(&app),
        auth["user_code"].as_str().unwrap(),
        &user,
        "deny",
    )
    .await;

    assert!(done.contains("Request denied"));
    clock.advance(5);
    assert_oauth_error(
        poll(&app, &client, auth["device_code"].as_str().unwrap()).await,
        400,
        "access_denied",
    )
    .await;
}

async fn polling_too_fast_slows_down_and_an_expired_code_says_so(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = device_client(&app).await;
    let auth = start(&app, &client, "openid").await;
    let code = auth["device_code"].as_str().unwrap();

    assert_oauth_error(
        poll(&app, &client, code).await,
        400,
        "authorization_pending",
    )
    .await;
    clock.advance(2);
    assert_oauth_error(poll(&app, &client, code).await, 400, "slow_down").await;
    // The interval is now 10 s: 5 s later is still too fast...
    clock.advance(5);
    assert_oauth_error(poll(&app, &client, code).await, 400, "slow_down").await;
    // ...and now 15 s; waiting that long is fine.
    clock.advance(15);
    assert_oauth_error(
        poll(&app, &client, code).await,
        400,
        "authorization_pending",
    )
    .await;

    clock.advance(600);
    assert_oauth_error(poll(&app, &client, code).await, 400, "expired_token").await;
    // An expired code cannot be approved either.
    let browser = Browser::new(&app);
    let entry = browser.get(&app.url("/device")).await.text().await.unwrap();
    let late = post(
        &browser,
        &entry,
        &[
            ("step", "code"),
            ("user_code", auth["user_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(late.status(), 400);
}

async fn a_device_code_is_bound_to_its_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let other = device_client(&app).await;
    let auth = start(&app, &client, "openid").await;

    let stolen = poll(&app, &other, auth["device_code"].as_str().unwrap()).await;

    assert_oauth_error(stolen, 400, "invalid_grant").await;
    assert_oauth_error(poll(&app, &client, "made-up").await, 400, "invalid_grant").await;
    assert_oauth_error(
        poll(&app, &client, auth["device_code"].as_str().unwrap()).await,
        400,
        "authorization_pending",
    )
    .await;
}

async fn a_mistyped_code_is_refused_and_guessing_hits_the_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = device_client(&app).await;
    let auth = start(&app, &client, "openid").await;
    let user_code = auth["user_code"].as_str().unwrap().to_owned();
    let browser = Browser::new(&app);
    let entry = browser.get(&app.url("/device")).await.text().await.unwrap();

    // A mistyped code (one letter off) and a malformed one.
    let first = user_code.chars().next().unwrap();
    let wrong_letter = if first == 'B' { 'C' } else { 'B' };
    let mistyped = format!("{wrong_letter}{}", &user_code[1..]);
    for typed in [mistyped.as_str(), "1234-5678"] {
        let response = post(&browser, &entry, &[("step", "code"), ("user_code", typed)]).await;
        assert_eq!(response.status(), 400);
        assert!(response.text().await.unwrap().contains("not valid"));
    }
    // Three more wrong guesses reach the per-session limit of five...
    for _ in 0..3 {
        let response = post(
            &browser,
            &entry,
            &[("step", "code"), ("user_code", "ZZZZ-ZZZZ")],
        )
        .await;
        assert_eq!(response.status(), 400);
    }
    // ...after which even the right code is not checked.
    let blocked = post(
        &browser,
        &entry,
        &[("step", "code"), ("user_code", &user_code)],
    )
    .await;
    assert_eq!(blocked.status(), 429);
    assert!(blocked
        .text()
        .await
        .unwrap()
        .contains("Too many wrong codes"));

    // Another browser on the same IP still has guesses left (the IP limit is 20)...
    let other = Browser::new(&app);
    let entry = other.get(&app.url("/device")).await.text().await.unwrap();
    let ok = post(
        &other,
        &entry,
        &[("step", "code"), ("user_code", &user_code)],
    )
    .await;
    assert_eq!(ok.status(), 200);
    // ...until the IP's own limit is reached.
    for _ in 0..15 {
        let fresh = Browser::new(&app);
        let page = fresh.get(&app.url("/device")).await.text().await.unwrap();
        post(
            &fresh,
            &page,
            &[("step", "code"), ("user_code", "ZZZZ-ZZZZ")],
        )
        .await;
    }
    let fresh = Browser::new(&app);
    let page = fresh.get(&app.url("/device")).await.text().await.unwrap();
    let ip_blocked = post(
        &fresh,
        &page,
        &[("step", "code"), ("user_code", &user_code)],
    )
    .await;
    assert_eq!(ip_blocked.status(), 429);
}

async fn device_authorization_checks_the_client_and_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let device = device_client(&app).await;
    let code_only = app.register_public_client().await;
    let confidential = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["device_code".into()],
            redirect_uris: vec![],
            ..Default::default()
        })
        .await;
    let url = app.url("/oauth/device_authorization");
    let http = crate::helpers::http_client();

    let cases: Vec<(&str, Vec<(&str, &str)>, u16, &str)> = vec![
        (
            "unknown client",
            vec![("client_id", "nobody"), ("scope", "openid")],
            401,
            "invalid_client",
        ),
        (
            "not registered for the grant",
            vec![("client_id", &code_only.id), ("scope", "openid")],
            400,
            "unauthorized_client",
        ),
        (
            "scope outside the allowance",
            vec![("client_id", &device.id), ("scope", "openid admin")],
            400,
            "invalid_scope",
        ),
        (
            "no scope",
            vec![("client_id", &device.id)],
            400,
            "invalid_scope",
        ),
        (
            "confidential without its secret",
            vec![("client_id", &confidential.id), ("scope", "openid")],
            401,
            "invalid_client",
        ),
    ];
    for (label, form, status, error) in cases {
        let response = http.post(&url).form(&form).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{label}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{label}");
    }
    // A confidential client authenticates.
    let ok = http
        .post(&url)
        .basic_auth(&confidential.id, confidential.secret.as_deref())
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert!(body["device_code"].is_string());
}
