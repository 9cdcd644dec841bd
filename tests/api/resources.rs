//! Resource indicators (RFC 8707): registered resources, the clients allowed them, `resource`
//! at the authorization, device authorization and token endpoints setting the access token's
//! `aud` and narrowing its scopes, and the refusals (`invalid_target`).

use oidcd::oauth::registration::{self, ClientRegistration, ResourceRegistration, SecretChoice};
use serde_json::{json, Value};

use crate::admin::Admin;
use crate::device::{answer, confirmation, poll};
use crate::helpers::{
    assert_refused, http_client, introspect, jwt_claims, location_params, stdout, Backend, Browser,
    TestApp, TestClient, TestEnv, REDIRECT_URI,
};
use crate::on_both_databases;

on_both_databases!(
    a_token_asked_for_a_resource_is_for_it_alone,
    naming_no_resource_at_the_token_endpoint_gets_every_one_granted,
    resources_the_client_may_not_have_are_refused,
    client_credentials_tokens_can_be_for_a_resource,
    a_device_can_ask_for_a_resource,
    resources_are_managed_with_the_admin_api_and_the_command_line,
);

const FILES: &str = "https://files.example.com/api";
const MAIL: &str = "urn:example:mail";
const UNKNOWN: &str = "https://unknown.example.com";

/// Registers `identifier` accepting `scopes`.
async fn add_resource(app: &TestApp, identifier: &str, scopes: &[&str]) {
    registration::register_resource(
        &app.state.db,
        ResourceRegistration {
            identifier: identifier.into(),
            // The files API has a name, the mail one goes by its identifier.
            name: (identifier == FILES).then(|| "Files".to_owned()),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        },
        Some(app.state.access_tokens.issuer()),
        app.state.clock.now(),
    )
    .await
    .unwrap();
}

/// Files (`files:read`) and mail (`mail`) registered, a confidential client allowed both, and
/// one allowed the files only.
async fn setting(app: &TestApp) -> (TestClient, TestClient) {
    add_resource(app, FILES, &["files:read", "files:write"]).await;
    add_resource(app, MAIL, &["mail"]).await;
    let scopes = ["openid", "email", "offline_access", "files:read", "mail"];
    let both = app
        .register_client_with(ClientRegistration {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            resources: vec![FILES.into(), MAIL.into()],
            ..Default::default()
        })
        .await;
    let files_only = app
        .register_client_with(ClientRegistration {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            resources: vec![FILES.into()],
            ..Default::default()
        })
        .await;
    (both, files_only)
}

/// A token request with the client's Basic credentials.
async fn token(app: &TestApp, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
    app.token(form, Some((&client.id, client.secret.as_deref().unwrap())))
        .await
}

