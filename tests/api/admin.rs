//! The admin API: every operation, its validation errors, and 401/403 without a proper admin
//! token (RFC 6750 3.1).

use oidcd::oauth::registration::ClientRegistration;
use serde_json::{json, Value};

use crate::helpers::{http_client, Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(
    the_admin_api_needs_an_admin_client_credentials_token,
    clients_can_be_created_listed_read_updated_rotated_and_deleted,
    client_validation_errors_name_the_field,
    users_can_be_created_listed_read_updated_disabled_and_deleted,
    keys_can_be_listed_rotated_and_withdrawn,
);

/// An admin client and a token for it.
pub async fn admin_token(app: &TestApp) -> String {
    let admin = app
        .register_client_with(ClientRegistration {
            admin: true,
            grant_types: vec!["client_credentials".into()],
            ..Default::default()
        })
        .await;
    let response = app
        .token(
            &[("grant_type", "client_credentials"), ("scope", "admin")],
            Some((&admin.id, admin.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub struct Admin<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Admin<'a> {
    pub async fn new(app: &'a TestApp) -> Self {
        Self {
            token: admin_token(app).await,
            app,
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = http_client()
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

fn assert_error(result: &(u16, Value), status: u16, error: &str, field: Option<&str>) {
    assert_eq!(result.0, status, "{}", result.1);
    assert_eq!(result.1["error"], error, "{}", result.1);
    assert!(result.1["error_description"].is_string());
    if let Some(f) = field {
        assert_eq!(result.1["field"], f, "{}", result.1);
    }
}

async fn the_admin_api_needs_an_admin_client_credentials_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = http_client();

    // No token: 401 with a bare Bearer challenge.
    let response = http.get(app.url("/admin/clients")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));

    // A token that is not ours: 401 invalid_token.
    let response = http
        .get(app.url("/admin/clients"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // A valid token without the admin scope: 403 insufficient_scope.
    let service = app
        .register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["photos:read".into()],
            ..Default::default()
        })
        .await;
    let token: Value = app
        .token(
            &[("grant_type", "client_credentials")],
            Some((&service.id, service.secret.as_deref().unwrap())),
        )
        .await
        .json()
        .await
        .unwrap();
    let response = http
        .get(app.url("/admin/clients"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));

    // A user's access token is not an admin token.
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app.signed_in_tokens(&client, &user, "openid").await;
    let response = http
        .get(app.url("/admin/clients"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // The real thing works; revoking the token or deleting the admin client ends it.
    let admin = Admin::new(&app).await;
    assert_eq!(admin.get("/admin/clients").await.0, 200);
    let introspected: Value = http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&service.id, service.secret.as_deref())
        .form(&[("token", admin.token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        introspected["active"], false,
        "another client may not introspect it"
    );
    let admin_client = crate::helpers::jwt_claims(&admin.token)["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_admin = Admin::new(&app).await;
    assert_eq!(
        other_admin
            .delete(&format!("/admin/clients/{admin_client}"))
            .await
            .0,
        204
    );
    assert_eq!(admin.get("/admin/clients").await.0, 401);
}

async fn clients_can_be_created_listed_read_updated_rotated_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = Admin::new(&app).await;

    // Create: the secret is shown once.
    let (status, created) = admin
        .post(
            "/admin/clients",
            json!({
                "client_name": "Photo App",
                "client_id": "photos",
                "redirect_uris": ["https://photos.example.com/cb"],
                "scope": "openid profile offline_access"
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        created["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    let (status, read) = admin.get("/admin/clients/photos").await;
    assert_eq!(status, 200);
    assert!(read.get("client_secret").is_none(), "never shown again");
    assert_eq!(read["client_name"], "Photo App");

    // A duplicate id is a conflict.
    let duplicate = admin
        .post("/admin/clients", json!({"client_name": "Again", "client_id": "photos", "redirect_uris": ["https://a.example/cb"]}))
        .await;
    assert_error(&duplicate, 409, "conflict", None);

    // Paging.
    for i in 0..3 {
        let (status, _) = admin
            .post("/admin/clients", json!({"client_name": format!("App {i}"), "client_id": format!("app-{i}"), "redirect_uris": ["https://a.example/cb"]}))
            .await;
        assert_eq!(status, 201);
    }
    let (_, first) = admin.get("/admin/clients?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second) = admin
        .get(&format!("/admin/clients?limit=2&after={next}"))
        .await;
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    seen.dedup();
    assert!(seen.len() >= 4, "{seen:?}");

    // Update.
    let (status, updated) = admin
        .patch(
            "/admin/clients/photos",
            json!({"client_name": "Photos", "redirect_uris": ["https://photos.example.com/cb", "https://photos.example.com/cb2"]}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Photos");
    assert_eq!(updated["redirect_uris"].as_array().unwrap().len(), 2);
    assert_eq!(
        updated["scope"], "openid profile offline_access",
        "untouched members stay"
    );

    // Rotate the secret: the old one stops working, the new one works.
    let token_with = |secret: String| {
        let app = &app;
        async move {
            app.token(
                &[("grant_type", "refresh_token"), ("refresh_token", "x")],
                Some(("photos", &secret)),
            )
            .await
            .status()
            .as_u16()
        }
    };
    assert_eq!(
        token_with(secret.clone()).await,
        400,
        "authenticated (then invalid_grant)"
    );
    let (status, rotated) = admin.post("/admin/clients/photos/secret", json!({})).await;
    assert_eq!(status, 200);
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(token_with(secret).await, 401);
    assert_eq!(token_with(new_secret).await, 400);

    // Delete.
    assert_eq!(admin.delete("/admin/clients/photos").await.0, 204);
    assert_error(
        &admin.get("/admin/clients/photos").await,
        404,
        "not_found",
        None,
    );
    assert_error(
        &admin.delete("/admin/clients/photos").await,
        404,
        "not_found",
        None,
    );
    assert_error(
        &admin.post("/admin/clients/photos/secret", json!({})).await,
        404,
        "not_found",
        None,
    );
}

async fn client_validation_errors_name_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = Admin::new(&app).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "empty name",
            json!({"client_name": " ", "redirect_uris": ["https://a.example/cb"]}),
            "client_name",
        ),
        (
            "open redirect",
            json!({"client_name": "A", "redirect_uris": ["javascript:alert(1)"]}),
            "redirect_uris",
        ),
        ("no redirect", json!({"client_name": "A"}), "redirect_uris"),
        (
            "short secret",
            json!({"client_name": "A", "client_secret": "short", "redirect_uris": ["https://a.example/cb"]}),
            "client_secret",
        ),
        (
            "bad grant",
            json!({"client_name": "A", "grant_types": ["password"], "redirect_uris": ["https://a.example/cb"]}),
            "grant_types",
        ),
        (
            "admin scope",
            json!({"client_name": "A", "scope": "openid admin", "redirect_uris": ["https://a.example/cb"]}),
            "scope",
        ),
        (
            "public with secret",
            json!({"client_name": "A", "public": true, "client_secret": "x".repeat(40), "redirect_uris": ["https://a.example/cb"]}),
            "client_secret",
        ),
        (
            "wrong type",
            json!({"client_name": "A", "redirect_uris": "https://a.example/cb"}),
            "redirect_uris",
        ),
        (
            "missing name",
            json!({"redirect_uris": ["https://a.example/cb"]}),
            "client_name",
        ),
    ];
    for (label, body, field) in cases {
        let result = admin.post("/admin/clients", body).await;
        assert_eq!(result.0, 400, "{label}: {}", result.1);
        assert_eq!(result.1["error"], "invalid_request", "{label}");
        assert_eq!(result.1["field"], field, "{label}: {}", result.1);
    }
    // Not JSON at all.
    let response = http_client()
        .post(app.url("/admin/clients"))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    // An update is validated the same way.
    let (status, _) = admin
        .post("/admin/clients", json!({"client_name": "A", "client_id": "a", "redirect_uris": ["https://a.example/cb"]}))
        .await;
    assert_eq!(status, 201);
    let result = admin
        .patch(
            "/admin/clients/a",
            json!({"redirect_uris": ["http://evil.example/cb"]}),
        )
        .await;
    assert_error(&result, 400, "invalid_request", Some("redirect_uris"));
    let result = admin
        .patch("/admin/clients/a", json!({"redirect_uris": []}))
        .await;
    assert_error(&result, 400, "invalid_request", Some("redirect_uris"));
    assert_error(
        &admin.get("/admin/clients?limit=abc").await,
        400,
        "invalid_request",
        Some("limit"),
    );
}

async fn users_can_be_created_listed_read_updated_disabled_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = Admin::new(&app).await;

    let (status, user) = admin
        .post(
            "/admin/users",
            json!({"username": "grace", "password": "cobol-1959", "claims": {"name": "Grace Hopper", "email": "grace@example.com", "email_verified": true}}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    assert_eq!(user["claims"]["name"], "Grace Hopper");

    assert_error(
        &admin
            .post(
                "/admin/users",
                json!({"username": "grace", "password": "another-1"}),
            )
            .await,
        409,
        "conflict",
        None,
    );
    assert_error(
        &admin
            .post(
                "/admin/users",
                json!({"username": "ada", "password": "short"}),
            )
            .await,
        400,
        "invalid_request",
        Some("password"),
    );
    assert_error(
        &admin
            .post(
                "/admin/users",
                json!({"username": "has space", "password": "long-enough"}),
            )
            .await,
        400,
        "invalid_request",
        Some("username"),
    );
    assert_error(
        &admin.post("/admin/users", json!({"username": "ada", "password": "long-enough", "claims": {"favourite_colour": "blue"}})).await,
        400,
        "invalid_request",
        Some("claims"),
    );

    let (status, read) = admin.get(&format!("/admin/users/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(read["username"], "grace");
    let (status, page) = admin.get("/admin/users?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    let (status, updated) = admin
        .patch(
            &format!("/admin/users/{id}"),
            json!({"claims": {"name": "Rear Admiral Hopper"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["claims"], json!({"name": "Rear Admiral Hopper"}));
    assert_error(
        &admin
            .patch(
                &format!("/admin/users/{id}"),
                json!({"claims": {"email": "nope"}}),
            )
            .await,
        400,
        "invalid_request",
        Some("email"),
    );

    // A new password works at the login form.
    assert_eq!(
        admin
            .put(
                &format!("/admin/users/{id}/password"),
                json!({"password": "flow-matic-1955"})
            )
            .await
            .0,
        204
    );
    let found = oidcd::oidc::accounts::authenticate(
        &app.state.db,
        &app.state.passwords,
        "grace",
        "flow-matic-1955",
    )
    .await
    .unwrap();
    assert!(found.is_some());

    // Disabling revokes the user's grants and refuses logins; enabling lets them log in again.
    let client = app.register_client().await;
    let test_user = crate::helpers::TestUser {
        username: "grace".into(),
        password: "flow-matic-1955".into(),
        sub: id.clone(),
    };
    let tokens = app
        .signed_in_tokens(&client, &test_user, "openid offline_access")
        .await;
    let (status, disabled) = admin
        .post(&format!("/admin/users/{id}/disable"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(disabled["disabled"], true);
    assert_eq!(
        app.refresh(&client, tokens["refresh_token"].as_str().unwrap())
            .await
            .status(),
        400
    );
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    let refused = oidcd::oidc::accounts::authenticate(
        &app.state.db,
        &app.state.passwords,
        "grace",
        "flow-matic-1955",
    )
    .await
    .unwrap();
    assert!(refused.is_none());
    let (_, enabled) = admin
        .post(&format!("/admin/users/{id}/enable"), json!({}))
        .await;
    assert_eq!(enabled["disabled"], false);

    assert_eq!(admin.delete(&format!("/admin/users/{id}")).await.0, 204);
    assert_error(
        &admin.get(&format!("/admin/users/{id}")).await,
        404,
        "not_found",
        None,
    );
    assert_error(
        &admin
            .put(
                &format!("/admin/users/{id}/password"),
                json!({"password": "whatever-1"}),
            )
            .await,
        404,
        "not_found",
        None,
    );
    assert_error(
        &admin
            .post(&format!("/admin/users/{id}/disable"), json!({}))
            .await,
        404,
        "not_found",
        None,
    );
}

async fn keys_can_be_listed_rotated_and_withdrawn(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = Admin::new(&app).await;

    let (status, keys) = admin.get("/admin/keys").await;
    assert_eq!(status, 200);
    let states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"active") && states.contains(&"next"),
        "{states:?}"
    );
    let active = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "active")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    // The next key is brand new: refused unless forced, and the refusal says how to force it.
    let refused = admin.post("/admin/keys/rotate", json!({})).await;
    assert_error(&refused, 409, "conflict", None);
    assert!(
        refused.1["error_description"]
            .as_str()
            .unwrap()
            .contains("?force=true"),
        "{}",
        refused.1
    );
    let (status, rotation) = admin.post("/admin/keys/rotate?force=true", json!({})).await;
    assert_eq!(status, 200, "{rotation}");
    assert_eq!(rotation["retired"], active);
    // This instance serves the change at once.
    let jwks = app.get_json("/jwks.json").await;
    assert_eq!(crate::helpers::kids(&jwks).len(), 3);

    // The active key cannot be withdrawn; the retired one can, and leaves the JWKS.
    let new_active = rotation["activated"].as_str().unwrap();
    assert_error(
        &admin
            .post(&format!("/admin/keys/{new_active}/retire"), json!({}))
            .await,
        409,
        "conflict",
        None,
    );
    assert_error(
        &admin.post("/admin/keys/nope/retire", json!({})).await,
        404,
        "not_found",
        None,
    );
    assert_eq!(
        admin
            .post(&format!("/admin/keys/{active}/retire"), json!({}))
            .await
            .0,
        204
    );
    let jwks = app.get_json("/jwks.json").await;
    assert!(!crate::helpers::kids(&jwks).contains(&active));
    // The admin's own token was signed by the withdrawn key: though verified on every call
    // above, it is refused now.
    assert_eq!(admin.get("/admin/keys").await.0, 401);
}
