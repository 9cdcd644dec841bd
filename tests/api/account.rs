//! `/account`: a person signs in, sees the apps with access and the sessions, revokes an
//! app, signs another browser out, changes the password; and the front-channel logout pages
//! a signed-out page loads.

use serde_json::Value;

use crate::backchannel_logout::{sign_in, Receiver};
use crate::helpers::{
    input_value, jwt_claims, location, Backend, Browser, TestApp, TestEnv, TestUser, LOGOUT_URI,
};
use crate::on_both_databases;
use oidcd::oauth::registration::ClientRegistration;
use oidcd::store::clients::LogoutChannels;

on_both_databases!(
    a_person_manages_apps_sessions_and_password_on_the_account_page,
    the_account_page_refuses_forged_and_wrong_forms,
    front_channel_logout_pages_load_on_the_signed_out_page,
);

/// Posts the account page's form for `step` (its CSRF token from `page`).
pub async fn post(
    app: &TestApp,
    browser: &Browser,
    page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = vec![(
        "csrf_token".into(),
        input_value(page, "csrf_token").expect("a CSRF token"),
    )];
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    browser
        .http
        .post(app.url("/account"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

pub async fn page(app: &TestApp, browser: &Browser, query: &str) -> String {
    let response = browser.get(&app.url(&format!("/account{query}"))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    response.text().await.unwrap()
}

async fn a_person_manages_apps_sessions_and_password_on_the_account_page(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let photos = app
        .register_client_with(ClientRegistration {
            name: "Photos".into(),
            ..Default::default()
        })
        .await;
    let notes = app
        .register_client_with(ClientRegistration {
            name: "Notes".into(),
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let phone = Browser::new(&app);
    let on_phone = sign_in(&app, &phone, &photos, &user).await;

    // Signed out, the page is a sign-in form; signing in leads back to it.
    let laptop = Browser::new(&app);
    let form = page(&app, &laptop, "").await;
    assert!(form.contains("name=\"step\" value=\"login\""), "{form}");
    let response = post(
        &app,
        &laptop,
        &form,
        &[
            ("step", "login"),
            ("username", &user.username),
            ("password", &user.password),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).ends_with("/account"));
    let photo_tokens = sign_in(&app, &laptop, &photos, &user).await;
    let note_tokens = sign_in(&app, &laptop, &notes, &user).await;

    let html = page(&app, &laptop, "").await;
    assert!(html.contains("Your account"), "{html}");
    assert!(html.contains("<strong>Notes</strong>") && html.contains("<strong>Photos</strong>"));
    assert!(html.contains("Stay signed in"), "what each may see: {html}");
    assert!(
        html.contains("This browser") && html.contains("Another browser"),
        "{html}"
    );

    // Revoking Notes: its refresh token and access token stop working.
    clock.advance(1);
    let response = post(
        &app,
        &laptop,
        &html,
        &[("step", "revoke_app"), ("client_id", &notes.id)],
    )
    .await;
    assert_eq!(response.status(), 303);
    let html = page(&app, &laptop, "?done=revoked").await;
    assert!(html.contains("The app no longer has access to your account."));
    assert!(!html.contains("<strong>Notes</strong>"), "{html}");
    let refused = app
        .refresh(&notes, note_tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(
        app.userinfo(note_tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    assert_eq!(
        app.userinfo(photo_tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // Signing the phone out: its tokens of the session die, and it must sign in again.
    let phone_sid = jwt_claims(on_phone["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(html.contains(&phone_sid));
    let response = post(
        &app,
        &laptop,
        &html,
        &[("step", "end_session"), ("sid", &phone_sid)],
    )
    .await;
    assert_eq!(response.status(), 303);
    let html = page(&app, &laptop, "?done=ended").await;
    assert!(!html.contains("Another browser"), "{html}");
    assert_eq!(
        app.userinfo(on_phone["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    assert!(page(&app, &phone, "")
        .await
        .contains("name=\"step\" value=\"login\""));

    // Changing the password ends the other sessions; the old one no longer signs in.
    let tablet = Browser::new(&app);
    let on_tablet = sign_in(&app, &tablet, &photos, &user).await;
    let html = page(&app, &laptop, "").await;
    let new_password = "a brand new passphrase";
    let response = post(
        &app,
        &laptop,
        &html,
        &[
            ("step", "password"),
            ("current_password", &user.password),
            ("new_password", new_password),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let html = page(&app, &laptop, "?done=password").await;
    assert!(html.contains("Your password is changed."), "{html}");
    assert!(html.contains("This browser"), "this session stays: {html}");
    assert_eq!(
        app.userinfo(on_tablet["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    let old = TestUser {
        password: user.password.clone(),
        ..user.clone()
    };
    let form = page(&app, &Browser::new(&app), "").await;
    let fresh = Browser::new(&app);
    let form2 = page(&app, &fresh, "").await;
    let _ = form;
    let refused = post(
        &app,
        &fresh,
        &form2,
        &[
            ("step", "login"),
            ("username", &old.username),
            ("password", &old.password),
        ],
    )
    .await;
    assert_eq!(refused.status(), 200);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Wrong username or password."));
    let renewed = TestUser {
        password: new_password.into(),
        ..user.clone()
    };
    sign_in(&app, &Browser::new(&app), &photos, &renewed).await;

    // Signing out here ends this session.
    let html = page(&app, &laptop, "").await;
    let here = html
        .split("This browser")
        .nth(1)
        .and_then(|rest| input_value(rest, "sid"))
        .unwrap();
    let response = post(
        &app,
        &laptop,
        &html,
        &[("step", "end_session"), ("sid", &here)],
    )
    .await;
    assert_eq!(response.status(), 303);
    let html = page(&app, &laptop, "?done=signed-out").await;
    assert!(html.contains("You are signed out."), "{html}");
    assert!(html.contains("name=\"step\" value=\"login\""));
}

async fn the_account_page_refuses_forged_and_wrong_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let photos = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let tokens = sign_in(&app, &browser, &photos, &user).await;
    let html = page(&app, &browser, "").await;

    // A form without this session's CSRF token changes nothing.
    let forged = browser
        .http
        .post(app.url("/account"))
        .form(&[
            ("step", "revoke_app"),
            ("client_id", photos.id.as_str()),
            ("csrf_token", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    // Nor does a form from a browser that is not signed in.
    let stranger = Browser::new(&app);
    let form = page(&app, &stranger, "").await;
    let response = post(
        &app,
        &stranger,
        &form,
        &[("step", "revoke_app"), ("client_id", &photos.id)],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // A wrong current password, or a new one too short, changes nothing and says why.
    let wrong = post(
        &app,
        &browser,
        &html,
        &[
            ("step", "password"),
            ("current_password", "not it at all"),
            ("new_password", "long enough now"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 200);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("Your current password is wrong."));
    let short = post(
        &app,
        &browser,
        &html,
        &[
            ("step", "password"),
            ("current_password", &user.password),
            ("new_password", "short"),
        ],
    )
    .await;
    assert!(short
        .text()
        .await
        .unwrap()
        .contains("The new password must be"));
    // Guesses are counted like sign-ins: after the limit, even the right one is refused.
    let limit = app.state.config.login.failures_per_ip;
    for _ in 0..limit {
        post(
            &app,
            &browser,
            &html,
            &[
                ("step", "password"),
                ("current_password", "guess"),
                ("new_password", "long enough now"),
            ],
        )
        .await;
    }
    let throttled = post(
        &app,
        &browser,
        &html,
        &[
            ("step", "password"),
            ("current_password", &user.password),
            ("new_password", "long enough now"),
        ],
    )
    .await;
    assert!(throttled
        .text()
        .await
        .unwrap()
        .contains("Too many failed attempts"));
    // The password did not change.
    let still = oidcd::oidc::accounts::authenticate(
        &app.state.db,
        &app.state.passwords,
        &user.username,
        &user.password,
    )
    .await
    .unwrap();
    assert!(still.is_some());
    // A step the page does not know.
    let odd = post(&app, &browser, &html, &[("step", "launch")]).await;
    assert_eq!(odd.status(), 400);
}

async fn front_channel_logout_pages_load_on_the_signed_out_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = Receiver::start(200).await;
    let photos = app
        .register_client_with(ClientRegistration {
            name: "Photos".into(),
            logout: LogoutChannels {
                frontchannel_logout_uri: Some(rp.url("/frontchannel?app=photos")),
                ..Default::default()
            },
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let tokens = sign_in(&app, &browser, &photos, &user).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let sid = jwt_claims(id_token)["sid"].as_str().unwrap().to_owned();
    let response = browser
        .get(&app.url(&format!(
            "/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=s1",
            url::form_urlencoded::byte_serialize(LOGOUT_URI.as_bytes()).collect::<String>()
        )))
        .await;
    assert_eq!(
        response.status(),
        200,
        "a page that loads the apps' pages first"
    );
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains(&format!("frame-src {}", rp.url(""))), "{csp}");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let html = response.text().await.unwrap();
    let src = html
        .split("<iframe src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x2f;", "/");
    let frame = url::Url::parse(&src).unwrap();
    let query: std::collections::HashMap<_, _> = frame.query_pairs().into_owned().collect();
    assert_eq!(query["app"], "photos");
    assert_eq!(query["iss"], app.address);
    assert_eq!(query["sid"], sid);
    assert!(html.contains("id=\"continue\""), "{html}");
    assert!(
        html.contains("state=s1"),
        "the person goes on to the app afterwards: {html}"
    );
}
