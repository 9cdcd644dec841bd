//! Abuse defenses that cannot be turned against the people and apps they protect. Each test
//! reproduces a finding of the security review through HTTP.

use std::sync::Arc;

use reqwest::cookie::Jar;
use serde_json::{json, Value};

use oidcd::config::Seconds;
use oidcd::oauth::registration::{ClientRegistration, SecretChoice};
use oidcd::{Clock, Config};

use crate::admin::Admin;
use crate::device::{device_client, poll, start};
use crate::helpers::{
    assert_oauth_error, code_request_url_at, http_client, input_value, introspect, jwt_claims,
    location, location_params, Backend, Browser, TestApp, TestClient, TestEnv, TestUser,
    REDIRECT_URI, T0,
};
use crate::on_both_databases;

on_both_databases!(
    failures_from_one_address_do_not_lock_an_app_out_elsewhere,
    no_user_bound_token_carries_the_admin_scope,
    wrong_passwords_sent_at_once_get_no_more_tries_than_the_limit,
    a_browser_that_signed_in_before_gets_in_while_the_account_is_locked,
    a_username_is_one_account_whatever_its_case,
    past_the_wrong_code_limit_no_device_step_goes_through,
    a_device_code_is_approved_only_in_the_session_that_entered_it,
    disabling_a_user_ends_their_codes_and_tokens,
    disabling_a_user_ends_an_approved_device_code,
    a_password_change_signs_the_user_out_and_revokes_their_grants,
    a_password_change_may_leave_the_grants_alone,
    sign_in_pages_for_anonymous_browsers_are_bounded_per_address,
    a_session_unused_for_the_idle_lifetime_ends,
    the_docs_page_cannot_be_framed,
    a_replaced_client_secret_works_for_the_overlap_asked_and_no_longer,
    rotating_a_secret_with_revoke_tokens_ends_the_clients_tokens,
);
crate::on_postgres!(wrong_passwords_sent_at_once_to_two_instances_get_no_more_tries_than_the_limit);

/// The app runs behind a trusted proxy on 127.0.0.1, so each request names its client
/// address in `X-Forwarded-For`.
async fn behind_a_proxy(backend: Backend) -> TestApp {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.http.trusted_proxies = "127.0.0.1".parse().unwrap();
    config.client_auth.failures_per_client = 3;
    config.client_auth.failures_per_ip = 5;
    env.spawn_config(config, Clock::fixed(T0)).await
}

