//! Client ID Metadata Documents: a `client_id` that is the URL of a JSON document the app
//! hosts. Off by default; when on, the document is fetched with the `fetch.*` limits, held to
//! the registration policy, kept until its HTTP caching headers say otherwise (then
//! revalidated with its entity tag), and the consent page names the host it is on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use oidcd::config::{Config, NameList};
use serde_json::{json, Value};

use crate::admin::Admin;
use crate::client_assertions::{claims, jwks, ClientKey};
use crate::helpers::{
    http_client, location_params, pkce_pair, Backend, Browser, TestApp, TestEnv, REDIRECT_URI,
};
use crate::on_both_databases;

on_both_databases!(
    metadata_documents_are_off_by_default,
    an_app_signs_in_with_the_url_of_its_document,
    the_copy_follows_the_documents_caching_headers,
    documents_are_held_to_the_rules,
    new_documents_count_against_the_per_address_bound,
    a_document_app_proves_itself_with_its_keys,
    turning_documents_off_or_blocking_one_stops_its_app,
    a_pairwise_native_app_keeps_its_subs_when_its_document_changes,
);

/// A document as the app's web server answers it.
#[derive(Clone)]
struct Served {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
    etag: Option<String>,
}

#[derive(Default)]
struct ServerState {
    documents: HashMap<String, Served>,
    /// Each request: its path and the `If-None-Match` it sent.
    requests: Vec<(String, Option<String>)>,
}

/// The web server of apps that host their metadata documents, on 127.0.0.1: answers each
/// path with the document set for it (304 to an `If-None-Match` naming its entity tag).
#[derive(Clone)]
pub(crate) struct DocumentServer {
    state: Arc<Mutex<ServerState>>,
    port: u16,
}

impl DocumentServer {
    pub(crate) async fn start() -> Self {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Self {
            state: Arc::default(),
            port,
        };
        let state = Arc::clone(&server.state);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    let if_none_match = head.lines().find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("if-none-match")
                            .then(|| value.trim().to_owned())
                    });
                    let served = {
                        let mut s = state.lock().unwrap();
                        s.requests.push((path.clone(), if_none_match.clone()));
                        s.documents.get(&path).cloned()
                    };
                    let served = served.unwrap_or(Served {
                        status: 404,
                        body: String::new(),
                        headers: Vec::new(),
                        etag: None,
                    });
                    let unchanged = served.etag.is_some() && served.etag == if_none_match;
                    let (status, body) = if unchanged {
                        (304, "")
                    } else {
                        (served.status, served.body.as_str())
                    };
                    let mut answer = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    );
                    for (name, value) in &served.headers {
                        answer.push_str(&format!("{name}: {value}\r\n"));
                    }
                    if let Some(etag) = &served.etag {
                        answer.push_str(&format!("ETag: {etag}\r\n"));
                    }
                    answer.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        server
    }

    /// The URL of `path` on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Serves `document` at `path` with `headers`.
    fn serve_with(&self, path: &str, status: u16, body: String, headers: &[(&'static str, &str)]) {
        let served = Served {
            status,
            body,
            headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
            etag: None,
        };
        self.state
            .lock()
            .unwrap()
            .documents
            .insert(path.to_owned(), served);
    }

    /// Serves `document` at `path`, fresh for ten minutes; its URL.
    pub(crate) fn serve(&self, path: &str, document: &Value) -> String {
        self.serve_with(
            path,
            200,
            document.to_string(),
            &[("Cache-Control", "max-age=600")],
        );
        self.url(path)
    }

    fn set_etag(&self, path: &str, etag: &str) {
        if let Some(served) = self.state.lock().unwrap().documents.get_mut(path) {
            served.etag = Some(etag.to_owned());
        }
    }

    /// The requests made for `path`: the `If-None-Match` each sent.
    fn requests(&self, path: &str) -> Vec<Option<String>> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, etag)| etag.clone())
            .collect()
    }
}

/// The document of a public app signing people in at [`REDIRECT_URI`].
pub(crate) fn public_app(client_id: &str, name: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": name,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile email offline_access",
    })
}

fn with_documents(c: &mut Config) {
    c.registration.metadata_documents = true;
    c.fetch.allow_loopback = true;
}

