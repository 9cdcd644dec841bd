//! Pushed authorization requests (RFC 9126) and request objects (RFC 9101): a request pushed
//! by the client and named by a `request_uri` that works once; a request signed with the
//! client's keys or secret, whose parameters are the only ones used; the per-client and
//! server-wide rules that require either; and every refusal on the way.

use base64::Engine as _;
use oidcd::oauth::registration::{ClientRegistration, SecretChoice};
use serde_json::{json, Value};

use crate::client_assertions::{self, jwks, now, signed_with_secret, ClientKey, ASSERTION_TYPE};
use crate::helpers::{
    assert_oauth_error, assert_refused, http_client, jwt_claims, location_params, pkce_pair,
    Backend, Browser, TestApp, TestClient, TestEnv, REDIRECT_URI,
};
use crate::on_both_databases;

on_both_databases!(
    a_pushed_request_is_used_once_at_the_authorization_endpoint,
    pushes_are_validated_and_refused_as_json,
    a_pushed_request_expires,
    a_client_that_must_push_is_refused_at_the_front_door,
    a_request_object_signed_with_the_clients_key_is_the_request,
    request_objects_that_prove_nothing_are_refused,
    a_signed_request_can_be_pushed_and_signed_with_a_secret,
    a_client_that_must_sign_is_refused_unsigned_requests,
    both_are_refused_and_unadvertised_when_their_settings_are_off,
);

const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters of a code flow request for `REDIRECT_URI`.
fn code_request<'a>(state: &'a str, nonce: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid email"),
        ("state", state),
        ("nonce", nonce),
    ]
}

/// POSTs `form` to the pushed authorization request endpoint, with Basic when given.
async fn push(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<&TestClient>,
) -> reqwest::Response {
    let mut request = http_client().post(app.url("/oauth/par")).form(form);
    if let Some(client) = basic {
        request = request.basic_auth(&client.id, client.secret.as_deref());
    }
    request.send().await.unwrap()
}

/// Pushes `form` for a client_secret_basic client, which must succeed: the `request_uri`.
async fn pushed(app: &TestApp, client: &TestClient, form: &[(&str, &str)]) -> String {
    let response = push(app, form, Some(client)).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    body["request_uri"].as_str().unwrap().to_owned()
}

/// The error page an authorization request gets: its status and the error code shown.
async fn refused_page(app: &TestApp, url: &str, code: &str) -> String {
    let response = Browser::new(app).get(url).await;
    assert_eq!(response.status(), 400, "{url}");
    let page = response.text().await.unwrap();
    assert!(page.contains(code), "{code} in {page}");
    page
}

/// The error the client hears at its redirect URI.
async fn redirected_error(app: &TestApp, url: &str) -> std::collections::HashMap<String, String> {
    let response = Browser::new(app).get(url).await;
    assert!(response.status().is_redirection(), "{}", response.status());
    location_params(&response)
}

/// Exchanges a code for a private_key_jwt client.
async fn exchange_with_key(
    app: &TestApp,
    key: &ClientKey,
    client_id: &str,
    code: &str,
) -> reqwest::Response {
    let assertion = key.sign(&client_assertions::claims(
        client_id,
        &app.url("/oauth/token"),
    ));
    http_client()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap()
}

