//! Browser-only apps: a single-page app on another origin signs in with the code flow and
//! PKCE and then calls the token, userinfo and revocation endpoints with `fetch()`, in headless
//! Chromium, which enforces CORS as every user's browser does. A page on an origin the client
//! never registered cannot read the same answers. The preflight and header rules are checked
//! over plain HTTP too.

use std::time::Duration;

use oidcd::oauth::registration::{ClientRegistration, SecretChoice};
use serde_json::{json, Value};

use crate::helpers::{http_client, pkce_pair, Backend, TestApp};
use crate::webdriver::{chromedriver, Driver, CHROMEDRIVER_ENV};

/// A browser app's origin on `host`: a page of its own on a port of its own.
async fn app_origin(host: &str) -> String {
    let port = crate::helpers::static_page(
        "<!doctype html><html lang=\"en\"><title>Notes</title><h1>Notes</h1></html>",
    )
    .await;
    format!("http://{host}:{port}")
}

/// Runs `body` (the inside of an async function returning JSON-able data) in the page and
/// returns what it resolved to, or `{"failed": message}` when it threw (a CORS refusal is a
/// `TypeError: Failed to fetch`).
async fn in_page(driver: &Driver, body: &str) -> Value {
    driver
        .script(&format!(
            "window.__result = undefined;
             (async () => {{ {body} }})().then(
               r => {{ window.__result = {{ ok: r }}; }},
               e => {{ window.__result = {{ failed: String(e) }}; }});
             return true;"
        ))
        .await;
    for _ in 0..100 {
        let result = driver.script("return window.__result ?? null;").await;
        if !result.is_null() {
            return match result.get("ok") {
                Some(ok) => ok.clone(),
                None => result,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page's fetch never finished");
}

/// `fetch(url, {method: POST, form})` returning `{status, body}`.
fn post_form(url: &str, form: &Value, headers: &Value) -> String {
    format!(
        "const r = await fetch({url:?}, {{ method: 'POST', headers: Object.assign({{'Content-Type': 'application/x-www-form-urlencoded'}}, {headers}), body: new URLSearchParams({form}) }});
         const text = await r.text();
         return {{ status: r.status, body: text ? JSON.parse(text) : null, challenge: r.headers.get('WWW-Authenticate') }};"
    )
}

#[tokio::test]
async fn a_browser_app_signs_in_refreshes_and_revokes_with_fetch() {
    let Some(path) = chromedriver() else {
        eprintln!("skipped: no chromedriver ({CHROMEDRIVER_ENV} is not set and /usr/bin/chromedriver is missing)");
        return;
    };
    let driver = Driver::start(&path, "cors").await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    // The app is served from 127.0.0.1 on a port of its own: another origin than the issuer.
    let spa = app_origin("127.0.0.1").await;
    // Another origin on this machine that the client never registered.
    let stranger = app_origin("localhost").await;
    let client = app
        .register_client_with(ClientRegistration {
            name: "Notes".into(),
            secret: SecretChoice::Public,
            redirect_uris: vec![format!("{spa}/callback")],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let (verifier, challenge) = pkce_pair();
    let authorize = app.authorize_url(&[
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", &format!("{spa}/callback")),
        ("scope", "openid email offline_access"),
        ("state", "s-1"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);

    // The person signs in and consents; the browser lands on the app with a code.
    driver.goto(&authorize).await;
    let username = driver.find("#username").await;
    driver.type_into(&username, &user.username).await;
    let password = driver.find("#password").await;
    driver.type_into(&password, &user.password).await;
    driver.click_button("Sign in").await;
    driver.click_button("Allow").await;
    let mut landed = String::new();
    for _ in 0..100 {
        landed = driver.url().await;
        if landed.starts_with(&spa) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let code = url::Url::parse(&landed)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code at {landed}"));

    // From the app's page: the code exchange...
    let token_url = app.url("/oauth/token");
    let exchanged = in_page(
        &driver,
        &post_form(
            &token_url,
            &json!({
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": format!("{spa}/callback"),
                "client_id": client.id,
                "code_verifier": verifier,
            }),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(exchanged["status"], 200, "{exchanged}");
    let access = exchanged["body"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = exchanged["body"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // ...userinfo with a bearer token (a preflighted request)...
    let userinfo_url = app.url("/oauth/userinfo");
    let info = in_page(
        &driver,
        &format!(
            "const r = await fetch({userinfo_url:?}, {{ headers: {{ Authorization: 'Bearer {access}' }} }});
             return {{ status: r.status, body: await r.json() }};"
        ),
    )
    .await;
    assert_eq!(info["status"], 200, "{info}");
    assert_eq!(info["body"]["sub"], user.sub.as_str());

    // ...an error it can read (and the challenge header it is allowed to see)...
    let refused = in_page(
        &driver,
        &format!(
            "const r = await fetch({userinfo_url:?}, {{ headers: {{ Authorization: 'Bearer {access}x' }} }});
             return {{ status: r.status, body: await r.json(), challenge: r.headers.get('WWW-Authenticate') }};"
        ),
    )
    .await;
    assert_eq!(refused["status"], 401, "{refused}");
    assert_eq!(refused["body"]["error"], "invalid_token");
    assert!(refused["challenge"].as_str().unwrap().starts_with("Bearer"));

    // ...a refresh...
    let refreshed = in_page(
        &driver,
        &post_form(
            &token_url,
            &json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client.id}),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(refreshed["status"], 200, "{refreshed}");
    let refresh = refreshed["body"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = in_page(
        &driver,
        &post_form(
            &token_url,
            &json!({"grant_type": "refresh_token", "refresh_token": "nonsense", "client_id": client.id}),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(bad["status"], 400, "{bad}");
    assert_eq!(bad["body"]["error"], "invalid_grant");

    // ...and a revocation.
    let revoked = in_page(
        &driver,
        &post_form(
            &app.url("/oauth/revoke"),
            &json!({"token": refresh, "client_id": client.id}),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(revoked["status"], 200, "{revoked}");
    let after = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &client.id),
            ],
            None,
        )
        .await;
    assert_eq!(after.status(), 400, "the revoked grant is dead");

    // A page on an origin the client never registered cannot read any of it.
    driver.goto(&format!("{stranger}/")).await;
    let blocked = in_page(
        &driver,
        &post_form(
            &token_url,
            &json!({"grant_type": "refresh_token", "refresh_token": "x", "client_id": client.id}),
            &json!({}),
        ),
    )
    .await;
    assert!(
        blocked["failed"]
            .as_str()
            .is_some_and(|e| e.contains("Failed to fetch")),
        "{blocked}"
    );
    let blocked = in_page(
        &driver,
        &format!(
            "const r = await fetch({userinfo_url:?}, {{ headers: {{ Authorization: 'Bearer {access}' }} }});
             return {{ status: r.status }};"
        ),
    )
    .await;
    assert!(blocked["failed"].is_string(), "{blocked}");
    // Discovery and the JWKS are for everyone.
    let discovery = app.url("/.well-known/openid-configuration");
    let public = in_page(
        &driver,
        &format!("const r = await fetch({discovery:?}); return (await r.json()).issuer;"),
    )
    .await;
    assert_eq!(public, app.address.as_str());
}

#[tokio::test]
async fn preflights_are_answered_and_only_allowed_origins_can_read() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app
        .register_client_with(ClientRegistration {
            redirect_uris: vec!["https://notes.example.com/callback".into()],
            allowed_origins: vec!["https://admin.example.com".into()],
            ..Default::default()
        })
        .await;
    let http = http_client();
    for path in [
        "/oauth/token",
        "/oauth/userinfo",
        "/oauth/revoke",
        "/oauth/introspect",
        "/oauth/device_authorization",
    ] {
        let preflight = http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", "https://notes.example.com")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{path}");
        let h = preflight.headers();
        assert_eq!(
            h["access-control-allow-origin"],
            "https://notes.example.com"
        );
        assert!(h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST"));
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
        assert!(h.contains_key("access-control-max-age"));
    }
    for path in ["/.well-known/openid-configuration", "/jwks.json"] {
        let preflight = http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", "https://anyone.example")
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{path}");
        assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    }

    // The answers themselves: readable by the redirect URIs' origin and the listed one, errors
    // included; not by anyone else.
    let token = |origin: &'static str, secret: Option<String>| {
        let request = http
            .post(app.url("/oauth/token"))
            .header("Origin", origin)
            .basic_auth(&client.id, secret)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "nonsense"),
            ]);
        async move { request.send().await.unwrap() }
    };
    let secret = client.secret.clone();
    for origin in ["https://notes.example.com", "https://admin.example.com"] {
        let r = token(origin, secret.clone()).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["access-control-allow-origin"], origin);
        assert!(r.headers()["vary"].to_str().unwrap().contains("Origin"));
    }
    let r = token("https://evil.example", secret.clone()).await;
    assert_eq!(r.status(), 400);
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    // A client that fails to authenticate gets its error read too, by its own origins.
    let r = token("https://notes.example.com", Some("wrong".into())).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://notes.example.com"
    );
    assert!(r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("WWW-Authenticate"));
}
