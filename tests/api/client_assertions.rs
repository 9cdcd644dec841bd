//! Key-based client authentication (RFC 7523, OIDC Core 9): `private_key_jwt` with keys given
//! inline or fetched from a `jwks_uri`, and `client_secret_jwt`, at the token, introspection,
//! revocation and device authorization endpoints; and every refusal an assertion can earn.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::Jwk;
use josekit::jws::JwsHeader;
use josekit::jwt::JwtPayload;
use oidcd::oauth::registration::ClientRegistration;
use serde_json::{json, Value};

use crate::admin::admin_token;
use crate::helpers::{
    assert_oauth_error, http_client, read_request_head, Backend, TestApp, TestClient, TestEnv,
};
use crate::{on_both_databases, on_postgres};

on_both_databases!(
    private_key_jwt_authenticates_at_every_endpoint,
    each_algorithm_and_key_type_is_accepted,
    an_assertion_is_accepted_once,
    assertions_that_prove_nothing_are_refused,
    client_secret_jwt_signs_with_the_secret,
    keys_come_from_the_jwks_uri_cached_and_fetched_again_for_a_new_kid,
    a_jwks_uri_is_fetched_within_limits,
    registration_refuses_weak_or_private_keys_and_unsafe_urls,
    assertions_are_refused_when_the_setting_is_off,
);

on_postgres!(an_assertion_sent_to_two_instances_at_once_is_accepted_once);

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client's clock: the wall clock, since the test plays a client outside the server.
#[allow(clippy::disallowed_methods)]
pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn fresh_jti() -> String {
    format!("{:032x}", rand_u128())
}

fn rand_u128() -> u128 {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).unwrap();
    u128::from_le_bytes(bytes)
}

/// A client's key pair, the private half staying with the test (the client).
#[derive(Clone)]
pub struct ClientKey {
    pub alg: &'static str,
    pub kid: String,
    private: Jwk,
    pub public: Jwk,
}

impl ClientKey {
    pub fn rsa(alg: &'static str, kid: &str) -> Self {
        Self::rsa_bits(alg, kid, 2048)
    }

    fn rsa_bits(alg: &'static str, kid: &str, bits: u32) -> Self {
        let pair = RsaKeyPair::generate(bits).unwrap();
        Self::from_jwks(
            alg,
            kid,
            pair.to_jwk_private_key(),
            pair.to_jwk_public_key(),
        )
    }

    pub fn ec(kid: &str) -> Self {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        Self::from_jwks(
            "ES256",
            kid,
            pair.to_jwk_private_key(),
            pair.to_jwk_public_key(),
        )
    }

    fn from_jwks(alg: &'static str, kid: &str, mut private: Jwk, mut public: Jwk) -> Self {
        private.set_key_id(kid);
        public.set_key_id(kid);
        Self {
            alg,
            kid: kid.to_owned(),
            private,
            public,
        }
    }

    /// The private key as a JWK with its `kid` and `alg`, as a client keeps it.
    pub fn private_jwk_json(&self) -> String {
        let mut jwk = self.private.clone();
        jwk.set_algorithm(self.alg);
        jwk.to_string()
    }

    /// Signs `claims` with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(claims, true)
    }

    fn sign_with_header(&self, claims: &Value, with_kid: bool) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        if with_kid {
            header.set_key_id(&self.kid);
        }
        // The claims as given, even when they are wrong (a string `exp`).
        let payload = claims.to_string();
        match self.alg {
            "RS256" => {
                let signer = josekit::jws::RS256.signer_from_jwk(&self.private).unwrap();
                josekit::jws::serialize_compact(payload.as_bytes(), &header, &signer).unwrap()
            }
            "PS256" => {
                let signer = josekit::jws::PS256.signer_from_jwk(&self.private).unwrap();
                josekit::jws::serialize_compact(payload.as_bytes(), &header, &signer).unwrap()
            }
            "RS384" => {
                let signer = josekit::jws::RS384.signer_from_jwk(&self.private).unwrap();
                josekit::jws::serialize_compact(payload.as_bytes(), &header, &signer).unwrap()
            }
            _ => {
                let signer = josekit::jws::ES256.signer_from_jwk(&self.private).unwrap();
                josekit::jws::serialize_compact(payload.as_bytes(), &header, &signer).unwrap()
            }
        }
    }
}

