//! The pages in headless Chromium at a phone-sized viewport: the code flow with login and
//! consent, deny and cancel, the device flow, logout. Each page is checked as a person would
//! (labelled fields, buttons that say what they do and do it, no sideways scrolling) and
//! photographed (`target/tmp/screenshots`).

use std::collections::HashMap;
use std::time::Duration;

use oidcd::oauth::registration::{ClientRegistration, SecretChoice};

use crate::helpers::{Backend, TestApp, TestClient, TestUser};
use crate::webdriver::{chromedriver, Driver, CHROMEDRIVER_ENV};

/// A relying party's callback: answers every request with a small page.
struct RelyingParty {
    origin: String,
}

impl RelyingParty {
    async fn start() -> Self {
        let port = crate::helpers::static_page(
            "<!doctype html><title>Photo Album</title><h1>Back at the app</h1>",
        )
        .await;
        Self {
            origin: format!("http://127.0.0.1:{port}"),
        }
    }

    fn callback(&self) -> String {
        format!("{}/callback", self.origin)
    }
}

async fn browser(name: &str) -> Option<Driver> {
    let Some(path) = chromedriver() else {
        eprintln!("skipped: no chromedriver ({CHROMEDRIVER_ENV} is not set and /usr/bin/chromedriver is missing)");
        return None;
    };
    Some(Driver::start(&path, name).await)
}

struct Setup {
    app: TestApp,
    rp: RelyingParty,
    client: TestClient,
    user: TestUser,
}

