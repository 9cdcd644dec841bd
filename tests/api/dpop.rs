//! DPoP (RFC 9449): token requests with a proof get tokens bound to the proof's key
//! (`cnf.jkt`, `token_type: DPoP`), a public client's refresh tokens included; userinfo takes
//! bound tokens with the `DPoP` scheme and a proof for that request and token; nonces; and the
//! proofs that prove nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::Jwk;
use josekit::jws::JwsHeader;
use oidcd::oauth::registration::{ClientRegistration, SecretChoice};
use serde_json::{json, Value};
use sha2::Digest as _;

use crate::client_assertions::now;
use crate::helpers::{
    assert_oauth_error, assert_refused, http_client, jwt_claims, location_params, pkce_pair,
    Backend, Browser, TestApp, TestClient, TestEnv, REDIRECT_URI,
};
use crate::on_both_databases;

on_both_databases!(
    client_credentials_tokens_are_bound_to_the_proofs_key,
    proofs_that_prove_nothing_are_refused,
    userinfo_takes_a_bound_token_only_with_a_proof_by_its_key,
    a_public_clients_refresh_token_is_bound_to_the_key,
    a_client_may_require_dpop,
    a_code_can_be_bound_to_the_key_before_it_is_issued,
    dpop_follows_its_settings,
);

/// A client's DPoP key pair (ES256).
struct DpopKey {
    private: Jwk,
    public: Jwk,
}

impl DpopKey {
    fn new() -> Self {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        Self {
            private: pair.to_jwk_private_key(),
            public: pair.to_jwk_public_key(),
        }
    }

    /// The RFC 7638 thumbprint, computed here from the members RFC 7638 3.2 names.
    fn jkt(&self) -> String {
        let member = |name: &str| self.public.parameter(name).unwrap().as_str().unwrap();
        let canonical = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            member("crv"),
            member("x"),
            member("y")
        );
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// A proof with these claims, this key's public half in the header.
    fn sign(&self, claims: &Value, header_jwk: &Jwk, typ: &str) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_jwk(header_jwk.clone());
        let signer = josekit::jws::ES256.signer_from_jwk(&self.private).unwrap();
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
    }

    /// A fresh proof for `htm` `htu`, with a nonce and (at a resource) the token's hash.
    fn proof(&self, htm: &str, htu: &str, nonce: Option<&str>, token: Option<&str>) -> String {
        self.sign(
            &self.claims(htm, htu, nonce, token),
            &self.public,
            "dpop+jwt",
        )
    }

    fn claims(&self, htm: &str, htu: &str, nonce: Option<&str>, token: Option<&str>) -> Value {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": htm,
            "htu": htu,
            "iat": now(),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        if let Some(token) = token {
            claims["ath"] = URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(token.as_bytes()))
                .into();
        }
        claims
    }
}

/// A token request with a `DPoP` header (or none), Basic when the client has a secret.
async fn token_with(
    app: &TestApp,
    client: &TestClient,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> reqwest::Response {
    let mut request = http_client().post(app.url("/oauth/token")).form(form);
    if let Some(secret) = &client.secret {
        request = request.basic_auth(&client.id, Some(secret));
    }
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

/// The nonce this server hands out: what a first proof without one is answered with.
async fn server_nonce(app: &TestApp, client: &TestClient, key: &DpopKey) -> String {
    let htu = app.url("/oauth/token");
    let response = token_with(
        app,
        client,
        &[("grant_type", "client_credentials")],
        Some(&key.proof("POST", &htu, None, None)),
    )
    .await;
    let nonce = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_refused(response, 400, "use_dpop_nonce", "nonce").await;
    nonce
}

async fn client_credentials_tokens_are_bound_to_the_proofs_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_machine_client().await;
    let key = DpopKey::new();
    let htu = app.url("/oauth/token");
    let nonce = server_nonce(&app, &client, &key).await;

    let proof = key.proof("POST", &htu, Some(&nonce), None);
    let form = [("grant_type", "client_credentials")];
    let response = token_with(&app, &client, &form, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    // The nonce to use next (a new one once its window has passed).
    assert!(!response.headers()["dpop-nonce"].is_empty());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(token)["cnf"], json!({"jkt": key.jkt()}));

    // Introspection says what it is bound to.
    let response = http_client()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["active"], true);
    assert_eq!(seen["token_type"], "DPoP");
    assert_eq!(seen["cnf"], json!({"jkt": key.jkt()}));

    // The same proof again is a replay.
    assert_refused(
        token_with(&app, &client, &form, Some(&proof)).await,
        400,
        "invalid_dpop_proof",
        "used before",
    )
    .await;

    // Without a proof: a bearer token, as before.
    let response = token_with(&app, &client, &form, None).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(jwt_claims(body["access_token"].as_str().unwrap())
        .get("cnf")
        .is_none());

    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["dpop_signing_alg_values_supported"],
        json!(["ES256", "RS256", "PS256"])
    );
}

