//! The `claims` request parameter (OIDC Core 5.5) and the authentication context in ID tokens
//! (`acr`, `amr`, `auth_time`; `acr_values`).

use serde_json::Value;

use crate::helpers::{jwt_claims, location_params, Backend, Browser, TestApp};
use crate::on_both_databases;

on_both_databases!(
    every_id_token_says_how_the_person_signed_in,
    claims_asked_for_in_the_id_token_are_put_there_when_the_scopes_release_them,
    an_essential_acr_that_cannot_be_reached_is_refused,
    a_malformed_claims_parameter_is_refused_at_the_redirect_uri,
);

const ACR_PASSWORD: &str = "urn:oidcd:acr:password";

async fn every_id_token_says_how_the_person_signed_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    // acr_values naming a level this provider does not have is a wish: answered with the
    // level reached.
    let code = app
        .code_for(
            &client,
            &user,
            "openid",
            &[("acr_values", "urn:example:loa:3")],
        )
        .await;
    let response = app.exchange(&client, &code, None).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], ACR_PASSWORD);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert!(claims["auth_time"].is_i64());

    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["claims_parameter_supported"], true);
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!([ACR_PASSWORD, "urn:oidcd:acr:mfa"])
    );
    for claim in ["acr", "amr", "auth_time"] {
        assert!(
            discovery["claims_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == claim),
            "{claim}"
        );
    }
}

async fn claims_asked_for_in_the_id_token_are_put_there_when_the_scopes_release_them(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let claims = r#"{"id_token":{"email":{"essential":true},"name":null,"acr":null},"userinfo":{"email":null}}"#;
    let code = app
        .code_for(
            &client,
            &user,
            "openid email offline_access",
            &[("claims", claims)],
        )
        .await;
    let response = app.exchange(&client, &code, None).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["email"], format!("{}@example.com", user.username));
    // `name` needs the profile scope, which was not granted: left out.
    assert!(id.get("name").is_none(), "{id}");
    assert_eq!(id["acr"], ACR_PASSWORD);

    // Userinfo still answers by the scopes.
    let info: Value = app
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], id["email"]);
    assert!(info.get("name").is_none());

    // ID tokens issued on refresh carry the same claims.
    let refreshed: Value = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let id = jwt_claims(refreshed["id_token"].as_str().unwrap());
    assert_eq!(id["email"], format!("{}@example.com", user.username));
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));

    // Without the parameter, the ID token holds no profile claims.
    let tokens = app.signed_in_tokens(&client, &user, "openid email").await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert!(id.get("email").is_none(), "{id}");
}

async fn an_essential_acr_that_cannot_be_reached_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let url = app.code_request_url(
        &client,
        "openid",
        &[(
            "claims",
            r#"{"id_token":{"acr":{"essential":true,"values":["urn:example:loa:3"]}}}"#,
        )],
    );
    let response = Browser::new(&app).get(&url).await;
    assert!(response.status().is_redirection());
    let params = location_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert!(params["error_description"].contains("acr"), "{params:?}");
}

async fn a_malformed_claims_parameter_is_refused_at_the_redirect_uri(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    for bad in [
        "not json",
        r#"["id_token"]"#,
        r#"{"id_token":"email"}"#,
        r#"{"id_token":{"email":{"essential":"yes"}}}"#,
    ] {
        let url = app.code_request_url(&client, "openid", &[("claims", bad)]);
        let response = Browser::new(&app).get(&url).await;
        assert!(response.status().is_redirection(), "{bad}");
        let params = location_params(&response);
        assert_eq!(params["error"], "invalid_request", "{bad}");
        assert!(params["error_description"].contains("claims"), "{bad}");
    }
}
