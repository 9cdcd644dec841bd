//! Second factors: an authenticator app set up on `/account` with a QR code and a first
//! code, asked for at every sign-in after the password; each code accepted once and only
//! near its time; wrong codes limited; recovery codes each good once; an operator's reset;
//! step-up for an app that asks for more (`acr_values`) or requires it (`require_mfa`); and
//! what the ID token says (`amr`, `acr`).

use serde_json::Value;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::account::{page, post};
use crate::admin::{admin_token, Admin};
use crate::helpers::{
    http_client, jwt_claims, location, location_params, Backend, Browser, TestApp, TestClient,
    TestEnv, TestUser,
};
use crate::on_both_databases;
use oidcd::oauth::registration::ClientRegistration;
use oidcd::Clock;

on_both_databases!(
    an_authenticator_app_is_asked_for_at_every_sign_in,
    an_app_asking_for_more_steps_a_password_session_up,
    an_app_that_requires_a_second_factor_has_people_set_one_up,
    a_device_is_approved_only_after_the_second_factor,
    the_command_line_resets_the_factors_of_someone_who_lost_them,
    under_the_requested_policy_only_apps_that_ask_get_the_second_factor,
    someone_with_the_password_cannot_lock_the_owner_out_of_the_second_factor,
);

const ACR_MFA: &str = "urn:oidcd:acr:mfa";
const ACR_PASSWORD: &str = "urn:oidcd:acr:password";

/// The generator whose key the set-up page shows.
fn generator_of(page: &str) -> TOTP {
    let marker = "id=\"totp-secret\">";
    let start = page.find(marker).expect("the key is shown") + marker.len();
    let key = &page[start..start + page[start..].find('<').unwrap()];
    let secret = Secret::Encoded(key.to_owned()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret)
}

fn code_at(totp: &TOTP, clock: &Clock, offset: i64) -> String {
    totp.generate(u64::try_from(clock.now() + offset).unwrap())
}