async fn spawn(backend: Backend) -> TestApp {
    TestEnv::new(backend).await.spawn_with(with_documents).await
}

/// The authorization request of `client_id` with PKCE; the URL and the verifier.
fn authorize_url(app: &TestApp, client_id: &str, redirect_uri: &str) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let url = app.authorize_url(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid offline_access"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    (url, verifier)
}

/// The authorization endpoint's page for `client_id`: its status and text.
async fn first_page(app: &TestApp, client_id: &str) -> (u16, String) {
    let (url, _) = authorize_url(app, client_id, REDIRECT_URI);
    let response = http_client().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.text().await.unwrap().replace("&#x2f;", "/"),
    )
}

/// A token request by a public client, `client_id` in the form.
async fn token_as(app: &TestApp, client_id: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let mut form = form.to_vec();
    form.push(("client_id", client_id));
    app.token(&form, None).await
}

fn encoded(client_id: &str) -> String {
    url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect()
}

async fn metadata_documents_are_off_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = DocumentServer::start().await;
    let id = server.serve("/app.json", &public_app(&server.url("/app.json"), "Notes"));
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert!(discovery
        .get("client_id_metadata_document_supported")
        .is_none());
    let (status, page) = first_page(&app, &id).await;
    assert_eq!(status, 400);
    assert!(
        page.contains("registration.metadata_documents is off"),
        "{page}"
    );
    let response = token_as(
        &app,
        &id,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(response.status(), 401);
    assert!(server.requests("/app.json").is_empty(), "nothing fetched");
}

async fn an_app_signs_in_with_the_url_of_its_document(backend: Backend) {
    let app = spawn(backend).await;
    let server = DocumentServer::start().await;
    let id = server.serve(
        "/oauth/client-metadata.json",
        &public_app(&server.url("/oauth/client-metadata.json"), "Notes"),
    );
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["client_id_metadata_document_supported"], true);

    // A logo that cannot be fetched refuses the document, as it refuses a registration.
    let with_logo = server.url("/with-logo.json");
    let mut document = public_app(&with_logo, "Notes");
    document["logo_uri"] = json!(server.url("/missing-logo.png"));
    server.serve("/with-logo.json", &document);
    let (status, page) = first_page(&app, &with_logo).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("logo_uri"), "{page}");

    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let (url, verifier) = authorize_url(&app, &id, REDIRECT_URI);
    let login = browser.get(&url).await.text().await.unwrap();
    let consent = browser.login(&login, &user).await.text().await.unwrap();
    let consent = consent.replace("&#x2f;", "/");
    assert!(consent.contains("Notes"), "{consent}");
    assert!(
        consent.contains("is described by a document on <strong>127.0.0.1</strong>"),
        "{consent}"
    );
    assert!(
        consent.contains("<strong>rp.example.com</strong>"),
        "{consent}"
    );
    let done = browser.consent(&consent, "allow").await;
    let code = location_params(&done)["code"].clone();

    let response = token_as(
        &app,
        &id,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let id_token = crate::helpers::jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], id.as_str());
    let refreshed = token_as(
        &app,
        &id,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(refreshed.status(), 200);
    // Fetched once, then kept.
    assert_eq!(server.requests("/oauth/client-metadata.json").len(), 1);

    // Operators see it as an app nobody vouches for, and cannot edit what its document says.
    let admin = Admin::new(&app).await;
    let path = format!("/admin/clients/{}", encoded(&id));
    let (status, view) = admin.get(&path).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["self_registered"], true);
    assert_eq!(view["token_endpoint_auth_method"], "none");
    let (status, refused) = admin.patch(&path, json!({"client_name": "Mine"})).await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["error_description"]
        .as_str()
        .unwrap()
        .contains("metadata document"));
    // The registration management API is not theirs.
    let managed = http_client()
        .get(app.url(&format!("/oauth/register/{}", encoded(&id))))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert!(managed.status().is_client_error());
}

