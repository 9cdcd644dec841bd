//! Guards: security rules that the server keeps today and that no other test would notice
//! losing. Each test drives the real server over HTTP and fails if its rule is removed.

use oidcd::oauth::registration::{ClientRegistration, SecretChoice};
use oidcd::tokens::access as access_token;
use serde_json::{json, Value};

use crate::helpers::{
    assert_oauth_error, http_client, input_value, Backend, Browser, TestApp, TestClient, TestEnv,
};
use crate::on_both_databases;

on_both_databases!(
    an_admin_clients_token_without_the_admin_scope_is_forbidden,
    userinfo_refuses_our_own_signature_on_another_audience_or_issuer,
    a_client_cannot_introspect_another_clients_refresh_token,
    a_refresh_token_two_generations_old_revokes_its_family_inside_the_grace_window,
    under_an_https_issuer_the_session_cookie_is_host_bound_and_pages_send_hsts,
    under_an_http_issuer_the_session_cookie_is_not_secure_and_pages_send_no_hsts,
    the_device_form_refuses_a_forged_csrf_token,
    a_code_replayed_after_its_expiry_still_revokes_its_tokens,
    every_page_is_uncached_unframed_and_under_a_strict_policy,
    signing_in_replaces_the_session_and_forgets_the_old_cookie,
);

/// The session cookie under an http issuer, and under an https one.
const SESSION_HTTP: &str = "oidcd_session";
const SESSION_HTTPS: &str = "__Host-oidcd_session";
const HTTPS_ISSUER: &str = "https://login.example.test";
const HSTS: &str = "max-age=31536000";

// ---------------------------------------------------------------------------------------
// Helpers.

/// A refresh, which must succeed; the new refresh token.
async fn rotate(app: &TestApp, client: &TestClient, refresh_token: &str) -> String {
    let response = app.refresh(client, refresh_token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_owned()
}

/// Introspection of `token` by `asker`; the JSON answer.
async fn introspect(app: &TestApp, asker: &TestClient, token: &str, hint: Option<&str>) -> Value {
    let mut form = vec![("token", token)];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint));
    }
    let response = http_client()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&asker.id, asker.secret.as_deref())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A client credentials token response for `client` with `scope`.