async fn token_from(
    app: &TestApp,
    address: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut request = http_client()
        .post(app.url("/oauth/token"))
        .header("x-forwarded-for", address)
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn failures_from_one_address_do_not_lock_an_app_out_elsewhere(backend: Backend) {
    let app = behind_a_proxy(backend).await;
    let service = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api".into()],
            ..Default::default()
        })
        .await;
    let spa = app
        .register_client_with(ClientRegistration {
            secret: SecretChoice::Public,
            ..Default::default()
        })
        .await;
    let secret = service.secret.clone().unwrap();
    let grant = [("grant_type", "client_credentials")];

    // Someone at one address guesses the service's secret many times, and sends secrets for
    // the public client: far past every limit.
    for n in 0..25 {
        let (status, _) = token_from(
            &app,
            "203.0.113.66",
            &grant,
            Some((&service.id, &format!("guess-{n}"))),
        )
        .await;
        assert_eq!(status, 401);
        let (status, body) = token_from(
            &app,
            "203.0.113.66",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &spa.id),
                ("client_secret", "anything-at-all"),
            ],
            None,
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }
    // That address is held back, even with the right secret...
    let (status, body) =
        token_from(&app, "203.0.113.66", &grant, Some((&service.id, &secret))).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("Too many"));

    // ...but the apps themselves still work from anywhere else.
    let (status, body) =
        token_from(&app, "198.51.100.7", &grant, Some((&service.id, &secret))).await;
    assert_eq!(status, 200, "the right secret from elsewhere: {body}");
    let (status, body) = token_from(
        &app,
        "198.51.100.7",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &spa.id),
        ],
        None,
    )
    .await;
    assert_eq!(status, 400, "the public client authenticates: {body}");
    assert_eq!(body["error"], "invalid_grant");

    // A secret sent for a public client is refused, and does not count against the address.
    for _ in 0..10 {
        let (status, body) = token_from(
            &app,
            "198.51.100.8",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &spa.id),
                ("client_secret", "a-secret-it-never-had"),
            ],
            None,
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "invalid_client");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("public"),
            "{body}"
        );
    }
    let (status, body) =
        token_from(&app, "198.51.100.8", &grant, Some((&service.id, &secret))).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_request_with_thousands_of_parameters_is_refused_before_anything_else() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // 10,000 distinct names in under 64 KiB: the duplicate check used to compare every pair.
    let body: String = (0..10_000)
        .map(|n| format!("{n:x}="))
        .collect::<Vec<_>>()
        .join("&");
    assert!(body.len() < 64 * 1024);
    for path in [
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
        "/oauth/device_authorization",
    ] {
        let response = http_client()
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_request", "{path}");
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap()
                .contains("Too many parameters"),
            "{path}: {answer}"
        );
    }
    // The same for the pages' query strings (still well under the 8 KiB request target).
    let query = (0..150)
        .map(|n| format!("p{n}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let page = http_client()
        .get(app.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
}

#[tokio::test]
async fn a_value_cannot_forge_a_log_line() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let _app = env.spawn().await;
    let process = env.serve_process(&[]);
    let forged = "x\n2026-12-02T00:00:00.000000Z  INFO request: oidcd::admin::clients: admin=ops action=\"client.delete\" client_id=photos";
    let response = http_client()
        .post(format!("{}/oauth/token", process.issuer))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", forged),
            ("client_secret", "whatever-it-is"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let logs = process.wait_for_log("client authentication refused").await;
    assert!(logs.contains("client authentication refused"), "{logs}");
    // The value stays on its own line, its newline written as `\n`.
    for line in logs.lines() {
        assert!(
            !line.starts_with("2026-12-02T00:00:00.000000Z"),
            "a forged line: {line}"
        );
    }
    assert!(logs.contains("x\\n2026-12-02T00:00:00"), "{logs}");
}

async fn no_user_bound_token_carries_the_admin_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // An admin client registered with the default grants: it may also sign users in.
    let admin = app
        .register_client_with(ClientRegistration {
            admin: true,
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "device_code".into(),
            ],
            scopes: vec!["openid".into(), "profile".into()],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let (_, challenge) = crate::helpers::pkce_pair();
    let url = app.code_request_url(
        &admin,
        "openid admin",
        &[
            ("state", "st"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let answer = crate::helpers::Browser::new(&app)
        .authorize(&url, &user)
        .await;
    let params = crate::helpers::location_params(&answer);
    assert_eq!(params["error"], "invalid_scope", "{params:?}");
    assert!(params["error_description"].contains("client credentials"));

    let device = http_client()
        .post(app.url("/oauth/device_authorization"))
        .basic_auth(&admin.id, admin.secret.as_deref())
        .form(&[("scope", "openid admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(device.status(), 400);
    let body: Value = device.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");

    // Through client credentials, the admin client still gets it.
    let token = app
        .token(
            &[("grant_type", "client_credentials"), ("scope", "admin")],
            Some((&admin.id, admin.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(token.status(), 200);
}

// ---------------------------------------------------------------------------------------
// Shared setup for the sign-in, device and admin rules below.

/// The fixed time every server below starts at.
const DAY: i64 = 86_400;

const LOGIN_FORM: &str = "name=\"step\" value=\"login\"";
const CONSENT_FORM: &str = "name=\"step\" value=\"consent\"";
const WRONG: &str = "Wrong username or password.";
const TOO_MANY: &str = "Too many failed attempts";
const SESSION_COOKIE: &str = "oidcd_session";
const DEVICE_COOKIE: &str = "oidcd_device";

/// The app on a fixed clock (`app.state.clock`), with `adjust`ed settings.
async fn spawn_fixed(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    adjust(&mut config);
    env.spawn_config(config, Clock::fixed(T0)).await
}

/// Five failed sign-ins per account; so many per address, and so many sign-in pages per
/// address, that only the account's limit matters.
fn login_limits(config: &mut Config) {
    config.login.failures_per_account = 5;
    config.login.failures_per_ip = 1000;
    config.login.pending_requests_per_ip = 1000;
}

/// Behind a trusted proxy on 127.0.0.1: each browser names its address in `X-Forwarded-For`.
fn trust_the_local_proxy(config: &mut Config) {
    config.http.trusted_proxies = "127.0.0.1".parse().unwrap();
}

/// A browser at `address` (sent as `X-Forwarded-For`) whose cookies live in `jar`.
pub fn browser_from(app: &TestApp, address: &str, jar: Arc<Jar>) -> Browser {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar)
            .default_headers(headers)
            .build()
            .unwrap(),
        issuer: app.address.clone(),
    }
}

/// Asserts an answer's status and that its page says `words`; returns the page.
async fn assert_page(response: reqwest::Response, status: u16, words: &str) -> String {
    let actual = response.status().as_u16();
    let page = response.text().await.unwrap();
    assert_eq!(actual, status, "{page}");
    assert!(page.contains(words), "expected {words:?} in: {page}");
    page
}

/// The code in an answer that sends the browser back to the client.
async fn code_from(answer: reqwest::Response) -> String {
    let status = answer.status();
    if !status.is_redirection() {
        let page = answer.text().await.unwrap();
        panic!("not sent back to the client ({status}): {page}");
    }
    assert!(location(&answer).starts_with(REDIRECT_URI));
    let params = location_params(&answer);
    params
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code: {params:?}"))
}

/// The login page of a new authorization request in `browser`.
async fn login_page(browser: &Browser, client: &TestClient, extra: &[(&str, &str)]) -> String {
    let answer = browser
        .get(&code_request_url_at(
            &browser.issuer,
            client,
            "openid",
            extra,
        ))
        .await;
    assert_page(answer, 200, LOGIN_FORM).await
}

/// Types `username` and `password` on the login page of a new authorization request.
async fn sign_in(
    browser: &Browser,
    client: &TestClient,
    extra: &[(&str, &str)],
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = login_page(browser, client, extra).await;
    browser
        .submit(
            &page,
            "login",
            &[("username", username), ("password", password)],
        )
        .await
}

/// The page that answers a sign-in (see `sign_in`).
async fn sign_in_page(
    browser: &Browser,
    client: &TestClient,
    extra: &[(&str, &str)],
    username: &str,
    password: &str,
) -> String {
    sign_in(browser, client, extra, username, password)
        .await
        .text()
        .await
        .unwrap()
}

/// The `Set-Cookie` line of an answer for the cookie `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&prefix))
        .map(str::to_owned)
}

/// The Max-Age of a `Set-Cookie` line.
fn max_age(line: &str) -> i64 {
    line.split(';')
        .filter_map(|attribute| attribute.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("max-age"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no Max-Age: {line}"))
}

/// The value of a `Set-Cookie` line.
fn cookie_value(line: &str) -> &str {
    line.split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value)
        .unwrap_or_default()
}

/// `value` with one character (in the middle) changed.
fn tampered(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Asserts that userinfo refuses an access token as invalid.
async fn assert_userinfo_refuses(app: &TestApp, access_token: &str) {
    let response = app.userinfo(access_token).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

/// Disables `user` through the admin API.
async fn disable(admin: &Admin<'_>, user: &TestUser) {
    let (status, body) = admin
        .post(&format!("/admin/users/{}/disable", user.sub), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled"], true);
}

// ---------------------------------------------------------------------------------------
// Login guesses sent in parallel.

/// How many wrong passwords are sent at once.
const GUESSES: usize = 48;

/// Sends `GUESSES` wrong passwords for `user` at once, each from a browser of its own that
/// already holds a login page, the browsers spread over `apps`; returns the answering pages.
async fn guess_at_once(apps: &[&TestApp], client: &TestClient, user: &TestUser) -> Vec<String> {
    let mut ready = Vec::with_capacity(GUESSES);
    for n in 0..GUESSES {
        let browser = Browser::new(apps[n % apps.len()]);
        let page = login_page(&browser, client, &[]).await;
        ready.push((browser, page));
    }
    let guesses: Vec<_> = ready
        .into_iter()
        .enumerate()
        .map(|(n, (browser, page))| {
            let username = user.username.clone();
            tokio::spawn(async move {
                let password = format!("wrong-guess-{n}");
                let answer = browser
                    .submit(
                        &page,
                        "login",
                        &[("username", &username), ("password", &password)],
                    )
                    .await;
                answer.text().await.unwrap()
            })
        })
        .collect();
    let mut pages = Vec::with_capacity(GUESSES);
    for guess in guesses {
        pages.push(guess.await.unwrap());
    }
    pages
}

/// At most the account's five answers say the password was wrong; every other says to wait.
fn assert_no_more_tries_than_the_limit(pages: &[String]) {
    let wrong = pages.iter().filter(|page| page.contains(WRONG)).count();
    assert!(
        (1..=5).contains(&wrong),
        "{wrong} of {} guesses were checked",
        pages.len()
    );
    for page in pages.iter().filter(|page| !page.contains(WRONG)) {
        assert!(page.contains(TOO_MANY), "{page}");
    }
}

/// Wrong passwords sent all at once get no more checks than the account's limit; the rest
/// are refused, and so is the right password after them.
async fn wrong_passwords_sent_at_once_get_no_more_tries_than_the_limit(backend: Backend) {
    let app = spawn_fixed(backend, login_limits).await;
    let client = app.register_client().await;
    let user = app.create_user().await;

    let pages = guess_at_once(&[&app], &client, &user).await;

    assert_no_more_tries_than_the_limit(&pages);
    let page = sign_in_page(
        &Browser::new(&app),
        &client,
        &[],
        &user.username,
        &user.password,
    )
    .await;
    assert!(page.contains(TOO_MANY), "the right password: {page}");
}

/// The same limit holds when the guesses are split between two instances on one database.
async fn wrong_passwords_sent_at_once_to_two_instances_get_no_more_tries_than_the_limit(
    backend: Backend,
) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    login_limits(&mut config);
    let (a, clock) = env.spawn_on_fixed_clock(config.clone()).await;
    let b = env.spawn_config(config, clock).await;
    let client = a.register_client().await;
    let user = a.create_user().await;

    let pages = guess_at_once(&[&a, &b], &client, &user).await;

    assert_no_more_tries_than_the_limit(&pages);
    for app in [&a, &b] {
        let page = sign_in_page(
            &Browser::new(app),
            &client,
            &[],
            &user.username,
            &user.password,
        )
        .await;
        assert!(page.contains(TOO_MANY), "{}: {page}", app.address);
    }
}

// ---------------------------------------------------------------------------------------
// Device cookies.

/// A browser that signed in to an account before (it holds the account's device cookie)
/// still gets in while guesses from elsewhere have locked the account; a browser without
/// the cookie, or with a tampered copy, does not; and the cookie has a failure limit of its
/// own.
async fn a_browser_that_signed_in_before_gets_in_while_the_account_is_locked(backend: Backend) {
    let app = spawn_fixed(backend, |config| {
        login_limits(config);
        trust_the_local_proxy(config);
    })
    .await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let owner = browser_from(&app, "198.51.100.1", Arc::default());

    // The owner signs in; the answer marks the browser with a device cookie.
    let signed_in = sign_in(&owner, &client, &[], &user.username, &user.password).await;
    let cookie = set_cookie(&signed_in, DEVICE_COOKIE).expect("a device cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.split(';').any(|a| a.trim() == attribute),
            "{attribute}: {cookie}"
        );
    }
    let age = max_age(&cookie);
    assert!(
        (179 * DAY..=181 * DAY).contains(&age),
        "about 180 days: {cookie}"
    );
    let consent = assert_page(signed_in, 200, CONSENT_FORM).await;
    code_from(owner.consent(&consent, "allow").await).await;

    // Someone else guesses: from the sixth guess on the account is locked, even to the right
    // password.
    let attacker = browser_from(&app, "203.0.113.9", Arc::default());
    for n in 1..=8 {
        let guess = format!("guess-{n}");
        let page = sign_in_page(&attacker, &client, &[], &user.username, &guess).await;
        let expected = if n <= 5 { WRONG } else { TOO_MANY };
        assert!(page.contains(expected), "guess {n}: {page}");
    }
    let page = sign_in_page(&attacker, &client, &[], &user.username, &user.password).await;
    assert!(page.contains(TOO_MANY), "{page}");

    // So is a browser that never signed in, and a tampered copy of the cookie does not help.
    let jar = Arc::new(Jar::default());
    let stranger = browser_from(&app, "192.0.2.4", jar.clone());
    let page = sign_in_page(&stranger, &client, &[], &user.username, &user.password).await;
    assert!(page.contains(TOO_MANY), "{page}");
    let forged = format!(
        "{DEVICE_COOKIE}={}; Path=/",
        tampered(cookie_value(&cookie))
    );
    jar.add_cookie_str(&forged, &url::Url::parse(&app.address).unwrap());
    let page = sign_in_page(&stranger, &client, &[], &user.username, &user.password).await;
    assert!(page.contains(TOO_MANY), "a tampered device cookie: {page}");

    // The owner's browser gets in.
    let again = sign_in(
        &owner,
        &client,
        &[("prompt", "login")],
        &user.username,
        &user.password,
    )
    .await;
    code_from(again).await;

    // Its own five mistakes use up its trust; then it is refused like any other browser.
    for n in 1..=5 {
        let typo = format!("typo-{n}");
        let page = sign_in_page(
            &owner,
            &client,
            &[("prompt", "login")],
            &user.username,
            &typo,
        )
        .await;
        assert!(page.contains(WRONG), "the owner's mistake {n}: {page}");
    }
    let page = sign_in_page(
        &owner,
        &client,
        &[("prompt", "login")],
        &user.username,
        &user.password,
    )
    .await;
    assert!(page.contains(TOO_MANY), "{page}");
}

// ---------------------------------------------------------------------------------------
// One username, whatever its case.

const PASSWORD: &str = "wonderland-1865";

/// Creates a user named `username` (password `PASSWORD`) through the admin API; its id.
async fn create_user_named(admin: &Admin<'_>, username: &str) -> String {
    let (status, body) = admin
        .post(
            "/admin/users",
            json!({"username": username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Signs in typing `username` in a new browser; the `sub` of the ID token.
async fn sub_after_signing_in_as(app: &TestApp, client: &TestClient, username: &str) -> String {
    let typed = TestUser {
        username: username.to_owned(),
        password: PASSWORD.to_owned(),
        sub: String::new(),
    };
    let url = app.code_request_url(client, "openid", &[]);
    let code = code_from(Browser::new(app).authorize(&url, &typed).await).await;
    let tokens: Value = app
        .exchange(client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    jwt_claims(tokens["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A username is one account whatever its case: `Alice` signs in as `alice` or `ALICE`, no
/// `ALICE` can be created beside her, `Åsa` signs in as `åsa`, and failures typed either way
/// share one count.
async fn a_username_is_one_account_whatever_its_case(backend: Backend) {
    let app = spawn_fixed(backend, login_limits).await;
    let admin = Admin::new(&app).await;
    let client = app.register_client().await;
    let alice = create_user_named(&admin, "Alice").await;

    for typed in ["alice", "ALICE", "Alice"] {
        let sub = sub_after_signing_in_as(&app, &client, typed).await;
        assert_eq!(sub, alice, "typed as {typed}");
    }
    for taken in ["ALICE", "alice"] {
        let (status, body) = admin
            .post(
                "/admin/users",
                json!({"username": taken, "password": "another-password-1"}),
            )
            .await;
        assert_eq!(status, 409, "{taken}: {body}");
        assert_eq!(body["error"], "conflict", "{taken}: {body}");
    }
    let asa = create_user_named(&admin, "Åsa").await;
    assert_eq!(sub_after_signing_in_as(&app, &client, "åsa").await, asa);

    // Three wrong passwords typed as `ALICE`, then three as `alice`: the sixth is refused.
    let browser = Browser::new(&app);
    let typings = ["ALICE", "ALICE", "ALICE", "alice", "alice", "alice"];
    for (n, typed) in typings.into_iter().enumerate() {
        let page = sign_in_page(&browser, &client, &[], typed, &format!("wrong-{n}")).await;
        let expected = if n < 5 { WRONG } else { TOO_MANY };
        assert!(
            page.contains(expected),
            "attempt {} as {typed}: {page}",
            n + 1
        );
    }
}

// ---------------------------------------------------------------------------------------
// Device code guessing.

const NOT_A_CODE: &str = "That code is not valid";
const TOO_MANY_CODES: &str = "Too many wrong codes";
/// The letters of user codes.
const CODE_LETTERS: &str = "BCDFGHJKLMNPQRSTVWXZ";

/// Three wrong user codes per browser session, a hundred per address.
fn device_guess_limits(config: &mut Config) {
    config.device.guesses_per_session = 3;
    config.device.guesses_per_ip = 100;
}

/// A device asks to be connected (scope openid): its (user code, device code).
async fn start_device(app: &TestApp, client: &TestClient) -> (String, String) {
    let body = start(app, client, "openid").await;
    (
        body["user_code"].as_str().unwrap().to_owned(),
        body["device_code"].as_str().unwrap().to_owned(),
    )
}

/// A well-formed user code that is not `real`: eight times the `n`th letter.
fn wrong_code(real: &str, n: usize) -> String {
    let letter = CODE_LETTERS.chars().cycle().nth(n).unwrap();
    let half = letter.to_string().repeat(4);
    let code = format!("{half}-{half}");
    assert_ne!(code, real);
    code
}

/// The /device entry page.
async fn device_entry(browser: &Browser) -> String {
    let response = browser.get(&format!("{}/device", browser.issuer)).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn send_device_form(browser: &Browser, form: &[(String, String)]) -> reqwest::Response {
    browser
        .http
        .post(format!("{}/device", browser.issuer))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Posts a /device form of the page's CSRF token and `fields`, and nothing else.
async fn post_device(browser: &Browser, page: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = input_value(page, "csrf_token").expect("the page has a CSRF token");
    let mut form = vec![("csrf_token".to_owned(), csrf)];
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    send_device_form(browser, &form).await
}

/// Submits the page's form for `step`: its hidden fields as the page has them, plus `fields`.
async fn submit_device(
    browser: &Browser,
    page: &str,
    step: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = hidden_fields(page, step);
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    send_device_form(browser, &form).await
}

/// Every `<input type="hidden">` (name and decoded value) of the page's form for `step`,
/// the `step` field included.
fn hidden_fields(page: &str, step: &str) -> Vec<(String, String)> {
    let marker = format!("name=\"step\" value=\"{step}\"");
    let form = page
        .split("<form")
        .find(|form| form.contains(&marker))
        .unwrap_or_else(|| panic!("no form for the step {step}: {page}"));
    let form = form.split("</form>").next().unwrap_or(form);
    form.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = rest.split('>').next()?;
            if !tag.contains("type=\"hidden\"") {
                return None;
            }
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect()
}

/// The decoded value of the attribute `name` in the inside of a tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = start + tag.get(start..)?.find('"')?;
    Some(
        tag.get(start..end)?
            .replace("&#x2f;", "/")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The person at `browser` types `user_code`, signs in as `user` and allows the device,
/// sending back each page's hidden fields as they are.
async fn approve_device(browser: &Browser, user_code: &str, user: &TestUser) {
    let entry = device_entry(browser).await;
    let login = submit_device(browser, &entry, "code", &[("user_code", user_code)]).await;
    let login = assert_page(login, 200, LOGIN_FORM).await;
    let confirm = submit_device(
        browser,
        &login,
        "login",
        &[("username", &user.username), ("password", &user.password)],
    )
    .await;
    let confirm = assert_page(confirm, 200, user_code).await;
    let done = submit_device(browser, &confirm, "decide", &[("decision", "approve")]).await;
    assert_page(done, 200, "Device connected").await;
}

/// Past the per-session limit of wrong user codes, every step of /device is refused: no more
/// codes are checked, nobody signs in, and no code is approved.
async fn past_the_wrong_code_limit_no_device_step_goes_through(backend: Backend) {
    let app = spawn_fixed(backend, device_guess_limits).await;
    let device = device_client(&app).await;
    let (victim_code, device_code) = start_device(&app, &device).await;
    let client = app.register_client().await;
    let attacker = app.create_user().await;
    let browser = Browser::new(&app);
    let entry = device_entry(&browser).await;

    for n in 0..3 {
        let code = wrong_code(&victim_code, n);
        let answer = post_device(&browser, &entry, &[("step", "code"), ("user_code", &code)]).await;
        assert_page(answer, 400, NOT_A_CODE).await;
    }
    let code = wrong_code(&victim_code, 3);
    let fourth = post_device(&browser, &entry, &[("step", "code"), ("user_code", &code)]).await;
    assert_page(fourth, 429, TOO_MANY_CODES).await;

    // The later steps are no way around the limit.
    let code = wrong_code(&victim_code, 4);
    let login = post_device(
        &browser,
        &entry,
        &[
            ("step", "login"),
            ("user_code", &code),
            ("username", &attacker.username),
            ("password", &attacker.password),
        ],
    )
    .await;
    assert_page(login, 429, TOO_MANY_CODES).await;
    let code = wrong_code(&victim_code, 5);
    for typed in [code.as_str(), victim_code.as_str()] {
        let decide = post_device(
            &browser,
            &entry,
            &[
                ("step", "decide"),
                ("user_code", typed),
                ("decision", "approve"),
            ],
        )
        .await;
        assert_page(decide, 429, TOO_MANY_CODES).await;
    }

    assert_oauth_error(
        poll(&app, &device, &device_code).await,
        400,
        "authorization_pending",
    )
    .await;
    // The refused login signed nobody in.
    login_page(&browser, &client, &[]).await;
}

/// A user code is approved only in the browser session that entered it: someone signed in
/// to their own account who posts another's code straight to the decision is refused, while
/// the person who typed the code goes through every step.
async fn a_device_code_is_approved_only_in_the_session_that_entered_it(backend: Backend) {
    let app = spawn_fixed(backend, device_guess_limits).await;
    let device = device_client(&app).await;
    let (victim_code, device_code) = start_device(&app, &device).await;
    let client = app.register_client().await;
    let attacker = app.create_user().await;
    let browser = Browser::new(&app);
    let url = app.code_request_url(&client, "openid", &[]);
    code_from(browser.authorize(&url, &attacker).await).await;

    let entry = device_entry(&browser).await;
    let forged = post_device(
        &browser,
        &entry,
        &[
            ("step", "decide"),
            ("user_code", &victim_code),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(forged.status(), 400);
    let page = forged.text().await.unwrap();
    assert!(!page.contains("Device connected"), "{page}");
    assert_oauth_error(
        poll(&app, &device, &device_code).await,
        400,
        "authorization_pending",
    )
    .await;

    let victim = app.create_user().await;
    approve_device(&Browser::new(&app), &victim_code, &victim).await;
    app.state.clock.advance(5);
    let response = poll(&app, &device, &device_code).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        victim.sub
    );
}

// ---------------------------------------------------------------------------------------
// Disabled users and password changes.

/// Disabling a user ends what was issued to them: a code not yet exchanged, the refresh
/// token and the access token.
async fn disabling_a_user_ends_their_codes_and_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = Admin::new(&app).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;
    let code = app.code_for(&client, &user, "openid", &[]).await;

    disable(&admin, &user).await;

    assert_oauth_error(
        app.exchange(&client, &code, None).await,
        400,
        "invalid_grant",
    )
    .await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_oauth_error(app.refresh(&client, refresh).await, 400, "invalid_grant").await;
    assert_eq!(
        introspect(&app, &client, access).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &client, refresh).await,
        json!({"active": false})
    );
    assert_userinfo_refuses(&app, access).await;
}

/// A device code the user approved yields no tokens once the user is disabled.
async fn disabling_a_user_ends_an_approved_device_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = Admin::new(&app).await;
    let device = device_client(&app).await;
    let user = app.create_user().await;
    let (user_code, device_code) = start_device(&app, &device).await;
    approve_device(&Browser::new(&app), &user_code, &user).await;

    disable(&admin, &user).await;

    assert_oauth_error(
        poll(&app, &device, &device_code).await,
        400,
        "invalid_grant",
    )
    .await;
}

/// A user signs in (a browser session, and tokens with a refresh token from another
/// browser), then the admin API changes their password: the session is over. Returns the
/// client and the tokens.
async fn sign_in_then_change_the_password(app: &TestApp) -> (TestClient, Value) {
    let admin = Admin::new(app).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;
    let browser = Browser::new(app);
    let url = app.code_request_url(&client, "openid", &[]);
    code_from(browser.authorize(&url, &user).await).await;
    // Signed in: the next request goes straight back with a code.
    code_from(browser.get(&url).await).await;

    let (status, body) = admin
        .put(
            &format!("/admin/users/{}/password", user.sub),
            json!({"password": "a-brand-new-password-1"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    login_page(&browser, &client, &[]).await;
    (client, tokens)
}

/// A password change ends the user's browser sessions and, by default, their grants.
async fn a_password_change_signs_the_user_out_and_revokes_their_grants(backend: Backend) {
    assert!(
        Config::default().login.password_change_revokes_grants,
        "revoking is the default"
    );
    let app = TestApp::spawn(backend).await;

    let (client, tokens) = sign_in_then_change_the_password(&app).await;

    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_oauth_error(app.refresh(&client, refresh).await, 400, "invalid_grant").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(&app, &client, access).await,
        json!({"active": false})
    );
}

/// With `password_change_revokes_grants = false`, a password change still ends the browser
/// sessions but leaves the grants alone.
async fn a_password_change_may_leave_the_grants_alone(backend: Backend) {
    let app = spawn_fixed(backend, |config| {
        config.login.password_change_revokes_grants = false;
    })
    .await;

    let (client, tokens) = sign_in_then_change_the_password(&app).await;

    let refreshed = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), 200);
    let body: Value = refreshed.json().await.unwrap();
    assert!(body["access_token"].is_string(), "{body}");
}

// ---------------------------------------------------------------------------------------
// Anonymous state.

/// Sign-in pages for browsers nobody signed in to are bounded per address: past the limit
/// that address gets a 429 page, while other addresses and signed-in browsers go on. An
/// anonymous session's cookie lives no longer than a sign-in request.
async fn sign_in_pages_for_anonymous_browsers_are_bounded_per_address(backend: Backend) {
    let app = spawn_fixed(backend, |config| {
        trust_the_local_proxy(config);
        config.login.pending_requests_per_ip = 5;
    })
    .await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let url = app.code_request_url(&client, "openid", &[]);
    let lifetimes = &app.state.config.lifetimes;
    let request_lifetime = lifetimes.authorization_request.as_i64();
    let session_lifetime = lifetimes.session.as_i64();

    // Someone at 203.0.113.50 signs in: the anonymous cookie lasts as long as the request,
    // the signed-in one as long as a session.
    let member = browser_from(&app, "203.0.113.50", Arc::default());
    let first = member.get(&url).await;
    let anonymous = set_cookie(&first, SESSION_COOKIE).expect("an anonymous session cookie");
    let age = max_age(&anonymous);
    assert!((1..=request_lifetime).contains(&age), "{anonymous}");
    let page = assert_page(first, 200, LOGIN_FORM).await;
    let login = member.login(&page, &user).await;
    let session = set_cookie(&login, SESSION_COOKIE).expect("a signed-in session cookie");
    assert_eq!(max_age(&session), session_lifetime, "{session}");
    let consent = assert_page(login, 200, CONSENT_FORM).await;
    code_from(member.consent(&consent, "allow").await).await;

    // Five anonymous browsers from the same address, then no more.
    for _ in 0..5 {
        let answer = browser_from(&app, "203.0.113.50", Arc::default())
            .get(&url)
            .await;
        assert_page(answer, 200, LOGIN_FORM).await;
    }
    let refused = browser_from(&app, "203.0.113.50", Arc::default())
        .get(&url)
        .await;
    assert!(refused.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        set_cookie(&refused, SESSION_COOKIE).is_none(),
        "a refused browser gets no session"
    );
    assert_page(refused, 429, "Too many").await;

    // Another address, and the signed-in browser, go on.
    let elsewhere = browser_from(&app, "198.51.100.60", Arc::default())
        .get(&url)
        .await;
    assert_page(elsewhere, 200, LOGIN_FORM).await;
    code_from(member.get(&url).await).await;
}

// ---------------------------------------------------------------------------------------
// Smaller rules.

/// A session unused for longer than the idle lifetime ends, however recently it began; each
/// use keeps it alive.
async fn a_session_unused_for_the_idle_lifetime_ends(backend: Backend) {
    let app = spawn_fixed(backend, |config| {
        config.lifetimes.session_idle = Seconds(600);
    })
    .await;
    let clock = app.state.clock.clone();
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let url = app.code_request_url(&client, "openid", &[]);
    code_from(browser.authorize(&url, &user).await).await;

    clock.advance(500);
    code_from(browser.get(&url).await).await;
    clock.advance(500); // 1000 s after signing in, 500 s after the last use
    code_from(browser.get(&url).await).await;
    clock.advance(601);
    login_page(&browser, &client, &[]).await;
}

/// The API documentation page cannot be framed.
async fn the_docs_page_cannot_be_framed(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = http_client().get(app.url("/docs")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let headers = response.headers();
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp:?}");
    assert_eq!(
        headers.get("x-frame-options").and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
}

/// Rotates a client's secret through the admin API (`query` added to the path); the new
/// secret.
async fn rotate_secret(admin: &Admin<'_>, client_id: &str, query: &str) -> String {
    let (status, body) = admin
        .post(
            &format!("/admin/clients/{client_id}/secret{query}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["client_secret"].as_str().unwrap().to_owned()
}

/// Whether client credentials with `secret` get a token (200); otherwise asserts 401
/// invalid_client.
async fn secret_works(app: &TestApp, client_id: &str, secret: &str) -> bool {
    let response = app
        .token(
            &[("grant_type", "client_credentials")],
            Some((client_id, secret)),
        )
        .await;
    if response.status() == 200 {
        let body: Value = response.json().await.unwrap();
        assert!(body["access_token"].is_string(), "{body}");
        true
    } else {
        assert_oauth_error(response, 401, "invalid_client").await;
        false
    }
}

/// A replaced client secret keeps working for the overlap the rotation asks (at most 30
/// days), and no longer; without one it stops at once.
async fn a_replaced_client_secret_works_for_the_overlap_asked_and_no_longer(backend: Backend) {
    let app = spawn_fixed(backend, |_| {}).await;
    let clock = app.state.clock.clone();
    let admin = Admin::new(&app).await;
    let service = app.register_machine_client().await;
    let id = service.id.as_str();
    let first = service.secret.clone().unwrap();

    let second = rotate_secret(&admin, id, "?old_secret_valid_for=600").await;
    assert_ne!(second, first);
    assert!(secret_works(&app, id, &first).await, "inside the overlap");
    assert!(secret_works(&app, id, &second).await);
    clock.advance(601);
    assert!(!secret_works(&app, id, &first).await, "after the overlap");
    assert!(secret_works(&app, id, &second).await);

    let third = rotate_secret(&admin, id, "").await;
    assert!(!secret_works(&app, id, &second).await, "no overlap asked");
    assert!(secret_works(&app, id, &third).await);

    let (status, body) = admin
        .post(
            &format!("/admin/clients/{id}/secret?old_secret_valid_for=2592001"),
            json!({}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        secret_works(&app, id, &third).await,
        "a refused rotation changes nothing"
    );
}

/// A rotation with `revoke_tokens=true` ends every token the client got before.
async fn rotating_a_secret_with_revoke_tokens_ends_the_clients_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = Admin::new(&app).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;

    let secret = rotate_secret(&admin, &client.id, "?revoke_tokens=true").await;

    let client = TestClient {
        id: client.id,
        secret: Some(secret),
    };
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_oauth_error(app.refresh(&client, refresh).await, 400, "invalid_grant").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(&app, &client, access).await,
        json!({"active": false})
    );
}
