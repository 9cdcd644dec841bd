//! Dynamic client registration (RFC 7591) and its management (RFC 7592): off by default; with
//! initial access tokens an operator mints (admin API, CLI), each good for a number of
//! registrations; open to anyone within a per-address bound; held to the registration policy;
//! the registration access token reads, replaces and deletes the registration; and what the
//! consent page shows of an app (logo served from here, its pages, that it registered itself).

use oidcd::config::{Config, NameList, RegistrationMode};
use oidcd::oauth::registration::{ClientPages, ClientRegistration};
use serde_json::{json, Value};

use crate::admin::Admin;
use crate::helpers::{
    http_client, location_params, Backend, Browser, TestApp, TestClient, TestEnv, LOGOUT_URI,
    REDIRECT_URI,
};
use crate::on_both_databases;

on_both_databases!(
    registration_is_off_by_default,
    initial_access_tokens_admit_as_many_registrations_as_they_allow,
    an_open_registration_is_a_working_client_within_a_bound_per_address,
    the_policy_bounds_what_an_app_may_ask_for,
    the_registration_access_token_reads_replaces_and_deletes_the_registration,
    the_consent_page_shows_the_apps_logo_pages_and_that_it_registered_itself,
    a_self_registered_apps_logout_redirect_needs_its_id_token,
);

async fn spawn_with_mode(backend: Backend, mode: RegistrationMode) -> TestApp {
    TestEnv::new(backend)
        .await
        .spawn_with(|c: &mut Config| {
            c.registration.mode = mode;
            c.fetch.allow_loopback = true;
        })
        .await
}

fn metadata() -> Value {
    json!({
        "client_name": "Photo Printer",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid profile offline_access",
        "contacts": ["ops@printer.example.com"],
        "software_id": "an unknown member, ignored",
    })
}

/// POSTs `body` to the registration endpoint, with `token` as the bearer when given.
async fn register(app: &TestApp, token: Option<&str>, body: &Value) -> (u16, Value, String) {
    let mut request = http_client().post(app.url("/oauth/register")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        challenge,
    )
}

/// A request to the registration's own URI with its token.
async fn manage(
    method: reqwest::Method,
    uri: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = http_client().request(method, uri).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `user` signs in to the registered client; the token endpoint's answer to its code.
async fn sign_in(app: &TestApp, client: &TestClient) -> reqwest::Response {
    let user = app.create_user().await;
    let code = app
        .code_for(client, &user, "openid offline_access", &[])
        .await;
    app.exchange(client, &code, None).await
}

fn client_of(info: &Value) -> TestClient {
    TestClient {
        id: info["client_id"].as_str().unwrap().to_owned(),
        secret: info["client_secret"].as_str().map(str::to_owned),
    }
}

async fn registration_is_off_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert!(discovery.get("registration_endpoint").is_none());
    let (status, body, _) = register(&app, None, &metadata()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("registration.mode"));
    // A minted initial access token changes nothing while registration is off.
    let admin = Admin::new(&app).await;
    let (status, minted) = admin.post("/admin/initial-access-tokens", json!({})).await;
    assert_eq!(status, 201);
    let token = minted["token"].as_str().unwrap();
    let (status, _, _) = register(&app, Some(token), &metadata()).await;
    assert_eq!(status, 400);
}