/// Pushes `form` for a private_key_jwt client, authenticated with a fresh assertion by `key`.
async fn push_as(
    app: &TestApp,
    key: &ClientKey,
    client_id: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let assertion = key.sign(&client_assertions::claims(
        client_id,
        &app.url("/oauth/par"),
    ));
    let mut form = form.to_vec();
    form.extend([
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ]);
    http_client()
        .post(app.url("/oauth/par"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// A request object's claims for a code flow request, with `extra` merged over them.
fn request_claims(app: &TestApp, client_id: &str, extra: Value) -> Value {
    let now = now();
    let mut claims = json!({
        "iss": client_id,
        "aud": app.address,
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email",
        "state": "inner-state",
        "nonce": "inner-nonce",
        "max_age": 3600,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

/// A private_key_jwt client of the code flow with `key`, and the `rules` it is held to.
async fn key_client(app: &TestApp, key: &ClientKey, push: bool, sign: bool) -> TestClient {
    app.register_client_with(ClientRegistration {
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(jwks(&[key]).to_string()),
        require_pushed_authorization_requests: push,
        require_signed_request_object: sign,
        ..Default::default()
    })
    .await
}

async fn a_pushed_request_is_used_once_at_the_authorization_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let other = app.register_client().await;
    let user = app.create_user().await;
    let request_uri = pushed(&app, &client, &code_request("s-1", "n-1")).await;
    assert!(request_uri.starts_with(REQUEST_URI_PREFIX), "{request_uri}");

    // Another client cannot use it, nor spend it for the client that pushed it.
    let theirs = app.authorize_url(&[("client_id", &other.id), ("request_uri", &request_uri)]);
    refused_page(&app, &theirs, "invalid_request_uri").await;

    // Parameters sent beside the request_uri change nothing (RFC 9126 4).
    let url = app.authorize_url(&[
        ("client_id", &client.id),
        ("request_uri", &request_uri),
        ("state", "outer"),
        ("redirect_uri", "https://attacker.example/cb"),
    ]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    let back = location_params(&done);
    assert!(crate::helpers::location(&done).starts_with(REDIRECT_URI));
    assert_eq!(back["state"], "s-1");
    let response = app.exchange(&client, &back["code"], None).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["email"].as_str(), None, "email is for userinfo");

    // It was used: a second use (a replay, a reload) is refused.
    refused_page(&app, &url, "invalid_request_uri").await;
    // Unknown, and not one of ours.
    let unknown = app.authorize_url(&[
        ("client_id", &client.id),
        ("request_uri", &format!("{REQUEST_URI_PREFIX}nothing")),
    ]);
    refused_page(&app, &unknown, "invalid_request_uri").await;
    let elsewhere = app.authorize_url(&[
        ("client_id", &client.id),
        ("request_uri", "https://app.example.com/request.jwt"),
    ]);
    refused_page(&app, &elsewhere, "request_uri_not_supported").await;

    // A public client pushes with its client_id and PKCE.
    let public = app.register_public_client().await;
    let (verifier, challenge) = pkce_pair();
    let mut form = code_request("s-2", "n-2");
    form.extend([
        ("client_id", public.id.as_str()),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let response = push(&app, &form, None).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let url = app.authorize_url(&[
        ("client_id", &public.id),
        ("request_uri", body["request_uri"].as_str().unwrap()),
    ]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    let code = location_params(&done)["code"].clone();
    let response = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", &public.id),
                ("code_verifier", &verifier),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), 200);

    // Discovery names the endpoint; request_uri by reference stays unsupported.
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        app.url("/oauth/par")
    );
    assert!(discovery
        .get("require_pushed_authorization_requests")
        .is_none());
    assert_eq!(discovery["request_uri_parameter_supported"], false);
}

async fn pushes_are_validated_and_refused_as_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let request = code_request("s", "n");

    // Client authentication as at the token endpoint.
    let wrong = TestClient {
        id: client.id.clone(),
        secret: Some("not-the-secret".into()),
    };
    assert_oauth_error(
        push(&app, &request, Some(&wrong)).await,
        401,
        "invalid_client",
    )
    .await;
    let confidential_without_secret =
        [request.clone(), vec![("client_id", client.id.as_str())]].concat();
    assert_oauth_error(
        push(&app, &confidential_without_secret, None).await,
        401,
        "invalid_client",
    )
    .await;

    // The authorization endpoint's rules, answered as JSON (400).
    let cases: Vec<(Vec<(&str, &str)>, &str, &str)> = vec![
        (
            vec![("redirect_uri", "https://attacker.example/cb")],
            "invalid_request",
            "not registered",
        ),
        (vec![("scope", "openid admin")], "invalid_scope", "admin"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
            "token",
        ),
        (
            vec![("request_uri", "urn:ietf:params:oauth:request_uri:x")],
            "invalid_request",
            "request_uri",
        ),
        (
            vec![("state", "a"), ("state", "b")],
            "invalid_request",
            "more than once",
        ),
        (vec![("prompt", "sometimes")], "invalid_request", "prompt"),
    ];
    for (changes, error, says) in cases {
        let mut form: Vec<(&str, &str)> = request
            .iter()
            .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
            .copied()
            .collect();
        form.extend(changes.iter().copied());
        assert_refused(push(&app, &form, Some(&client)).await, 400, error, says).await;
    }

    // A client_id beside Basic that names another client: which one is asking is unclear.
    let form = [request.clone(), vec![("client_id", "someone-else")]].concat();
    assert_oauth_error(
        push(&app, &form, Some(&client)).await,
        401,
        "invalid_client",
    )
    .await;

    // A public client must still use PKCE.
    let public = app.register_public_client().await;
    let form = [request.clone(), vec![("client_id", public.id.as_str())]].concat();
    assert_refused(
        push(&app, &form, None).await,
        400,
        "invalid_request",
        "PKCE",
    )
    .await;

    // Not a form: refused like every form endpoint.
    let response = http_client()
        .post(app.url("/oauth/par"))
        .basic_auth(&client.id, client.secret.as_deref())
        .json(&json!({"response_type": "code"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}

async fn a_pushed_request_expires(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let fresh = pushed(&app, &client, &code_request("s", "n")).await;
    let stale = pushed(&app, &client, &code_request("s", "n")).await;
    clock.advance(59);
    let url = app.authorize_url(&[("client_id", &client.id), ("request_uri", &fresh)]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    assert!(location_params(&done).contains_key("code"));
    clock.advance(1);
    let url = app.authorize_url(&[("client_id", &client.id), ("request_uri", &stale)]);
    refused_page(&app, &url, "invalid_request_uri").await;
}

async fn a_client_that_must_push_is_refused_at_the_front_door(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .register_client_with(ClientRegistration {
            require_pushed_authorization_requests: true,
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let url = app.code_request_url(&client, "openid", &[]);
    let back = redirected_error(&app, &url).await;
    assert_eq!(back["error"], "invalid_request");
    assert!(back["error_description"].contains("push"), "{back:?}");

    let request_uri = pushed(&app, &client, &code_request("s", "n")).await;
    let url = app.authorize_url(&[("client_id", &client.id), ("request_uri", &request_uri)]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    assert!(location_params(&done).contains_key("code"));

    // The admin API shows and changes the rule.
    let admin = crate::admin::admin_token(&app).await;
    let view: Value = http_client()
        .get(app.url(&format!("/admin/clients/{}", client.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["require_pushed_authorization_requests"], true);
    let response = http_client()
        .patch(app.url(&format!("/admin/clients/{}", client.id)))
        .bearer_auth(&admin)
        .json(&json!({"require_pushed_authorization_requests": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let url = app.code_request_url(&client, "openid", &[]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    assert!(location_params(&done).contains_key("code"));

    // Server-wide: every client, and discovery says so.
    let app = TestEnv::new(backend)
        .await
        .spawn_with(|c| c.authorize.require_par = true)
        .await;
    let client = app.register_client().await;
    let back = redirected_error(&app, &app.code_request_url(&client, "openid", &[])).await;
    assert_eq!(back["error"], "invalid_request");
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["require_pushed_authorization_requests"], true);
}

async fn a_request_object_signed_with_the_clients_key_is_the_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = ClientKey::ec("rp-1");
    let client = key_client(&app, &key, false, false).await;
    let user = app.create_user().await;
    let request = key.sign(&request_claims(&app, &client.id, json!({})));
    // What is sent beside the object is ignored, but client_id.
    let url = app.authorize_url(&[
        ("client_id", &client.id),
        ("request", &request),
        ("state", "outer-state"),
        ("scope", "openid profile"),
        ("redirect_uri", "https://attacker.example/cb"),
    ]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    assert!(crate::helpers::location(&done).starts_with(REDIRECT_URI));
    let back = location_params(&done);
    assert_eq!(back["state"], "inner-state");
    let response = exchange_with_key(&app, &key, &client.id, &back["code"]).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["scope"], "openid email");
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["nonce"],
        "inner-nonce"
    );

    // RS256 and PS256 keys too, and the `claims` parameter as a JSON object.
    for key in [ClientKey::rsa("RS256", "r"), ClientKey::rsa("PS256", "p")] {
        let client = key_client(&app, &key, false, false).await;
        let claims = json!({"claims": {"id_token": {"email": {"essential": true}}}});
        let request = key.sign(&request_claims(&app, &client.id, claims));
        let url = app.authorize_url(&[("client_id", &client.id), ("request", &request)]);
        let done = Browser::new(&app).authorize(&url, &user).await;
        let code = location_params(&done)["code"].clone();
        let response = exchange_with_key(&app, &key, &client.id, &code).await;
        assert_eq!(response.status(), 200);
        let tokens: Value = response.json().await.unwrap();
        let id = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["email"], format!("{}@example.com", user.username));
    }

    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["request_parameter_supported"], true);
    assert_eq!(
        discovery["request_object_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "HS256"])
    );
}

/// An unsigned JWT (`alg: none`) with these claims.
fn unsigned(claims: &Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", b64(&json!({"alg": "none"})), b64(claims))
}

async fn request_objects_that_prove_nothing_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = ClientKey::ec("rp-1");
    let client = key_client(&app, &key, false, false).await;
    let intruder = ClientKey::ec("rp-1");
    let good = |extra: Value| request_claims(&app, &client.id, extra);
    let cases: Vec<(String, &str)> = vec![
        (intruder.sign(&good(json!({}))), "signature"),
        (unsigned(&good(json!({}))), "none"),
        (
            key.sign(&good(json!({"aud": "https://elsewhere.example"}))),
            "aud",
        ),
        (key.sign(&good(json!({"iss": "someone"}))), "iss"),
        (
            key.sign(&good(json!({"client_id": "someone"}))),
            "client_id",
        ),
        (key.sign(&good(json!({"exp": now() - 5}))), "expired"),
        (key.sign(&good(json!({"exp": now() + 7200}))), "too far"),
        (key.sign(&good(json!({"nbf": now() + 600}))), "nbf"),
        (
            key.sign(&good(json!({"request_uri": "urn:x"}))),
            "request_uri",
        ),
        (
            signed_with_secret(
                "a-secret-that-is-long-enough-for-hs256",
                "HS256",
                &good(json!({})),
            ),
            "HS256",
        ),
        ("not.a.jwt".to_owned(), "not a signed JWT"),
    ];
    for (request, says) in cases {
        let url = app.authorize_url(&[("client_id", &client.id), ("request", &request)]);
        let page = refused_page(&app, &url, "invalid_request_object").await;
        assert!(page.contains(says), "{says} in {page}");
    }
    // With a registered redirect URI beside it, the client hears about it there, as about
    // any bad request.
    let url = app.authorize_url(&[
        ("client_id", &client.id),
        ("request", &intruder.sign(&good(json!({})))),
        ("redirect_uri", REDIRECT_URI),
        ("state", "outer"),
    ]);
    let back = redirected_error(&app, &url).await;
    assert_eq!(back["error"], "invalid_request_object");
    assert_eq!(back["state"], "outer");
    // Another client's object, sent as this client: its signature is not this client's.
    let other_key = ClientKey::ec("rp-2");
    let other = key_client(&app, &other_key, false, false).await;
    let theirs = other_key.sign(&request_claims(&app, &other.id, json!({})));
    let url = app.authorize_url(&[("client_id", &client.id), ("request", &theirs)]);
    refused_page(&app, &url, "invalid_request_object").await;
    // Both request and request_uri.
    let request = key.sign(&good(json!({})));
    let url = app.authorize_url(&[
        ("client_id", &client.id),
        ("request", &request),
        ("request_uri", &format!("{REQUEST_URI_PREFIX}x")),
    ]);
    refused_page(&app, &url, "invalid_request").await;
    // A client without keys or a secret to sign with.
    let plain = app.register_client().await;
    let request = key.sign(&request_claims(&app, &plain.id, json!({})));
    let url = app.authorize_url(&[("client_id", &plain.id), ("request", &request)]);
    refused_page(&app, &url, "invalid_request_object").await;
    // After all that, a good one still works.
    let user = app.create_user().await;
    let url = app.authorize_url(&[
        ("client_id", &client.id),
        ("request", &key.sign(&good(json!({})))),
    ]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    assert!(location_params(&done).contains_key("code"));
}

async fn a_signed_request_can_be_pushed_and_signed_with_a_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.create_user().await;

    // private_key_jwt, pushing a signed request and authenticating with an assertion.
    let key = ClientKey::rsa("PS256", "rp-1");
    let client = key_client(&app, &key, true, true).await;
    let request = key.sign(&request_claims(&app, &client.id, json!({})));
    let response = push_as(&app, &key, &client.id, &[("request", request.as_str())]).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let url = app.authorize_url(&[
        ("client_id", &client.id),
        ("request_uri", body["request_uri"].as_str().unwrap()),
    ]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    let back = location_params(&done);
    assert_eq!(back["state"], "inner-state");
    let response = exchange_with_key(&app, &key, &client.id, &back["code"]).await;
    assert_eq!(response.status(), 200);
    // The same object sent straight to the authorization endpoint: this client must push.
    let url = app.authorize_url(&[("client_id", &client.id), ("request", &request)]);
    let back = redirected_error(&app, &url).await;
    assert_eq!(back["error"], "invalid_request");
    // A pushed object signed by another key is refused at the push.
    let forged = ClientKey::rsa("PS256", "rp-1").sign(&request_claims(&app, &client.id, json!({})));
    let response = push_as(&app, &key, &client.id, &[("request", forged.as_str())]).await;
    assert_oauth_error(response, 400, "invalid_request_object").await;

    // client_secret_jwt: HS256 with the client's secret.
    let client = app
        .register_client_with(ClientRegistration {
            token_endpoint_auth_method: Some("client_secret_jwt".into()),
            secret: SecretChoice::Generate,
            ..Default::default()
        })
        .await;
    let secret = client.secret.clone().unwrap();
    let request = signed_with_secret(
        &secret,
        "HS256",
        &request_claims(&app, &client.id, json!({})),
    );
    let url = app.authorize_url(&[("client_id", &client.id), ("request", &request)]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    assert_eq!(location_params(&done)["state"], "inner-state");
}

async fn a_client_that_must_sign_is_refused_unsigned_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = ClientKey::ec("rp-1");
    let client = key_client(&app, &key, false, true).await;
    let back = redirected_error(&app, &app.code_request_url(&client, "openid", &[])).await;
    assert_eq!(back["error"], "invalid_request");
    assert!(back["error_description"].contains("signed"), "{back:?}");
    // Nor pushed unsigned.
    let response = push_as(&app, &key, &client.id, &code_request("s", "n")).await;
    assert_oauth_error(response, 400, "invalid_request").await;

    // Registration: only a client that can sign may be held to it.
    let keeper = oidcd::oauth::registration::Keeper {
        hasher: &app.state.secrets,
        kek: app.state.keys.kek(),
        allow_loopback: false,
        fetcher: app.state.client_jwks.fetcher(),
        user_scopes: app.state.claims.user_scopes(),
    };
    let refused = oidcd::oauth::registration::register(
        &app.state.db,
        ClientRegistration {
            name: "x".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            require_signed_request_object: true,
            ..Default::default()
        },
        keeper,
        0,
    )
    .await;
    let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.starts_with("require_signed_request_object:"),
        "{error}"
    );
}

async fn both_are_refused_and_unadvertised_when_their_settings_are_off(backend: Backend) {
    let app = TestEnv::new(backend)
        .await
        .spawn_with(|c| {
            c.authorize.par = false;
            c.authorize.request_objects = false;
        })
        .await;
    let key = ClientKey::ec("rp-1");
    let client = key_client(&app, &key, false, false).await;
    let basic = app.register_client().await;
    assert_refused(
        push(&app, &code_request("s", "n"), Some(&basic)).await,
        400,
        "invalid_request",
        "authorize.par",
    )
    .await;
    let request = key.sign(&request_claims(&app, &client.id, json!({})));
    let url = app.authorize_url(&[("client_id", &client.id), ("request", &request)]);
    refused_page(&app, &url, "request_not_supported").await;
    let url = app.authorize_url(&[
        ("client_id", &client.id),
        ("request_uri", &format!("{REQUEST_URI_PREFIX}x")),
    ]);
    refused_page(&app, &url, "request_uri_not_supported").await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert!(discovery
        .get("pushed_authorization_request_endpoint")
        .is_none());
    assert_eq!(discovery["request_parameter_supported"], false);
    assert!(discovery
        .get("request_object_signing_alg_values_supported")
        .is_none());
}