async fn a_token_asked_for_a_resource_is_for_it_alone(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let (client, _) = setting(&app).await;
    let user = app.create_user().await;
    let scope = "openid email offline_access files:read mail";

    let code = app
        .code_for(&client, &user, scope, &[("resource", FILES)])
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("resource", FILES),
    ];
    let response = token(&app, &client, &form).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    // Only the scopes the resource accepts; the ID token is the client's, as ever.
    assert_eq!(tokens["scope"], "files:read");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = jwt_claims(access);
    assert_eq!(claims["aud"], FILES);
    assert_eq!(claims["scope"], "files:read");
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], client.id);

    // Consent is remembered per resource: the same scopes at another API ask again...
    let browser = Browser::new(&app);
    let url = |resource| app.code_request_url(&client, scope, &[("resource", resource)]);
    let login = browser.get(&url(MAIL)).await.text().await.unwrap();
    let page = browser.login(&login, &user).await.text().await.unwrap();
    assert!(page.contains("name=\"step\" value=\"consent\""), "{page}");
    assert!(page.contains("At: urn:example:mail"), "{page}");
    // ...and at the one consented to, they do not.
    let response = browser.get(&url(FILES)).await;
    assert!(location_params(&response).contains_key("code"));

    // Not a token for this issuer's own APIs.
    let response = app.userinfo(access).await;
    assert_eq!(response.status(), 401);
    // Introspection and revocation know it.
    let seen = introspect(&app, &client, access).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["aud"], FILES);
    assert_eq!(seen["scope"], "files:read");

    // A refresh names no resource: a token for the grant's, again.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let response = app.refresh(&client, refresh).await;
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.unwrap();
    assert_eq!(
        jwt_claims(refreshed["access_token"].as_str().unwrap())["aud"],
        FILES
    );
    // One the grant does not have is refused, and the refresh token is not spent by it.
    let refresh = refreshed["refresh_token"].as_str().unwrap();
    let asked = |resource: &'static str| {
        [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("resource", resource),
        ]
    };
    assert_refused(
        token(&app, &client, &asked(MAIL)).await,
        400,
        "invalid_target",
        "not part of the authorization request",
    )
    .await;
    // Past the grace window a spent refresh token would be refused (and its grant revoked):
    // this one was not spent.
    clock.advance(app.state.config.lifetimes.refresh_grace.as_i64() + 1);
    let response = token(&app, &client, &asked(FILES)).await;
    assert_eq!(response.status(), 200);
    let last: Value = response.json().await.unwrap();
    let access = last["access_token"].as_str().unwrap();

    // The resource's scopes change: the next token carries the new ones.
    let mut files = oidcd::store::resources::get(&app.state.db, FILES)
        .await
        .unwrap();
    files.scopes = vec!["files:write".into()];
    oidcd::store::resources::update(&app.state.db, &files)
        .await
        .unwrap();
    let refresh = last["refresh_token"].as_str().unwrap();
    assert_refused(
        app.refresh(&client, refresh).await,
        400,
        "invalid_scope",
        "resources named accept",
    )
    .await;
    files.scopes = vec!["files:read".into(), "files:write".into()];
    oidcd::store::resources::update(&app.state.db, &files)
        .await
        .unwrap();
    clock.advance(app.state.config.lifetimes.refresh_grace.as_i64() + 1);
    let response = app.refresh(&client, refresh).await;
    assert_eq!(
        response.status(),
        200,
        "the refused refresh did not spend it"
    );
    let widened: Value = response.json().await.unwrap();
    assert_eq!(widened["scope"], "files:read");

    // Revoked like any other token.
    let response = http_client()
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(introspect(&app, &client, access).await["active"], false);
}

async fn naming_no_resource_at_the_token_endpoint_gets_every_one_granted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (client, _) = setting(&app).await;
    let user = app.create_user().await;
    let scope = "openid files:read mail";
    // Repeated, as RFC 8707 2 has it, and a repeat of the same one is the same.
    let extra = [("resource", FILES), ("resource", MAIL), ("resource", FILES)];

    // The consent page says which APIs the access is for.
    let browser = Browser::new(&app);
    let login = browser
        .get(&app.code_request_url(&client, scope, &extra))
        .await;
    let login = login.text().await.unwrap();
    let consent = browser.login(&login, &user).await.text().await.unwrap();
    assert!(consent.contains("At: Files, urn:example:mail"), "{consent}");
    let done = browser.consent(&consent, "allow").await;
    let code = location_params(&done)["code"].clone();
    let response = app.exchange(&client, &code, None).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let claims = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!([FILES, MAIL]));
    assert_eq!(tokens["scope"], "files:read mail");

    // Without resource indicators, everything is as it was: a token for the issuer.
    let code = app.code_for(&client, &user, scope, &[]).await;
    let response = app.exchange(&client, &code, None).await;
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(access)["aud"], app.state.access_tokens.issuer());
    assert_eq!(tokens["scope"], scope);
    assert_eq!(app.userinfo(access).await.status(), 200);
    assert_eq!(
        introspect(&app, &client, access).await["aud"],
        app.state.access_tokens.issuer()
    );
    // ...and a resource cannot be added at the token endpoint to a grant made without it.
    let code = app.code_for(&client, &user, scope, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("resource", FILES),
    ];
    assert_refused(
        token(&app, &client, &form).await,
        400,
        "invalid_target",
        "not part of the authorization request",
    )
    .await;
    // The refusal did not spend the code.
    assert_eq!(app.exchange(&client, &code, None).await.status(), 200);
}

