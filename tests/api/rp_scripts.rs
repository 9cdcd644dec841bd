//! Relying-party libraries in other languages drive the code flow through the integration
//! examples in `examples/rp`: openid-client v6 (Node, `node/flow.mjs`) and Authlib (Python,
//! `python/flow.py`). Each script does discovery, builds the authorization URL (PKCE S256,
//! state, nonce), prints it, reads the callback URL a browser was sent to, then lets its library
//! redeem the code and validate everything, calls userinfo and refreshes once.
//!
//! Here the test plays the person in the browser. The runtimes and the installed libraries come
//! from `examples/rp/setup` (`node_modules` and `target/rp-venv`); without them these tests
//! print `skipped` and pass, unless `TEST_RP_LIBRARIES=1` (CI), when they fail.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oidcd::oauth::registration::ClientRegistration;

use crate::client_assertions::{jwks, ClientKey};
use crate::helpers::{location, Backend, Browser, TestApp, TestClient, REDIRECT_URI};
use crate::on_both_databases;

on_both_databases!(
    openid_client_completes_the_flow,
    openid_client_completes_the_flow_as_a_public_client,
    openid_client_refuses_a_callback_with_another_state,
    openid_client_authenticates_with_private_key_jwt,
    openid_client_authenticates_with_client_secret_jwt,
    openid_client_pushes_its_authorization_request,
    openid_client_signs_its_authorization_request,
    openid_client_pushes_a_signed_authorization_request,
    openid_client_binds_a_public_clients_tokens_with_dpop,
    openid_client_asks_for_tokens_for_a_resource,
    openid_client_signs_in_to_a_pairwise_client,
    openid_client_registers_its_app_first,
    openid_client_names_its_apps_metadata_document,
    authlib_completes_the_flow,
    authlib_completes_the_flow_as_a_public_client,
    authlib_refuses_a_callback_with_another_state,
);

async fn openid_client_completes_the_flow(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::Confidential).await;
}

async fn openid_client_completes_the_flow_as_a_public_client(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::Public).await;
}

/// The whole flow again with the client proving itself with assertions signed by its own
/// key (RFC 7523): the code exchange and the refresh each carry a fresh one.
async fn openid_client_authenticates_with_private_key_jwt(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::PrivateKeyJwt).await;
}

/// And with assertions signed with the client's secret (HS256).
async fn openid_client_authenticates_with_client_secret_jwt(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::ClientSecretJwt).await;
}

/// The library pushes the request first (RFC 9126) for a client registered to require it:
/// the browser's URL carries only `client_id` and the `request_uri`.
async fn openid_client_pushes_its_authorization_request(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::Pushed).await;
}

/// The library signs the request (RFC 9101) with the key the client registered, for a client
/// registered to require it.
async fn openid_client_signs_its_authorization_request(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::Signed).await;
}

/// Both: a signed request object, pushed, for a client that requires both.
async fn openid_client_pushes_a_signed_authorization_request(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::PushedSigned).await;
}

/// DPoP (RFC 9449): a public client's code exchange, userinfo call and refresh each carry a
/// proof; the library answers the nonce challenge itself. The client is registered to require
/// it, so a request without a proof would fail.
async fn openid_client_binds_a_public_clients_tokens_with_dpop(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::Dpop).await;
}

/// Resource indicators (RFC 8707): the authorization request and both token requests name
/// a registered API; the access tokens are for it alone, with the scope it accepts.
async fn openid_client_asks_for_tokens_for_a_resource(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::Resource).await;
}

/// A pairwise client (OIDC Core 8.1): the library validates an ID token whose `sub` is the
/// sector's own, and checks that userinfo names the same one.
async fn openid_client_signs_in_to_a_pairwise_client(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::Pairwise).await;
}

/// Dynamic client registration (RFC 7591): the library registers the app with an initial
/// access token an operator minted, then signs in with the client it got back.
async fn openid_client_registers_its_app_first(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::Registered).await;
}

