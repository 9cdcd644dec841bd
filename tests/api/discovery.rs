//! OpenID Connect Discovery 1.0 section 4 and RFC 8414 section 3.

use crate::client_assertions::{
    claims as assertion_claims, jwks, signed_with_secret, ClientKey, ASSERTION_TYPE,
};
use crate::helpers::{Backend, TestApp, TestEnv};
use crate::on_both_databases;

on_both_databases!(
    metadata_names_the_issuer_and_its_endpoints_resolve,
    a_configured_issuer_is_published_as_is,
    every_advertised_value_is_accepted_and_others_are_rejected,
);

async fn metadata_names_the_issuer_and_its_endpoints_resolve(backend: Backend) {
    // Arrange
    let app = TestApp::spawn(backend).await;

    // Act
    let response = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], app.address.as_str());
    assert_eq!(doc["jwks_uri"], app.url("/jwks.json").as_str());
    assert!(doc["response_types_supported"].is_array());

    // RFC 8414: the same metadata at the OAuth well-known path.
    let oauth = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(oauth, doc);

    // Every advertised endpoint is served by this server.
    for (name, value) in doc.as_object().unwrap() {
        if !(name.ends_with("_endpoint") || name.ends_with("_uri")) {
            continue;
        }
        let url = value.as_str().unwrap();
        assert!(
            url.starts_with(&app.address),
            "{name} is not under the issuer"
        );
        let status = app.client.get(url).send().await.unwrap().status();
        assert_ne!(status, 404, "{name} ({url}) is advertised but not served");
    }
    // The JWKS it names is the one served.
    let jwks: serde_json::Value = app
        .client
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
    ] {
        assert!(doc[field].is_string(), "{field} is advertised");
    }
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public", "pairwise"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
}

