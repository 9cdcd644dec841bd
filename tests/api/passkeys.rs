//! Passkeys: registered on /account, used to sign in alone and as the second factor after a
//! password, renamed and removed, in headless Chromium with a WebDriver virtual authenticator
//! (CTAP2, built in, resident keys, user verification); the ID token's `amr` and `acr` say
//! what was used. Malformed, replayed and foreign answers over plain HTTP.
//!
//! WebAuthn needs a domain for its relying party id, so these servers' issuer is
//! `http://localhost:PORT` (a secure context, as https would be).

use oidcd::config::Config;
use oidcd::oauth::registration::ClientRegistration;

use crate::helpers::{input_value, jwt_claims, Backend, TestApp, TestClient, TestEnv, TestUser};
use crate::webdriver::{chromedriver, Driver, CHROMEDRIVER_ENV};

/// The app, with `http://localhost:PORT` as its issuer and address.
pub async fn localhost_app(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    localhost_app_on(backend, oidcd::Clock::System, adjust).await
}

async fn localhost_app_on(
    backend: Backend,
    clock: oidcd::Clock,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let env = TestEnv::new(backend).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = env.config();
    config.bind = format!("127.0.0.1:{port}");
    config.issuer = Some(format!("http://localhost:{port}"));
    adjust(&mut config);
    let mut app = env.spawn_config(config, clock).await;
    app.address = format!("http://localhost:{port}");
    app
}

struct Setup {
    app: TestApp,
    client: TestClient,
    user: TestUser,
    callback: String,
}

async fn setup(backend: Backend) -> Setup {
    let app = localhost_app(backend, |_| {}).await;
    let callback = app.url("/healthz");
    let client = app
        .register_client_with(ClientRegistration {
            name: "Photo Album".into(),
            redirect_uris: vec![callback.clone()],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    Setup {
        app,
        client,
        user,
        callback,
    }
}

impl Setup {
    fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", self.client.id.as_str()),
            ("redirect_uri", self.callback.as_str()),
            ("scope", "openid"),
            ("state", "st-passkey"),
            ("nonce", "n-passkey"),
        ];
        params.extend_from_slice(extra);
        self.app.authorize_url(&params)
    }

    async fn type_password(&self, driver: &Driver) {
        let username = driver.find("#username").await;
        driver.type_into(&username, &self.user.username).await;
        let field = driver.find("#password").await;
        driver.type_into(&field, &self.user.password).await;
        driver.click_button("Sign in").await;
    }

    /// Waits for the browser to reach the app (allowing the consent page on the way); the
    /// ID token the code there gives.
    async fn id_token(&self, driver: &Driver) -> serde_json::Value {
        let mut consented = false;
        for _ in 0..200 {
            let url = driver.url().await;
            if url.starts_with(&self.callback) {
                let code = url::Url::parse(&url)
                    .unwrap()
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| panic!("no code in {url}"));
                let response = self
                    .app
                    .token(
                        &[
                            ("grant_type", "authorization_code"),
                            ("code", &code),
                            ("redirect_uri", &self.callback),
                        ],
                        Some((&self.client.id, self.client.secret.as_deref().unwrap())),
                    )
                    .await;
                assert_eq!(response.status(), 200);
                let tokens: serde_json::Value = response.json().await.unwrap();
                return jwt_claims(tokens["id_token"].as_str().unwrap());
            }
            if !consented && driver.title().await.starts_with("Allow") {
                consented = true;
                driver.click_button("Allow").await;
                continue;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "never reached {}; at {}: {}",
            self.callback,
            driver.url().await,
            driver.text("main").await
        );
    }
}

/// Starts the browser with a virtual authenticator; `None` (skipped, loudly) without one.
async fn browser(name: &str) -> Option<(Driver, String)> {
    let Some(path) = chromedriver() else {
        eprintln!(
            "skipped: no chromedriver ({CHROMEDRIVER_ENV} is not set and /usr/bin/chromedriver is missing)"
        );
        return None;
    };
    let driver = Driver::start(&path, name).await;
    let authenticator = driver.add_virtual_authenticator().await;
    Some((driver, authenticator))
}

/// Clicks the passkey button on the page showing (the sign-in or second-factor page) and
/// waits for the page the ceremony leads to.
async fn use_passkey(driver: &Driver, label: &str) {
    driver.click_button(label).await;
}