async fn the_copy_follows_the_documents_caching_headers(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    with_documents(&mut config);
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    let server = DocumentServer::start().await;
    let path = "/cached.json";
    let id = server.url(path);
    server.serve_with(
        path,
        200,
        public_app(&id, "Notes").to_string(),
        &[("Cache-Control", "public, max-age=300")],
    );
    server.set_etag(path, "\"v1\"");
    let (status, page) = first_page(&app, &id).await;
    assert_eq!(status, 200, "{page}");
    clock.advance(299);
    assert_eq!(first_page(&app, &id).await.0, 200);
    assert_eq!(server.requests(path), [None], "fresh for max-age");

    // Stale: revalidated with its entity tag, and unchanged (304).
    clock.advance(2);
    assert_eq!(first_page(&app, &id).await.0, 200);
    assert_eq!(server.requests(path), [None, Some("\"v1\"".to_owned())]);

    // A new version: used once the copy is stale again.
    server.serve_with(
        path,
        200,
        json!({
            "client_id": id, "client_name": "Notes 2",
            "redirect_uris": ["https://notes.example.com/cb"],
            "token_endpoint_auth_method": "none",
        })
        .to_string(),
        &[("Cache-Control", "no-store")],
    );
    server.set_etag(path, "\"v2\"");
    assert_eq!(
        first_page(&app, &id).await.0,
        200,
        "the copy is still fresh"
    );
    clock.advance(301);
    let (status, page) = first_page(&app, &id).await;
    assert_eq!(status, 400, "the old redirect URI is gone: {page}");
    assert!(page.contains("redirect_uri"), "{page}");
    let admin = Admin::new(&app).await;
    let (_, view) = admin.get(&format!("/admin/clients/{}", encoded(&id))).await;
    assert_eq!(view["client_name"], "Notes 2");
    assert_eq!(server.requests(path).len(), 3);

    // no-store: fetched again, but not more than once a minute.
    clock.advance(59);
    let _ = first_page(&app, &id).await;
    assert_eq!(server.requests(path).len(), 3);
    clock.advance(2);
    let _ = first_page(&app, &id).await;
    assert_eq!(server.requests(path).len(), 4);

    // A document that is gone takes the app with it (its copy is not used past its time).
    server.serve_with(path, 404, String::new(), &[]);
    clock.advance(61);
    let (status, page) = first_page(&app, &id).await;
    assert_eq!(status, 400);
    assert!(page.contains("404"), "{page}");

    // A refusal is answered again for a while without fetching, then the document is tried
    // again.
    server.serve_with(path, 200, public_app(&id, "Notes").to_string(), &[]);
    let fetched = server.requests(path).len();
    let (status, page) = first_page(&app, &id).await;
    assert_eq!(status, 400);
    assert!(page.contains("404"), "{page}");
    assert_eq!(server.requests(path).len(), fetched);
    clock.advance(31);
    assert_eq!(first_page(&app, &id).await.0, 200);
    assert_eq!(server.requests(path).len(), fetched + 1);
}