async fn proofs_that_prove_nothing_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_machine_client().await;
    let key = DpopKey::new();
    let other = DpopKey::new();
    let htu = app.url("/oauth/token");
    let nonce = server_nonce(&app, &client, &key).await;
    let good = || key.claims("POST", &htu, Some(&nonce), None);
    let with = |name: &str, value: Value| {
        let mut claims = good();
        claims[name] = value;
        key.sign(&claims, &key.public, "dpop+jwt")
    };
    let unsigned = {
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": Value::Object(key.public.as_ref().clone())});
        format!("{}.{}.", b64(&header), b64(&good()))
    };
    let cases: Vec<(String, &str)> = vec![
        (with("htm", "GET".into()), "htm"),
        (
            with("htu", "https://elsewhere.example/oauth/token".into()),
            "htu",
        ),
        (with("iat", (now() - 3600).into()), "iat"),
        (with("iat", (now() + 3600).into()), "iat"),
        (with("iat", "now".into()), "iat"),
        (with("jti", Value::Null), "jti"),
        (key.sign(&good(), &key.public, "JWT"), "typ"),
        (key.sign(&good(), &key.private, "dpop+jwt"), "jwk"),
        (key.sign(&good(), &other.public, "dpop+jwt"), "signature"),
        (unsigned, "none"),
        ("not-a-jwt".to_owned(), "not a signed JWT"),
    ];
    let form = [("grant_type", "client_credentials")];
    for (proof, says) in cases {
        assert_refused(
            token_with(&app, &client, &form, Some(&proof)).await,
            400,
            "invalid_dpop_proof",
            says,
        )
        .await;
    }
    // A nonce this server never gave.
    let proof = key.proof("POST", &htu, Some("made-up"), None);
    assert_oauth_error(
        token_with(&app, &client, &form, Some(&proof)).await,
        400,
        "use_dpop_nonce",
    )
    .await;
    // Two DPoP headers.
    let response = http_client()
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .header("DPoP", key.proof("POST", &htu, Some(&nonce), None))
        .header("DPoP", key.proof("POST", &htu, Some(&nonce), None))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, 400, "invalid_dpop_proof").await;
    // A good proof still works after all that.
    let proof = key.proof("POST", &htu, Some(&nonce), None);
    assert_eq!(
        token_with(&app, &client, &form, Some(&proof))
            .await
            .status(),
        200
    );
}

/// Calls userinfo with `scheme` and, when given, a proof.
async fn userinfo_with(
    app: &TestApp,
    scheme: &str,
    token: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut request = http_client()
        .get(app.url("/oauth/userinfo"))
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

/// A refused userinfo call: its `WWW-Authenticate` challenge, which must name `error`.
fn challenge(response: &reqwest::Response, error: &str) -> String {
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(&format!("error=\"{error}\"")),
        "{challenge}"
    );
    challenge
}