async fn setup() -> Setup {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let rp = RelyingParty::start().await;
    let client = app
        .register_client_with(ClientRegistration {
            name: "Photo Album".into(),
            redirect_uris: vec![rp.callback()],
            post_logout_redirect_uris: vec![format!("{}/signed-out", rp.origin)],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    Setup {
        app,
        rp,
        client,
        user,
    }
}

impl Setup {
    fn authorize_url(&self, scope: &str, state: &str) -> String {
        self.app.authorize_url(&[
            ("response_type", "code"),
            ("client_id", &self.client.id),
            ("redirect_uri", &self.rp.callback()),
            ("scope", scope),
            ("state", state),
        ])
    }

    /// Signs in on the login page now showing.
    async fn sign_in(&self, driver: &Driver) {
        let username = driver.find("#username").await;
        driver.type_into(&username, &self.user.username).await;
        let password = driver.find("#password").await;
        driver.type_into(&password, &self.user.password).await;
        driver.click_button("Sign in").await;
    }
}

/// Waits for the browser to arrive at a URL starting with `prefix`; returns its query.
async fn arrive(driver: &Driver, prefix: &str) -> HashMap<String, String> {
    for _ in 0..100 {
        let url = driver.url().await;
        if url.starts_with(prefix) {
            return url::Url::parse(&url)
                .unwrap()
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never reached {prefix}; at {}", driver.url().await);
}

#[tokio::test]
async fn a_person_signs_in_and_consents_in_a_real_browser() {
    let Some(driver) = browser("code-flow").await else {
        return;
    };
    let s = setup().await;
    driver
        .goto(&s.authorize_url("openid profile email offline_access", "st-1"))
        .await;

    // The login page: labelled fields, the client named, a cancel path.
    assert!(driver.title().await.contains("Photo Album"));
    assert_eq!(driver.text("h1").await, "Sign in");
    assert!(driver.text("main").await.contains("Photo Album"));
    driver.assert_usable().await;
    driver.screenshot("1-login").await;

    // A wrong password: a clear message that does not say which part was wrong.
    let username = driver.find("#username").await;
    driver.type_into(&username, &s.user.username).await;
    let password = driver.find("#password").await;
    driver.type_into(&password, "not my password").await;
    driver.click_button("Sign in").await;
    let error = driver.text("[role=alert]").await;
    assert!(!error.is_empty());
    assert!(!error.to_lowercase().contains("no such user"));
    driver.assert_usable().await;
    driver.screenshot("2-login-error").await;

    // The username is kept; the password is asked again.
    let password = driver.find("#password").await;
    driver.type_into(&password, &s.user.password).await;
    driver.click_button("Sign in").await;

    // Consent: the client's name and each scope in words.
    assert!(driver.text("h1").await.contains("Photo Album"));
    let scopes = driver.count("ul.scopes li").await;
    assert!(scopes >= 3, "each requested scope is explained ({scopes})");
    let words = driver.text("ul.scopes").await.to_lowercase();
    assert!(words.contains("email"), "{words}");
    driver.assert_usable().await;
    driver.screenshot("3-consent").await;
    driver.click_button("Allow").await;

    // Back at the app with a code that redeems.
    let query = arrive(&driver, &s.rp.callback()).await;
    assert_eq!(query["state"], "st-1");
    let response = s
        .app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &query["code"]),
                ("redirect_uri", &s.rp.callback()),
            ],
            Some((&s.client.id, s.client.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string());
}

#[tokio::test]
async fn deny_and_cancel_send_the_person_back_with_access_denied() {
    let Some(driver) = browser("deny").await else {
        return;
    };
    let s = setup().await;

    // Cancel on the login page.
    driver.goto(&s.authorize_url("openid", "st-cancel")).await;
    driver.click_button("Cancel").await;
    let query = arrive(&driver, &s.rp.callback()).await;
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "st-cancel");

    // Deny on the consent page.
    driver
        .goto(&s.authorize_url("openid email", "st-deny"))
        .await;
    s.sign_in(&driver).await;
    driver.assert_usable().await;
    driver.click_button("Deny").await;
    let query = arrive(&driver, &s.rp.callback()).await;
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "st-deny");
    assert!(!query.contains_key("code"));
}

#[tokio::test]
async fn a_device_is_connected_by_typing_its_code() {
    let Some(driver) = browser("device").await else {
        return;
    };
    let s = setup().await;
    let tv = s
        .app
        .register_client_with(ClientRegistration {
            name: "Living Room TV".into(),
            secret: SecretChoice::Public,
            grant_types: vec!["device_code".into()],
            redirect_uris: vec![],
            ..Default::default()
        })
        .await;
    let started: serde_json::Value = crate::helpers::http_client()
        .post(s.app.url("/oauth/device_authorization"))
        .form(&[("client_id", tv.id.as_str()), ("scope", "openid profile")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = started["user_code"].as_str().unwrap();

    // Cancel first: nothing is connected, and the way back is offered.
    driver
        .goto(started["verification_uri"].as_str().unwrap())
        .await;
    driver.click_button("Cancel").await;
    assert_eq!(driver.text("h1").await, "Nothing was connected");
    assert_eq!(driver.text("main a").await, "Enter another code");
    driver.assert_usable().await;

    driver
        .goto(started["verification_uri"].as_str().unwrap())
        .await;
    assert_eq!(driver.text("h1").await, "Connect a device");
    driver.assert_usable().await;
    driver.screenshot("1-code").await;
    // Typed in lower case, without the dash, as people do.
    let field = driver.find("#user_code").await;
    driver
        .type_into(&field, &user_code.replace('-', "").to_lowercase())
        .await;
    driver.click_button("Continue").await;

    s.sign_in(&driver).await;
    assert!(driver.text("h1").await.contains("Living Room TV"));
    assert!(driver.text("main").await.contains(user_code));
    driver.assert_usable().await;
    driver.screenshot("2-confirm").await;
    driver.click_button("Allow").await;
    driver.screenshot("3-done").await;
    assert!(!driver.text("h1").await.is_empty());

    let response = s
        .app
        .token(
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", started["device_code"].as_str().unwrap()),
                ("client_id", &tv.id),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn signing_out_asks_first_and_ends_the_session() {
    let Some(driver) = browser("logout").await else {
        return;
    };
    let s = setup().await;
    driver.goto(&s.authorize_url("openid", "st-1")).await;
    s.sign_in(&driver).await;
    driver.click_button("Allow").await;
    arrive(&driver, &s.rp.callback()).await;

    // Without an id_token_hint the provider asks before signing out.
    driver.goto(&s.app.url("/oauth/logout")).await;
    assert_eq!(driver.text("h1").await, "Sign out?");
    driver.assert_usable().await;
    driver.screenshot("1-confirm").await;
    driver.click_button("Sign out").await;
    assert_eq!(driver.text("h1").await, "You are signed out");
    driver.screenshot("2-done").await;

    // The session is gone: the next authorization asks to sign in again.
    driver.goto(&s.authorize_url("openid", "st-2")).await;
    assert_eq!(driver.text("h1").await, "Sign in");
}

/// The docs page renders every operation under its strict Content-Security-Policy (its own
/// inline scripts by hash, nothing from elsewhere).
#[tokio::test]
async fn the_docs_page_works_under_its_content_security_policy() {
    let Some(driver) = browser("docs").await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    driver.goto(&app.url("/docs")).await;
    let mut operations = 0;
    for _ in 0..100 {
        operations = driver.count(".opblock").await;
        if operations > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        operations > 10,
        "Swagger UI rendered {operations} operations"
    );
}

#[tokio::test]
async fn a_person_manages_their_account_in_a_real_browser() {
    let Some(driver) = browser("account").await else {
        return;
    };
    let s = setup().await;
    let notes = s
        .app
        .register_client_with(ClientRegistration {
            name: "Notes".into(),
            redirect_uris: vec![s.rp.callback()],
            ..Default::default()
        })
        .await;
    // Exchanges the code the browser brought to the callback.
    let exchange = |client: TestClient, code: String| {
        let app = &s.app;
        let callback = s.rp.callback();
        async move {
            let response = app
                .token(
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", &callback),
                    ],
                    Some((&client.id, client.secret.as_deref().unwrap())),
                )
                .await;
            assert_eq!(response.status(), 200);
            response.json::<serde_json::Value>().await.unwrap()
        }
    };

    // Signed in to two apps in Chromium; the consent page says where to change one's mind.
    driver
        .goto(&s.authorize_url("openid profile offline_access", "a"))
        .await;
    s.sign_in(&driver).await;
    let link = driver.find("a[href$='/account']").await;
    let _ = link;
    driver.click_button("Allow").await;
    let photos_tokens = exchange(
        s.client.clone(),
        arrive(&driver, &s.rp.origin).await["code"].clone(),
    )
    .await;
    driver
        .goto(&s.app.authorize_url(&[
            ("response_type", "code"),
            ("client_id", &notes.id),
            ("redirect_uri", &s.rp.callback()),
            ("scope", "openid offline_access"),
            ("state", "b"),
        ]))
        .await;
    driver.click_button("Allow").await;
    let notes_tokens = exchange(
        notes.clone(),
        arrive(&driver, &s.rp.origin).await["code"].clone(),
    )
    .await;
    // And on another device.
    let elsewhere = crate::helpers::Browser::new(&s.app);
    let done = elsewhere
        .authorize(&s.authorize_url("openid", "c"), &s.user)
        .await;
    let other_tokens = exchange(
        s.client.clone(),
        crate::helpers::location_params(&done)["code"].clone(),
    )
    .await;

    // The account page lists both apps and both sessions.
    driver.goto(&s.app.url("/account")).await;
    assert_eq!(driver.text("h1").await, "Your account");
    let text = driver.text("main").await;
    for expected in ["Photo Album", "Notes", "This browser", "Another browser"] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    driver.assert_usable().await;
    driver.screenshot("account-1").await;

    // Removing Notes: its refresh token fails with invalid_grant, userinfo with its access
    // token answers 401; Photo Album keeps working.
    let remove = driver
        .find(&format!("form:has(input[value='{}']) button", notes.id))
        .await;
    driver.click_and_wait(&remove).await;
    assert!(driver
        .text("[role=status]")
        .await
        .contains("no longer has access"));
    assert!(!driver.text("main").await.contains("Notes"));
    let refused = s
        .app
        .refresh(&notes, notes_tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let userinfo = |token: &serde_json::Value| {
        let token = token["access_token"].as_str().unwrap().to_owned();
        let app = &s.app;
        async move { app.userinfo(&token).await.status() }
    };
    assert_eq!(userinfo(&notes_tokens).await, 401);
    assert_eq!(userinfo(&photos_tokens).await, 200);

    // Signing the other device out.
    driver.click_button("Sign that browser out").await;
    assert!(driver.text("[role=status]").await.contains("signed out"));
    assert!(!driver.text("main").await.contains("Another browser"));
    assert_eq!(userinfo(&other_tokens).await, 401);
    driver.screenshot("account-2").await;

    // Changing the password.
    let current = driver.find("#current_password").await;
    driver.type_into(&current, &s.user.password).await;
    let new = driver.find("#new_password").await;
    driver.type_into(&new, "correct horse battery staple").await;
    driver.click_button("Change password").await;
    assert!(driver
        .text("[role=status]")
        .await
        .contains("Your password is changed"));
    driver.set_color_scheme("dark").await;
    driver.screenshot("account-3-dark").await;
    let changed = oidcd::oidc::accounts::authenticate(
        &s.app.state.db,
        &s.app.state.passwords,
        &s.user.username,
        "correct horse battery staple",
    )
    .await
    .unwrap();
    assert!(changed.is_some());
}
