//! Test harness: a fresh database per test (a SQLite file, or a new PostgreSQL database made
//! from `TEST_POSTGRES_URL`), the real application on a random port, a reqwest client.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use oidcd::config::{DatabaseUrl, Seconds, Secret};
use oidcd::keys::Kek;
use oidcd::{Application, Clock, Config};
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The environment variable that holds the PostgreSQL URL for tests.
pub const POSTGRES_ENV: &str = "TEST_POSTGRES_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$name(Backend)` once per database: `$name::sqlite` and `$name::postgres`. The
/// PostgreSQL variant is skipped, loudly, only when `TEST_POSTGRES_URL` is unset (CI sets it).
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                if $crate::helpers::postgres_url().is_none() {
                    eprintln!("skipped: {} is not set", $crate::helpers::POSTGRES_ENV);
                    return;
                }
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    )+};
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
}

impl TestEnv {
    pub async fn new(backend: Backend) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("oidcd-test-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (database_url, postgres) = match backend {
            Backend::Sqlite => (
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
            postgres,
            kek: Kek::generate().unwrap().to_base64url(),
            dir,
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
        let mut env = vec![
            ("OIDCD_DATABASE_URL", self.database_url.as_str()),
            ("OIDCD_KEK", self.kek.as_str()),
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