async fn userinfo_takes_a_bound_token_only_with_a_proof_by_its_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let key = DpopKey::new();
    let token_url = app.url("/oauth/token");
    let userinfo_url = app.url("/oauth/userinfo");
    let nonce = server_nonce(&app, &app.register_machine_client().await, &key).await;

    let code = app.code_for(&client, &user, "openid email", &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    let proof = key.proof("POST", &token_url, Some(&nonce), None);
    let response = token_with(&app, &client, &form, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    let token = tokens["access_token"].as_str().unwrap();

    // As a bearer token, it is refused.
    let response = userinfo_with(&app, "Bearer", token, None).await;
    challenge(&response, "invalid_token");
    // The DPoP scheme without a proof, with a stale-less proof, with the wrong ath, for
    // another method, by another key.
    let response = userinfo_with(&app, "DPoP", token, None).await;
    let says = challenge(&response, "invalid_dpop_proof");
    assert!(says.starts_with("DPoP "), "{says}");
    assert!(says.contains("algs=\"ES256 RS256 PS256\""), "{says}");
    let response = userinfo_with(
        &app,
        "DPoP",
        token,
        Some(&key.proof("GET", &userinfo_url, None, Some(token))),
    )
    .await;
    challenge(&response, "use_dpop_nonce");
    // The nonce to use next (a new one once its window has passed).
    assert!(!response.headers()["dpop-nonce"].is_empty());
    let response = userinfo_with(
        &app,
        "DPoP",
        token,
        Some(&key.proof("GET", &userinfo_url, Some(&nonce), Some("another-token"))),
    )
    .await;
    challenge(&response, "invalid_dpop_proof");
    let response = userinfo_with(
        &app,
        "DPoP",
        token,
        Some(&key.proof("POST", &userinfo_url, Some(&nonce), Some(token))),
    )
    .await;
    challenge(&response, "invalid_dpop_proof");
    let other = DpopKey::new();
    let response = userinfo_with(
        &app,
        "DPoP",
        token,
        Some(&other.proof("GET", &userinfo_url, Some(&nonce), Some(token))),
    )
    .await;
    challenge(&response, "invalid_dpop_proof");

    // The right proof: the claims, and the nonce for next time.
    let proof = key.proof("GET", &userinfo_url, Some(&nonce), Some(token));
    let response = userinfo_with(&app, "DPoP", token, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    // The nonce to use next (a new one once its window has passed).
    assert!(!response.headers()["dpop-nonce"].is_empty());
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["sub"], user.sub.as_str());
    // Not twice.
    let response = userinfo_with(&app, "DPoP", token, Some(&proof)).await;
    challenge(&response, "invalid_dpop_proof");

    // An unbound token is not presented as DPoP.
    let bearer = app.signed_in_tokens(&client, &user, "openid").await;
    let bearer = bearer["access_token"].as_str().unwrap();
    let response = userinfo_with(
        &app,
        "DPoP",
        bearer,
        Some(&key.proof("GET", &userinfo_url, Some(&nonce), Some(bearer))),
    )
    .await;
    challenge(&response, "invalid_token");
}

async fn a_public_clients_refresh_token_is_bound_to_the_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_public_client().await;
    let user = app.create_user().await;
    let key = DpopKey::new();
    let htu = app.url("/oauth/token");
    let nonce = server_nonce(&app, &app.register_machine_client().await, &key).await;
    let (verifier, challenge) = pkce_pair();
    let url = app.code_request_url(
        &client,
        "openid offline_access",
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let done = Browser::new(&app).authorize(&url, &user).await;
    let code = location_params(&done)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", client.id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let response = token_with(
        &app,
        &client,
        &form,
        Some(&key.proof("POST", &htu, Some(&nonce), None)),
    )
    .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("client_id", client.id.as_str()),
    ];
    // Without a proof, or with another key's: refused, and the token still works after.
    assert_refused(
        token_with(&app, &client, &refresh, None).await,
        400,
        "invalid_grant",
        "DPoP",
    )
    .await;
    let other = DpopKey::new();
    let proof = other.proof("POST", &htu, Some(&nonce), None);
    assert_oauth_error(
        token_with(&app, &client, &refresh, Some(&proof)).await,
        400,
        "invalid_grant",
    )
    .await;
    let proof = key.proof("POST", &htu, Some(&nonce), None);
    let response = token_with(&app, &client, &refresh, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.unwrap();
    assert_eq!(refreshed["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(refreshed["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt().as_str()
    );
}

async fn a_code_can_be_bound_to_the_key_before_it_is_issued(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let key = DpopKey::new();
    let other = DpopKey::new();
    let htu = app.url("/oauth/token");
    let nonce = server_nonce(&app, &app.register_machine_client().await, &key).await;
    let exchange = |code: String| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT_URI.to_owned()),
        ]
    };
    let redeem = |form: Vec<(&'static str, String)>, proof: Option<String>| {
        let app = &app;
        let client = &client;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_with(app, client, &form, proof.as_deref()).await
        }
    };

    // dpop_jkt at the authorization endpoint.
    let jkt = key.jkt();
    let code = app
        .code_for(&client, &user, "openid", &[("dpop_jkt", &jkt)])
        .await;
    assert_refused(
        redeem(exchange(code.clone()), None).await,
        400,
        "invalid_grant",
        "dpop_jkt",
    )
    .await;
    let proof = other.proof("POST", &htu, Some(&nonce), None);
    assert_oauth_error(
        redeem(exchange(code.clone()), Some(proof)).await,
        400,
        "invalid_grant",
    )
    .await;
    // Those attempts did not spend it: the holder of the key redeems it.
    let proof = key.proof("POST", &htu, Some(&nonce), None);
    let response = redeem(exchange(code), Some(proof)).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");

    // Not a thumbprint: refused at the redirect URI.
    let url = app.code_request_url(&client, "openid", &[("dpop_jkt", "short")]);
    let response = Browser::new(&app).get(&url).await;
    assert_eq!(location_params(&response)["error"], "invalid_request");

    // A DPoP proof sent with a pushed request binds the code the same way.
    let par = app.url("/oauth/par");
    let response = http_client()
        .post(&par)
        .basic_auth(&client.id, client.secret.as_deref())
        .header("DPoP", key.proof("POST", &par, Some(&nonce), None))
        .form(&[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("dpop-nonce").is_some());
    let pushed: Value = response.json().await.unwrap();
    let url = app.authorize_url(&[
        ("client_id", &client.id),
        ("request_uri", pushed["request_uri"].as_str().unwrap()),
    ]);
    let done = Browser::new(&app).authorize(&url, &user).await;
    let code = location_params(&done)["code"].clone();
    assert_oauth_error(
        redeem(exchange(code.clone()), None).await,
        400,
        "invalid_grant",
    )
    .await;
    let proof = key.proof("POST", &htu, Some(&nonce), None);
    assert_eq!(redeem(exchange(code), Some(proof)).await.status(), 200);
}