async fn passkeys_register_sign_in_alone_and_after_a_password(backend: Backend) {
    let Some((driver, authenticator)) = browser("passkeys").await else {
        return;
    };
    let s = setup(backend).await;

    // Signed in with the password on /account, a passkey is added under a name.
    driver.goto(&s.app.url("/account")).await;
    s.type_password(&driver).await;
    let name = driver.find("#passkey_name").await;
    driver.type_into(&name, "Work laptop").await;
    driver.click_button("Add a passkey").await;
    let page = driver.text("main").await;
    assert!(page.contains("Your passkey is added."), "{page}");
    assert!(page.contains("Work laptop"), "{page}");
    // It is the first second factor: the recovery codes come with it, shown once.
    assert_eq!(driver.count("ul.codes li").await, 10, "{page}");
    let held = driver.virtual_credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0]["isResidentCredential"], true,
        "discoverable: {held:?}"
    );

    // Renamed.
    let field = driver.find("#rename-1").await;
    driver.clear(&field).await;
    driver.type_into(&field, "  Desk key ").await;
    driver.click_button("Rename").await;
    let page = driver.text("main").await;
    assert!(page.contains("The name is changed."), "{page}");
    assert!(page.contains("Desk key"), "{page}");
    assert!(!page.contains("Work laptop"), "{page}");

    // The passkey alone, no username, no password: the sign-in page offers it in the
    // username field's autofill, which the virtual authenticator answers at once.
    driver.goto(&s.authorize_url(&[("prompt", "login")])).await;
    let claims = s.id_token(&driver).await;
    assert_eq!(claims["sub"], s.user.sub.as_str(), "{claims}");
    assert_eq!(
        claims["amr"],
        serde_json::json!(["hwk", "user", "mfa"]),
        "{claims}"
    );
    assert_eq!(claims["acr"], "urn:oidcd:acr:mfa", "{claims}");

    // A browser without autofill for passkeys: the button.
    driver.without_passkey_autofill().await;
    driver.goto(&s.authorize_url(&[("prompt", "login")])).await;
    let autocomplete = driver
        .script("return document.getElementById('username').getAttribute('autocomplete');")
        .await;
    assert_eq!(autocomplete, "username webauthn", "offered in autofill");
    use_passkey(&driver, "Sign in with a passkey").await;
    let claims = s.id_token(&driver).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["hwk", "user", "mfa"]),
        "{claims}"
    );
    assert_eq!(claims["acr"], "urn:oidcd:acr:mfa", "{claims}");

    // Signing in again (prompt=login) with the password: the passkey is the second factor.
    driver.goto(&s.authorize_url(&[("prompt", "login")])).await;
    s.type_password(&driver).await;
    assert_eq!(
        driver.title().await,
        "Two-step verification for Photo Album"
    );
    let page = driver.text("main").await;
    assert!(
        page.contains("Recovery code"),
        "no authenticator app: {page}"
    );
    use_passkey(&driver, "Use a passkey").await;
    let claims = s.id_token(&driver).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd", "hwk", "user", "mfa"]),
        "{claims}"
    );
    assert_eq!(claims["acr"], "urn:oidcd:acr:mfa", "{claims}");

    // The signature counter is kept: the stored one is the authenticator's.
    let held = driver.virtual_credentials(&authenticator).await;
    let count = held[0]["signCount"].as_i64().unwrap();
    assert!(count >= 3, "{held:?}");
    let stored = oidcd::store::factors::list(&s.app.state.db, &s.user.sub)
        .await
        .unwrap();
    assert_eq!(stored[0].last_step, Some(count), "{stored:?}");
    // A copy of the passkey whose counter is behind (a cloned authenticator) is refused,
    // and its use leaves the stored counter as it was.
    driver.remove_virtual_credentials(&authenticator).await;
    let mut clone = held[0].clone();
    clone["signCount"] = serde_json::json!(0);
    driver.add_virtual_credential(&authenticator, &clone).await;
    driver.goto(&s.authorize_url(&[("prompt", "login")])).await;
    use_passkey(&driver, "Sign in with a passkey").await;
    let page = driver.text("main").await;
    assert!(page.contains("That passkey was not accepted."), "{page}");
    let stored = oidcd::store::factors::list(&s.app.state.db, &s.user.sub)
        .await
        .unwrap();
    assert_eq!(stored[0].last_step, Some(count), "{stored:?}");
    // The real one, whose counter moves on, still works.
    driver.remove_virtual_credentials(&authenticator).await;
    driver
        .add_virtual_credential(&authenticator, &held[0])
        .await;
    driver.goto(&s.authorize_url(&[("prompt", "login")])).await;
    use_passkey(&driver, "Sign in with a passkey").await;
    s.id_token(&driver).await;

    // The account page shows when it was last used; it is removed, with the recovery codes.
    driver.goto(&s.app.url("/account")).await;
    let page = driver.text("main").await;
    assert!(page.contains("last used"), "{page}");
    assert!(page.contains("10 of 10 recovery codes left"), "{page}");
    let remove = driver
        .find("#passkeys ~ ul.items button[aria-label^='Remove Desk key']")
        .await;
    driver.click_and_wait(&remove).await;
    let page = driver.text("main").await;
    assert!(
        page.contains("The passkey is removed. The recovery codes went with it"),
        "{page}"
    );
    assert!(!page.contains("Desk key"), "{page}");
    assert!(!page.contains("recovery codes left"), "{page}");

    // The authenticator still holds it, but it signs nobody in any more.
    driver.goto(&s.authorize_url(&[("prompt", "login")])).await;
    use_passkey(&driver, "Sign in with a passkey").await;
    let page = driver.text("main").await;
    assert!(page.contains("That passkey was not accepted."), "{page}");
    // And the password alone is enough again.
    s.type_password(&driver).await;
    let claims = s.id_token(&driver).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]), "{claims}");
    assert_eq!(claims["acr"], "urn:oidcd:acr:password", "{claims}");
}

