//! The OpenAPI document: committed, current, valid, served.

use crate::helpers::{http_client, Backend, TestApp};

#[test]
fn the_committed_openapi_document_is_current_and_valid() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed");
    let generated = oidcd::server::openapi::spec();

    if committed.trim_end() != generated.trim_end() {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "openapi/openapi.json is stale from line {}: run `cargo run -- openapi > openapi/openapi.json`",
            line + 1
        );
    }
    // A valid OpenAPI 3 document: version, info, paths with operations and their responses,
    // and every $ref resolving.
    let doc: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["title"], "oidcd");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/oauth/token",
        "/oauth/introspect",
        "/oauth/revoke",
        "/oauth/userinfo",
        "/oauth/device_authorization",
        "/jwks.json",
        "/.well-known/openid-configuration",
        "/admin/clients",
        "/admin/users",
        "/admin/keys",
    ] {
        assert!(paths.contains_key(path), "{path} is described");
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has responses"
            );
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has an operationId"
            );
        }
    }
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("client_secret_basic") && schemes.contains_key("admin_bearer"));
    let text = committed.as_str();
    let mut rest = text;
    while let Some(i) = rest.find("\"$ref\": \"#/components/schemas/") {
        let tail = &rest[i + 30..];
        let name = &tail[..tail.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "$ref to {name} resolves"
        );
        rest = tail;
    }
}

crate::on_both_databases!(the_server_serves_its_document_and_the_docs_page);

async fn the_server_serves_its_document_and_the_docs_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let doc = app.get_json("/openapi.json").await;
    assert_eq!(doc["servers"][0]["url"], app.address);
    assert_eq!(
        doc["paths"],
        serde_json::from_str::<serde_json::Value>(&oidcd::server::openapi::spec()).unwrap()
            ["paths"]
    );
    let docs = http_client().get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let page = docs.text().await.unwrap();
    assert!(page.contains("swagger"));
    // Usable on a phone.
    assert!(
        page.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
}
