//! Every page a person can meet, checked by axe-core in headless Chromium against WCAG 2.0 and
//! 2.1 at levels A and AA, once in the light and once in the dark colour scheme. Each page is
//! reached through the real flow on a running server (SQLite only: this is about the pages,
//! not the storage). A `serious` or `critical` violation fails the test, listed with its rule,
//! impact and the elements it was found on; lesser ones are printed.
//!
//! axe-core comes from npm, pinned in `tests/axe/package.json`: run `npm ci` in `tests/axe`
//! (CI does). Without chromedriver these tests are skipped like the other browser tests;
//! without `tests/axe/node_modules` they are skipped too, loudly, unless `TEST_CHROMEDRIVER`
//! is set, when they fail.

use std::path::{Path, PathBuf};

use oidcd::oauth::registration::{ClientRegistration, SecretChoice};
use serde_json::{json, Value};

use crate::helpers::{http_client, Backend, TestApp, TestClient, TestUser};
use crate::webdriver::{chromedriver, Driver, CHROMEDRIVER_ENV};

/// Runs axe-core (already on the page) with the rules of WCAG 2.1 level AA; the W3C execute
/// command waits for the promise it returns.
const RUN_AXE: &str = r#"
return axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}).then(r => ({
  version: axe.version,
  passes: r.passes.length,
  violations: r.violations.map(v => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map(n => ({
      target: n.target.join(' '),
      summary: (n.failureSummary || '').replace(/\s+/g, ' ').trim(),
    })),
  })),
}));
"#;

fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/axe/node_modules/axe-core/axe.min.js")
}

/// axe-core's source, or `None` (skip) when it is not installed and the browser tests are not
/// required to run.
fn axe_source() -> Option<String> {
    let path = axe_path();
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(e) if std::env::var_os(CHROMEDRIVER_ENV).is_some_and(|v| !v.is_empty()) => panic!(
            "axe-core is missing ({}: {e}); {CHROMEDRIVER_ENV} is set, so the accessibility \
             tests must run: run `npm ci` in tests/axe",
            path.display()
        ),
        Err(_) => {
            eprintln!(
                "skipped: axe-core is not installed ({} is missing; run `npm ci` in tests/axe)",
                path.display()
            );
            None
        }
    }
}

/// A browser with axe-core at hand, and what it has found so far.
struct Audit {
    driver: Driver,
    axe: String,
    /// One entry per serious or critical violation: page, scheme, rule, impact, elements.
    failures: Vec<String>,
    /// The pages checked, with their scheme.
    checked: Vec<String>,
}

impl Audit {
    async fn start(name: &str) -> Option<Self> {
        let Some(path) = chromedriver() else {
            eprintln!("skipped: no chromedriver ({CHROMEDRIVER_ENV} is not set and /usr/bin/chromedriver is missing)");
            return None;
        };
        let axe = axe_source()?;
        Some(Self {
            driver: Driver::start(&path, name).await,
            axe,
            failures: Vec::new(),
            checked: Vec::new(),
        })
    }