/// A Client ID Metadata Document: the app's `client_id` is the URL of a document it hosts,
/// which oidcd fetches when the library first sends it; the library knows nothing more than
/// a public client's id.
async fn openid_client_names_its_apps_metadata_document(backend: Backend) {
    completes_the_flow(backend, Library::OpenIdClient, Kind::Document).await;
}

/// The API of [`Kind::Resource`], and the scope it accepts.
const RESOURCE: &str = "https://files.example.com/api";
const RESOURCE_SCOPE: &str = "files:read";

async fn openid_client_refuses_a_callback_with_another_state(backend: Backend) {
    refuses_a_callback_with_another_state(backend, Library::OpenIdClient).await;
}

async fn authlib_completes_the_flow(backend: Backend) {
    completes_the_flow(backend, Library::Authlib, Kind::Confidential).await;
}

async fn authlib_completes_the_flow_as_a_public_client(backend: Backend) {
    completes_the_flow(backend, Library::Authlib, Kind::Public).await;
}

async fn authlib_refuses_a_callback_with_another_state(backend: Backend) {
    refuses_a_callback_with_another_state(backend, Library::Authlib).await;
}

async fn completes_the_flow(backend: Backend, library: Library, kind: Kind) {
    let Some(command) = library.command() else {
        return;
    };
    let app = match kind {
        Kind::Registered => {
            crate::helpers::TestEnv::new(backend)
                .await
                .spawn_with(|c| {
                    c.registration.mode = oidcd::config::RegistrationMode::InitialAccessToken;
                })
                .await
        }
        Kind::Document => {
            crate::helpers::TestEnv::new(backend)
                .await
                .spawn_with(|c| {
                    c.registration.metadata_documents = true;
                    c.fetch.allow_loopback = true;
                })
                .await
        }
        _ => TestApp::spawn(backend).await,
    };
    // The app's web server, for the document of [`Kind::Document`].
    let documents = crate::metadata_documents::DocumentServer::start().await;
    let key = ClientKey::rsa("RS256", "rp-1");
    let (client, env) = match kind {
        Kind::Registered => {
            let (row, token) = oidcd::oauth::dynamic::mint(
                &app.state.secrets,
                "openid-client".into(),
                1,
                600,
                app.state.clock.now(),
            )
            .unwrap();
            oidcd::store::initial_access_tokens::insert(&app.state.db, &row)
                .await
                .unwrap();
            let unknown = TestClient {
                id: String::new(),
                secret: None,
            };
            (
                unknown,
                vec![
                    ("REGISTER", "1".to_owned()),
                    ("INITIAL_ACCESS_TOKEN", token),
                ],
            )
        }
        Kind::Document => {
            let id = documents.url("/oauth/client.json");
            let document = crate::metadata_documents::public_app(&id, "openid-client example");
            documents.serve("/oauth/client.json", &document);
            (TestClient { id, secret: None }, vec![])
        }
        Kind::Confidential => (app.register_client().await, vec![]),
        Kind::Public => (app.register_public_client().await, vec![]),
        Kind::PrivateKeyJwt => (
            app.register_client_with(ClientRegistration {
                token_endpoint_auth_method: Some("private_key_jwt".into()),
                jwks: Some(jwks(&[&key]).to_string()),
                ..Default::default()
            })
            .await,
            vec![
                ("CLIENT_AUTH", "private_key_jwt".to_owned()),
                ("CLIENT_PRIVATE_JWK", key.private_jwk_json()),
            ],
        ),
        Kind::ClientSecretJwt => (
            app.register_client_with(ClientRegistration {
                token_endpoint_auth_method: Some("client_secret_jwt".into()),
                ..Default::default()
            })
            .await,
            vec![("CLIENT_AUTH", "client_secret_jwt".to_owned())],
        ),
        Kind::Dpop => (
            app.register_client_with(ClientRegistration {
                secret: oidcd::oauth::registration::SecretChoice::Public,
                dpop_bound_access_tokens: true,
                ..Default::default()
            })
            .await,
            vec![("DPOP", "1".to_owned())],
        ),
        Kind::Resource => {
            oidcd::oauth::registration::register_resource(
                &app.state.db,
                oidcd::oauth::registration::ResourceRegistration {
                    identifier: RESOURCE.into(),
                    name: Some("Files".into()),
                    scopes: vec![RESOURCE_SCOPE.into()],
                },
                Some(app.state.access_tokens.issuer()),
                app.state.clock.now(),
            )
            .await
            .unwrap();
            let scopes = [
                "openid",
                "profile",
                "email",
                "offline_access",
                RESOURCE_SCOPE,
            ];
            (
                app.register_client_with(ClientRegistration {
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    resources: vec![RESOURCE.into()],
                    ..Default::default()
                })
                .await,
                vec![
                    ("RESOURCE", RESOURCE.to_owned()),
                    ("RESOURCE_SCOPE", RESOURCE_SCOPE.to_owned()),
                ],
            )
        }
        Kind::Pairwise => (
            app.register_client_with(ClientRegistration {
                subject_type: Some("pairwise".into()),
                ..Default::default()
            })
            .await,
            vec![],
        ),
        Kind::Pushed => (
            app.register_client_with(ClientRegistration {
                require_pushed_authorization_requests: true,
                ..Default::default()
            })
            .await,
            vec![("AUTHORIZE_VIA", "par".to_owned())],
        ),
        Kind::Signed | Kind::PushedSigned => {
            let pushed = matches!(kind, Kind::PushedSigned);
            (
                app.register_client_with(ClientRegistration {
                    token_endpoint_auth_method: Some("private_key_jwt".into()),
                    jwks: Some(jwks(&[&key]).to_string()),
                    require_signed_request_object: true,
                    require_pushed_authorization_requests: pushed,
                    ..Default::default()
                })
                .await,
                vec![
                    ("CLIENT_AUTH", "private_key_jwt".to_owned()),
                    ("CLIENT_PRIVATE_JWK", key.private_jwk_json()),
                    (
                        "AUTHORIZE_VIA",
                        if pushed { "par+jar" } else { "jar" }.to_owned(),
                    ),
                ],
            )
        }
    };
    let user = app.create_user().await;
    let mut script = Script::start_with(command, &app, &client, &env);
    let client = match kind {
        Kind::Registered => {
            let id = script.line("REGISTERED ").await;
            let registered = oidcd::store::clients::get(&app.state.db, &id)
                .await
                .unwrap();
            assert!(registered.self_registered());
            assert_eq!(registered.name, "openid-client example");
            TestClient { id, secret: None }
        }
        _ => client,
    };

    // The authorization URL the library built.
    let url = script.line("AUTHORIZE ").await;
    let query: std::collections::HashMap<String, String> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(url.starts_with(&app.url("/oauth/authorize?")), "{url}");
    assert_eq!(query["client_id"], client.id);
    match kind {
        Kind::Pushed | Kind::PushedSigned => {
            // Everything else went to the server directly.
            assert!(
                query["request_uri"].starts_with("urn:ietf:params:oauth:request_uri:"),
                "{url}"
            );
            assert!(!query.contains_key("redirect_uri"), "{url}");
            assert!(!query.contains_key("request"), "{url}");
        }
        Kind::Signed => {
            let inner = crate::helpers::jwt_claims(&query["request"]);
            assert_eq!(inner["redirect_uri"], REDIRECT_URI, "{inner}");
            assert_eq!(inner["aud"], app.address.as_str(), "{inner}");
        }
        _ => {
            assert_eq!(query["response_type"], "code");
            assert_eq!(query["redirect_uri"], REDIRECT_URI);
            let scope = match kind {
                Kind::Resource => {
                    assert_eq!(query["resource"], RESOURCE);
                    format!("openid profile email offline_access {RESOURCE_SCOPE}")
                }
                _ => "openid profile email offline_access".to_owned(),
            };
            assert_eq!(query["scope"], scope);
            assert_eq!(query["code_challenge_method"], "S256");
            for param in ["code_challenge", "state", "nonce"] {
                assert!(!query[param].is_empty(), "{param} in {url}");
            }
        }
    }

    // A person signs in and allows; the browser lands on the callback.
    let response = Browser::new(&app).authorize(&url, &user).await;
    assert!(response.status().is_redirection(), "{}", response.status());
    script.send(&location(&response));

    // Code exchange, ID token validation, userinfo and a refresh, all by the library.
    let result: serde_json::Value =
        serde_json::from_str(&script.line("RESULT ").await).expect("RESULT is JSON");
    script.succeeds().await;
    if matches!(kind, Kind::Document) {
        let described = oidcd::store::clients::get(&app.state.db, &client.id)
            .await
            .unwrap();
        assert!(described.document.is_some() && described.self_registered());
        assert_eq!(described.name, "openid-client example");
    }
    if matches!(kind, Kind::Pairwise) {
        // The sector's own sub, the same in the ID token and at userinfo.
        assert_ne!(result["sub"], user.sub.as_str(), "{result}");
        assert_eq!(result["sub"].as_str().map(str::len), Some(43), "{result}");
    } else {
        assert_eq!(result["sub"], user.sub.as_str(), "{result}");
    }
    if matches!(kind, Kind::Resource) {
        // Tokens for the API, not for userinfo: introspected instead.
        assert_eq!(result["scope"], RESOURCE_SCOPE, "{result}");
        assert_eq!(result["audience"], RESOURCE, "{result}");
        assert_eq!(result["refreshed_audience"], RESOURCE, "{result}");
    } else {
        assert_eq!(result["userinfo_sub"], result["sub"], "{result}");
        assert_eq!(
            result["email"],
            format!("{}@example.com", user.username),
            "{result}"
        );
    }
    assert_eq!(result["refresh_token_received"], true, "{result}");
    assert_eq!(result["refreshed"], true, "{result}");
    assert_eq!(result["refresh_gave_new_access_token"], true, "{result}");
    assert_eq!(result["refresh_rotated_refresh_token"], true, "{result}");
    if matches!(kind, Kind::Dpop) {
        for field in ["token_type", "refreshed_token_type"] {
            let token_type = result[field].as_str().unwrap_or_default();
            assert!(token_type.eq_ignore_ascii_case("dpop"), "{field}: {result}");
        }
    }
}