async fn client_credentials(app: &TestApp, client: &TestClient, scope: &str) -> Value {
    let response = app
        .token(
            &[("grant_type", "client_credentials"), ("scope", scope)],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `GET /admin/clients` with a bearer token.
async fn list_clients(app: &TestApp, token: &str) -> reqwest::Response {
    http_client()
        .get(app.url("/admin/clients"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `claims` signed as an access token (`typ: at+jwt`) with the server's active signing key.
fn signed_by_the_server(app: &TestApp, claims: &Value) -> String {
    app.state
        .keys
        .current()
        .signer()
        .sign(access_token::TYP, claims)
        .unwrap()
}

/// The `Set-Cookie` header of `response` that sets the cookie `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.split_once('=').is_some_and(|(n, _)| n == name))
        .map(str::to_owned)
}

/// The value a `Set-Cookie` header sets.
fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map_or("", |(_, value)| value)
}

/// The attributes of a `Set-Cookie` header (everything after the name and value), trimmed.
fn cookie_attributes(set_cookie: &str) -> Vec<&str> {
    set_cookie.split(';').skip(1).map(str::trim).collect()
}

/// A GET from a client without a cookie jar, carrying only the cookie `name=value`.
async fn get_with_only_cookie(url: &str, name: &str, value: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .header("cookie", format!("{name}={value}"))
        .send()
        .await
        .unwrap()
}

/// A public device client starts a device authorization; its user code.
async fn device_user_code(app: &TestApp) -> String {
    let device = app
        .register_client_with(ClientRegistration {
            secret: SecretChoice::Public,
            grant_types: vec!["device_code".into()],
            ..Default::default()
        })
        .await;
    let response = http_client()
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", device.id.as_str()), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["user_code"].as_str().unwrap().to_owned()
}

/// Submits the `/device` code form with `csrf_token`, in `browser`'s session.
async fn submit_device_code(
    browser: &Browser,
    csrf_token: &str,
    user_code: &str,
) -> reqwest::Response {
    browser
        .http
        .post(format!("{}/device", browser.issuer))
        .form(&[
            ("csrf_token", csrf_token),
            ("step", "code"),
            ("user_code", user_code),
        ])
        .send()
        .await
        .unwrap()
}

/// Asserts the headers every HTML page carries.
fn assert_page_headers(label: &str, response: &reqwest::Response) {
    let headers = response.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{label}: no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        header("content-type").starts_with("text/html"),
        "{label}: {}",
        header("content-type")
    );
    assert_eq!(header("cache-control"), "no-store", "{label}");
    assert_eq!(header("pragma"), "no-cache", "{label}");
    assert_eq!(header("x-frame-options"), "DENY", "{label}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{label}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{label}");
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(
            csp.contains(directive),
            "{label}: no `{directive}` in {csp}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The guards.

/// The admin API refuses (403) a token of an admin client that was not issued the `admin` scope.
async fn an_admin_clients_token_without_the_admin_scope_is_forbidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app
        .register_client_with(ClientRegistration {
            admin: true,
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api".into()],
            ..Default::default()
        })
        .await;

    let api_only = client_credentials(&app, &admin, "api").await;
    assert_eq!(api_only["scope"], "api");
    let response = list_clients(&app, api_only["access_token"].as_str().unwrap()).await;

    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope", "{body}");
    // The same client's token with the admin scope is let in: the scope is all that was missing.
    let with_admin = client_credentials(&app, &admin, "admin").await;
    let response = list_clients(&app, with_admin["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
}

/// Userinfo refuses (401) an `at+jwt` signed with the server's key but another `aud` or `iss`.
async fn userinfo_refuses_our_own_signature_on_another_audience_or_issuer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let issuer = app.state.issuer.to_string();
    let now = app.state.clock.now();
    let claims = |iss: &str, aud: &str| -> Value {
        json!({
            "iss": iss,
            "sub": user.sub,
            "aud": aud,
            "client_id": client.id,
            "scope": "openid email",
            "iat": now,
            "exp": now + 600,
            "jti": uuid::Uuid::new_v4().simple().to_string()
        })
    };
    // Our key, our issuer, our audience: accepted, so the refusals below are the claims' doing.
    let genuine = signed_by_the_server(&app, &claims(issuer.as_str(), issuer.as_str()));
    let response = app.userinfo(&genuine).await;
    assert_eq!(response.status(), 200);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["sub"], user.sub);

    for (label, iss, aud) in [
        (
            "another audience",
            issuer.as_str(),
            "https://api.example.com",
        ),
        (
            "the client as audience",
            issuer.as_str(),
            client.id.as_str(),
        ),
        (
            "another issuer",
            "https://login.example.com",
            issuer.as_str(),
        ),
    ] {
        let forged = signed_by_the_server(&app, &claims(iss, aud));
        let response = app.userinfo(&forged).await;
        assert_eq!(response.status(), 401, "{label}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{label}: {challenge}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{label}: {body}");
    }
}

/// Introspection by one client of another client's refresh token answers `{"active": false}`.
async fn a_client_cannot_introspect_another_clients_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_client().await;
    let other = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app
        .signed_in_tokens(&owner, &user, "openid offline_access")
        .await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    // The owner sees it live.
    let own = introspect(&app, &owner, refresh, Some("refresh_token")).await;
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["client_id"], owner.id);

    for hint in [None, Some("refresh_token"), Some("access_token")] {
        assert_eq!(
            introspect(&app, &other, refresh, hint).await,
            json!({"active": false}),
            "hint {hint:?}"
        );
    }
}

/// Inside the grace window only the token just rotated may be retried; an older one revokes all.
async fn a_refresh_token_two_generations_old_revokes_its_family_inside_the_grace_window(
    backend: Backend,
) {
    let env = TestEnv::new(backend).await;
    let config = env.config();
    assert!(
        config.lifetimes.refresh_grace.as_i64() > 2,
        "the steps below stay inside the grace window"
    );
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;
    let r0 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let r1 = rotate(&app, &client, &r0).await;
    clock.advance(1);
    let r2 = rotate(&app, &client, &r1).await;
    clock.advance(1);
    // The grace window is open: a retry with r1, the token just rotated, gets r2 again...
    assert_eq!(rotate(&app, &client, &r1).await, r2);

    // ...but r0 is two generations old.
    assert_oauth_error(app.refresh(&client, &r0).await, 400, "invalid_grant").await;

    assert_eq!(
        oidcd::metrics::Metrics::get(&app.state.metrics.refresh_reuse_detected),
        1
    );
    for (label, token) in [("r2", &r2), ("r1", &r1)] {
        let response = app.refresh(&client, token).await;
        assert_eq!(response.status(), 400, "{label}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{label}: {body}");
    }
    assert_eq!(
        introspect(&app, &client, &r2, None).await,
        json!({"active": false})
    );
}

/// An https issuer's session cookie is `__Host-`, Secure, HttpOnly, Lax, Path=/; pages send HSTS.
async fn under_an_https_issuer_the_session_cookie_is_host_bound_and_pages_send_hsts(
    backend: Backend,
) {
    let env = TestEnv::new(backend).await;
    let app = env
        .spawn_with(|c| c.issuer = Some(HTTPS_ISSUER.into()))
        .await;
    let client = app.register_client().await;

    let page = http_client()
        .get(app.code_request_url(&client, "openid", &[]))
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 200);
    let cookie = set_cookie(&page, SESSION_HTTPS)
        .unwrap_or_else(|| panic!("no {SESSION_HTTPS} cookie: {:?}", page.headers()));
    assert!(set_cookie(&page, SESSION_HTTP).is_none());
    assert!(cookie_value(&cookie).len() >= 43, "{cookie}");
    let attributes = cookie_attributes(&cookie);
    for expected in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(&expected), "no {expected} in {cookie}");
    }
    assert!(
        !attributes
            .iter()
            .any(|a| a.to_ascii_lowercase().starts_with("domain")),
        "a __Host- cookie has no Domain: {cookie}"
    );
    assert_eq!(page.headers()["strict-transport-security"], HSTS);
    // An error page too.
    let error = http_client()
        .get(app.authorize_url(&[("client_id", "nobody"), ("response_type", "code")]))
        .send()
        .await
        .unwrap();
    assert_eq!(error.status(), 400);
    assert_eq!(error.headers()["strict-transport-security"], HSTS);
}