    /// Checks the page showing, which must be the one whose `h1` contains `heading`, in the
    /// light and the dark scheme; photographs it in both (`<name>-<page>-<scheme>.png`).
    async fn check(&mut self, page: &str, heading: &str) {
        let driver = &self.driver;
        let h1 = driver.text("h1").await;
        assert!(
            h1.contains(heading),
            "expected the {page} page (a heading with {heading:?}), found {h1:?} at {}",
            driver.url().await
        );
        for scheme in ["light", "dark"] {
            driver.set_color_scheme(scheme).await;
            let dark = driver
                .script("return matchMedia('(prefers-color-scheme: dark)').matches;")
                .await;
            assert_eq!(
                dark,
                Value::Bool(scheme == "dark"),
                "the {scheme} scheme is emulated on the {page} page"
            );
            // Injected as the body of a WebDriver script: no eval, so the pages' CSP (no
            // scripts at all) does not stand in the way. A page keeps it until it navigates.
            if driver.script("return typeof window.axe;").await != "object" {
                driver.script(&self.axe).await;
            }
            let report = driver.script(RUN_AXE).await;
            assert!(
                report["passes"].as_u64().unwrap_or(0) > 0,
                "axe ran on the {page} page ({scheme}): {report}"
            );
            for violation in report["violations"].as_array().unwrap() {
                let impact = violation["impact"].as_str().unwrap_or("unknown");
                let nodes: Vec<String> = violation["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| {
                        format!(
                            "{}: {}",
                            n["target"].as_str().unwrap_or("?"),
                            n["summary"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                let entry = format!(
                    "{page} [{scheme}] {} ({impact}): {}\n      {}",
                    violation["id"].as_str().unwrap_or("?"),
                    violation["help"].as_str().unwrap_or(""),
                    nodes.join("\n      ")
                );
                if matches!(impact, "serious" | "critical") {
                    self.failures.push(entry);
                } else {
                    eprintln!("axe (not failing the test): {entry}");
                }
            }
            driver.screenshot(&format!("{page}-{scheme}")).await;
            self.checked.push(format!("{page} ({scheme})"));
        }
        driver.set_color_scheme("").await;
    }

    /// Fails listing every serious or critical violation found.
    fn finish(self) {
        eprintln!("axe checked: {}", self.checked.join(", "));
        assert!(
            self.failures.is_empty(),
            "axe-core found {} serious or critical WCAG 2.1 AA violation(s):\n  {}",
            self.failures.len(),
            self.failures.join("\n  ")
        );
    }
}

struct Setup {
    app: TestApp,
    client: TestClient,
    user: TestUser,
    /// The relying party's redirect URI. Any page that answers will do, as the tests never
    /// read what arrives there: the server's own health check.
    callback: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn(Backend::Sqlite).await;
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
            ("scope", "openid profile email"),
            ("state", "st-axe"),
        ];
        params.extend_from_slice(extra);
        self.app.authorize_url(&params)
    }

    /// Types `password` for the test user on the login page showing and signs in.
    async fn sign_in_with(&self, driver: &Driver, password: &str) {
        let username = driver.find("#username").await;
        driver.type_into(&username, &self.user.username).await;
        let field = driver.find("#password").await;
        driver.type_into(&field, password).await;
        driver.click_button("Sign in").await;
    }

    async fn sign_in(&self, driver: &Driver) {
        self.sign_in_with(driver, &self.user.password).await;
    }

    /// Waits for the browser to be back at the relying party.
    async fn arrive(&self, driver: &Driver) {
        for _ in 0..100 {
            if driver.url().await.starts_with(&self.callback) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("never reached {}; at {}", self.callback, driver.url().await);
    }
}

#[tokio::test]
async fn the_sign_in_consent_and_error_pages_meet_wcag_2_1_aa() {
    let Some(mut audit) = Audit::start("axe-sign-in").await else {
        return;
    };
    let s = setup().await;

    // The error page: an unknown client is answered on the provider's page.
    audit
        .driver
        .goto(&s.app.authorize_url(&[
            ("response_type", "code"),
            ("client_id", "nobody"),
            ("redirect_uri", &s.callback),
            ("scope", "openid"),
        ]))
        .await;
    audit.check("error", "cannot be completed").await;

    // The login page, then again with the message a wrong password gets.
    audit.driver.goto(&s.authorize_url(&[])).await;
    audit.check("login", "Sign in").await;
    s.sign_in_with(&audit.driver, "not my password").await;
    assert!(!audit.driver.text("[role=alert]").await.is_empty());
    audit.check("login-error", "Sign in").await;

    // Consent.
    let password = audit.driver.find("#password").await;
    audit.driver.type_into(&password, &s.user.password).await;
    audit.driver.click_button("Sign in").await;
    audit.check("consent", "Photo Album").await;
    audit.driver.click_button("Allow").await;
    s.arrive(&audit.driver).await;

    // The form_post response page, which submits itself at once: loaded with the page's own
    // scripts held back so that it stays, then checked with them allowed again. (Its
    // <noscript> line stays unrendered that way; it is a plain paragraph like the others.)
    audit
        .driver
        .cdp(
            "Emulation.setScriptExecutionDisabled",
            json!({ "value": true }),
        )
        .await;
    audit
        .driver
        .goto(&s.authorize_url(&[("response_mode", "form_post")]))
        .await;
    audit
        .driver
        .cdp(
            "Emulation.setScriptExecutionDisabled",
            json!({ "value": false }),
        )
        .await;
    audit
        .check("form-post", "Returning to the application")
        .await;

    audit.finish();
}

/// Starts a device authorization as a device would; returns the code it shows.
async fn start_device(app: &TestApp, client_id: &str) -> String {
    let started: Value = http_client()
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", client_id), ("scope", "openid profile")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    started["user_code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_device_pages_meet_wcag_2_1_aa() {
    let Some(mut audit) = Audit::start("axe-device").await else {
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
    let entry = s.app.url("/device");
    let driver = &audit.driver;
    let user_code = start_device(&s.app, &tv.id).await;

    // Where the code is typed, then with the message a wrong code gets.
    driver.goto(&entry).await;
    audit.check("device-entry", "Connect a device").await;
    let driver = &audit.driver;
    let field = driver.find("#user_code").await;
    driver.type_into(&field, "BCDF-GHJK").await;
    driver.click_button("Continue").await;
    assert!(!driver.text("[role=alert]").await.is_empty());
    audit.check("device-entry-error", "Connect a device").await;

    // Cancel: the message page, with its link.
    audit.driver.click_button("Cancel").await;
    audit
        .check("device-cancelled", "Nothing was connected")
        .await;

    // The right code: the login page (the device's variant), the confirmation, the result.
    let driver = &audit.driver;
    driver.goto(&entry).await;
    let field = driver.find("#user_code").await;
    driver.type_into(&field, &user_code).await;
    driver.click_button("Continue").await;
    audit.check("device-login", "Sign in").await;
    s.sign_in(&audit.driver).await;
    audit.check("device-confirm", "Living Room TV").await;
    audit.driver.click_button("Allow").await;
    audit.check("device-connected", "Device connected").await;

    // Another device, denied.
    let user_code = start_device(&s.app, &tv.id).await;
    let driver = &audit.driver;
    driver.goto(&entry).await;
    let field = driver.find("#user_code").await;
    driver.type_into(&field, &user_code).await;
    driver.click_button("Continue").await;
    driver.click_button("Deny").await;
    audit.check("device-denied", "Request denied").await;

    audit.finish();
}

#[tokio::test]
async fn the_sign_out_pages_meet_wcag_2_1_aa() {
    let Some(mut audit) = Audit::start("axe-logout").await else {
        return;
    };
    let s = setup().await;
    audit.driver.goto(&s.authorize_url(&[])).await;
    s.sign_in(&audit.driver).await;
    audit.driver.click_button("Allow").await;
    s.arrive(&audit.driver).await;

    // Without an id_token_hint the provider asks first; staying signed in says so.
    let logout = s.app.url("/oauth/logout");
    audit.driver.goto(&logout).await;
    audit.check("logout-confirm", "Sign out?").await;
    audit.driver.click_button("Stay signed in").await;
    audit.check("logout-kept", "You are still signed in").await;

    audit.driver.goto(&logout).await;
    audit.driver.click_button("Sign out").await;
    audit.check("logout-done", "You are signed out").await;

    audit.finish();
}

#[tokio::test]
async fn the_home_page_meets_wcag_2_1_aa() {
    let Some(mut audit) = Audit::start("axe-home").await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    audit.driver.goto(&app.url("/")).await;
    audit.check("home", "oidcd").await;
    audit.finish();
}

#[tokio::test]
async fn the_account_pages_meet_wcag_2_1_aa() {
    let Some(mut audit) = Audit::start("axe-account").await else {
        return;
    };
    let s = setup().await;
    let account = s.app.url("/account");
    audit.driver.goto(&account).await;
    audit.check("account-sign-in", "Sign in").await;
    s.sign_in(&audit.driver).await;
    // An app with access, so the page lists one.
    audit.driver.goto(&s.authorize_url(&[])).await;
    audit.driver.click_button("Allow").await;
    s.arrive(&audit.driver).await;
    audit.driver.goto(&account).await;
    audit.check("account", "Your account").await;
    let current = audit.driver.find("#current_password").await;
    audit.driver.type_into(&current, "not the password").await;
    let new = audit.driver.find("#new_password").await;
    audit.driver.type_into(&new, "another passphrase").await;
    audit.driver.click_button("Change password").await;
    audit.check("account-error", "Your account").await;
    audit.finish();
}

#[tokio::test]
async fn the_second_factor_pages_meet_wcag_2_1_aa() {
    let Some(mut audit) = Audit::start("axe-second-factor").await else {
        return;
    };
    let s = setup().await;
    let strict = s
        .app
        .register_client_with(ClientRegistration {
            name: "Payroll".into(),
            redirect_uris: vec![s.callback.clone()],
            require_mfa: true,
            ..Default::default()
        })
        .await;
    // An app that requires a second factor, for someone without one.
    let strict_url = s.app.authorize_url(&[
        ("response_type", "code"),
        ("client_id", strict.id.as_str()),
        ("redirect_uri", s.callback.as_str()),
        ("scope", "openid"),
    ]);
    audit.driver.goto(&strict_url).await;
    s.sign_in(&audit.driver).await;
    audit
        .check("enrol-factor", "Set up two-step verification")
        .await;

    // Setting one up on the account page: the QR code, then the recovery codes.
    audit.driver.goto(&s.app.url("/account")).await;
    audit
        .driver
        .click_button("Set up an authenticator app")
        .await;
    audit.check("account-totp-setup", "Your account").await;
    let key = audit.driver.text("#totp-secret").await;
    let secret = totp_rs::Secret::Encoded(key).to_bytes().unwrap();
    let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, secret);
    let now = u64::try_from(oidcd::Clock::System.now()).unwrap();
    let field = audit.driver.find("#totp_code").await;
    audit.driver.type_into(&field, &totp.generate(now)).await;
    audit
        .driver
        .click_button("Turn on two-step verification")
        .await;
    audit.check("account-recovery-codes", "Your account").await;

    // Signed out and in again: the code is asked for; a wrong one is refused.
    audit.driver.click_button("Sign out here").await;
    audit.driver.goto(&s.authorize_url(&[])).await;
    s.sign_in(&audit.driver).await;
    audit.check("second-factor", "Two-step verification").await;
    let field = audit.driver.find("#code").await;
    audit.driver.type_into(&field, "000000").await;
    audit.driver.click_button("Verify").await;
    audit
        .check("second-factor-error", "Two-step verification")
        .await;
    audit.finish();
}

#[tokio::test]
async fn the_password_reset_and_verification_pages_meet_wcag_2_1_aa() {
    let Some(mut audit) = Audit::start("axe-mail").await else {
        return;
    };
    let Some(smtp) = crate::mail::SmtpServer::start().await else {
        return;
    };
    let env = crate::helpers::TestEnv::new(Backend::Sqlite).await;
    let mut config = env.config();
    smtp.configure(&mut config);
    let app = env.spawn_config(config, oidcd::Clock::System).await;
    let user = app.create_user().await;

    // The sign-in form links to the reset; asking for one.
    audit.driver.goto(&app.url("/account")).await;
    let link = audit
        .driver
        .find("a[href$='/account/forgot-password']")
        .await;
    audit.driver.click_and_wait(&link).await;
    audit.check("forgot-password", "Reset your password").await;
    let field = audit.driver.find("#account").await;
    audit.driver.type_into(&field, &user.username).await;
    audit.driver.click_button("Send the link").await;
    audit
        .check("forgot-password-sent", "Reset your password")
        .await;

    // The mailed link: a new password, first one that breaks the rules.
    let mails = smtp.wait_for(1).await;
    audit
        .driver
        .goto(&mails[0].link("/account/reset-password"))
        .await;
    audit.check("reset-password", "Choose a new password").await;
    let field = audit.driver.find("#new_password").await;
    audit.driver.type_into(&field, "a-new-password-1").await;
    audit.driver.click_button("Set the password").await;
    audit.check("password-reset-done", "Sign in").await;

    // A verification link, for an address not confirmed yet.
    crate::mail::unconfirm(&app, &user).await;
    let field = audit.driver.find("#username").await;
    audit.driver.type_into(&field, &user.username).await;
    let field = audit.driver.find("#password").await;
    audit.driver.type_into(&field, "a-new-password-1").await;
    audit.driver.click_button("Sign in").await;
    audit.driver.click_button("Send a confirmation link").await;
    audit.check("verify-sent", "Your account").await;
    let mails = smtp.wait_for(2).await;
    audit
        .driver
        .goto(&mails[1].link("/account/verify-email"))
        .await;
    audit
        .check("verify-email", "Confirm your email address")
        .await;
    audit.driver.click_button("Confirm").await;
    audit
        .check("verify-email-done", "Your email address is confirmed")
        .await;
    audit.finish();
}

#[tokio::test]
async fn the_passkey_pages_meet_wcag_2_1_aa() {
    let Some(mut audit) = Audit::start("axe-passkeys").await else {
        return;
    };
    audit.driver.add_virtual_authenticator().await;
    // The pages with their passkey buttons (autofill would sign in at once).
    audit.driver.without_passkey_autofill().await;
    let app = crate::passkeys::localhost_app(Backend::Sqlite, |_| {}).await;
    let user = app.create_user().await;
    let client = app
        .register_client_with(ClientRegistration {
            name: "Photo Album".into(),
            redirect_uris: vec![app.url("/healthz")],
            ..Default::default()
        })
        .await;
    async fn sign_in(driver: &Driver, user: &TestUser) {
        let field = driver.find("#username").await;
        driver.type_into(&field, &user.username).await;
        let field = driver.find("#password").await;
        driver.type_into(&field, &user.password).await;
    }

    // The sign-in pages offer a passkey.
    audit.driver.goto(&app.url("/account")).await;
    audit.check("account-sign-in-passkey", "Sign in").await;
    sign_in(&audit.driver, &user).await;
    audit.driver.click_button("Sign in").await;
    audit.check("account-add-passkey", "Your account").await;
    let field = audit.driver.find("#passkey_name").await;
    audit.driver.type_into(&field, "Phone").await;
    audit.driver.click_button("Add a passkey").await;
    audit.check("account-passkey-added", "Your account").await;
    // The form that asks for the password again, before sign-in methods change.
    audit
        .driver
        .goto(&app.url("/account?done=confirm-password"))
        .await;
    audit
        .check("account-confirm-password", "Your account")
        .await;
    audit.driver.click_button("Sign out here").await;

    // After a password, the passkey as the second factor.
    let url = app.authorize_url(&[
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", app.url("/healthz").as_str()),
        ("scope", "openid"),
    ]);
    audit.driver.goto(&url).await;
    audit.check("sign-in-passkey", "Sign in").await;
    sign_in(&audit.driver, &user).await;
    audit.driver.click_button("Sign in").await;
    audit
        .check("second-factor-passkey", "Two-step verification")
        .await;
    audit.finish();
}
