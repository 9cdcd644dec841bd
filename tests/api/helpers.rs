//! Test harness: a fresh database per test (a SQLite file, or a new PostgreSQL database made
//! from `TEST_POSTGRES_URL`), the real application on a random port, a reqwest client.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use oidcd::config::{DatabaseUrl, Seconds, Secret};
use oidcd::keys::Kek;
use oidcd::{Application, Clock, Config};
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The moment a fixed clock starts at (in 2030), for tests that move time themselves.
pub const T0: i64 = 1_900_000_000;

/// The environment variable that holds the PostgreSQL URL for tests.
pub const POSTGRES_ENV: &str = "TEST_POSTGRES_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file, with statements run in place (the default).
    Sqlite,
    /// A SQLite file through the connection pool alone (`sqlite_in_place = false`).
    SqlitePool,
    Postgres,
}

/// Runs `$name(Backend)` once per database: `$name::sqlite`, `$name::sqlite_pool` (the same
/// file with the in-place path off) and `$name::postgres`. The PostgreSQL variant is skipped,
/// loudly, only when `TEST_POSTGRES_URL` is unset (CI sets it).
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn sqlite_pool() {
                super::$name($crate::helpers::Backend::SqlitePool).await;
            }
            #[tokio::test]
            async fn postgres() {
                if $crate::helpers::postgres_skipped() {
                    return;
                }
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    )+};
}

/// Runs `$name(Backend)` on PostgreSQL only, as `$name::postgres`: for what only several
/// instances sharing one database can show (one SQLite file serves one instance). Skipped
/// like the PostgreSQL variant of `on_both_databases`.
#[macro_export]
macro_rules! on_postgres {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn postgres() {
                if $crate::helpers::postgres_skipped() {
                    return;
                }
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    )+};
}

/// Whether a PostgreSQL variant must be skipped (loudly): `TEST_POSTGRES_URL` is unset.
pub fn postgres_skipped() -> bool {
    let skipped = postgres_url().is_none();
    if skipped {
        eprintln!("skipped: {POSTGRES_ENV} is not set");
    }
    skipped
}

pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty())
}

/// What survives a restart: the database, the KEK, the working directory.
#[derive(Clone, Debug)]
pub struct TestEnv {
    pub database_url: String,
    /// For PostgreSQL: the server URL and the database name made for this test.
    pub postgres: Option<(String, String)>,
    pub kek: String,
    pub dir: PathBuf,
    /// Whether a SQLite file runs statements in place (`sqlite_in_place`).
    pub sqlite_in_place: bool,
    /// Removes the directory and the database when the last copy goes.
    _cleanup: Arc<Cleanup>,
}

/// What a test made outside itself: removed when dropped, so also when the test fails.
#[derive(Debug)]
struct Cleanup {
    dir: PathBuf,
    postgres: Option<(String, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((server, name)) = self.postgres.take() {
            drop_database(server, name);
        }
    }
}

/// Drops a test's PostgreSQL database, ending its connections. Drop runs inside the test's
/// runtime, which cannot wait for a future: this waits on a thread of its own. A failure is
/// left for `.ci/run`, which drops the leftovers of earlier runs.
fn drop_database(server: String, name: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let admin = Database::connect(&server).await.ok()?;
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let dropped = admin.execute_unprepared(&sql).await;
            let _ = admin.close().await;
            dropped.ok()
        })
    })
    .join();
}