/// The example really checks `state`: a callback carrying another one is refused by the library
/// before the code is redeemed, with an error on stderr and a non-zero exit.
async fn refuses_a_callback_with_another_state(backend: Backend, library: Library) {
    let Some(command) = library.command() else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let mut script = Script::start(command, &app, &client);
    let url = script.line("AUTHORIZE ").await;
    let response = Browser::new(&app).authorize(&url, &user).await;
    let mut callback = url::Url::parse(&location(&response)).unwrap();
    let params: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { "forged".into() } else { v };
            (k.into_owned(), v.into_owned())
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(params);
    script.send(callback.as_str());
    let stderr = script.fails().await;
    assert!(stderr.to_lowercase().contains("state"), "{stderr}");
}

#[derive(Clone, Copy)]
enum Kind {
    Confidential,
    Public,
    PrivateKeyJwt,
    ClientSecretJwt,
    /// client_secret_basic, pushing its requests.
    Pushed,
    /// private_key_jwt, signing its requests.
    Signed,
    /// private_key_jwt, signing and pushing its requests.
    PushedSigned,
    /// A public client with DPoP-bound tokens.
    Dpop,
    /// client_secret_basic, asking for tokens for a resource (RFC 8707).
    Resource,
    /// client_secret_basic, with pairwise subject identifiers.
    Pairwise,
    /// client_secret_post, registered by the library itself (RFC 7591).
    Registered,
    /// A public client whose id is the URL of its metadata document.
    Document,
}