crate::on_both_databases!(passkeys_register_sign_in_alone_and_after_a_password);

/// The ceremony's handle a page carries, and the cookie of the browser it was shown to.
async fn sign_in_page(app: &TestApp, client: &reqwest::Client, url: &str) -> (String, String) {
    let page = client.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    assert!(
        csp.contains(&format!("script-src {}/assets/passkeys.js;", app.address)),
        "only the passkey script may run: {csp}"
    );
    (input_value(&html, "passkey_ceremony").unwrap(), html)
}

async fn malformed_replayed_and_foreign_passkey_answers_are_refused(backend: Backend) {
    let s = setup(backend).await;
    let client = crate::helpers::http_client();
    let (ceremony, html) = sign_in_page(&s.app, &client, &s.authorize_url(&[])).await;
    let request_id = input_value(&html, "request_id").unwrap();
    let csrf = input_value(&html, "csrf_token").unwrap();
    let send = |ceremony: String, response: String| {
        let (client, url) = (client.clone(), s.app.url("/oauth/authorize"));
        let (request_id, csrf) = (request_id.clone(), csrf.clone());
        async move {
            client
                .post(url)
                .form(&[
                    ("request_id", request_id.as_str()),
                    ("csrf_token", csrf.as_str()),
                    ("step", "passkey"),
                    ("passkey_ceremony", ceremony.as_str()),
                    ("passkey_response", response.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let refused = "That passkey was not accepted.";
    // Not JSON, then JSON of the wrong shape, then a well-formed answer whose signature and
    // challenge are made up: each is the sign-in page again, with the same words.
    let forged = serde_json::json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {
            "authenticatorData": "AAAA", "clientDataJSON": "AAAA",
            "signature": "AAAA", "userHandle": "AAAA"
        },
        "clientExtensionResults": {}
    })
    .to_string();
    for (i, response) in ["{not json", "{\"id\": 5}", forged.as_str()]
        .into_iter()
        .enumerate()
    {
        // Each page's ceremony is spent by its answer: a fresh page for each.
        let (ceremony, _) = sign_in_page(&s.app, &client, &s.authorize_url(&[])).await;
        let answer = send(ceremony, response.to_owned()).await;
        assert_eq!(answer.status(), 200, "answer {i}");
        let page = answer.text().await.unwrap();
        assert!(page.contains(refused), "answer {i}: {page}");
        // The page shown after a refusal offers a new ceremony.
        assert!(input_value(&page, "passkey_ceremony").is_some(), "{page}");
    }
    // The first page's ceremony, answered twice: spent by the first answer.
    let first = send(ceremony.clone(), forged.clone()).await;
    assert!(first.text().await.unwrap().contains(refused));
    let again = send(ceremony, forged.clone()).await;
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains(refused));
    // A ceremony shown to another browser is not this one's.
    let stranger = crate::helpers::http_client();
    let (theirs, _) = sign_in_page(&s.app, &stranger, &s.authorize_url(&[])).await;
    let answer = send(theirs, forged.clone()).await;
    assert!(answer.text().await.unwrap().contains(refused));
    // No answer at all: the same.
    let (ceremony, _) = sign_in_page(&s.app, &client, &s.authorize_url(&[])).await;
    let empty = send(ceremony, String::new()).await;
    assert_eq!(empty.status(), 200);
    assert!(empty.text().await.unwrap().contains(refused));

    // The script is served as JavaScript, on its own.
    let script = s
        .app
        .client
        .get(s.app.url("/assets/passkeys.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script
        .text()
        .await
        .unwrap()
        .contains("parseRequestOptionsFromJSON"));
}

crate::on_both_databases!(malformed_replayed_and_foreign_passkey_answers_are_refused);

/// On an issuer browsers refuse passkeys on (an IP address), or with `login.passkeys` off,
/// nothing about them is offered and no script is allowed.
#[tokio::test]
async fn no_passkeys_where_browsers_cannot_use_them() {
    for app in [
        TestApp::spawn(Backend::Sqlite).await,
        localhost_app(Backend::Sqlite, |c| c.login.passkeys = false).await,
    ] {
        let client = app.register_client().await;
        let url = app.code_request_url(&client, "openid", &[]);
        let page = crate::helpers::http_client()
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!csp.contains("script-src"), "{csp}");
        let html = page.text().await.unwrap();
        assert!(!html.contains("passkey"), "{html}");
        assert!(html.contains("autocomplete=\"username\""), "{html}");
    }
}

/// A passkey that may sync between devices (backup eligible, as a password manager's) is a
/// software key: `swk`. On the device page it signs in alone, or is the second factor after
/// the password.
#[tokio::test]
async fn a_synced_passkey_is_a_software_key_and_serves_the_device_flow() {
    let Some(path) = chromedriver() else {
        eprintln!("skipped: no chromedriver ({CHROMEDRIVER_ENV} is not set)");
        return;
    };
    let driver = Driver::start(&path, "passkeys-synced").await;
    // Through DevTools, which can set the backup flags a WebDriver authenticator cannot.
    driver.cdp("WebAuthn.enable", serde_json::json!({})).await;
    driver
        .cdp(
            "WebAuthn.addVirtualAuthenticator",
            serde_json::json!({"options": {
                "protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal",
                "hasResidentKey": true, "hasUserVerification": true, "isUserVerified": true,
                "automaticPresenceSimulation": true,
                "defaultBackupEligibility": true, "defaultBackupState": true,
            }}),
        )
        .await;
    driver.without_passkey_autofill().await;
    let s = setup(Backend::Sqlite).await;
    driver.goto(&s.app.url("/account")).await;
    s.type_password(&driver).await;
    driver.click_button("Add a passkey").await;
    let page = driver.text("main").await;
    assert!(page.contains("Your passkey is added."), "{page}");
    // Named for it when the person gave no name.
    assert!(page.contains("Passkey"), "{page}");

    driver.goto(&s.authorize_url(&[("prompt", "login")])).await;
    use_passkey(&driver, "Sign in with a passkey").await;
    let claims = s.id_token(&driver).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["swk", "user", "mfa"]),
        "{claims}"
    );

    // The device flow in a browser signed out of the account: the password, then the
    // passkey.
    driver.goto(&s.app.url("/account")).await;
    driver.click_button("Sign out here").await;
    let client = crate::device::device_client(&s.app).await;
    let claims = device_flow(&driver, &s, &client, true).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd", "swk", "user", "mfa"]),
        "{claims}"
    );
    assert_eq!(claims["acr"], "urn:oidcd:acr:mfa", "{claims}");

    // Signed out again: on the device page the passkey alone signs in.
    driver.goto(&s.app.url("/account")).await;
    driver.click_button("Sign out here").await;
    let claims = device_flow(&driver, &s, &client, false).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["swk", "user", "mfa"]),
        "{claims}"
    );

    // With passkeys turned off, someone who has only passkeys is not asked for one they
    // cannot give: the password alone signs them in.
    let off = s.app.env.spawn_with(|c| c.login.passkeys = false).await;
    let app_client = off.register_client().await;
    let tokens = off.signed_in_tokens(&app_client, &s.user, "openid").await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]), "{claims}");

    // A disabled account's passkey signs nobody in.
    oidcd::oidc::accounts::set_disabled(
        s.app.state.provider(),
        &s.user.sub,
        true,
        oidcd::Clock::System.now(),
    )
    .await
    .unwrap();
    driver.goto(&s.authorize_url(&[])).await;
    use_passkey(&driver, "Sign in with a passkey").await;
    let page = driver.text("main").await;
    assert!(page.contains("That passkey was not accepted."), "{page}");
}