/// The recovery codes a page shows.
fn recovery_codes_of(page: &str) -> Vec<String> {
    let list = &page[page.find("class=\"codes\"").expect("codes are shown")..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<code>")
        .skip(1)
        .map(|c| c[..c.find("</code>").unwrap()].to_owned())
        .collect()
}

/// Signs `browser` in to the account page with the password.
pub async fn account_sign_in(
    app: &TestApp,
    browser: &Browser,
    user: &TestUser,
) -> reqwest::Response {
    let form = page(app, browser, "").await;
    let response = post(
        app,
        browser,
        &form,
        &[
            ("step", "login"),
            ("username", &user.username),
            ("password", &user.password),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    response
}

/// Sets up an authenticator app for the person signed in to the account page in `browser`:
/// its generator, and the recovery codes shown once.
pub async fn set_up_app(app: &TestApp, browser: &Browser, clock: &Clock) -> (TOTP, Vec<String>) {
    let html = page(app, browser, "").await;
    assert!(html.contains("Set up an authenticator app"), "{html}");
    let response = post(app, browser, &html, &[("step", "totp_begin")]).await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).ends_with("/account?setup=totp#two-step"));
    let setup = page(app, browser, "?setup=totp").await;
    assert!(
        setup.contains("<svg role=\"img\""),
        "an inline QR code: {setup}"
    );
    assert!(!setup.contains("<script"), "{setup}");
    let totp = generator_of(&setup);
    // A wrong first code sets nothing up, and the same key is shown again.
    let response = post(
        app,
        browser,
        &setup,
        &[("step", "totp_confirm"), ("code", "000000")],
    )
    .await;
    let again = response.text().await.unwrap();
    assert!(again.contains("wrong or was already used"), "{again}");
    assert_eq!(
        generator_of(&again).get_secret_base32(),
        totp.get_secret_base32()
    );
    let response = post(
        app,
        browser,
        &again,
        &[
            ("step", "totp_confirm"),
            ("code", &code_at(&totp, clock, 0)),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let done = response.text().await.unwrap();
    assert!(done.contains("Two-step verification is on."), "{done}");
    let codes = recovery_codes_of(&done);
    assert_eq!(codes.len(), 10, "{done}");
    // Shown once: the page does not show them again.
    let later = page(app, browser, "").await;
    assert!(!later.contains("class=\"codes\""), "{later}");
    assert!(later.contains("10 of 10 recovery codes left"), "{later}");
    (totp, codes)
}

/// A new browser gives the password for `url`; the page that follows.
async fn password_only(app: &TestApp, url: &str, user: &TestUser) -> (Browser, String) {
    let browser = Browser::new(app);
    let login = browser.get(url).await.text().await.unwrap();
    let response = browser.login(&login, user).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    (browser, html)
}

async fn second_factor(browser: &Browser, page: &str, code: &str) -> reqwest::Response {
    assert!(
        page.contains("value=\"second_factor\""),
        "a second-factor page: {page}"
    );
    browser
        .submit(page, "second_factor", &[("code", code)])
        .await
}

/// Follows the pages after the factors (consent if asked) to the client; the ID token's
/// claims.
async fn finish(
    app: &TestApp,
    browser: &Browser,
    client: &TestClient,
    response: reqwest::Response,
) -> Value {
    let response = if response.status().is_redirection() {
        response
    } else {
        let html = response.text().await.unwrap();
        assert!(html.contains("value=\"consent\""), "a consent page: {html}");
        browser.consent(&html, "allow").await
    };
    let code = location_params(&response)["code"].clone();
    let tokens = app.exchange(client, &code, None).await;
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.unwrap();
    jwt_claims(tokens["id_token"].as_str().unwrap())
}

async fn an_authenticator_app_is_asked_for_at_every_sign_in(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let laptop = Browser::new(&app);
    account_sign_in(&app, &laptop, &user).await;
    let (totp, recovery) = set_up_app(&app, &laptop, &clock).await;
    let url = app.code_request_url(&client, "openid", &[]);

    // The password alone is not enough now; the code the app was set up with is spent, and
    // one from two steps ago is too old.
    let (phone, html) = password_only(&app, &url, &user).await;
    assert!(!html.contains("value=\"login\""), "{html}");
    for stale in [code_at(&totp, &clock, 0), code_at(&totp, &clock, -60)] {
        let response = second_factor(&phone, &html, &stale).await;
        assert_eq!(response.status(), 200);
        let refused = response.text().await.unwrap();
        assert!(refused.contains("wrong or was already used"), "{refused}");
    }
    clock.advance(30);
    let fresh = code_at(&totp, &clock, 0);
    let response = second_factor(&phone, &html, &fresh).await;
    let claims = finish(&app, &phone, &client, response).await;
    assert_eq!(claims["acr"], ACR_MFA);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["auth_time"], clock.now());

    // The same code in another browser at the same moment: used.
    let (tablet, html) = password_only(&app, &url, &user).await;
    let response = second_factor(&tablet, &html, &fresh).await;
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("wrong or was already used"));

    // A recovery code works once (however it is typed).
    let response = second_factor(&tablet, &html, &recovery[0].to_uppercase()).await;
    let claims = finish(&app, &tablet, &client, response).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    let (other, html) = password_only(&app, &url, &user).await;
    let response = second_factor(&other, &html, &recovery[0]).await;
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("wrong or was already used"));
    let html = page(&app, &laptop, "").await;
    assert!(html.contains("9 of 10 recovery codes left"), "{html}");

    // Wrong codes are limited: past five (the spent recovery code was one), even the right
    // one waits for the window to end.
    for _ in 0..4 {
        let response = second_factor(&other, &html_of(&other, &url).await, "123456").await;
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("wrong or was already used"));
    }
    clock.advance(30);
    let response = second_factor(
        &other,
        &html_of(&other, &url).await,
        &code_at(&totp, &clock, 0),
    )
    .await;
    assert_eq!(response.status(), 429);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Too many wrong codes"));
    clock.advance(900);
    let response = second_factor(
        &other,
        &html_of(&other, &url).await,
        &code_at(&totp, &clock, 0),
    )
    .await;
    assert!(
        response.status().is_redirection(),
        "consent was given before"
    );

    // An operator resets the factors of someone who lost them: the password is enough again.
    let admin = admin_token(&app).await;
    let reset = |id: String| {
        let admin = admin.clone();
        let url = app.url(&format!("/admin/users/{id}/factors"));
        async move {
            http_client()
                .delete(url)
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
        }
    };
    // The operator sees the app and the codes left (never the secret), then resets them.
    let operator = Admin::new(&app).await;
    let user_path = format!("/admin/users/{}", user.sub);
    let (status, seen) = operator.get(&user_path).await;
    assert_eq!(status, 200);
    let factors = seen["second_factors"].as_array().unwrap();
    assert_eq!(factors.len(), 1, "{seen}");
    assert_eq!(factors[0]["kind"], "totp");
    assert!(factors[0]["last_used_at"].is_string(), "{seen}");
    assert!(factors[0].get("secret").is_none());
    assert_eq!(seen["recovery_codes_left"], 9, "one was used: {seen}");
    assert_eq!(reset("no-such-user".into()).await.status(), 404);
    assert_eq!(reset(user.sub.clone()).await.status(), 204);
    let (_, seen) = operator.get(&user_path).await;
    assert_eq!(seen["second_factors"], serde_json::json!([]));
    assert_eq!(seen["recovery_codes_left"], 0);
    let html = page(&app, &phone, "").await;
    assert!(
        html.contains("name=\"step\" value=\"login\""),
        "the session that passed the factor is over: {html}"
    );
    let browser = Browser::new(&app);
    let done = browser.authorize(&url, &user).await;
    let claims = finish(&app, &browser, &client, done).await;
    assert_eq!(claims["acr"], ACR_PASSWORD);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    // The sessions that passed the lost factor were ended with it.
    assert_signed_out_then_in_with_the_password(&app, &laptop, &user).await;
}