#[derive(Clone, Copy)]
enum Library {
    OpenIdClient,
    Authlib,
}

impl Library {
    /// The command that runs this library's example, or `None` (after saying why) when its
    /// runtime or dependencies are not installed and `TEST_RP_LIBRARIES` does not require them.
    fn command(self) -> Option<Command> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let found = match self {
            Library::OpenIdClient => {
                let dir = root.join("examples/rp/node");
                runs("node", &["--version"])
                    .and_then(|()| installed(&dir.join("node_modules/openid-client/package.json")))
                    .map(|()| {
                        let mut command = Command::new("node");
                        command.arg(dir.join("flow.mjs"));
                        command
                    })
            }
            Library::Authlib => {
                let python = root.join("target/rp-venv/bin/python");
                let imports = ["-c", "import authlib, requests, joserfc"];
                installed(&python)
                    .and_then(|()| runs(&python.display().to_string(), &imports))
                    .map(|()| {
                        let mut command = Command::new(&python);
                        command.arg(root.join("examples/rp/python/flow.py"));
                        command
                    })
            }
        };
        match found {
            Ok(command) => Some(command),
            Err(why) if std::env::var("TEST_RP_LIBRARIES").is_ok_and(|v| v == "1") => {
                panic!("{why}; run examples/rp/setup (TEST_RP_LIBRARIES=1 requires it)")
            }
            Err(why) => {
                eprintln!("skipped: {why} (examples/rp/setup installs it)");
                None
            }
        }
    }
}

