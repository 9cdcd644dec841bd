//! OpenID Connect Discovery 1.0 section 4 and RFC 8414 section 3.

use crate::helpers::{Backend, TestApp, TestEnv};
use crate::on_both_databases;

on_both_databases!(
    metadata_names_the_issuer_and_its_endpoints_resolve,
    a_configured_issuer_is_published_as_is,
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