fn strings(doc: &serde_json::Value, field: &str) -> Vec<String> {
    doc[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} is a list"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Discovery both ways: each advertised value works, and a value that is not advertised is
/// refused with the protocol's error.
async fn every_advertised_value_is_accepted_and_others_are_rejected(backend: Backend) {
    use crate::helpers::{location_params, pkce_pair, Browser, REDIRECT_URI};
    use oidcd::oauth::registration::{ClientRegistration, SecretChoice};

    let app = TestApp::spawn(backend).await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    // Sign in and consent to every advertised scope once.
    let scopes = strings(&doc, "scopes_supported").join(" ");
    let url = |extra: &[(&str, &str)], scope: &str| app.code_request_url(&client, scope, extra);
    let first = browser.authorize(&url(&[], &scopes), &user).await;
    assert!(
        location_params(&first).contains_key("code"),
        "every advertised scope is accepted"
    );
    let outcome = |response: &reqwest::Response| {
        if response.status() == 200 {
            return "page".to_owned(); // a login or consent page: accepted
        }
        let q = location_params(response);
        q.get("error").cloned().unwrap_or_else(|| "code".to_owned())
    };

    // Scopes.
    for scope in strings(&doc, "scopes_supported") {
        let r = browser.get(&url(&[], &format!("openid {scope}"))).await;
        assert_eq!(outcome(&r), "code", "scope {scope}");
    }
    let r = browser.get(&url(&[], "openid launch_missiles")).await;
    assert_eq!(outcome(&r), "invalid_scope");

    // Response types.
    assert_eq!(strings(&doc, "response_types_supported"), ["code"]);
    for rt in ["token", "id_token", "code id_token"] {
        let mut p = vec![
            ("client_id", client.id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("response_type", rt),
        ];
        p.push(("state", "s"));
        let r = browser.get(&app.authorize_url(&p)).await;
        assert_eq!(
            outcome(&r),
            "unsupported_response_type",
            "response_type {rt}"
        );
    }

    // Response modes.
    for mode in strings(&doc, "response_modes_supported") {
        let r = browser
            .get(&url(&[("response_mode", &mode)], "openid"))
            .await;
        match mode.as_str() {
            "query" => assert_eq!(outcome(&r), "code"),
            "form_post" => {
                assert_eq!(r.status(), 200);
                assert!(r.text().await.unwrap().contains("name=\"code\""));
            }
            other => panic!("unexpected mode {other}"),
        }
    }
    for mode in ["fragment", "web_message"] {
        let r = browser
            .get(&url(&[("response_mode", mode)], "openid"))
            .await;
        assert_eq!(outcome(&r), "invalid_request", "response_mode {mode}");
    }

    // Prompt values.
    for prompt in strings(&doc, "prompt_values_supported") {
        let r = browser.get(&url(&[("prompt", &prompt)], "openid")).await;
        let o = outcome(&r);
        assert!(o == "code" || o == "page", "prompt {prompt}: {o}");
    }
    let r = browser
        .get(&url(&[("prompt", "select_account")], "openid"))
        .await;
    assert_eq!(outcome(&r), "invalid_request");

    // PKCE methods.
    let (verifier, s256) = pkce_pair();
    for method in strings(&doc, "code_challenge_methods_supported") {
        let challenge = if method == "S256" {
            s256.clone()
        } else {
            verifier.clone()
        };
        let r = browser
            .get(&url(
                &[
                    ("code_challenge", &challenge),
                    ("code_challenge_method", &method),
                ],
                "openid",
            ))
            .await;
        let code = location_params(&r)["code"].clone();
        assert_eq!(
            app.exchange(&client, &code, Some(&verifier)).await.status(),
            200,
            "PKCE {method}"
        );
    }
    let r = browser
        .get(&url(
            &[("code_challenge", &s256), ("code_challenge_method", "S512")],
            "openid",
        ))
        .await;
    assert_eq!(outcome(&r), "invalid_request");

    // Grant types at the token endpoint.
    let grants = strings(&doc, "grant_types_supported");
    assert!(
        grants.contains(&"authorization_code".to_owned())
            && grants.contains(&"refresh_token".to_owned())
    );
    for unsupported in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        assert!(!grants.contains(&unsupported.to_owned()));
        let r = app
            .token(
                &[("grant_type", unsupported)],
                Some((&client.id, client.secret.as_deref().unwrap())),
            )
            .await;
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unsupported_grant_type", "{unsupported}");
    }

    // Client authentication methods: each advertised one works for a client registered for it.
    let key = ClientKey::rsa("RS256", "k1");
    let token_endpoint = app.url("/oauth/token");
    for method in strings(&doc, "token_endpoint_auth_methods_supported") {
        let reg = ClientRegistration {
            secret: if method == "none" {
                SecretChoice::Public
            } else {
                SecretChoice::Generate
            },
            token_endpoint_auth_method: Some(method.clone()),
            jwks: (method == "private_key_jwt").then(|| jwks(&[&key]).to_string()),
            ..Default::default()
        };
        let c = app.register_client_with(reg).await;
        let (verifier, challenge) = pkce_pair();
        let request = app.code_request_url(
            &c,
            "openid",
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "x"),
            ],
        );
        let done = browser.authorize(&request, &user).await;
        let code = location_params(&done)["code"].clone();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ];
        let response = match method.as_str() {
            "client_secret_basic" => {
                app.token(&form, Some((&c.id, c.secret.as_deref().unwrap())))
                    .await
            }
            "client_secret_post" => {
                form.push(("client_id", &c.id));
                form.push(("client_secret", c.secret.as_deref().unwrap()));
                app.token(&form, None).await
            }
            "none" => {
                form.push(("client_id", &c.id));
                app.token(&form, None).await
            }
            "private_key_jwt" | "client_secret_jwt" => {
                let claims = assertion_claims(&c.id, &token_endpoint);
                let assertion = match c.secret.as_deref() {
                    Some(secret) => signed_with_secret(secret, "HS256", &claims),
                    None => key.sign(&claims),
                };
                form.push(("client_assertion_type", ASSERTION_TYPE));
                form.push(("client_assertion", &assertion));
                app.token(&form, None).await
            }
            other => panic!("unexpected method {other}"),
        };
        assert_eq!(response.status(), 200, "auth method {method}");
    }
    // Each advertised assertion algorithm is accepted; others are not.
    let advertised = strings(&doc, "token_endpoint_auth_signing_alg_values_supported");
    assert_eq!(
        advertised,
        strings(
            &doc,
            "introspection_endpoint_auth_signing_alg_values_supported"
        )
    );
    let machine = |method: &str, keys: Option<&ClientKey>| ClientRegistration {
        grant_types: vec!["client_credentials".into()],
        token_endpoint_auth_method: Some(method.into()),
        jwks: keys.map(|k| jwks(&[k]).to_string()),
        // Long enough for HS512's key (64 bytes).
        secret: if keys.is_some() {
            SecretChoice::Generate
        } else {
            SecretChoice::Given(format!("{}{}", random_secret(), random_secret()))
        },
        ..Default::default()
    };
    for alg in [
        "RS256", "PS256", "ES256", "RS384", "HS256", "HS384", "HS512",
    ] {
        let assertion_for = |id: &str| assertion_claims(id, &token_endpoint);
        let assertion = if alg.starts_with("HS") {
            let c = app
                .register_client_with(machine("client_secret_jwt", None))
                .await;
            signed_with_secret(c.secret.as_deref().unwrap(), alg, &assertion_for(&c.id))
        } else {
            let key = if alg == "ES256" {
                ClientKey::ec("k")
            } else {
                ClientKey::rsa(alg, "k")
            };
            let c = app
                .register_client_with(machine("private_key_jwt", Some(&key)))
                .await;
            key.sign(&assertion_for(&c.id))
        };
        let response = app
            .token(
                &[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ],
                None,
            )
            .await;
        if advertised.iter().any(|a| a == alg) {
            assert_eq!(response.status(), 200, "assertion signed with {alg}");
        } else {
            assert_eq!(response.status(), 401, "assertion signed with {alg}");
            let body: serde_json::Value = response.json().await.unwrap();
            let description = body["error_description"].as_str().unwrap();
            assert!(
                description.contains("must be signed with"),
                "{alg}: {description}"
            );
        }
    }
    // Each advertised request object algorithm is accepted at the authorization endpoint (the
    // sign-in page follows); others are refused there.
    let advertised = strings(&doc, "request_object_signing_alg_values_supported");
    for alg in ["RS256", "PS256", "ES256", "RS384", "HS256", "HS384"] {
        let request_claims = |id: &str| {
            serde_json::json!({
                "aud": app.address, "client_id": id, "response_type": "code",
                "redirect_uri": REDIRECT_URI, "scope": "openid",
            })
        };
        let (client_id, request) = if alg.starts_with("HS") {
            let c = app
                .register_client_with(ClientRegistration {
                    token_endpoint_auth_method: Some("client_secret_jwt".into()),
                    secret: SecretChoice::Given(format!("{}{}", random_secret(), random_secret())),
                    ..Default::default()
                })
                .await;
            let request =
                signed_with_secret(c.secret.as_deref().unwrap(), alg, &request_claims(&c.id));
            (c.id, request)
        } else {
            let key = if alg == "ES256" {
                ClientKey::ec("k")
            } else {
                ClientKey::rsa(alg, "k")
            };
            let c = app
                .register_client_with(ClientRegistration {
                    token_endpoint_auth_method: Some("private_key_jwt".into()),
                    jwks: Some(jwks(&[&key]).to_string()),
                    ..Default::default()
                })
                .await;
            let request = key.sign(&request_claims(&c.id));
            (c.id, request)
        };
        let url = app.authorize_url(&[("client_id", &client_id), ("request", &request)]);
        let response = Browser::new(&app).get(&url).await;
        if advertised.iter().any(|a| a == alg) {
            assert_eq!(response.status(), 200, "request object signed with {alg}");
        } else {
            assert_eq!(response.status(), 400, "request object signed with {alg}");
            let page = response.text().await.unwrap();
            assert!(page.contains("invalid_request_object"), "{alg}: {page}");
        }
    }
}

/// 43 random base64url characters (256 bits).
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes).unwrap();
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn a_configured_issuer_is_published_as_is(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let app = env
        .spawn_with(|c| c.issuer = Some("https://login.example.test/tenant".into()))
        .await;

    let doc = app.get_json("/.well-known/openid-configuration").await;

    assert_eq!(doc["issuer"], "https://login.example.test/tenant");
    assert_eq!(
        doc["jwks_uri"],
        "https://login.example.test/tenant/jwks.json"
    );
}