/// An http issuer's session cookie is `oidcd_session` without Secure, and pages send no HSTS.
async fn under_an_http_issuer_the_session_cookie_is_not_secure_and_pages_send_no_hsts(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    assert!(app.state.issuer.starts_with("http://"));
    let client = app.register_client().await;

    let page = http_client()
        .get(app.code_request_url(&client, "openid", &[]))
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 200);
    let cookie = set_cookie(&page, SESSION_HTTP)
        .unwrap_or_else(|| panic!("no {SESSION_HTTP} cookie: {:?}", page.headers()));
    assert!(set_cookie(&page, SESSION_HTTPS).is_none());
    let attributes = cookie_attributes(&cookie);
    for expected in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(&expected), "no {expected} in {cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "{cookie}");
    assert!(page.headers().get("strict-transport-security").is_none());
    let device = http_client().get(app.url("/device")).send().await.unwrap();
    assert_eq!(device.status(), 200);
    assert!(device.headers().get("strict-transport-security").is_none());
}

/// The `/device` form refuses (400) a CSRF token that is not its session's, even with a valid code.
async fn the_device_form_refuses_a_forged_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user_code = device_user_code(&app).await;
    let browser = Browser::new(&app);
    let entry = browser.get(&app.url("/device")).await;
    assert_eq!(entry.status(), 200);
    assert!(
        set_cookie(&entry, SESSION_HTTP).is_some(),
        "the device page starts a session"
    );
    let entry = entry.text().await.unwrap();
    let genuine = input_value(&entry, "csrf_token").unwrap();
    // A real token, but of another browser's session.
    let other = Browser::new(&app);
    let other_page = other.get(&app.url("/device")).await.text().await.unwrap();
    let others = input_value(&other_page, "csrf_token").unwrap();
    assert_ne!(others, genuine);
    let made_up = "A".repeat(genuine.len());

    for (label, forged) in [
        ("made up", made_up.as_str()),
        ("another session's", others.as_str()),
    ] {
        let response = submit_device_code(&browser, forged, &user_code).await;
        assert_eq!(response.status(), 400, "{label}");
        let page = response.text().await.unwrap();
        assert!(page.contains("could not be verified"), "{label}: {page}");
        assert!(page.contains("invalid_request"), "{label}: {page}");
    }

    // The page's own token, with the same code, goes on to sign-in.
    let response = submit_device_code(&browser, &genuine, &user_code).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("name=\"step\" value=\"login\""), "{page}");
}