async fn resources_the_client_may_not_have_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (both, files_only) = setting(&app).await;
    let browser = Browser::new(&app);

    // At the authorization endpoint: at the redirect URI, with the state.
    for (client, resource, says) in [
        (&files_only, MAIL, "may not ask"),
        (&both, UNKNOWN, "may not ask"),
        (&both, "https://files.example.com/api#part", "absolute URI"),
        (&both, "files", "absolute URI"),
    ] {
        let url =
            app.code_request_url(client, "openid", &[("resource", resource), ("state", "s1")]);
        let response = browser.get(&url).await;
        assert_eq!(response.status(), 302, "{resource}");
        let params = location_params(&response);
        assert_eq!(params["error"], "invalid_target", "{resource}");
        assert!(params["error_description"].contains(says), "{params:?}");
        assert_eq!(params["state"], "s1");
    }
    // Allowed but no longer registered.
    oidcd::store::resources::delete(&app.state.db, MAIL, app.state.clock.now())
        .await
        .unwrap();
    let url = app.code_request_url(&both, "openid", &[("resource", MAIL)]);
    let params = location_params(&browser.get(&url).await);
    assert_eq!(params["error"], "invalid_target");

    // Other parameters are still refused when repeated.
    let url = app.code_request_url(&both, "openid", &[("resource", FILES), ("state", "a")]);
    let params = location_params(&browser.get(&format!("{url}&state=b")).await);
    assert_eq!(params["error"], "invalid_request");

    // At the token endpoint.
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", "not a uri"),
    ];
    let machine = app.register_machine_client().await;
    assert_refused(
        token(&app, &machine, &form).await,
        400,
        "invalid_target",
        "absolute URI",
    )
    .await;
}

async fn client_credentials_tokens_can_be_for_a_resource(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_resource(&app, FILES, &["files:read", "files:write"]).await;
    add_resource(&app, MAIL, &["mail"]).await;
    let machine = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api".into(), "files:read".into(), "mail".into()],
            resources: vec![FILES.into()],
            ..Default::default()
        })
        .await;
    // A resource server that may introspect every token.
    let server = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["introspect".into()],
            ..Default::default()
        })
        .await;

    let response = token(
        &app,
        &machine,
        &[("grant_type", "client_credentials"), ("resource", FILES)],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "files:read");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(access)["aud"], FILES);
    let seen = introspect(&app, &server, access).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["aud"], FILES);
    assert_eq!(seen["client_id"], machine.id);

    // Without a resource: the issuer, and every scope asked for.
    let response = token(&app, &machine, &[("grant_type", "client_credentials")]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "api files:read mail");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        app.state.access_tokens.issuer()
    );

    // A registered resource this client is not allowed.
    assert_refused(
        token(
            &app,
            &machine,
            &[("grant_type", "client_credentials"), ("resource", MAIL)],
        )
        .await,
        400,
        "invalid_target",
        "may not ask",
    )
    .await;
}

async fn a_device_can_ask_for_a_resource(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    add_resource(&app, FILES, &["files:read"]).await;
    let client = app
        .register_client_with(ClientRegistration {
            secret: SecretChoice::Public,
            grant_types: vec!["device_code".into()],
            redirect_uris: vec![],
            scopes: vec!["openid".into(), "files:read".into()],
            resources: vec![FILES.into()],
            ..Default::default()
        })
        .await;
    let user = app.create_user().await;
    let start = |resource: &'static str| {
        http_client()
            .post(app.url("/oauth/device_authorization"))
            .form(&[
                ("client_id", client.id.as_str()),
                ("scope", "openid files:read"),
                ("resource", resource),
            ])
            .send()
    };
    assert_refused(
        start(MAIL).await.unwrap(),
        400,
        "invalid_target",
        "may not ask",
    )
    .await;
    let response = start(FILES).await.unwrap();
    assert_eq!(response.status(), 200);
    let auth: Value = response.json().await.unwrap();
    let user_code = auth["user_code"].as_str().unwrap();
    let browser = Browser::new(&app);
    // The confirmation page names the API.
    let confirm = confirmation(&app, &Browser::new(&app), user_code, &user).await;
    assert!(confirm.contains("At: Files"), "{confirm}");
    let done = answer(&app, &browser, user_code, &user, "approve").await;
    assert!(done.contains("Device connected"));
    clock.advance(5);
    let response = poll(&app, &client, auth["device_code"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["scope"], "files:read");
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["aud"],
        FILES
    );
}