/// A client_secret_jwt assertion: `claims` signed with the secret, HS256 (or `alg`).
pub fn signed_with_secret(secret: &str, alg: &str, claims: &Value) -> String {
    let signer = match alg {
        "HS256" => josekit::jws::HS256.signer_from_bytes(secret.as_bytes()),
        "HS384" => josekit::jws::HS384.signer_from_bytes(secret.as_bytes()),
        _ => josekit::jws::HS512.signer_from_bytes(secret.as_bytes()),
    }
    .unwrap();
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
}

/// A JWK Set of the public halves.
pub fn jwks(keys: &[&ClientKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| Value::Object(k.public.as_ref().clone())).collect::<Vec<_>>() })
}

/// The claims RFC 7523 asks for, valid for a minute.
pub fn claims(client_id: &str, aud: &str) -> Value {
    let now = now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": fresh_jti(),
    })
}

/// Registers a client_credentials client that authenticates with `keys` given inline.
async fn key_client(app: &TestApp, keys: &[&ClientKey]) -> TestClient {
    app.register_client_with(ClientRegistration {
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["api".into()],
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(jwks(keys).to_string()),
        ..Default::default()
    })
    .await
}

async fn post_with_assertion(
    app: &TestApp,
    path: &str,
    assertion: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("client_assertion_type", ASSERTION_TYPE));
    form.push(("client_assertion", assertion));
    http_client()
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

const CLIENT_CREDENTIALS: &[(&str, &str)] = &[("grant_type", "client_credentials")];

async fn client_credentials(app: &TestApp, assertion: &str) -> reqwest::Response {
    post_with_assertion(app, "/oauth/token", assertion, CLIENT_CREDENTIALS).await
}

/// client_credentials with a fresh assertion by `key` for `client_id`, aimed at the token
/// endpoint: the answer.
async fn grant_with(app: &TestApp, key: &ClientKey, client_id: &str) -> reqwest::Response {
    let assertion = key.sign(&claims(client_id, &app.url("/oauth/token")));
    client_credentials(app, &assertion).await
}

/// The same, expected to be refused as `invalid_client`: the error's description.
async fn refused_with(app: &TestApp, key: &ClientKey, client_id: &str) -> String {
    let body =
        assert_oauth_error(grant_with(app, key, client_id).await, 401, "invalid_client").await;
    body["error_description"].as_str().unwrap().to_owned()
}

async fn private_key_jwt_authenticates_at_every_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = ClientKey::rsa("RS256", "k1");
    let client = key_client(&app, &[&key]).await;
    assert!(client.secret.is_none(), "a key-based client has no secret");
    let token_endpoint = app.url("/oauth/token");

    // The token endpoint, as `aud`.
    let response = client_credentials(&app, &key.sign(&claims(&client.id, &token_endpoint))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();

    // Introspection, with the issuer as `aud` and client_id sent as well.
    let response = post_with_assertion(
        &app,
        "/oauth/introspect",
        &key.sign(&claims(&client.id, &app.address)),
        &[("token", &access_token), ("client_id", &client.id)],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], client.id.as_str());

    // Revocation, with that endpoint as `aud`.
    let response = post_with_assertion(
        &app,
        "/oauth/revoke",
        &key.sign(&claims(&client.id, &app.url("/oauth/revoke"))),
        &[("token", &access_token)],
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = post_with_assertion(
        &app,
        "/oauth/introspect",
        &key.sign(&claims(&client.id, &token_endpoint)),
        &[("token", &access_token)],
    )
    .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], false, "revoked");

    // The device authorization endpoint, for a device client that holds keys.
    let device = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["device_code".into()],
            token_endpoint_auth_method: Some("private_key_jwt".into()),
            jwks: Some(jwks(&[&key]).to_string()),
            ..Default::default()
        })
        .await;
    let response = post_with_assertion(
        &app,
        "/oauth/device_authorization",
        &key.sign(&claims(&device.id, &app.url("/oauth/device_authorization"))),
        &[("scope", "openid")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["device_code"].is_string());

    // The client's secret-based methods are refused, with what to do instead.
    let response = http_client()
        .post(&token_endpoint)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
        ])
        .send()
        .await
        .unwrap();
    let body = assert_oauth_error(response, 401, "invalid_client").await;
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("private_key_jwt"), "{description}");
}