async fn documents_are_held_to_the_rules(backend: Backend) {
    let app = TestEnv::new(backend)
        .await
        .spawn_with(|c| {
            with_documents(c);
            c.registration.redirect_uris = NameList::of(&["https"]);
            c.registration.per_ip = 1000;
            c.fetch.max_bytes = 4096;
        })
        .await;
    let server = DocumentServer::start().await;
    let app_at = |path: &str| {
        let id = server.url(path);
        (id.clone(), public_app(&id, "Notes"))
    };
    let mut cases: Vec<(String, &str)> = Vec::new();
    let mut case = |path: &str, edit: &dyn Fn(&mut Value), says: &'static str| {
        let (id, mut document) = app_at(path);
        edit(&mut document);
        server.serve(path, &document);
        cases.push((id, says));
    };
    case(
        "/other-id.json",
        &|d| d["client_id"] = json!("https://elsewhere.example.com/app.json"),
        "must name itself",
    );
    case(
        "/secret.json",
        &|d| d["client_secret"] = json!("s3cret"),
        "client_secret",
    );
    case(
        "/basic.json",
        &|d| d["token_endpoint_auth_method"] = json!("client_secret_basic"),
        "shared secret",
    );
    case(
        "/loopback.json",
        &|d| d["redirect_uris"] = json!(["http://127.0.0.1:9000/cb"]),
        "registration.redirect_uris",
    );
    case(
        "/admin.json",
        &|d| d["scope"] = json!("openid admin"),
        "registration.scopes",
    );
    case(
        "/typed.json",
        &|d| d["redirect_uris"] = json!("https://rp.example.com/callback"),
        "redirect_uris: must be an array",
    );
    server.serve_with("/not-json.json", 200, "<html>".into(), &[]);
    cases.push((server.url("/not-json.json"), "not JSON"));
    server.serve_with(
        "/large.json",
        200,
        format!("{{\"x\": \"{}\"}}", "a".repeat(5000)),
        &[],
    );
    cases.push((server.url("/large.json"), "larger than"));
    cases.push((server.url("/nothing.json"), "404"));
    // Served from elsewhere: whoever controls where a redirect points would speak for the URL.
    server.serve_with(
        "/moved.json",
        302,
        String::new(),
        &[("Location", "/good.json")],
    );
    cases.push((server.url("/moved.json"), "302"));
    cases.push((format!("{}#top", server.url("/app.json")), "fragment"));
    cases.push((server.url("/"), "path"));
    cases.push((server.url("/a/../app.json"), "normal form"));
    cases.push(("https://10.0.0.1/app.json".to_owned(), "public address"));

    for (id, says) in &cases {
        let (status, page) = first_page(&app, id).await;
        assert_eq!(status, 400, "{id}: {page}");
        assert!(page.contains(says), "{id} should say {says}: {page}");
        let response = token_as(
            &app,
            id,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
        assert_eq!(response.status(), 401, "{id}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{id}");
        assert!(
            body["error_description"].as_str().unwrap().contains(says),
            "{id}: {body}"
        );
    }
    // None of them became a client.
    let admin = Admin::new(&app).await;
    let (status, listed) = admin.get("/admin/clients").await;
    assert_eq!(status, 200, "{listed}");
    assert!(listed.to_string().contains("client_id"), "{listed}");
    assert!(!listed.to_string().contains("127.0.0.1"), "{listed}");

    // A redirect URI the document does not list is refused like any other.
    let (id, document) = app_at("/good.json");
    server.serve("/good.json", &document);
    let (url, _) = authorize_url(&app, &id, "https://attacker.example.com/cb");
    let response = http_client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("not registered for this application"));

    // registration.document_hosts: only documents on those hosts.
    let fenced = TestEnv::new(backend)
        .await
        .spawn_with(|c| {
            with_documents(c);
            c.registration.document_hosts = NameList::of(&["apps.example.com"]);
        })
        .await;
    let (status, page) = first_page(&fenced, &id).await;
    assert_eq!(status, 400);
    assert!(page.contains("registration.document_hosts"), "{page}");
}

async fn new_documents_count_against_the_per_address_bound(backend: Backend) {
    let app = TestEnv::new(backend)
        .await
        .spawn_with(|c| {
            with_documents(c);
            c.registration.per_ip = 2;
        })
        .await;
    let server = DocumentServer::start().await;
    let ids: Vec<String> = ["/one.json", "/two.json", "/three.json"]
        .iter()
        .map(|path| server.serve(path, &public_app(&server.url(path), "Notes")))
        .collect();
    assert_eq!(first_page(&app, &ids[0]).await.0, 200);
    assert_eq!(first_page(&app, &ids[1]).await.0, 200);
    let (status, page) = first_page(&app, &ids[2]).await;
    assert_eq!(status, 429, "{page}");
    assert!(server.requests("/three.json").is_empty(), "not fetched");
    let response = token_as(
        &app,
        &ids[2],
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too many"),
        "{body}"
    );
    // The apps already known are not held back.
    assert_eq!(first_page(&app, &ids[0]).await.0, 200);
}