/// The device flow for `client` in a browser signed out of the account: the code, a sign-in
/// with the password then the passkey (`with_password`) or the passkey alone, then Allow; the
/// claims of the ID token the device gets.
async fn device_flow(
    driver: &Driver,
    s: &Setup,
    client: &TestClient,
    with_password: bool,
) -> serde_json::Value {
    let started = crate::device::start(&s.app, client, "openid").await;
    let user_code = started["user_code"].as_str().unwrap();
    driver
        .goto(&format!("{}?user_code={user_code}", s.app.url("/device")))
        .await;
    driver.click_button("Continue").await;
    if with_password {
        s.type_password(driver).await;
        assert!(driver.title().await.starts_with("Two-step verification"));
        use_passkey(driver, "Use a passkey").await;
    } else {
        use_passkey(driver, "Sign in with a passkey").await;
    }
    driver.click_button("Allow").await;
    let polled =
        crate::device::poll(&s.app, client, started["device_code"].as_str().unwrap()).await;
    assert_eq!(polled.status(), 200);
    let tokens: serde_json::Value = polled.json().await.unwrap();
    jwt_claims(tokens["id_token"].as_str().unwrap())
}

async fn text_of(browser: &reqwest::Client, url: &str) -> String {
    browser.get(url).send().await.unwrap().text().await.unwrap()
}