async fn resources_are_managed_with_the_admin_api_and_the_command_line(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = Admin::new(&app).await;
    let query = |identifier: &str| {
        format!(
            "/admin/resources?identifier={}",
            url::form_urlencoded::byte_serialize(identifier.as_bytes()).collect::<String>()
        )
    };

    let (status, created) = admin
        .post(
            "/admin/resources",
            json!({"identifier": FILES, "name": "Files", "scope": "files:read files:write"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["identifier"], FILES);
    assert_eq!(created["scope"], "files:read files:write");
    let (status, _) = admin
        .post("/admin/resources", json!({"identifier": FILES}))
        .await;
    assert_eq!(status, 409);
    for (body, field) in [
        (json!({"identifier": "https://x.example/#f"}), "identifier"),
        (json!({"identifier": "relative/path"}), "identifier"),
        (json!({"identifier": MAIL, "scope": "admin"}), "scope"),
        (json!({"identifier": MAIL, "name": ""}), "name"),
        (
            json!({"identifier": app.state.access_tokens.issuer()}),
            "identifier",
        ),
        (
            json!({"identifier": "https://x.example/\"q\""}),
            "identifier",
        ),
    ] {
        let (status, error) = admin.post("/admin/resources", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["field"], field, "{error}");
    }

    let (status, listed) = admin.get("/admin/resources").await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (status, one) = admin.get(&query(FILES)).await;
    assert_eq!(status, 200);
    assert_eq!(one["items"][0]["name"], "Files");
    assert_eq!(admin.get(&query(UNKNOWN)).await.0, 404);
    let (status, patched) = admin
        .patch(&query(FILES), json!({"scope": "files:read"}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["scope"], "files:read");
    assert_eq!(patched["name"], "Files");

    // A client may be allowed registered resources only.
    let client = json!({
        "client_name": "Sync", "grant_types": ["client_credentials"],
        "scope": "files:read", "resources": [UNKNOWN]
    });
    let (status, error) = admin.post("/admin/clients", client.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "resources");
    let mut client = client;
    client["resources"] = json!([FILES]);
    let (status, created) = admin.post("/admin/clients", client).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["resources"], json!([FILES]));
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let (status, _) = admin
        .patch(
            &format!("/admin/clients/{id}"),
            json!({"resources": [FILES, UNKNOWN]}),
        )
        .await;
    assert_eq!(status, 400);
    let sync = TestClient {
        id: id.clone(),
        secret: Some(secret),
    };
    let form = [("grant_type", "client_credentials"), ("resource", FILES)];
    assert_eq!(token(&app, &sync, &form).await.status(), 200);

    // Deleting the resource takes it off the client: registering it again gives nothing back.
    assert_eq!(admin.delete(&query(FILES)).await.0, 204);
    assert_eq!(admin.delete(&query(FILES)).await.0, 404);
    let (_, seen) = admin.get(&format!("/admin/clients/{id}")).await;
    assert_eq!(seen["resources"], json!([]));
    add_resource(&app, FILES, &["files:read"]).await;
    assert_refused(
        token(&app, &sync, &form).await,
        400,
        "invalid_target",
        "may not ask",
    )
    .await;

    // The command line.
    let added = app.env.oidcd(
        &["resource", "add", MAIL, "--name", "Mail", "--scope", "mail"],
        &[],
    );
    assert!(added.status.success(), "{added:?}");
    let shown: Value = serde_json::from_str(&stdout(&added)).unwrap();
    assert_eq!(shown["identifier"], MAIL);
    assert_eq!(shown["scope"], "mail");
    let made = app.env.oidcd(
        &[
            "client",
            "create",
            "--name",
            "Mailer",
            "--grant-type",
            "client_credentials",
            "--scope",
            "mail",
            "--resource",
            MAIL,
        ],
        &[],
    );
    assert!(made.status.success(), "{made:?}");
    let made: Value = serde_json::from_str(&stdout(&made)).unwrap();
    assert_eq!(made["resources"], json!([MAIL]));
    let mailer = TestClient {
        id: made["client_id"].as_str().unwrap().to_owned(),
        secret: made["client_secret"].as_str().map(str::to_owned),
    };
    let response = token(
        &app,
        &mailer,
        &[("grant_type", "client_credentials"), ("resource", MAIL)],
    )
    .await;
    assert_eq!(response.status(), 200);
    let listed = app.env.oidcd(&["resource", "list"], &[]);
    assert!(stdout(&listed).contains(MAIL));
    let refused = app.env.oidcd(
        &["client", "create", "--name", "X", "--resource", UNKNOWN],
        &[],
    );
    assert!(!refused.status.success());
    let removed = app.env.oidcd(&["resource", "remove", MAIL], &[]);
    assert!(removed.status.success(), "{removed:?}");
    assert!(!stdout(&app.env.oidcd(&["resource", "list"], &[])).contains(MAIL));
}