async fn a_client_may_require_dpop(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api".into()],
            secret: SecretChoice::Generate,
            dpop_bound_access_tokens: true,
            ..Default::default()
        })
        .await;
    let form = [("grant_type", "client_credentials")];
    assert_refused(
        token_with(&app, &client, &form, None).await,
        400,
        "invalid_dpop_proof",
        "bound",
    )
    .await;
    let key = DpopKey::new();
    let nonce = server_nonce(&app, &client, &key).await;
    let proof = key.proof("POST", &app.url("/oauth/token"), Some(&nonce), None);
    let response = token_with(&app, &client, &form, Some(&proof)).await;
    assert_eq!(response.status(), 200);
}

async fn dpop_follows_its_settings(backend: Backend) {
    // Nonces not required: a first proof without one is enough.
    let env = TestEnv::new(backend).await;
    let app = env.spawn_with(|c| c.dpop.require_nonce = false).await;
    let client = app.register_machine_client().await;
    let key = DpopKey::new();
    let form = [("grant_type", "client_credentials")];
    let proof = key.proof("POST", &app.url("/oauth/token"), None, None);
    let response = token_with(&app, &client, &form, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("dpop-nonce").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");

    // Off: the header is ignored (RFC 9449 5), and discovery does not offer it.
    let env = TestEnv::new(backend).await;
    let app = env.spawn_with(|c| c.dpop.enabled = false).await;
    let client = app.register_machine_client().await;
    let proof = key.proof("POST", &app.url("/oauth/token"), None, None);
    let response = token_with(&app, &client, &form, Some(&proof)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert!(discovery.get("dpop_signing_alg_values_supported").is_none());
}