/// A passkey signs in alone, so a session that signed in a while ago (one left open, or a
/// stolen cookie) gives the password before it may add one.
#[tokio::test]
async fn adding_a_passkey_asks_for_the_password_after_a_while() {
    let clock = oidcd::Clock::fixed(crate::helpers::T0);
    let app = localhost_app_on(Backend::Sqlite, clock.clone(), |_| {}).await;
    let user = app.create_user().await;
    let browser = crate::helpers::http_client();
    let account = app.url("/account");
    let page = text_of(&browser, &account).await;
    let signed = browser
        .post(&account)
        .form(&[
            (
                "csrf_token",
                input_value(&page, "csrf_token").unwrap().as_str(),
            ),
            ("step", "login"),
            ("username", user.username.as_str()),
            ("password", user.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let page = text_of(&browser, &account).await;
    assert!(page.contains("data-passkey=\"register\""), "{page}");

    // A while later, nothing about the sign-in methods changes without the password:
    // neither a passkey nor an authenticator app (which, once used, would make the session
    // look signed in again).
    clock.advance(16 * 60);
    let page = text_of(&browser, &account).await;
    assert!(!page.contains("data-passkey=\"register\""), "{page}");
    let csrf = input_value(&page, "csrf_token").unwrap();
    let post = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![("csrf_token", csrf.clone())];
        form.extend(fields);
        browser.post(&account).form(&form).send()
    };
    for step in ["passkey_add", "totp_begin", "recovery_codes"] {
        let asked = post(vec![("step", step.to_owned())]).await.unwrap();
        assert_eq!(asked.status(), 303, "{step}");
        assert_eq!(
            asked.headers()["location"],
            format!("{account}?done=confirm-password").as_str(),
            "{step}"
        );
    }
    let page = text_of(&browser, &format!("{account}?done=confirm-password")).await;
    assert!(page.contains("give your password again"), "{page}");
    assert!(page.contains("id=\"confirm_password\""), "{page}");
    assert!(!page.contains("totp-secret"), "no app was set up: {page}");
    let confirm = |password: String| {
        post(vec![
            ("step", "confirm_password".to_owned()),
            ("current_password", password),
        ])
    };
    let wrong = confirm("not-the-password".to_owned()).await.unwrap();
    assert_eq!(wrong.status(), 200);
    let page = wrong.text().await.unwrap();
    assert!(page.contains("That password is wrong."), "{page}");
    assert!(page.contains("id=\"confirm_password\""), "{page}");
    let right = confirm(user.password.clone()).await.unwrap();
    assert_eq!(right.status(), 303);
    let page = text_of(&browser, &account).await;
    assert!(page.contains("data-passkey=\"register\""), "{page}");
}