/// A code replayed after its expiry still revokes the tokens its first use issued (README).
async fn a_code_replayed_after_its_expiry_still_revokes_its_tokens(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let config = env.config();
    let code_lifetime = config.lifetimes.authorization_code.as_i64();
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let code = app
        .code_for(&client, &user, "openid offline_access", &[])
        .await;
    let response = app.exchange(&client, &code, None).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    clock.advance(code_lifetime + 1);
    // The code is dead; the tokens it gave are not.
    assert_eq!(
        introspect(&app, &client, access, None).await["active"],
        true
    );

    // README: a code works once, and "a second use revokes every token issued from the first";
    // a second use after the code's expiry is no exception.
    assert_oauth_error(
        app.exchange(&client, &code, None).await,
        400,
        "invalid_grant",
    )
    .await;

    assert_eq!(
        oidcd::metrics::Metrics::get(&app.state.metrics.code_reuse_detected),
        1
    );
    assert_oauth_error(app.refresh(&client, refresh).await, 400, "invalid_grant").await;
    assert_eq!(
        introspect(&app, &client, access, None).await,
        json!({"active": false})
    );
    assert_eq!(app.userinfo(access).await.status(), 401);
}

/// Every HTML page is uncacheable and unframeable, sends no referrer and has a strict CSP.
async fn every_page_is_uncached_unframed_and_under_a_strict_policy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);

    let login = browser
        .get(&app.code_request_url(&client, "openid", &[]))
        .await;
    assert_eq!(login.status(), 200);
    assert_page_headers("login page", &login);
    let page = login.text().await.unwrap();
    assert!(page.contains("name=\"step\" value=\"login\""));

    let consent = browser.login(&page, &user).await;
    assert_eq!(consent.status(), 200);
    assert_page_headers("consent page", &consent);
    assert!(consent
        .text()
        .await
        .unwrap()
        .contains("name=\"step\" value=\"consent\""));

    let device = browser.get(&app.url("/device")).await;
    assert_eq!(device.status(), 200);
    assert_page_headers("device page", &device);

    let error = browser
        .get(&app.authorize_url(&[("client_id", "nobody"), ("response_type", "code")]))
        .await;
    assert_eq!(error.status(), 400);
    assert_page_headers("error page", &error);
}

/// Signing in replaces the session cookie, and the old value stands for no session (fixation).
async fn signing_in_replaces_the_session_and_forgets_the_old_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let url = app.code_request_url(&client, "openid", &[]);
    let browser = Browser::new(&app);
    let login = browser.get(&url).await;
    assert_eq!(login.status(), 200);
    let before = set_cookie(&login, SESSION_HTTP).expect("a first session");
    let before = cookie_value(&before).to_owned();
    let page = login.text().await.unwrap();

    let signed_in = browser.login(&page, &user).await;

    assert_eq!(signed_in.status(), 200, "the consent page");
    let after = set_cookie(&signed_in, SESSION_HTTP).expect("new session");
    let after = cookie_value(&after).to_owned();
    assert_ne!(before, after);
    // The new cookie alone is signed in: it goes straight to consent.
    let with_new = get_with_only_cookie(&url, SESSION_HTTP, &after).await;
    assert_eq!(with_new.status(), 200);
    assert!(set_cookie(&with_new, SESSION_HTTP).is_none());
    assert!(with_new
        .text()
        .await
        .unwrap()
        .contains("name=\"step\" value=\"consent\""));
    // The old cookie alone is a stranger: a fresh session, and the sign-in page again.
    let with_old = get_with_only_cookie(&url, SESSION_HTTP, &before).await;
    assert_eq!(with_old.status(), 200);
    let fresh = set_cookie(&with_old, SESSION_HTTP).expect("a fresh one");
    let fresh = cookie_value(&fresh).to_owned();
    assert_ne!(fresh, before);
    assert_ne!(fresh, after);
    assert!(with_old
        .text()
        .await
        .unwrap()
        .contains("name=\"step\" value=\"login\""));
}