async fn initial_access_tokens_admit_as_many_registrations_as_they_allow(backend: Backend) {
    let app = spawn_with_mode(backend, RegistrationMode::InitialAccessToken).await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["registration_endpoint"],
        app.url("/oauth/register")
    );

    // Without a token, or with one nobody minted: invalid_token, with the Bearer challenge.
    let (status, body, challenge) = register(&app, None, &metadata()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let (status, body, _) = register(&app, Some("not-a-token"), &metadata()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );

    // A token for two registrations, sent four times at once: two succeed.
    let admin = Admin::new(&app).await;
    let (status, minted) = admin
        .post(
            "/admin/initial-access-tokens",
            json!({"note": "partners", "uses": 2, "expires_in": 3600}),
        )
        .await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["token"].as_str().unwrap().to_owned();
    assert_eq!(minted["uses_left"], 2);

    // Metadata the server refuses does not spend the token.
    let (status, body, _) = register(
        &app,
        Some(&token),
        &json!({"redirect_uris": [REDIRECT_URI], "client_name": 7}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );

    let url = app.url("/oauth/register");
    let attempts: Vec<_> = (0..4)
        .map(|_| {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move {
                let response = http_client()
                    .post(url)
                    .bearer_auth(token)
                    .json(&metadata())
                    .send()
                    .await
                    .unwrap();
                response.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 401, 401]);
    let (_, listed) = admin.get("/admin/initial-access-tokens").await;
    let row = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == minted["id"])
        .unwrap()
        .clone();
    assert_eq!(row["uses_left"], 0);
    assert!(row.get("token").is_none(), "the token is shown once");

    // A token minted with the CLI works the same; revoked, it registers nothing more.
    let env = app.env.clone();
    let output = tokio::task::spawn_blocking(move || {
        env.oidcd(
            &[
                "initial-access-token",
                "create",
                "--uses",
                "5",
                "--note",
                "cli",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        crate::helpers::stderr(&output)
    );
    let minted: Value = serde_json::from_slice(&output.stdout).unwrap();
    let cli_token = minted["token"].as_str().unwrap();
    let (status, info, _) = register(&app, Some(cli_token), &metadata()).await;
    assert_eq!(status, 201, "{info}");
    let (status, _) = admin
        .call(
            reqwest::Method::DELETE,
            &format!(
                "/admin/initial-access-tokens/{}",
                minted["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = register(&app, Some(cli_token), &metadata()).await;
    assert_eq!(status, 401);

    // An expired token is refused.
    let (_, short) = admin
        .post("/admin/initial-access-tokens", json!({"expires_in": 1}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, _, _) = register(&app, short["token"].as_str(), &metadata()).await;
    assert_eq!(status, 401);

    // Out-of-range values name the member.
    let (status, body) = admin
        .post("/admin/initial-access-tokens", json!({"uses": 0}))
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("uses")));
}

async fn an_open_registration_is_a_working_client_within_a_bound_per_address(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let app = env
        .spawn_with(|c: &mut Config| {
            c.registration.mode = RegistrationMode::Open;
            c.registration.per_ip = 3;
        })
        .await;
    let (status, info, _) = register(&app, None, &metadata()).await;
    assert_eq!(status, 201, "{info}");
    // RFC 7591 3.2.1: the metadata as registered, the id, the secret, the management handle.
    assert_eq!(info["client_name"], "Photo Printer");
    assert_eq!(info["redirect_uris"], json!([REDIRECT_URI]));
    assert_eq!(info["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(info["scope"], "openid profile offline_access");
    assert_eq!(info["contacts"], json!(["ops@printer.example.com"]));
    assert_eq!(info["client_secret_expires_at"], 0);
    assert!(info["client_id_issued_at"].as_i64().unwrap() > 0);
    assert!(info.get("software_id").is_none());
    let id = info["client_id"].as_str().unwrap();
    assert_eq!(
        info["registration_client_uri"],
        app.url(&format!("/oauth/register/{id}"))
    );
    assert_eq!(
        info["registration_access_token"].as_str().unwrap().len(),
        43
    );

    // The client works: a user signs in, the code is exchanged with the secret.
    let client = client_of(&info);
    let response = sign_in(&app, &client).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert!(tokens["refresh_token"].is_string());

    // A public client (none): PKCE, no secret.
    let (status, public, _) = register(
        &app,
        None,
        &json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(status, 201, "{public}");
    assert!(public.get("client_secret").is_none());
    assert!(public.get("client_secret_expires_at").is_none());
    assert_eq!(
        public["client_name"], "127.0.0.1",
        "named by its redirect host"
    );

    // A third registration from this address is the last one in the window.
    let (status, _, _) = register(&app, None, &metadata()).await;
    assert_eq!(status, 201);
    let response = http_client()
        .post(app.url("/oauth/register"))
        .json(&metadata())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
}

async fn the_policy_bounds_what_an_app_may_ask_for(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let app = env
        .spawn_with(|c: &mut Config| {
            c.registration.mode = RegistrationMode::Open;
            c.registration.per_ip = 1000;
            c.registration.redirect_uris = NameList(vec!["https".into()]);
            c.registration.auth_methods =
                NameList(vec!["client_secret_basic".into(), "private_key_jwt".into()]);
            c.registration.scopes = NameList(vec!["openid".into(), "email".into()]);
            c.registration.grant_types = NameList(vec!["authorization_code".into()]);
            c.registration.resources = NameList(vec!["https://api.example.com".into()]);
        })
        .await;
    let admin = Admin::new(&app).await;
    let (status, _) = admin
        .post(
            "/admin/resources",
            json!({"identifier": "https://api.example.com", "scope": "email"}),
        )
        .await;
    assert_eq!(status, 201);

    let with = |extra: Value| {
        let mut body = json!({"redirect_uris": [REDIRECT_URI]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let refused: &[(Value, &str, &str)] = &[
        (
            json!({"grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
            "grant_types",
        ),
        (
            json!({"scope": "openid admin"}),
            "invalid_client_metadata",
            "scope",
        ),
        (
            json!({"scope": "openid profile"}),
            "invalid_client_metadata",
            "scope",
        ),
        (
            json!({"token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
            "jwks",
        ),
        (
            json!({"redirect_uris": ["http://127.0.0.1:5000/cb"]}),
            "invalid_redirect_uri",
            "loopback",
        ),
        (
            json!({"redirect_uris": ["com.example.app:/cb"]}),
            "invalid_redirect_uri",
            "private_use",
        ),
        (
            json!({"redirect_uris": ["http://app.example.com/cb"]}),
            "invalid_redirect_uri",
            "plain http",
        ),
        (
            json!({"redirect_uris": []}),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            json!({"redirect_uris": "https://app.example.com/cb"}),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            json!({"response_types": ["token"]}),
            "invalid_client_metadata",
            "response_types",
        ),
        (
            json!({"id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
            "RS256",
        ),
        (
            json!({"userinfo_signed_response_alg": "RS256"}),
            "invalid_client_metadata",
            "userinfo_signed_response_alg",
        ),
        (
            json!({"client_name": 7}),
            "invalid_client_metadata",
            "client_name",
        ),
        (
            json!({"client_uri": "javascript:alert(1)"}),
            "invalid_client_metadata",
            "client_uri",
        ),
        (
            json!({"contacts": ["not an address"]}),
            "invalid_client_metadata",
            "contacts",
        ),
        (
            json!({"subject_type": "secret"}),
            "invalid_client_metadata",
            "subject_type",
        ),
    ];
    for (extra, error, says) in refused {
        let (status, body, _) = register(&app, None, &with(extra.clone())).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(*error)),
            "{extra}: {body}"
        );
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{extra}: {description}");
    }
    for body in [json!([1, 2]), json!("text"), json!(null)] {
        let (status, answer, _) = register(&app, None, &body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_client_metadata"))
        );
    }
    let response = http_client()
        .post(app.url("/oauth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Within the policy: the scopes default to those open to apps, the client gets the open
    // resources, and `null` is the same as leaving a member out.
    let (status, info, _) = register(&app, None, &with(json!({"client_uri": null}))).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["scope"], "openid email");
    assert_eq!(info["grant_types"], json!(["authorization_code"]));
    let (_, view) = admin
        .get(&format!(
            "/admin/clients/{}",
            info["client_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(view["resources"], json!(["https://api.example.com"]));
    assert_eq!(view["self_registered"], true);

    // What only operators give is not the app's to ask for: those members are ignored.
    let (status, sly, _) = register(
        &app,
        None,
        &with(json!({
            "client_id": "chosen-id",
            "admin": true,
            "allowed_origins": ["https://evil.example.com"],
            "resources": ["https://elsewhere.example.com"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{sly}");
    assert_ne!(sly["client_id"], "chosen-id");
    let (_, view) = admin
        .get(&format!(
            "/admin/clients/{}",
            sly["client_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(view["scope"], "openid email");
    assert_eq!(view["allowed_origins"], json!([]));
    assert_eq!(view["resources"], json!(["https://api.example.com"]));
    let client = client_of(&info);
    let user = app.create_user().await;
    let code = app
        .code_for(
            &client,
            &user,
            "openid email",
            &[("resource", "https://api.example.com")],
        )
        .await;
    let response = app.exchange(&client, &code, None).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let claims = crate::helpers::jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://api.example.com");
}

async fn the_registration_access_token_reads_replaces_and_deletes_the_registration(
    backend: Backend,
) {
    let app = spawn_with_mode(backend, RegistrationMode::Open).await;
    let (_, info, _) = register(&app, None, &metadata()).await;
    let uri = info["registration_client_uri"].as_str().unwrap().to_owned();
    let token = info["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = client_of(&info);
    let (_, other, _) = register(&app, None, &metadata()).await;
    let other_token = other["registration_access_token"].as_str().unwrap();

    // Read: the registration, without the secret.
    let (status, read) = manage(reqwest::Method::GET, &uri, &token, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["client_id"], info["client_id"]);
    assert_eq!(read["redirect_uris"], info["redirect_uris"]);
    assert!(read.get("client_secret").is_none());
    assert_eq!(read["registration_access_token"], token.as_str());

    // Another registration's token, a made-up one, none: invalid_token, the same for each.
    for wrong in [other_token, "made-up"] {
        let (status, body) = manage(reqwest::Method::GET, &uri, wrong, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token"))
        );
    }
    let response = http_client().get(&uri).send().await.unwrap();
    assert_eq!(response.status(), 401);
    // A client an operator registered is not managed here, whatever the token.
    let operator = app.register_client().await;
    let (status, _) = manage(
        reqwest::Method::GET,
        &app.url(&format!("/oauth/register/{}", operator.id)),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 401);

    // Replace: the read answer sent back with a new name and redirect URI; the secret stays.
    let mut replaced = read.clone();
    replaced["client_name"] = json!("Photo Printer 2");
    replaced["redirect_uris"] = json!([REDIRECT_URI, "https://printer.example.com/cb"]);
    let (status, updated) = manage(reqwest::Method::PUT, &uri, &token, Some(&replaced)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Photo Printer 2");
    assert_eq!(updated["redirect_uris"].as_array().unwrap().len(), 2);
    assert!(updated.get("client_secret").is_none(), "the secret is kept");
    assert_eq!(sign_in(&app, &client).await.status(), 200);

    // What it may not change, or may not say.
    let refusals = [
        (
            json!({"client_id": "someone-else", "redirect_uris": [REDIRECT_URI]}),
            "client_id",
        ),
        (
            json!({"client_secret": "wrong", "redirect_uris": [REDIRECT_URI]}),
            "client_secret",
        ),
        (
            json!({"subject_type": "pairwise", "redirect_uris": [REDIRECT_URI]}),
            "subject_type",
        ),
        (
            json!({"redirect_uris": ["http://app.example.com/cb"]}),
            "redirect_uris",
        ),
    ];
    for (body, says) in refusals {
        let (status, answer) = manage(reqwest::Method::PUT, &uri, &token, Some(&body)).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error_description"].as_str().unwrap().contains(says));
    }
    // Sending back its own secret is fine; a member left out goes back to its default.
    let body = json!({
        "client_id": client.id,
        "client_secret": client.secret,
        "redirect_uris": [REDIRECT_URI],
    });
    let (status, updated) = manage(reqwest::Method::PUT, &uri, &token, Some(&body)).await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated.get("contacts").is_none_or(|c| c == &json!([])));

    // Dropping its secret: the grants made for the confidential client are revoked.
    let tokens: Value = sign_in(&app, &client).await.json().await.unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let body = json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"});
    let (status, public) = manage(reqwest::Method::PUT, &uri, &token, Some(&body)).await;
    assert_eq!(status, 200, "{public}");
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert!(public.get("client_secret").is_none());
    let response = http_client()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "the grant is gone");

    // Back to a method with a secret: a new one, answered once, and the old one is dead.
    let body = json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_basic"});
    let (status, confidential) = manage(reqwest::Method::PUT, &uri, &token, Some(&body)).await;
    assert_eq!(status, 200, "{confidential}");
    let renewed = client_of(&confidential);
    assert!(renewed.secret.is_some(), "{confidential}");
    assert_ne!(renewed.secret, client.secret);
    assert_eq!(sign_in(&app, &renewed).await.status(), 200);
    assert_eq!(sign_in(&app, &client).await.status(), 401);

    // A write made from an older read of the client is refused, not applied over the newer.
    let stale = oidcd::store::clients::get(&app.state.db, &client.id)
        .await
        .unwrap();
    let mut newer = stale.clone();
    newer.name = "Renamed".into();
    oidcd::store::clients::update(&app.state.db, &newer)
        .await
        .unwrap();
    let refused = oidcd::store::clients::update(&app.state.db, &stale).await;
    assert!(
        matches!(refused, Err(oidcd::store::StoreError::Stale)),
        "{refused:?}"
    );

    // Delete: gone, its token with it, and the token endpoint no longer knows it.
    let (status, _) = manage(reqwest::Method::DELETE, &uri, &token, None).await;
    assert_eq!(status, 204);
    let (status, _) = manage(reqwest::Method::GET, &uri, &token, None).await;
    assert_eq!(status, 401);
    let admin = Admin::new(&app).await;
    let (status, _) = admin.get(&format!("/admin/clients/{}", client.id)).await;
    assert_eq!(status, 404);
    let response = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", REDIRECT_URI),
            ],
            Some((&renewed.id, renewed.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(
        response.status(),
        401,
        "the secret it had authenticates nothing"
    );
}

/// An app that registered itself picked its post-logout URIs with nobody vetting them: a
/// logout link naming only its client_id signs the person out and keeps them here; with an
/// ID token it was issued, the redirect is followed.
async fn a_self_registered_apps_logout_redirect_needs_its_id_token(backend: Backend) {
    let app = spawn_with_mode(backend, RegistrationMode::Open).await;
    let mut body = metadata();
    body["post_logout_redirect_uris"] = json!([LOGOUT_URI]);
    let (_, info, _) = register(&app, None, &body).await;
    let client = client_of(&info);

    let mut url = url::Url::parse(&app.url("/oauth/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &client.id)
        .append_pair("post_logout_redirect_uri", LOGOUT_URI);
    let response = Browser::new(&app).get(url.as_str()).await;
    assert!(!response.status().is_redirection(), "{}", response.status());
    let page = response.text().await.unwrap().replace("&#x2f;", "/");
    assert!(!page.contains(LOGOUT_URI), "{page}");

    let tokens: Value = sign_in(&app, &client).await.json().await.unwrap();
    let mut url = url::Url::parse(&app.url("/oauth/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", LOGOUT_URI);
    let response = Browser::new(&app).get(url.as_str()).await;
    assert_eq!(response.status(), 302);
    assert_eq!(crate::helpers::location(&response), LOGOUT_URI);
}

/// A web server on 127.0.0.1 answering every request with `body` as `content_type`.
async fn file_server(content_type: &'static str, body: Vec<u8>) -> u16 {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                if !crate::helpers::read_request_head(&mut stream).await {
                    return;
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    port
}

/// The smallest PNG: one transparent pixel.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

async fn the_consent_page_shows_the_apps_logo_pages_and_that_it_registered_itself(
    backend: Backend,
) {
    let app = spawn_with_mode(backend, RegistrationMode::Open).await;
    let png = file_server("image/png", PNG.to_vec()).await;
    let svg = file_server(
        "image/png",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec(),
    )
    .await;

    // A logo that is not a raster image is refused, whatever its server calls it.
    let mut body = metadata();
    body["logo_uri"] = json!(format!("http://127.0.0.1:{svg}/logo.png"));
    let (status, answer, _) = register(&app, None, &body).await;
    assert_eq!(status, 400);
    assert!(answer["error_description"]
        .as_str()
        .unwrap()
        .contains("logo_uri"));

    body["logo_uri"] = json!(format!("http://127.0.0.1:{png}/logo.png"));
    body["client_uri"] = json!("https://printer.example.com/");
    body["policy_uri"] = json!("https://printer.example.com/privacy");
    body["tos_uri"] = json!("https://printer.example.com/terms");
    let (status, info, _) = register(&app, None, &body).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["logo_uri"], body["logo_uri"]);
    let client = client_of(&info);

    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let page = browser
        .get(&app.code_request_url(&client, "openid", &[]))
        .await
        .text()
        .await
        .unwrap();
    // minijinja escapes `/` in what it fills in; a browser reads `&#x2f;` as `/`.
    let page = browser.login(&page, &user).await.text().await.unwrap();
    let shown = page.replace("&#x2f;", "/").replace("&amp;", "&");
    let page = page.as_str();
    assert!(page.contains("name=\"step\" value=\"consent\""), "{page}");
    assert!(shown.contains("registered itself"), "{shown}");
    assert!(shown.contains("<strong>rp.example.com</strong>"), "{shown}");
    assert!(shown.contains("href=\"https://printer.example.com/privacy\""));
    assert!(shown.contains("href=\"https://printer.example.com/terms\""));
    assert!(shown.contains("Website"));
    // The logo comes from this server, never from the app's.
    let src = shown
        .split("class=\"client-logo\" src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page shows the logo")
        .to_owned();
    assert!(
        src.starts_with(&app.url(&format!("/clients/{}/logo", client.id))),
        "{src}"
    );
    let logo = http_client().get(&src).send().await.unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/png");
    assert_eq!(logo.headers()["x-content-type-options"], "nosniff");
    assert!(logo.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(logo.bytes().await.unwrap().as_ref(), PNG);
    let done = browser.consent(page, "allow").await;
    assert!(location_params(&done).contains_key("code"));

    // An operator's client: the same pages, set through the admin API, and no notice.
    let admin = Admin::new(&app).await;
    let (status, created) = admin
        .post(
            "/admin/clients",
            json!({
                "client_name": "Operator App",
                "redirect_uris": [REDIRECT_URI],
                "logo_uri": format!("http://127.0.0.1:{png}/logo.png"),
                "tos_uri": "https://operator.example.com/terms",
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["self_registered"], false);
    let operator = TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().map(str::to_owned),
    };
    let page = browser
        .get(&app.code_request_url(&operator, "openid", &[]))
        .await
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(page.contains("name=\"step\" value=\"consent\""), "{page}");
    assert!(!page.contains("registered itself"));
    assert!(page.contains("href=\"https://operator.example.com/terms\""));
    assert!(page.contains("class=\"client-logo\""));
    // Taken away with an empty string: the logo goes too.
    let (status, patched) = admin
        .patch(
            &format!("/admin/clients/{}", operator.id),
            json!({"logo_uri": ""}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert!(patched.get("logo_uri").is_none());
    let response = http_client()
        .get(app.url(&format!("/clients/{}/logo", operator.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The CLI sets them too.
    let env = app.env.clone();
    let output = tokio::task::spawn_blocking(move || {
        env.oidcd(
            &[
                "client",
                "create",
                "--name",
                "CLI App",
                "--redirect-uri",
                REDIRECT_URI,
                "--client-uri",
                "https://cli.example.com/",
                "--contact",
                "ops@cli.example.com",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        crate::helpers::stderr(&output)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["client_uri"], "https://cli.example.com/");
    assert_eq!(printed["contacts"], json!(["ops@cli.example.com"]));

    // Operator registration reads ClientPages too.
    let kept = app
        .register_client_with(ClientRegistration {
            pages: ClientPages {
                policy_uri: Some("https://kept.example.com/privacy".into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .await;
    let (_, view) = admin.get(&format!("/admin/clients/{}", kept.id)).await;
    assert_eq!(view["policy_uri"], "https://kept.example.com/privacy");
}