async fn each_algorithm_and_key_type_is_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rs = ClientKey::rsa("RS256", "rs");
    let ps = ClientKey::rsa("PS256", "ps");
    let es = ClientKey::ec("es");
    let client = key_client(&app, &[&rs, &ps, &es]).await;
    let aud = app.url("/oauth/token");
    for key in [&rs, &ps, &es] {
        let response = client_credentials(&app, &key.sign(&claims(&client.id, &aud))).await;
        assert_eq!(response.status(), 200, "{}", key.alg);
    }
    // Without a kid, every key that fits the algorithm is tried.
    let response =
        client_credentials(&app, &es.sign_with_header(&claims(&client.id, &aud), false)).await;
    assert_eq!(response.status(), 200, "no kid");
    // An array `aud` naming this server among others.
    let mut both = claims(&client.id, &aud);
    both["aud"] = json!(["https://elsewhere.example", app.address]);
    let response = client_credentials(&app, &rs.sign(&both)).await;
    assert_eq!(response.status(), 200, "aud array");
}

async fn an_assertion_is_accepted_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = ClientKey::rsa("RS256", "k1");
    let client = key_client(&app, &[&key]).await;
    let assertion = key.sign(&claims(&client.id, &app.url("/oauth/token")));
    assert_eq!(client_credentials(&app, &assertion).await.status(), 200);
    let body = assert_oauth_error(
        client_credentials(&app, &assertion).await,
        401,
        "invalid_client",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("used before"),
        "{body}"
    );
    // Nor at another endpoint.
    let again = post_with_assertion(&app, "/oauth/introspect", &assertion, &[("token", "x")]).await;
    assert_oauth_error(again, 401, "invalid_client").await;
}

/// Two instances behind one issuer on one database: one assertion sent to both at the same
/// moment is accepted by exactly one of them.
async fn an_assertion_sent_to_two_instances_at_once_is_accepted_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let issuer = "http://localhost:8443";
    let a = env.spawn_with(|c| c.issuer = Some(issuer.into())).await;
    let b = env.spawn_with(|c| c.issuer = Some(issuer.into())).await;
    let key = ClientKey::rsa("RS256", "k1");
    let client = key_client(&a, &[&key]).await;
    for _ in 0..10 {
        let assertion = key.sign(&claims(&client.id, &format!("{issuer}/oauth/token")));
        let (ra, rb) = tokio::join!(
            client_credentials(&a, &assertion),
            client_credentials(&b, &assertion),
        );
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401]);
    }
}