fn runs(program: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(program).args(args).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(error) => Err(format!("`{program}` does not run: {error}")),
    }
}

fn installed(path: &Path) -> Result<(), String> {
    if path.exists() {
        Ok(())
    } else {
        Err(format!("{} is missing", path.display()))
    }
}

/// An example script running as a child process: its stdout lines arrive through a channel
/// (read by a thread, so that the test's runtime keeps serving the app meanwhile), its stderr
/// is kept for failure messages. Killed when dropped.
struct Script {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

impl Script {
    fn start(command: Command, app: &TestApp, client: &TestClient) -> Self {
        Self::start_with(command, app, client, &[])
    }

    /// With more environment for the script.
    fn start_with(
        mut command: Command,
        app: &TestApp,
        client: &TestClient,
        env: &[(&str, String)],
    ) -> Self {
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OIDCD_ISSUER", &app.address)
            .env("CLIENT_ID", &client.id)
            .env("REDIRECT_URI", REDIRECT_URI)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(secret) = &client.secret {
            command.env("CLIENT_SECRET", secret);
        }
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let mut child = command.spawn().expect("the example starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self {
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// The rest of the next stdout line that starts with `prefix`.
    async fn line(&mut self, prefix: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(SCRIPT_TIMEOUT, self.lines.recv()).await {
                Ok(Some(line)) => match line.strip_prefix(prefix) {
                    Some(rest) => return rest.to_owned(),
                    None => seen.push(line),
                },
                Ok(None) => panic!(
                    "the example ended without a {prefix:?} line; stdout: {seen:?}; stderr: {}",
                    self.stop()
                ),
                Err(_) => panic!(
                    "no {prefix:?} line within {SCRIPT_TIMEOUT:?}; stdout: {seen:?}; stderr: {}",
                    self.stop()
                ),
            }
        }
    }

    /// Writes one line to the script's stdin.
    fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the exit; returns whether it succeeded and what the script wrote on stderr.
    async fn exit(&mut self) -> (bool, String) {
        let deadline = tokio::time::Instant::now() + SCRIPT_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.success(), self.stop());
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the example did not exit; stderr: {}", self.stop());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn succeeds(&mut self) {
        let (success, stderr) = self.exit().await;
        assert!(success, "the example failed: {stderr}");
    }

    /// Expects a failure and returns its stderr.
    async fn fails(&mut self) -> String {
        let (success, stderr) = self.exit().await;
        assert!(!success, "the example succeeded; stderr: {stderr}");
        stderr
    }

    /// Kills the process if it still runs and returns everything it wrote on stderr.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .map(|handle| handle.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