/// A directory of its own under the system's temporary directory, removed with all in it
/// when dropped.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(prefix: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple();
        let dir = std::env::temp_dir().join(format!("{prefix}-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl std::ops::Deref for ScratchDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for ScratchDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestEnv {
    pub async fn new(backend: Backend) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("oidcd-test-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (database_url, postgres) = match backend {
            Backend::Sqlite | Backend::SqlitePool => (
                format!("sqlite://{}?mode=rwc", dir.join("oidcd.db").display()),
                None,
            ),
            Backend::Postgres => {
                let server = postgres_url().expect("TEST_POSTGRES_URL is set");
                let name = format!("oidcd_t_{id}");
                let admin = Database::connect(&server)
                    .await
                    .expect("PostgreSQL at TEST_POSTGRES_URL is reachable");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let mut url = url::Url::parse(&server).unwrap();
                url.set_path(&name);
                (url.to_string(), Some((server, name)))
            }
        };
        Self {
            database_url,
            postgres: postgres.clone(),
            kek: Kek::generate().unwrap().to_base64url(),
            dir: dir.clone(),
            sqlite_in_place: backend != Backend::SqlitePool,
            _cleanup: Arc::new(Cleanup { dir, postgres }),
        }
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// A configuration for tests: port 0, this database and KEK, cheap argon2 parameters.
    pub fn config(&self) -> Config {
        let mut config = Config {
            bind: "127.0.0.1:0".into(),
            database_url: DatabaseUrl::new(self.database_url.clone()),
            kek: Some(Secret::new(self.kek.clone())),
            keys_dir: self.keys_dir(),
            sqlite_in_place: self.sqlite_in_place,
            ..Config::default()
        };
        config.argon2.memory_kib = 64;
        config.argon2.iterations = 1;
        config.keys.cache_ttl = Seconds(1);
        config
    }

    pub async fn spawn(&self) -> TestApp {
        self.spawn_with(|_| {}).await
    }

    pub async fn spawn_with(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.config();
        adjust(&mut config);
        self.spawn_config(config, Clock::System).await
    }

    /// The app on a fixed clock at [`T0`], and the clock, which the test moves.
    pub async fn spawn_on_fixed_clock(&self, config: Config) -> (TestApp, Clock) {
        let clock = Clock::fixed(T0);
        (self.spawn_config(config, clock.clone()).await, clock)
    }

    pub async fn spawn_config(&self, config: Config, clock: Clock) -> TestApp {
        let app = Application::build_with_clock(config, clock)
            .await
            .expect("the application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        TestApp {
            address,
            client: http_client(),
            state,
            env: self.clone(),
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Runs the `oidcd` binary against this database with a clean environment (plus
    /// `extra`), in this test's directory.
    pub fn oidcd(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let in_place = self.sqlite_in_place.to_string();
        let mut env = vec![
            ("OIDCD_DATABASE_URL", self.database_url.as_str()),
            ("OIDCD_KEK", self.kek.as_str()),
            ("OIDCD_SQLITE_IN_PLACE", in_place.as_str()),
        ];
        env.extend_from_slice(extra);
        run_oidcd(&self.dir, args, &env, None)
    }
}

/// Runs the `oidcd` binary in `dir` with only `env` (and PATH) set, feeding `stdin`.
pub fn run_oidcd(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oidcd"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OIDCD_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("the oidcd binary runs");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: oidcd::state::AppState,
    pub env: TestEnv,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        TestEnv::new(backend).await.spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Stops the server and waits until it has let go of the database.
    pub async fn stop(mut self) -> TestEnv {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
        self.env.clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The kids in a JWKS document, in order.
pub fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------
// Clients, users and a browser for the authorization code flow.

use oidcd::oauth::registration::{self, ClientRegistration, SecretChoice};
use oidcd::oidc::accounts::{self, NewUser};

pub const REDIRECT_URI: &str = "https://rp.example.com/callback";
pub const LOGOUT_URI: &str = "https://rp.example.com/signed-out";

/// The authorization request most tests make at `issuer`: response_type=code, `client`,
/// [`REDIRECT_URI`] and `scope`, then `extra` in order.
pub fn code_request_url_at(
    issuer: &str,
    client: &TestClient,
    scope: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = url::Url::parse(&format!("{issuer}/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", scope)
        .extend_pairs(extra);
    url.to_string()
}

/// A registered client as a test sees it.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

impl TestApp {
    /// Registers a confidential client (client_secret_basic) with the default grants and scopes.
    pub async fn register_client(&self) -> TestClient {
        self.register_client_with(ClientRegistration::default())
            .await
    }

    /// Registers a client; name and redirect URIs are filled in when left empty.
    pub async fn register_client_with(&self, mut reg: ClientRegistration) -> TestClient {
        if reg.name.is_empty() {
            reg.name = "Test App".into();
        }
        if reg.redirect_uris.is_empty() && reg.grant_types.iter().all(|g| g != "client_credentials")
        {
            reg.redirect_uris = vec![REDIRECT_URI.into()];
        }
        if reg.post_logout_redirect_uris.is_empty() {
            reg.post_logout_redirect_uris = vec![LOGOUT_URI.into()];
        }
        let keeper = registration::Keeper {
            hasher: &self.state.secrets,
            kek: self.state.keys.kek(),
            allow_loopback: self.state.config.fetch.allow_loopback,
            fetcher: self.state.client_jwks.fetcher(),
            user_scopes: self.state.claims.user_scopes(),
        };
        let registered =
            registration::register(&self.state.db, reg, keeper, self.state.clock.now())
                .await
                .unwrap();
        TestClient {
            id: registered.client.client_id,
            secret: registered.secret,
        }
    }

    /// A confidential client for the client credentials grant, with the scope `api`.
    pub async fn register_machine_client(&self) -> TestClient {
        self.register_client_with(ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api".into()],
            ..Default::default()
        })
        .await
    }

    pub async fn register_public_client(&self) -> TestClient {
        self.register_client_with(ClientRegistration {
            secret: SecretChoice::Public,
            ..Default::default()
        })
        .await
    }

    /// Creates a user with a random name and some claims; returns (username, password, sub).
    pub async fn create_user(&self) -> TestUser {
        let username = format!("user-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        let mut claims = serde_json::Map::new();
        claims.insert("name".into(), "Ada Lovelace".into());
        claims.insert("email".into(), format!("{username}@example.com").into());
        claims.insert("email_verified".into(), true.into());
        claims.insert("phone_number".into(), "+44 20 7946 0000".into());
        let user = accounts::create(
            &self.state.db,
            &self.state.passwords,
            &self.state.claims,
            NewUser {
                username: username.clone(),
                password: password.clone(),
                claims,
            },
            self.state.clock.now(),
        )
        .await
        .unwrap();
        TestUser {
            username,
            password,
            sub: user.id,
        }
    }

    pub fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&self.url("/oauth/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    }

    /// The authorization request most tests make (see [`code_request_url_at`]) at this app.
    pub fn code_request_url(
        &self,
        client: &TestClient,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> String {
        code_request_url_at(&self.address, client, scope, extra)
    }

    /// Runs the browser flow (a new browser, login and consent) for the request
    /// [`code_request_url`](Self::code_request_url) makes; returns the code.
    pub async fn code_for(
        &self,
        client: &TestClient,
        user: &TestUser,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let url = self.code_request_url(client, scope, extra);
        let done = Browser::new(self).authorize(&url, user).await;
        location_params(&done)["code"].clone()
    }

    /// `user` signs in to `client` for `scope` and the code is exchanged, which must succeed;
    /// the token response.
    pub async fn signed_in_tokens(
        &self,
        client: &TestClient,
        user: &TestUser,
        scope: &str,
    ) -> serde_json::Value {
        let code = self.code_for(client, user, scope, &[]).await;
        let response = self.exchange(client, &code, None).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// POSTs a form to the token endpoint, with Basic credentials when given.
    pub async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut req = http_client().post(self.url("/oauth/token")).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        req.send().await.unwrap()
    }

    /// Exchanges a code for a confidential client (Basic).
    pub async fn exchange(
        &self,
        client: &TestClient,
        code: &str,
        verifier: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(&form, Some((&client.id, client.secret.as_deref().unwrap())))
            .await
    }

    pub async fn refresh(&self, client: &TestClient, refresh_token: &str) -> reqwest::Response {
        self.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await
    }

    pub async fn userinfo(&self, access_token: &str) -> reqwest::Response {
        http_client()
            .get(self.url("/oauth/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }
}

#[derive(Clone, Debug)]
pub struct TestUser {
    pub username: String,
    pub password: String,
    pub sub: String,
}

/// The value of the hidden or text input `name` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(
        html[start..start + end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&quot;", "\""),
    )
}

/// The query parameters of a redirect's Location.
pub fn location_params(response: &reqwest::Response) -> std::collections::HashMap<String, String> {
    let location = response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location (status {})", response.status()))
        .to_str()
        .unwrap();
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// A browser: a cookie jar, no automatic redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub issuer: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            http: http_client(),
            issuer: app.address.clone(),
        }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// Submits the page's form for `step` with extra fields.
    pub async fn submit(
        &self,
        page: &str,
        step: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = vec![
            (
                "request_id".to_owned(),
                input_value(page, "request_id").expect("the page has a request_id"),
            ),
            (
                "csrf_token".to_owned(),
                input_value(page, "csrf_token").expect("the page has a CSRF token"),
            ),
            ("step".to_owned(), step.to_owned()),
        ];
        form.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.http
            .post(format!("{}/oauth/authorize", self.issuer))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, page: &str, user: &TestUser) -> reqwest::Response {
        self.submit(
            page,
            "login",
            &[("username", &user.username), ("password", &user.password)],
        )
        .await
    }

    pub async fn consent(&self, page: &str, decision: &str) -> reqwest::Response {
        self.submit(page, "consent", &[("decision", decision)])
            .await
    }

    /// Runs the browser part of the flow (login if asked, consent if asked) and returns the
    /// final redirect to the client.
    pub async fn authorize(&self, url: &str, user: &TestUser) -> reqwest::Response {
        let mut response = self.get(url).await;
        for _ in 0..3 {
            if response.status().is_redirection() {
                return response;
            }
            assert_eq!(response.status(), 200, "an authorization page");
            let page = response.text().await.unwrap();
            response = if page.contains("name=\"step\" value=\"login\"") {
                self.login(&page, user).await
            } else if page.contains("name=\"step\" value=\"consent\"") {
                self.consent(&page, "allow").await
            } else {
                panic!("unexpected page: {page}");
            };
        }
        response
    }
}

/// The introspection answer for `token`, asked by `client` (HTTP Basic), which must be a 200.
pub async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> serde_json::Value {
    let response = http_client()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce_pair() -> (String, String) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Asserts an RFC 6749 5.2 error response whose description says `says`.
pub async fn assert_refused(response: reqwest::Response, status: u16, error: &str, says: &str) {
    let body = assert_oauth_error(response, status, error).await;
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains(says), "`{says}` in: {description}");
}

/// Asserts an RFC 6749 5.2 error response.
pub async fn assert_oauth_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string());
    body
}

/// The claims of a JWT, without checking anything.
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

impl TestApp {
    /// This test's helpers (provisioning through the same database) aimed at another server
    /// on the same database, such as an `oidcd` process.
    pub fn at(&self, address: &str) -> TestApp {
        TestApp {
            address: address.to_owned(),
            client: http_client(),
            state: self.state.clone(),
            env: self.env.clone(),
            shutdown: None,
            handle: None,
        }
    }
}

/// The `oidcd` binary serving this test's database as a separate process, so that it can be
/// killed, signalled and measured. Everything it prints is kept for the test to read.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub issuer: String,
    output: std::sync::Arc<std::sync::Mutex<String>>,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
}

impl TestEnv {
    /// Starts `oidcd serve` on a random port with this database and KEK and cheap argon2
    /// parameters; `extra` settings win. Returns once the start-up banner is printed.
    pub fn serve_process(&self, extra: &[(&str, &str)]) -> ServerProcess {
        use std::io::{BufRead as _, BufReader, Read as _};
        use std::process::Stdio;
        use std::sync::{Arc, Mutex};
        let keys_dir = self.keys_dir().display().to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oidcd"));
        cmd.arg("serve")
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OIDCD_BIND", "127.0.0.1:0")
            .env("OIDCD_DATABASE_URL", &self.database_url)
            .env("OIDCD_KEK", &self.kek)
            .env("OIDCD_KEYS_DIR", keys_dir)
            .env("OIDCD_ARGON2_MEMORY_KIB", "64")
            .env("OIDCD_ARGON2_ITERATIONS", "1")
            .env("OIDCD_LOG", "info")
            .env("OIDCD_SQLITE_IN_PLACE", self.sqlite_in_place.to_string())
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the oidcd binary runs");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        let out = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("oidcd is serving ") {
                    let _ = tx.send(issuer.to_owned());
                }
                let mut all = out.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (err, all) = (logs.clone(), output.clone());
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&chunk[..n]);
                err.lock().unwrap().push_str(&text);
                all.lock().unwrap().push_str(&text);
            }
        });
        let issuer = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("oidcd did not start: {}", output.lock().unwrap().as_str())
            });
        ServerProcess {
            child,
            issuer,
            output,
            logs,
        }
    }
}

