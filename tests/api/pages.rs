//! The operator's own look: templates and static files from directories, without rebuilding,
//! with auto-escaping kept and nothing outside the static directory reachable.

use oidcd::oauth::registration::ClientRegistration;
use oidcd::{Application, Clock};

use crate::helpers::{http_client, Backend, TestApp, TestEnv};

#[tokio::test]
async fn the_issuer_url_leads_to_the_discovery_document_and_the_docs() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = http_client().get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(headers.contains_key("content-security-policy"));
    assert_eq!(headers["cache-control"], "no-store");
    // minijinja escapes `/` in what it fills in; a browser reads `&#x2f;` as `/`.
    let page = response.text().await.unwrap().replace("&#x2f;", "/");
    let discovery = app.url("/.well-known/openid-configuration");
    assert!(page.contains(&format!("href=\"{discovery}\"")), "{page}");
    assert!(page.contains("href=\"/docs\""), "{page}");
    // Every link on it answers.
    for path in [
        "/docs",
        "/openapi.json",
        "/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        let r = http_client().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // Only `/` itself: anything else unknown is still not found.
    let missing = http_client()
        .get(app.url("/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn operators_restyle_the_pages_without_rebuilding() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let templates = env.dir.join("look");
    let assets = env.dir.join("assets");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::create_dir_all(&assets).unwrap();
    std::fs::write(
        templates.join("head.html"),
        r#"<link rel="stylesheet" href="/static/acme.css">"#,
    )
    .unwrap();
    std::fs::write(
        templates.join("brand.html"),
        r#"<img class="brand" src="/static/logo.svg" alt="Acme"><p class="acme">Acme for {{ client_name }}</p>"#,
    )
    .unwrap();
    // A replaced built-in: the error page.
    std::fs::write(
        templates.join("error.html"),
        r#"{% extends "base.html" %}{% block content %}<h1>Acme: {{ title }}</h1>{% endblock %}"#,
    )
    .unwrap();
    std::fs::write(templates.join("notes.txt"), "{% not a template").unwrap();
    std::fs::write(assets.join("acme.css"), "body { background: #fafafa; }").unwrap();
    std::fs::write(
        assets.join("logo.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    std::fs::write(assets.join(".secret.css"), "hidden").unwrap();
    std::fs::write(assets.join("app.js"), "alert(1)").unwrap();
    std::fs::write(env.dir.join("outside.css"), "outside").unwrap();

    let app = env
        .spawn_with(|c| {
            c.pages.templates_dir = Some(templates.clone());
            c.pages.static_dir = Some(assets.clone());
        })
        .await;
    let client = app
        .register_client_with(ClientRegistration {
            name: "<script>alert(1)</script>".into(),
            ..Default::default()
        })
        .await;
    let http = http_client();
    let login = http
        .get(app.code_request_url(&client, "openid", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("style-src 'self'"), "{csp}");
    let page = login.text().await.unwrap();
    assert!(page.contains(r#"<link rel="stylesheet" href="/static/acme.css">"#));
    assert!(page.contains(r#"<img class="brand" src="/static/logo.svg" alt="Acme">"#));
    // Auto-escaping holds in the operator's templates as in the built-in ones.
    assert!(
        page.contains("Acme for &lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert(1)"));

    // The replaced error page.
    let error = http
        .get(app.authorize_url(&[("client_id", "nobody"), ("response_type", "code")]))
        .send()
        .await
        .unwrap();
    assert_eq!(error.status(), 400);
    assert!(error.text().await.unwrap().contains("<h1>Acme: "));

    let css = http.get(app.url("/static/acme.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.text().await.unwrap(), "body { background: #fafafa; }");
    let svg = http.get(app.url("/static/logo.svg")).send().await.unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    for path in [
        "/static/.secret.css",
        "/static/app.js",
        "/static/missing.css",
        "/static/..%2Foutside.css",
        "/static/%2E%2E%2Foutside.css",
        "/static/../outside.css",
        "/static/",
    ] {
        let response = http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn a_broken_template_or_a_missing_directory_stops_start_up_with_its_name() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let templates = env.dir.join("broken");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(templates.join("consent.html"), "{% if %}").unwrap();
    let mut config = env.config();
    config.pages.templates_dir = Some(templates);
    let error = Application::build_with_clock(config, Clock::System)
        .await
        .err()
        .expect("start-up fails")
        .to_string();
    assert!(error.contains("consent.html"), "{error}");

    let mut config = env.config();
    config.pages.static_dir = Some(env.dir.join("nowhere"));
    let error = Application::build_with_clock(config, Clock::System)
        .await
        .err()
        .expect("start-up fails")
        .to_string();
    assert!(error.contains("OIDCD_STATIC_DIR"), "{error}");
}