async fn assertions_that_prove_nothing_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = ClientKey::rsa("RS256", "k1");
    let client = key_client(&app, &[&key]).await;
    let aud = app.url("/oauth/token");
    let good = || claims(&client.id, &aud);
    let with = |name: &str, value: Value| {
        let mut c = good();
        c[name] = value;
        c
    };
    let without = |name: &str| {
        let mut c = good();
        c.as_object_mut().unwrap().remove(name);
        c
    };
    let other = ClientKey::rsa("RS256", "k1"); // same kid, another key
    let cases: Vec<(&str, String, &str)> = vec![
        ("signed by another key", other.sign(&good()), "signature"),
        (
            "aud elsewhere",
            key.sign(&with("aud", json!("https://elsewhere.example/token"))),
            "aud",
        ),
        ("no aud", key.sign(&without("aud")), "aud"),
        (
            "iss is not the client",
            key.sign(&with("iss", json!("someone-else"))),
            "iss",
        ),
        (
            "expired",
            key.sign(&with("exp", json!(now() - 5))),
            "expired",
        ),
        (
            "exp too far",
            key.sign(&with("exp", json!(now() + 3600))),
            "too far",
        ),
        ("no exp", key.sign(&without("exp")), "exp"),
        ("exp a string", key.sign(&with("exp", json!("soon"))), "exp"),
        (
            "nbf ahead",
            key.sign(&with("nbf", json!(now() + 600))),
            "nbf",
        ),
        ("no jti", key.sign(&without("jti")), "jti"),
        (
            "unknown kid",
            ClientKey::rsa("RS256", "k9").sign(&good()),
            "kid",
        ),
        ("not a JWT", "abc.def".to_owned(), "not a signed JWT"),
        (
            "garbage payload",
            "eyJhbGciOiJSUzI1NiJ9.!!!.sig".to_owned(),
            "base64url",
        ),
    ];
    for (what, assertion, says) in cases {
        let response = client_credentials(&app, &assertion).await;
        let body = assert_oauth_error(response, 401, "invalid_client").await;
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{what}: {description}");
    }

    // alg none, and HS256 keyed with the public key (algorithm confusion).
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let header_none = b64(br#"{"alg":"none"}"#);
    let payload = b64(good().to_string().as_bytes());
    let unsigned = format!("{header_none}.{payload}.");
    let body = assert_oauth_error(
        client_credentials(&app, &unsigned).await,
        401,
        "invalid_client",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("RS256"),
        "{body}"
    );
    let public_pem = key.public.to_string();
    let hmac = josekit::jws::HS256
        .signer_from_bytes(public_pem.as_bytes())
        .unwrap();
    let confused = josekit::jwt::encode_with_signer(
        &JwtPayload::from_map(good().as_object().unwrap().clone()).unwrap(),
        &JwsHeader::new(),
        &hmac,
    )
    .unwrap();
    assert_oauth_error(
        client_credentials(&app, &confused).await,
        401,
        "invalid_client",
    )
    .await;

    // A client_id that names another client than the assertion.
    let response = post_with_assertion(
        &app,
        "/oauth/token",
        &key.sign(&good()),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "another"),
        ],
    )
    .await;
    assert_oauth_error(response, 401, "invalid_client").await;
    // An assertion beside a secret, and a wrong assertion type.
    let response = http_client()
        .post(&aud)
        .basic_auth(&client.id, Some("secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &key.sign(&good())),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, 400, "invalid_request").await;
    let response = http_client()
        .post(&aud)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", &key.sign(&good())),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, 400, "invalid_request").await;

    // After all of that, a good assertion still works: none of these spent its jti or
    // locked the client out.
    assert_eq!(
        client_credentials(&app, &key.sign(&good())).await.status(),
        200
    );
}

async fn client_secret_jwt_signs_with_the_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api".into()],
            token_endpoint_auth_method: Some("client_secret_jwt".into()),
            ..Default::default()
        })
        .await;
    let secret = client.secret.clone().unwrap();
    let sign = |secret: &str| {
        let signer = josekit::jws::HS256
            .signer_from_bytes(secret.as_bytes())
            .unwrap();
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        josekit::jwt::encode_with_signer(
            &JwtPayload::from_map(
                claims(&client.id, &app.url("/oauth/token"))
                    .as_object()
                    .unwrap()
                    .clone(),
            )
            .unwrap(),
            &header,
            &signer,
        )
        .unwrap()
    };
    assert_eq!(client_credentials(&app, &sign(&secret)).await.status(), 200);
    let wrong = "w".repeat(43);
    let body = assert_oauth_error(
        client_credentials(&app, &sign(&wrong)).await,
        401,
        "invalid_client",
    )
    .await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("signature"));
    // The secret itself, sent in the clear, is refused: the client is registered for a JWT.
    let response = app
        .token(CLIENT_CREDENTIALS, Some((&client.id, &secret)))
        .await;
    let body = assert_oauth_error(response, 401, "invalid_client").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("client_secret_jwt"));

    // A rotation with an overlap: both secrets sign until it ends.
    let admin = admin_token(&app).await;
    let response = http_client()
        .post(app.url(&format!(
            "/admin/clients/{}/secret?old_secret_valid_for=600",
            client.id
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(
        client_credentials(&app, &sign(new_secret)).await.status(),
        200
    );
    assert_eq!(client_credentials(&app, &sign(&secret)).await.status(), 200);
}

// ---------------------------------------------------------------------------------------
// jwks_uri

/// A relying party's key server on loopback: serves `body` (or a redirect) and counts the
/// fetches.
#[derive(Clone, Default)]
pub(crate) struct KeyServer {
    inner: Arc<Mutex<KeyServerState>>,
    port: u16,
}

#[derive(Default)]
struct KeyServerState {
    body: String,
    redirect: Option<String>,
    fetches: u32,
}

impl KeyServer {
    pub(crate) async fn start() -> Self {
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Self {
            inner: Arc::default(),
            port,
        };
        let state = Arc::clone(&server.inner);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    if !read_request_head(&mut stream).await {
                        return;
                    }
                    let answer = {
                        let mut s = state.lock().unwrap();
                        s.fetches += 1;
                        match &s.redirect {
                            Some(to) => format!(
                                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            ),
                            None => format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                                s.body.len(),
                                s.body
                            ),
                        }
                    };
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        server
    }

    pub(crate) fn serve(&self, body: String) {
        self.inner.lock().unwrap().body = body;
    }

    fn redirect(&self, to: &str) {
        self.inner.lock().unwrap().redirect = Some(to.to_owned());
    }

    pub(crate) fn fetches(&self) -> u32 {
        self.inner.lock().unwrap().fetches
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks.json", self.port)
    }
}

async fn spawn_fetching(backend: Backend, refetch_interval: u64) -> TestApp {
    TestEnv::new(backend)
        .await
        .spawn_with(|config| {
            config.fetch.allow_loopback = true;
            config.client_auth.jwks_refetch_interval = oidcd::config::Seconds(refetch_interval);
        })
        .await
}

async fn uri_client(app: &TestApp, uri: &str) -> TestClient {
    app.register_client_with(ClientRegistration {
        grant_types: vec!["client_credentials".into()],
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks_uri: Some(uri.to_owned()),
        ..Default::default()
    })
    .await
}

async fn keys_come_from_the_jwks_uri_cached_and_fetched_again_for_a_new_kid(backend: Backend) {
    let app = spawn_fetching(backend, 0).await;
    let keys = KeyServer::start().await;
    let old = ClientKey::rsa("RS256", "2026-11");
    keys.serve(jwks(&[&old]).to_string());
    let client = uri_client(&app, &keys.url()).await;

    assert_eq!(grant_with(&app, &old, &client.id).await.status(), 200);
    assert_eq!(keys.fetches(), 1);
    assert_eq!(grant_with(&app, &old, &client.id).await.status(), 200);
    assert_eq!(keys.fetches(), 1, "cached");

    // The client rolls to a new key: an assertion with the new kid fetches the set again.
    let new = ClientKey::ec("2026-12");
    keys.serve(jwks(&[&new]).to_string());
    assert_eq!(grant_with(&app, &new, &client.id).await.status(), 200);
    assert_eq!(keys.fetches(), 2);
    // The old key is gone from the set: refused.
    refused_with(&app, &old, &client.id).await;
}

async fn a_jwks_uri_is_fetched_within_limits(backend: Backend) {
    // Made-up kids do not make the server fetch in a loop.
    let app = spawn_fetching(backend, 3600).await;
    let keys = KeyServer::start().await;
    let key = ClientKey::rsa("RS256", "k1");
    keys.serve(jwks(&[&key]).to_string());
    let client = uri_client(&app, &keys.url()).await;
    assert_eq!(grant_with(&app, &key, &client.id).await.status(), 200);
    for n in 0..3 {
        let stranger = ClientKey::rsa("RS256", &format!("made-up-{n}"));
        refused_with(&app, &stranger, &client.id).await;
    }
    assert_eq!(keys.fetches(), 1, "no fetch within the refetch interval");

    // A document over the size cap.
    let big = KeyServer::start().await;
    big.serve(format!(
        "{{\"keys\": [], \"pad\": \"{}\"}}",
        "x".repeat(70 * 1024)
    ));
    let client = uri_client(&app, &big.url()).await;
    let description = refused_with(&app, &key, &client.id).await;
    assert!(description.contains("larger than"), "{description}");

    // A redirect to a private address is not followed.
    let redirecting = KeyServer::start().await;
    redirecting.redirect("http://10.0.0.1/jwks.json");
    let client = uri_client(&app, &redirecting.url()).await;
    let description = refused_with(&app, &key, &client.id).await;
    assert!(description.contains("10.0.0.1"), "{description}");

    // Not a key set.
    let wrong = KeyServer::start().await;
    wrong.serve("{\"hello\": 1}".into());
    let client = uri_client(&app, &wrong.url()).await;
    let description = refused_with(&app, &key, &client.id).await;
    assert!(description.contains("JWK Set"), "{description}");
}

async fn registration_refuses_weak_or_private_keys_and_unsafe_urls(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = admin_token(&app).await;
    let create = |body: Value| {
        let admin = admin.clone();
        let url = app.url("/admin/clients");
        async move {
            http_client()
                .post(url)
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let base = |extra: Value| {
        let mut body = json!({
            "client_name": "Keys",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let weak = ClientKey::rsa_bits("RS256", "weak", 1024);
    let strong = ClientKey::rsa("RS256", "strong");
    let cases = [
        (json!({}), "jwks", "needs its public keys"),
        (json!({ "jwks": jwks(&[&weak]) }), "jwks", "1024 bits"),
        (
            json!({ "jwks": { "keys": [Value::Object(strong.private.as_ref().clone())] } }),
            "jwks",
            "private parameter",
        ),
        (json!({ "jwks": "not a set" }), "jwks", "JWK Set"),
        (
            json!({ "jwks_uri": "http://127.0.0.1:9/jwks.json" }),
            "jwks_uri",
            "fetch.allow_loopback",
        ),
        (
            json!({ "jwks_uri": "https://169.254.169.254/keys" }),
            "jwks_uri",
            "not a public address",
        ),
        (
            json!({ "jwks": jwks(&[&strong]), "jwks_uri": "https://rp.example/jwks" }),
            "jwks",
            "not both",
        ),
    ];
    for (extra, field, says) in cases {
        let response = create(base(extra.clone())).await;
        assert_eq!(response.status(), 400, "{extra}");
        let body: Value = response.json().await.unwrap();
        let text = body.to_string();
        assert!(
            text.contains(field) && text.contains(says),
            "{extra}: {text}"
        );
    }
    // A secret for a key-based client, and keys for a secret-based one.
    let response = create(base(
        json!({ "jwks": jwks(&[&strong]), "client_secret": "x".repeat(40) }),
    ))
    .await;
    assert_eq!(response.status(), 400);
    let response = create(json!({
        "client_name": "Secret",
        "grant_types": ["client_credentials"],
        "jwks": jwks(&[&strong]),
    }))
    .await;
    assert_eq!(response.status(), 400);

    // A good one: shown with its keys, no secret; a key rotation replaces them.
    let response = create(base(json!({ "jwks": jwks(&[&strong]) }))).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("client_secret").is_none(), "{body}");
    assert_eq!(body["jwks"]["keys"][0]["kid"], "strong");
    let id = body["client_id"].as_str().unwrap().to_owned();
    let next = ClientKey::ec("next");
    let response = http_client()
        .patch(app.url(&format!("/admin/clients/{id}")))
        .bearer_auth(&admin)
        .json(&json!({ "jwks": jwks(&[&next]) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(grant_with(&app, &next, &id).await.status(), 200);
    refused_with(&app, &strong, &id).await;
    // Its secret cannot be rotated: it has none.
    let response = http_client()
        .post(app.url(&format!("/admin/clients/{id}/secret")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

async fn assertions_are_refused_when_the_setting_is_off(backend: Backend) {
    let app = TestEnv::new(backend)
        .await
        .spawn_with(|config| config.client_auth.jwt = false)
        .await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    let methods = discovery["token_endpoint_auth_methods_supported"].to_string();
    assert!(!methods.contains("private_key_jwt") && !methods.contains("client_secret_jwt"));
    assert!(discovery
        .get("token_endpoint_auth_signing_alg_values_supported")
        .is_none());

    let key = ClientKey::rsa("RS256", "k1");
    let client = key_client(&app, &[&key]).await;
    let response = client_credentials(
        &app,
        &key.sign(&claims(&client.id, &app.url("/oauth/token"))),
    )
    .await;
    let body = assert_oauth_error(response, 401, "invalid_client").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("does not accept"));
}