impl ServerProcess {
    /// Everything the process printed so far, stdout and stderr.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// What the process logged (stderr) so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// What the process logged, once it contains `needle` (or after 2.5 s without it).
    pub async fn wait_for_log(&self, needle: &str) -> String {
        for _ in 0..50 {
            let logs = self.logs();
            if logs.contains(needle) {
                return logs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.logs()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// The process's peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/PID/status"))
    }

    /// The nice values of the process's threads whose names start with `prefix`.
    pub fn thread_nice_values(&self, prefix: &str) -> Vec<i64> {
        // Fields after the parenthesised name: state is field 3, nice is field 19.
        self.thread_stat_field(prefix, 19)
    }

    /// The scheduling policy (0 normal, 3 batch, 5 idle) of each thread whose name starts
    /// with `prefix`.
    pub fn thread_policies(&self, prefix: &str) -> Vec<i64> {
        self.thread_stat_field(prefix, 41)
    }

    /// Field `field` (numbered as in proc(5), from 3) of `/proc/PID/task/TID/stat` for each
    /// thread whose name starts with `prefix`.
    fn thread_stat_field(&self, prefix: &str, field: usize) -> Vec<i64> {
        let mut values = Vec::new();
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).unwrap();
        for task in tasks {
            let dir = task.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if !comm.trim_end().starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            values.push(
                after
                    .split_whitespace()
                    .nth(field - 3)
                    .unwrap()
                    .parse()
                    .unwrap(),
            );
        }
        values
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a request's head (up to the blank line) from `stream`; `false` when the peer went
/// away first. The test servers answer without reading a body.
pub async fn read_request_head(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

/// A web server on 127.0.0.1 that answers every request with the page `body`; returns its
/// port. Stands in for a relying party's pages in the browser tests.
pub async fn static_page(body: &'static str) -> u16 {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if !read_request_head(&mut stream).await {
                    return;
                }
                let _ = stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    port
}