/// `browser`'s session was ended by a reset of the factors; the password alone signs in
/// again, to a page that offers to set one up.
async fn assert_signed_out_then_in_with_the_password(
    app: &TestApp,
    browser: &Browser,
    user: &TestUser,
) {
    let html = page(app, browser, "").await;
    assert!(html.contains("name=\"step\" value=\"login\""), "{html}");
    account_sign_in(app, browser, user).await;
    let html = page(app, browser, "").await;
    assert!(html.contains("Set up an authenticator app"), "{html}");
}

/// The page a browser that gave its password is on for `url` now.
async fn html_of(browser: &Browser, url: &str) -> String {
    let response = browser.get(url).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn an_app_asking_for_more_steps_a_password_session_up(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let url = app.code_request_url(&client, "openid", &[("acr_values", ACR_MFA)]);

    // Without a second factor, a wish for more is answered with the level reached.
    let phone = Browser::new(&app);
    let done = phone.authorize(&url, &user).await;
    let claims = finish(&app, &phone, &client, done).await;
    assert_eq!(claims["acr"], ACR_PASSWORD);

    // The person sets up an app elsewhere; the phone's session used a password only, so the
    // app asking for more gets the second-factor page (not the sign-in page) on it.
    let laptop = Browser::new(&app);
    account_sign_in(&app, &laptop, &user).await;
    let (totp, _) = set_up_app(&app, &laptop, &clock).await;
    clock.advance(30);
    let html = html_of(&phone, &url).await;
    assert!(!html.contains("value=\"login\""), "{html}");
    let response = second_factor(&phone, &html, &code_at(&totp, &clock, 0)).await;
    let claims = finish(&app, &phone, &client, response).await;
    assert_eq!(claims["acr"], ACR_MFA);
    assert_eq!(claims["auth_time"], clock.now());

    // A session still owing the factor cannot be used silently.
    let (tablet, _) = password_only(&app, &url, &user).await;
    let silent = app.code_request_url(&client, "openid", &[("prompt", "none")]);
    let response = tablet.get(&silent).await;
    assert_eq!(location_params(&response)["error"], "interaction_required");
    // Nor can the account page be reached with the password alone.
    let html = page(&app, &tablet, "").await;
    assert!(html.contains("value=\"second_factor\""), "{html}");
    assert!(!html.contains("Your account"), "{html}");
}

async fn an_app_that_requires_a_second_factor_has_people_set_one_up(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let strict = app
        .register_client_with(ClientRegistration {
            name: "Payroll".into(),
            require_mfa: true,
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let url = app.code_request_url(&strict, "openid", &[]);
    let (browser, html) = password_only(&app, &url, &user).await;
    assert!(html.contains("Set up two-step verification"), "{html}");
    assert!(html.contains("value=\"continue\""), "{html}");
    // Going on without one leads back to the same page.
    let response = browser.submit(&html, "continue", &[]).await;
    let again = response.text().await.unwrap();
    assert!(again.contains("Set up two-step verification"), "{again}");

    // Set up on the account page in the same browser, then on.
    let (_, _) = set_up_app(&app, &browser, &clock).await;
    let response = browser.submit(&again, "continue", &[]).await;
    let claims = finish(&app, &browser, &strict, response).await;
    assert_eq!(claims["acr"], ACR_MFA);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

async fn a_device_is_approved_only_after_the_second_factor(backend: Backend) {
    use crate::device::{device_client, poll, post, start};
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = device_client(&app).await;
    let user = app.create_user().await;
    let laptop = Browser::new(&app);
    account_sign_in(&app, &laptop, &user).await;
    let (totp, _) = set_up_app(&app, &laptop, &clock).await;

    let auth = start(&app, &client, "openid").await;
    let user_code = auth["user_code"].as_str().unwrap();
    let device_code = auth["device_code"].as_str().unwrap();
    let browser = Browser::new(&app);
    let entry = browser.get(&app.url("/device")).await.text().await.unwrap();
    let login = post(
        &browser,
        &entry,
        &[("step", "code"), ("user_code", user_code)],
    )
    .await;
    let login = login.text().await.unwrap();
    let carried = |page: &str| {
        (
            crate::helpers::input_value(page, "user_code").unwrap(),
            crate::helpers::input_value(page, "code_proof").unwrap(),
        )
    };
    let (code, proof) = carried(&login);
    let response = post(
        &browser,
        &login,
        &[
            ("step", "login"),
            ("user_code", &code),
            ("code_proof", &proof),
            ("username", &user.username),
            ("password", &user.password),
        ],
    )
    .await;
    let html = response.text().await.unwrap();
    assert!(html.contains("value=\"second_factor\""), "{html}");
    // The session changed at sign-in, and the proof with it.
    let (code, proof) = carried(&html);

    // Approving with the password alone is not taken: the second factor is asked again.
    let response = post(
        &browser,
        &html,
        &[
            ("step", "decide"),
            ("user_code", &code),
            ("code_proof", &proof),
            ("decision", "approve"),
        ],
    )
    .await;
    let again = response.text().await.unwrap();
    assert!(again.contains("value=\"second_factor\""), "{again}");
    let pending = poll(&app, &client, device_code).await;
    assert_eq!(pending.status(), 400);

    clock.advance(30);
    let response = post(
        &browser,
        &html,
        &[
            ("step", "second_factor"),
            ("user_code", &code),
            ("code_proof", &proof),
            ("code", &code_at(&totp, &clock, 0)),
        ],
    )
    .await;
    let confirm = response.text().await.unwrap();
    assert!(confirm.contains("value=\"decide\""), "{confirm}");
    let done = post(
        &browser,
        &confirm,
        &[
            ("step", "decide"),
            ("user_code", &code),
            ("code_proof", &proof),
            ("decision", "approve"),
        ],
    )
    .await;
    assert!(done.text().await.unwrap().contains("Device connected"));
    clock.advance(5);
    let tokens: Value = poll(&app, &client, device_code).await.json().await.unwrap();
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], ACR_MFA);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

async fn the_command_line_resets_the_factors_of_someone_who_lost_them(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let user = app.create_user().await;
    let laptop = Browser::new(&app);
    account_sign_in(&app, &laptop, &user).await;
    set_up_app(&app, &laptop, &clock).await;
    assert!(
        oidcd::store::factors::has_confirmed(&app.state.db, &user.sub, true)
            .await
            .unwrap()
    );

    let unknown = app
        .env
        .oidcd(&["user", "reset-factors", "nobody-here"], &[]);
    assert!(!unknown.status.success());
    let reset = app
        .env
        .oidcd(&["user", "reset-factors", &user.username], &[]);
    let said = String::from_utf8_lossy(&reset.stdout).into_owned();
    assert!(reset.status.success(), "{said}");
    assert!(said.contains("removed 1 second factor"), "{said}");
    assert!(
        !oidcd::store::factors::has_confirmed(&app.state.db, &user.sub, true)
            .await
            .unwrap()
    );
    assert_signed_out_then_in_with_the_password(&app, &laptop, &user).await;
}

async fn under_the_requested_policy_only_apps_that_ask_get_the_second_factor(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.login.second_factor = oidcd::config::SecondFactorPolicy::Requested;
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    let plain = app.register_client().await;
    let strict = app
        .register_client_with(ClientRegistration {
            name: "Payroll".into(),
            require_mfa: true,
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let laptop = Browser::new(&app);
    account_sign_in(&app, &laptop, &user).await;
    let (totp, _) = set_up_app(&app, &laptop, &clock).await;

    // The password alone for an app that does not ask for more.
    let phone = Browser::new(&app);
    let done = phone
        .authorize(&app.code_request_url(&plain, "openid", &[]), &user)
        .await;
    let claims = finish(&app, &phone, &plain, done).await;
    assert_eq!(claims["acr"], ACR_PASSWORD);
    // The same session steps up for the app that requires it.
    let html = html_of(&phone, &app.code_request_url(&strict, "openid", &[])).await;
    clock.advance(30);
    let response = second_factor(&phone, &html, &code_at(&totp, &clock, 0)).await;
    let claims = finish(&app, &phone, &strict, response).await;
    assert_eq!(claims["acr"], ACR_MFA);

    // On the account page, a password-only session must step up before it changes the
    // factors; it can, there.
    let tablet = Browser::new(&app);
    account_sign_in(&app, &tablet, &user).await;
    let html = page(&app, &tablet, "").await;
    assert!(html.contains("Your account"), "{html}");
    let factor_id = crate::helpers::input_value(&html, "factor_id").unwrap();
    let response = post(
        &app,
        &tablet,
        &html,
        &[("step", "remove_factor"), ("factor_id", &factor_id)],
    )
    .await;
    let asked = response.text().await.unwrap();
    assert!(asked.contains("value=\"second_factor\""), "{asked}");
    // A key being set up in another browser is not shown here.
    let response = post(
        &app,
        &laptop,
        &page(&app, &laptop, "").await,
        &[("step", "totp_begin")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let elsewhere = page(&app, &tablet, "?setup=totp").await;
    assert!(!elsewhere.contains("totp-secret"), "{elsewhere}");
    clock.advance(30);
    let response = post(
        &app,
        &tablet,
        &asked,
        &[
            ("step", "second_factor"),
            ("code", &code_at(&totp, &clock, 0)),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let html = page(&app, &tablet, "").await;
    let response = post(
        &app,
        &tablet,
        &html,
        &[("step", "remove_factor"), ("factor_id", &factor_id)],
    )
    .await;
    assert_eq!(response.status(), 303);
    let html = page(&app, &tablet, "?done=factor-removed").await;
    assert!(html.contains("The authenticator app is removed."), "{html}");
}

async fn someone_with_the_password_cannot_lock_the_owner_out_of_the_second_factor(
    backend: Backend,
) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let laptop = Browser::new(&app);
    account_sign_in(&app, &laptop, &user).await;
    let (totp, _) = set_up_app(&app, &laptop, &clock).await;
    let url = app.code_request_url(&client, "openid", &[]);
    // The owner's browser passes the second factor once: it is trusted for the account.
    let (owner, html) = password_only(&app, &url, &user).await;
    clock.advance(30);
    let response = second_factor(&owner, &html, &code_at(&totp, &clock, 0)).await;
    finish(&app, &owner, &client, response).await;

    // Someone who has the password uses up the account's count of wrong codes.
    let (thief, html) = password_only(&app, &url, &user).await;
    for _ in 0..6 {
        second_factor(&thief, &html, "123456").await;
    }
    clock.advance(30);
    let response = second_factor(
        &thief,
        &html_of(&thief, &url).await,
        &code_at(&totp, &clock, 0),
    )
    .await;
    assert_eq!(
        response.status(),
        429,
        "the password-only browser is held back"
    );

    // The owner, signing in again in the trusted browser, is not.
    let fresh = app.code_request_url(&client, "openid", &[("prompt", "login")]);
    let login = html_of(&owner, &fresh).await;
    let response = owner.login(&login, &user).await;
    let html = response.text().await.unwrap();
    clock.advance(30);
    let response = second_factor(&owner, &html, &code_at(&totp, &clock, 0)).await;
    let claims = finish(&app, &owner, &client, response).await;
    assert_eq!(claims["acr"], ACR_MFA);
}