async fn a_document_app_proves_itself_with_its_keys(backend: Backend) {
    let app = TestEnv::new(backend)
        .await
        .spawn_with(|c| {
            with_documents(c);
            c.registration.grant_types =
                NameList::of(&["authorization_code", "refresh_token", "client_credentials"]);
            c.registration.scopes = NameList::of(&["openid", "api"]);
        })
        .await;
    let server = DocumentServer::start().await;
    let key = ClientKey::rsa("RS256", "doc-1");
    let id = server.url("/agent.json");
    server.serve(
        "/agent.json",
        &json!({
            "client_id": id,
            "client_name": "Agent",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks(&[&key]),
            "scope": "api",
        }),
    );
    let token_url = app.url("/oauth/token");
    let with_assertion = |signer: &ClientKey| {
        let assertion = signer.sign(&claims(&id, &token_url));
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("scope".to_owned(), "api".to_owned()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), assertion),
        ]
    };
    let response = http_client()
        .post(&token_url)
        .form(&with_assertion(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let access = crate::helpers::jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["client_id"], id.as_str());

    let stranger = ClientKey::rsa("RS256", "doc-1");
    let response = http_client()
        .post(&token_url)
        .form(&with_assertion(&stranger))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // And without any proof, a key-based app is not a public one.
    let response = token_as(&app, &id, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), 401);
}

/// `user` signs in to the document app `client_id` at `redirect_uri`; the token response.
async fn sign_in(
    app: &TestApp,
    client_id: &str,
    redirect_uri: &str,
    user: &crate::helpers::TestUser,
) -> Value {
    let (url, verifier) = authorize_url(app, client_id, redirect_uri);
    let done = Browser::new(app).authorize(&url, user).await;
    let code = location_params(&done)["code"].clone();
    let response = token_as(
        app,
        client_id,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh_as(app: &TestApp, client_id: &str, refresh_token: &str) -> reqwest::Response {
    token_as(
        app,
        client_id,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn turning_documents_off_or_blocking_one_stops_its_app(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let app = env.spawn_with(with_documents).await;
    let server = DocumentServer::start().await;
    let id = server.serve("/app.json", &public_app(&server.url("/app.json"), "Notes"));
    let user = app.create_user().await;
    let tokens = sign_in(&app, &id, REDIRECT_URI, &user).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let env = app.stop().await;

    // Off: the copy kept from before is not used.
    let app = env.spawn().await;
    let response = refresh_as(&app, &id, &refresh_token).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("is off"),
        "{body}"
    );
    let env = app.stop().await;

    // Blocked, by host or by URL: at once, though the copy is still fresh.
    for blocked in ["127.0.0.1", id.as_str()] {
        let app = env
            .spawn_with(|c| {
                with_documents(c);
                c.registration.blocked_documents = NameList::of(&[blocked]);
            })
            .await;
        let response = refresh_as(&app, &id, &refresh_token).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("blocked"),
            "{body}"
        );
        let _ = app.stop().await;
    }

    // On again: the app goes on with its grant, from its copy.
    let app = env.spawn_with(with_documents).await;
    assert_eq!(refresh_as(&app, &id, &refresh_token).await.status(), 200);
    assert_eq!(server.requests("/app.json").len(), 1);
}

async fn a_pairwise_native_app_keeps_its_subs_when_its_document_changes(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    with_documents(&mut config);
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    let server = DocumentServer::start().await;
    let path = "/native.json";
    let id = server.url(path);
    let loopback = "http://127.0.0.1:7777/callback";
    let document = |name: &str| {
        json!({
            "client_id": id, "client_name": name,
            "redirect_uris": [loopback],
            "token_endpoint_auth_method": "none",
            "subject_type": "pairwise",
            "scope": "openid offline_access",
        })
    };
    server.serve_with(
        path,
        200,
        document("Native").to_string(),
        &[("Cache-Control", "max-age=60")],
    );
    let user = app.create_user().await;
    let first = sign_in(&app, &id, loopback, &user).await;
    let sub = crate::helpers::jwt_claims(first["id_token"].as_str().unwrap())["sub"].clone();
    assert_ne!(sub, user.sub.as_str(), "a pairwise sub");

    // A new version of the document (no entity tag: fetched whole) keeps the app's sector.
    server.serve_with(
        path,
        200,
        document("Native 2").to_string(),
        &[("Cache-Control", "max-age=60")],
    );
    clock.advance(61);
    let again = sign_in(&app, &id, loopback, &user).await;
    assert_eq!(server.requests(path).len(), 2);
    assert_eq!(
        crate::helpers::jwt_claims(again["id_token"].as_str().unwrap())["sub"],
        sub
    );
}
