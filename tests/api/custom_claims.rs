//! Claims beyond the standard set: `groups` built in, and the operator's own (`claims.custom`),
//! each released by its scope into the tokens and userinfo it is declared for.

use serde_json::{json, Value};

use crate::admin::admin_token;
use crate::helpers::{
    http_client, jwt_claims, location_params, stdout, Backend, Browser, TestApp, TestEnv,
};
use crate::on_both_databases;
use oidcd::config::{ClaimKind, Config, CustomClaim, CustomClaims};
use oidcd::oauth::registration::ClientRegistration;

on_both_databases!(
    declared_claims_and_groups_go_where_their_scopes_release_them,
    values_of_the_wrong_type_are_refused,
);

fn declare(config: &mut Config) {
    config.claims.custom = CustomClaims(vec![
        CustomClaim {
            name: "department".into(),
            kind: ClaimKind::String,
            scope: "org".into(),
            description: "your department".into(),
            id_token: true,
            access_token: true,
            userinfo: true,
        },
        CustomClaim {
            name: "cost_center".into(),
            kind: ClaimKind::Integer,
            scope: "org".into(),
            description: "your cost centre".into(),
            id_token: false,
            access_token: false,
            userinfo: true,
        },
    ]);
}

/// Creates a user through the admin API; the response.
async fn create_user(
    app: &TestApp,
    token: &str,
    username: &str,
    claims: Value,
) -> reqwest::Response {
    http_client()
        .post(app.url("/admin/users"))
        .bearer_auth(token)
        .json(
            &json!({ "username": username, "password": "correct horse battery", "claims": claims }),
        )
        .send()
        .await
        .unwrap()
}

async fn declared_claims_and_groups_go_where_their_scopes_release_them(backend: Backend) {
    let app = TestEnv::new(backend).await.spawn_with(declare).await;
    let admin = admin_token(&app).await;
    let client = app
        .register_client_with(ClientRegistration {
            scopes: ["openid", "profile", "groups", "org", "offline_access"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        })
        .await;
    let response = create_user(
        &app,
        &admin,
        "grace",
        json!({"name": "Grace", "groups": ["admins", "ops"], "department": "R&D", "cost_center": 42}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let user = crate::helpers::TestUser {
        username: "grace".into(),
        password: "correct horse battery".into(),
        sub: response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .into(),
    };

    // Discovery names the new scopes and claims.
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    for scope in ["groups", "org"] {
        assert!(discovery["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(scope)));
    }
    for claim in ["groups", "department", "cost_center"] {
        assert!(discovery["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(claim)));
    }

    // The consent page names them in the operator's words.
    let browser = Browser::new(&app);
    let url = app.code_request_url(&client, "openid groups org offline_access", &[]);
    let page = browser.get(&url).await.text().await.unwrap();
    let page = browser.login(&page, &user).await.text().await.unwrap();
    assert!(
        page.contains("See your department, your cost centre"),
        "{page}"
    );
    assert!(page.contains("See the groups you belong to"), "{page}");
    let done = browser.consent(&page, "allow").await;
    let code = location_params(&done)["code"].clone();
    let response = app.exchange(&client, &code, None).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();

    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["groups"], json!(["admins", "ops"]));
    assert_eq!(id["department"], "R&D");
    assert!(id.get("cost_center").is_none(), "userinfo only: {id}");
    let access_token = tokens["access_token"].as_str().unwrap();
    let access = jwt_claims(access_token);
    assert_eq!(access["groups"], json!(["admins", "ops"]));
    assert_eq!(access["department"], "R&D");
    assert!(access.get("cost_center").is_none(), "{access}");
    let info: Value = app.userinfo(access_token).await.json().await.unwrap();
    assert_eq!(info["groups"], json!(["admins", "ops"]));
    assert_eq!(info["department"], "R&D");
    assert_eq!(info["cost_center"], 42);

    // A refresh carries them on.
    let refreshed: Value = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwt_claims(refreshed["access_token"].as_str().unwrap())["groups"],
        json!(["admins", "ops"])
    );

    // Without their scopes, none of them anywhere.
    let code = app.code_for(&client, &user, "openid profile", &[]).await;
    let tokens: Value = app
        .exchange(&client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    let access_token = tokens["access_token"].as_str().unwrap();
    let access = jwt_claims(access_token);
    let info: Value = app.userinfo(access_token).await.json().await.unwrap();
    for claim in ["groups", "department", "cost_center"] {
        assert!(id.get(claim).is_none(), "{claim} in {id}");
        assert!(access.get(claim).is_none(), "{claim} in {access}");
        assert!(info.get(claim).is_none(), "{claim} in {info}");
    }
    assert_eq!(info["name"], "Grace");

    // Asked for by name in the claims parameter, a declared claim meant for userinfo only
    // goes into the ID token when its scope is granted.
    let code = app
        .code_for(
            &client,
            &user,
            "openid org",
            &[("claims", r#"{"id_token":{"cost_center":null}}"#)],
        )
        .await;
    let tokens: Value = app
        .exchange(&client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["cost_center"],
        42
    );
}

async fn values_of_the_wrong_type_are_refused(backend: Backend) {
    let app = TestEnv::new(backend).await.spawn_with(declare).await;
    let admin = admin_token(&app).await;
    for (claims, says) in [
        (
            json!({"groups": "admins"}),
            "`groups` must be of type string_array",
        ),
        (
            json!({"groups": ["admins", 7]}),
            "`groups` must be of type string_array",
        ),
        (
            json!({"cost_center": "42"}),
            "`cost_center` must be of type integer",
        ),
        (
            json!({"cost_center": 4.2}),
            "`cost_center` must be of type integer",
        ),
        (
            json!({"shoe_size": 42}),
            "`shoe_size` is neither a standard claim nor a declared one",
        ),
    ] {
        let response = create_user(&app, &admin, "ada", claims.clone()).await;
        assert_eq!(response.status(), 400, "{claims}");
        let body = response.text().await.unwrap();
        assert!(body.contains(says), "{claims}: {body}");
    }
    let response = create_user(&app, &admin, "ada", json!({"groups": []})).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = http_client()
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"claims": {"department": ["R&D"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("`department` must be of type string"));
    let env = app.stop().await;

    // The CLI takes a list one item at a time, and the declarations from the environment.
    let declared =
        r#"[{"name":"department","type":"string","scope":"org","description":"your department"}]"#;
    let out = crate::helpers::run_oidcd(
        &env.dir,
        &[
            "user",
            "create",
            "--username",
            "linus",
            "--password-stdin",
            "--claim",
            "groups=admins",
            "--claim",
            "groups=ops",
            "--claim",
            "department=Kernel",
        ],
        &[
            ("OIDCD_DATABASE_URL", env.database_url.as_str()),
            ("OIDCD_KEK", env.kek.as_str()),
            ("OIDCD_CUSTOM_CLAIMS", declared),
        ],
        Some("penguins-are-fine\n"),
    );
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    let shown: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["claims"]["groups"], json!(["admins", "ops"]));
    assert_eq!(shown["claims"]["department"], "Kernel");
    // A declaration that takes a standard name stops the command, naming the setting.
    let out = env.oidcd(
        &["user", "list"],
        &[(
            "OIDCD_CUSTOM_CLAIMS",
            r#"[{"name":"email","type":"string","scope":"org","description":"x"}]"#,
        )],
    );
    assert!(!out.status.success());
    assert!(
        crate::helpers::stderr(&out).contains("claims.custom (OIDCD_CUSTOM_CLAIMS)"),
        "{}",
        crate::helpers::stderr(&out)
    );
}
