//! The benchmark suite's driver (run it through `bench/run`). It measures the yardsticks
//! (RS256 signatures per second on one core and on all, argon2 hashes per second at the
//! production parameters, a bare poem handler's request rate under the same load generator),
//! starts the release `oidcd` on a fresh database, provisions it through the CLI, runs each
//! scenario for a fixed time after a warm-up, and prints rates, latencies, server CPU per
//! request and each ratio against its target. It exits non-zero when a ratio misses its target,
//! unless `--smoke` (a few seconds per scenario, ratios printed, not enforced).
//!
//! Scenarios: S1 discovery, S2 JWKS, S3 client_credentials, S4 refresh with rotation over a
//! seeded pool of single-use tokens, S5 introspection, S6 userinfo, S7 whole code flows with a
//! session and remembered consent, S8 a password-login flood with discovery sampled, S9 peak
//! memory, S10 S3-S6 again over a million stored refresh tokens (`--s10-rows` to change), S11
//! client_credentials for a private_key_jwt client (an ES256 assertion with a fresh `jti` on
//! every request), S12 client_credentials with DPoP-bound tokens (an ES256 proof with a fresh
//! `jti` and the server's nonce on every request).

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Args {
    smoke: bool,
    postgres: Option<String>,
    seconds: u64,
    warmup: u64,
    s10_rows: usize,
    oidcd: PathBuf,
}

fn parse_args() -> Args {
    let mut args = Args {
        smoke: false,
        postgres: None,
        seconds: 10,
        warmup: 3,
        s10_rows: 1_000_000,
        oidcd: PathBuf::from("target/release/oidcd"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--smoke" => {
                args.smoke = true;
                args.seconds = 2;
                args.warmup = 1;
                args.s10_rows = 20_000;
            }
            "--postgres" => args.postgres = Some(it.next().expect("--postgres URL")),
            "--seconds" => args.seconds = it.next().unwrap().parse().unwrap(),
            "--s10-rows" => args.s10_rows = it.next().unwrap().parse().unwrap(),
            "--oidcd" => args.oidcd = PathBuf::from(it.next().unwrap()),
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

// --- yardsticks ---------------------------------------------------------------------------

/// How many times per second `work` runs on `threads` threads, over `seconds`.
fn per_second(threads: usize, seconds: f64, work: impl Fn() + Send + Sync + 'static) -> f64 {
    let work = Arc::new(work);
    let total = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (work, total) = (work.clone(), total.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while Instant::now() < deadline {
                    work();
                    n += 1;
                }
                total.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    total.load(Ordering::Relaxed) as f64 / seconds
}

/// josekit's RS256 signatures per second of a typical access token, on `threads` threads:
/// the yardstick the issue names, signed the way josekit signs (a context made per call).
fn sign_rate(threads: usize, seconds: f64) -> f64 {
    use josekit::jws::{JwsHeader, RS256};
    let key = oidcd::keys::generate::generate(2048).unwrap();
    let signer = RS256.signer_from_der(&key.private_der).unwrap();
    let mut header = JwsHeader::new();
    header.set_token_type("at+jwt");
    header.set_key_id(&key.kid);
    let mut payload = josekit::jwt::JwtPayload::new();
    payload.set_issuer("http://127.0.0.1:8080");
    payload.set_subject("a-client");
    payload.set_claim("scope", Some("api".into())).unwrap();
    per_second(threads, seconds, move || {
        josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap();
    })
}

/// argon2id hashes per second at the production parameters, on every core.
fn argon2_rate(seconds: f64) -> f64 {
    let config = oidcd::config::Argon2Config::default();
    let hasher = oidcd::password::PasswordHasher::new(&config).unwrap();
    per_second(cpus(), seconds, move || {
        hasher
            .hash_blocking("correct horse battery staple")
            .unwrap();
    })
}

/// The length of the discovery document at a loopback issuer of the usual length, with the
/// default settings.
fn discovery_size() -> usize {
    use oidcd::oidc::discovery::{Features, Metadata};
    let config = oidcd::config::Config::default();
    Metadata::build(
        "http://127.0.0.1:40000",
        oidcd::server::router::MOUNTED,
        Features::of(&config),
        &oidcd::oauth::scope::Catalog::default(),
    )
    .to_bytes()
    .len()
}

/// A bare poem server answering every GET with a discovery-sized JSON body (as long as the
/// discovery document the server under test will serve), on its own runtime; returns its
/// address.
async fn start_bare_poem() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let bind = address.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let body = bytes::Bytes::from(vec![b'x'; discovery_size()]);
            let app = poem::Route::new().at(
                "/",
                poem::get(poem::endpoint::make_sync(move |_| {
                    poem::Response::builder()
                        .content_type("application/json")
                        .body(body.clone())
                })),
            );
            poem::Server::new(poem::listener::TcpListener::bind(bind))
                .run(app)
                .await
                .unwrap();
        });
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    format!("http://{address}")
}

// --- the load generator (wrk) ------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: f64,
    errors: f64,
}

fn parse_duration_ms(text: &str) -> f64 {
    let (number, unit): (String, String) =
        text.chars().partition(|c| c.is_ascii_digit() || *c == '.');
    let n: f64 = number.parse().unwrap_or(f64::NAN);
    match unit.as_str() {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// The wrk command. It shares the two cores with the server, so where util-linux's `chrt` is
/// at hand it runs as SCHED_BATCH: its wakeups then wait for the server's current request
/// instead of preempting it mid-signature (nearly once per token otherwise), which is what a
/// server whose clients are on other machines sees. The bare poem yardstick gets the same.
fn load_generator() -> Command {
    static BATCH: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let batch = *BATCH.get_or_init(|| {
        Command::new("chrt")
            .args(["--batch", "0", "true"])
            .status()
            .is_ok_and(|s| s.success())
    });
    if batch {
        let mut cmd = Command::new("chrt");
        cmd.args(["--batch", "0", "wrk"]);
        cmd
    } else {
        Command::new("wrk")
    }
}

/// Runs wrk against `url` for `seconds` (after `warmup`), with an optional Lua script.
fn wrk(url: &str, seconds: u64, warmup: u64, script: Option<&Path>) -> Load {
    let run = |secs: u64| {
        let mut cmd = load_generator();
        cmd.args(["-t2", "-c32", "--latency", "-d"])
            .arg(format!("{secs}s"));
        if let Some(s) = script {
            cmd.arg("-s").arg(s);
        }
        cmd.arg(url);
        let out = cmd.output().expect("wrk runs (bench/run installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    if warmup > 0 {
        run(warmup);
    }
    let text = run(seconds);
    let mut load = Load::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => load.rps = v.parse().unwrap_or(0.0),
            ["50%", v] => load.p50_ms = parse_duration_ms(v),
            ["99%", v] => load.p99_ms = parse_duration_ms(v),
            [n, "requests", "in", ..] => load.requests = n.parse().unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => load.errors = n.parse().unwrap_or(0.0),
            _ => {}
        }
    }
    load
}

fn lua(dir: &Path, name: &str, method: &str, body: &str, headers: &[(&str, String)]) -> PathBuf {
    let mut script = format!("wrk.method = \"{method}\"\nwrk.body = \"{body}\"\n");
    for (k, v) in headers {
        script.push_str(&format!("wrk.headers[\"{k}\"] = \"{v}\"\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    path
}

// --- the server under test ----------------------------------------------------------------

struct Server {
    child: Child,
    issuer: String,
}

impl Server {
    fn start(oidcd: &Path, env: &[(String, String)], dir: &Path) -> Self {
        use std::io::{BufRead as _, BufReader};
        let mut child = Command::new(oidcd)
            .arg("serve")
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the release oidcd runs");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().unwrap().unwrap();
        let issuer = first.strip_prefix("oidcd is serving ").unwrap().to_owned();
        std::thread::spawn(move || for _ in lines {});
        Self { child, issuer }
    }

    /// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS.
    fn reset_peak_memory(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").unwrap();
    }

    fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU seconds so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.child.id().to_string())
    }
}

/// CPU seconds of the server and of this driver at the start of a scenario.
struct CpuMark {
    server: f64,
    driver: f64,
}

impl CpuMark {
    fn new(server: &Server) -> Self {
        Self {
            server: server.cpu_seconds(),
            driver: cpu_seconds("self"),
        }
    }

    /// The server's CPU per request since the mark.
    fn server(&self, server: &Server, requests: f64) -> String {
        let per = (server.cpu_seconds() - self.server) / requests.max(1.0);
        format!("{:.0} us CPU/request", per * 1e6)
    }

    /// The server's and this driver's CPU per request since the mark (scenarios the driver
    /// runs itself: its share of the two cores is not the server's to use).
    fn both(&self, server: &Server, requests: usize) -> String {
        let n = requests.max(1) as f64;
        format!(
            "{:.0} us CPU/request (driver {:.0} us)",
            (server.cpu_seconds() - self.server) / n * 1e6,
            (cpu_seconds("self") - self.driver) / n * 1e6
        )
    }
}

/// User + system CPU seconds so far of process `pid` (or `self`).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(
    oidcd: &Path,
    env: &[(String, String)],
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Value {
    use std::io::Write as _;
    let mut child = Command::new(oidcd)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "oidcd {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

// --- stateful scenarios (their own load, reqwest with connection reuse) -------------------

struct Sampled {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    done: usize,
    /// Tasks that stopped on a failed operation (an error answer).
    failed: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `work` on `concurrency` tasks for `seconds`; each call is one operation, `true`
/// when it succeeded. A task stops at its first failure, which is counted.
async fn drive<F, Fut>(concurrency: usize, seconds: u64, work: F) -> Sampled
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let work = Arc::new(work);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (work, latencies, done, failed) = (
                work.clone(),
                latencies.clone(),
                done.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    if !work(worker).await {
                        failed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    mine.push(started.elapsed().as_secs_f64() * 1000.0);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    let started = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    let mut all = latencies.lock().unwrap().clone();
    all.sort_by(f64::total_cmp);
    let done = done.load(Ordering::Relaxed);
    Sampled {
        rate: done as f64 / took,
        done,
        failed: failed.load(Ordering::Relaxed),
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
}

struct App {
    issuer: String,
    client_id: String,
    secret: String,
    redirect: String,
    username: String,
    password: String,
}

impl App {
    fn authorize_url(&self) -> String {
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", self.issuer)).unwrap();
        url.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect.as_str()),
            ("scope", "openid profile offline_access"),
        ]);
        url.to_string()
    }

    /// Signs in and consents once in `browser`; later authorizations in it go straight back.
    async fn sign_in(&self, browser: &reqwest::Client) {
        let page = browser
            .get(self.authorize_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut response = browser
            .post(format!("{}/oauth/authorize", self.issuer))
            .form(&[
                ("request_id", field(&page, "request_id")),
                ("csrf_token", field(&page, "csrf_token")),
                ("step", "login".into()),
                ("username", self.username.clone()),
                ("password", self.password.clone()),
            ])
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let page = response.text().await.unwrap();
            response = browser
                .post(format!("{}/oauth/authorize", self.issuer))
                .form(&[
                    ("request_id", field(&page, "request_id")),
                    ("csrf_token", field(&page, "csrf_token")),
                    ("step", "consent".into()),
                    ("decision", "allow".into()),
                ])
                .send()
                .await
                .unwrap();
        }
        assert!(response.status().is_redirection(), "signed in");
    }

    /// One whole code flow in a signed-in browser: authorize, then the code exchange.
    async fn flow(&self, browser: &reqwest::Client, backend: &reqwest::Client) -> Option<Value> {
        let response = browser.get(self.authorize_url()).send().await.ok()?;
        let location = response
            .headers()
            .get("location")?
            .to_str()
            .ok()?
            .to_owned();
        let code = url::Url::parse(&location)
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == "code")?
            .1
            .into_owned();
        let tokens = backend
            .post(format!("{}/oauth/token", self.issuer))
            .basic_auth(&self.client_id, Some(&self.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", self.redirect.as_str()),
            ])
            .send()
            .await
            .ok()?;
        if tokens.status() != 200 {
            return None;
        }
        tokens.json().await.ok()
    }
}

// --- the run ------------------------------------------------------------------------------

struct Report {
    lines: Vec<String>,
    misses: Vec<String>,
    /// Scenarios that got error answers: their numbers measure something else.
    errors: Vec<String>,
}

impl Report {
    fn row(&mut self, name: &str, rate: f64, p50: f64, p99: f64, extra: &str) {
        let line =
            format!("{name:<34} {rate:>10.0}/s  p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  {extra}");
        println!("{line}");
        self.lines.push(line);
    }

    /// Notes a scenario's error answers; any fails the run, in smoke mode too.
    fn answered(&mut self, what: &str, errors: f64) {
        if errors > 0.0 {
            self.errors.push(format!("{what}: {errors} error answers"));
        }
    }

    fn target(&mut self, what: &str, value: f64, ok: bool, goal: &str) {
        let line = format!(
            "  {what:<58} {value:>8.3}  target {goal:<10} {}",
            if ok { "ok" } else { "MISSED" }
        );
        println!("{line}");
        self.lines.push(line);
        if !ok {
            self.misses.push(what.to_owned());
        }
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let secs = args.seconds;
    let short = secs as f64 / 2.0;
    let mut report = Report {
        lines: Vec::new(),
        misses: Vec::new(),
        errors: Vec::new(),
    };
    println!("== yardsticks");
    let sign_one = tokio::task::spawn_blocking(move || sign_rate(1, short))
        .await
        .unwrap();
    let sign_all = tokio::task::spawn_blocking(move || sign_rate(cpus(), short))
        .await
        .unwrap();
    let argon = tokio::task::spawn_blocking(move || argon2_rate(short))
        .await
        .unwrap();
    println!(
        "RS256 signatures: {sign_one:.0}/s on one core, {sign_all:.0}/s on {} cores",
        cpus()
    );
    println!("argon2id (19 MiB, t=2) hashes: {argon:.1}/s on all cores");
    let bare = wrk(&start_bare_poem().await, secs, args.warmup, None);
    report.row(
        "bare poem handler (wrk)",
        bare.rps,
        bare.p50_ms,
        bare.p99_ms,
        "",
    );

    // A fresh database and the release server.
    let dir = std::env::temp_dir().join(format!("oidcd-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let database_url = match &args.postgres {
        Some(server) => {
            let name = format!("oidcd_bench_{}", uuid::Uuid::new_v4().simple());
            let status = Command::new("psql")
                .args([
                    server.as_str(),
                    "-qc",
                    &format!("CREATE DATABASE \"{name}\""),
                ])
                .status()
                .unwrap();
            assert!(status.success());
            let mut url = url::Url::parse(server).unwrap();
            url.set_path(&name);
            url.to_string()
        }
        None => format!("sqlite://{}?mode=rwc", dir.join("oidcd.db").display()),
    };
    let kek = oidcd::keys::Kek::generate().unwrap().to_base64url();
    let env: Vec<(String, String)> = [
        ("OIDCD_BIND", "127.0.0.1:0"),
        ("OIDCD_DATABASE_URL", database_url.as_str()),
        ("OIDCD_KEK", kek.as_str()),
        ("OIDCD_LOG", "warn"),
        ("OIDCD_LOGIN_FAILURES_PER_ACCOUNT", "1000000000"),
        ("OIDCD_LOGIN_FAILURES_PER_IP", "1000000000"),
        // S8's browsers all come from this one address and half of them never sign in.
        ("OIDCD_LOGIN_PENDING_REQUESTS_PER_IP", "1000000000"),
        ("OIDCD_CLIENT_AUTH_FAILURES_PER_CLIENT", "1000000000"),
        ("OIDCD_CLIENT_AUTH_FAILURES_PER_IP", "1000000000"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let oidcd = std::fs::canonicalize(&args.oidcd).expect("build oidcd first (bench/run does)");
    // The CLI's commands work on an existing database only: make it first.
    cli(&oidcd, &env, &dir, &["migrate"], None);
    let machine = cli(
        &oidcd,
        &env,
        &dir,
        &[
            "client",
            "create",
            "--name",
            "Bench machine",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
            "--scope",
            "introspect",
        ],
        None,
    );
    // S11's client: its private key stays here, the public half is registered.
    let client_key =
        josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
    let mut public_jwk = client_key.to_jwk_public_key();
    public_jwk.set_key_id("bench");
    let key_client = cli(
        &oidcd,
        &env,
        &dir,
        &[
            "client",
            "create",
            "--name",
            "Bench key client",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            &serde_json::json!({ "keys": [Value::Object(public_jwk.as_ref().clone())] })
                .to_string(),
        ],
        None,
    );
    let key_client_id = key_client["client_id"].as_str().unwrap().to_owned();
    let redirect = "http://127.0.0.1:9/cb".to_owned();
    let app_client = cli(
        &oidcd,
        &env,
        &dir,
        &[
            "client",
            "create",
            "--name",
            "Bench app",
            "--redirect-uri",
            &redirect,
        ],
        None,
    );
    let password = format!("bench-{}", uuid::Uuid::new_v4().simple());
    cli(
        &oidcd,
        &env,
        &dir,
        &["user", "create", "--username", "bench", "--password-stdin"],
        Some(&password),
    );
    let server = Server::start(&oidcd, &env, &dir);
    let issuer = server.issuer.clone();
    let (m_id, m_secret) = (
        machine["client_id"].as_str().unwrap().to_owned(),
        machine["client_secret"].as_str().unwrap().to_owned(),
    );
    let app = Arc::new(App {
        issuer: issuer.clone(),
        client_id: app_client["client_id"].as_str().unwrap().to_owned(),
        secret: app_client["client_secret"].as_str().unwrap().to_owned(),
        redirect,
        username: "bench".into(),
        password: password.clone(),
    });
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{m_id}:{m_secret}"))
    };

    // Set-up, not measured: the S7 browsers and the S6 user sign in (each login is one
    // argon2 hash; S8 measures those), then the peak-memory mark is reset so S9 covers S1-S7.
    let mut s7_browsers = Vec::new();
    for _ in 0..16 {
        let b = http();
        app.sign_in(&b).await;
        s7_browsers.push(b);
    }
    let browser = http();
    app.sign_in(&browser).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.reset_peak_memory();
    let rest_kib = server.status("VmRSS:");

    println!(
        "\n== oidcd at {issuer} ({})",
        if args.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let s1 = wrk(
        &format!("{issuer}/.well-known/openid-configuration"),
        secs,
        args.warmup,
        None,
    );
    report.row("S1 discovery", s1.rps, s1.p50_ms, s1.p99_ms, "");
    let s2 = wrk(&format!("{issuer}/jwks.json"), secs, args.warmup, None);
    report.row("S2 JWKS", s2.rps, s2.p50_ms, s2.p99_ms, "");

    let cc_script = lua(
        &dir,
        "cc.lua",
        "POST",
        "grant_type=client_credentials&scope=api",
        &[
            ("Authorization", format!("Basic {basic}")),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ],
    );
    // One signature's cost is measured again right before S3: the machine's speed drifts by
    // several percent over the minutes since the yardsticks (other tenants), and the ratio
    // compares the two under the same conditions. S3 signs on every core at once, and on some
    // machines a signature costs a sixth more CPU when the other core signs too (shared
    // caches, the host's placement of the two cores), so the cost the ratio takes is one
    // signature's CPU time with every core signing; the one-core cost is printed beside it.
    let (sign_near_one, sign_near_all) = tokio::task::spawn_blocking(move || {
        (sign_rate(1, short / 2.0), sign_rate(cpus(), short / 2.0))
    })
    .await
    .unwrap();
    let cpu_before = server.cpu_seconds();
    let s3 = wrk(&format!("{issuer}/oauth/token"), secs, 0, Some(&cc_script));
    let cpu_per_token = (server.cpu_seconds() - cpu_before) / s3.requests.max(1.0);
    let sign_cost = cpus() as f64 / sign_near_all;
    report.row(
        "S3 client_credentials",
        s3.rps,
        s3.p50_ms,
        s3.p99_ms,
        &format!(
            "{:.0} us CPU/token, {} errors; one signature just before: {:.0} us of CPU with every \
             core signing, {:.0} us on one core alone ({:.0} us at the start)",
            cpu_per_token * 1e6,
            s3.errors,
            sign_cost * 1e6,
            1e6 / sign_near_one,
            1e6 / sign_one
        ),
    );

    // S11: client_credentials again, the client proving itself with an ES256 assertion (a
    // fresh jti each time, so each is checked, verified and recorded). Signed ahead of time,
    // enough for S3's rate.
    let assertions = {
        let count = ((s3.rps * 1.3).max(300.0) * (secs + 2) as f64) as usize;
        let key = client_key.to_jwk_key_pair();
        let audience = format!("{issuer}/oauth/token");
        let client_id = key_client_id.clone();
        tokio::task::spawn_blocking(move || sign_assertions(&key, &client_id, &audience, count))
            .await
            .unwrap()
    };
    let cpu = CpuMark::new(&server);
    let s11 = assertion_grants(&issuer, &dir, &assertions, secs);
    report.row(
        "S11 private_key_jwt client_credentials",
        s11.rps,
        s11.p50_ms,
        s11.p99_ms,
        &format!(
            "{}, {} errors, {} assertions signed ahead",
            cpu.server(&server, s11.requests),
            s11.errors,
            assertions.len()
        ),
    );

    // S12: client_credentials again, every token bound to the client's key by a DPoP proof
    // (checked, verified with the key in its header, its `jti` recorded, the server's nonce
    // in it). The nonce comes from one proof without it, as a client learns it.
    let proofs = {
        let key = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap();
        let htu = format!("{issuer}/oauth/token");
        let first = sign_proofs(&key, &htu, "", 1);
        let answer = http()
            .post(&htu)
            .basic_auth(&m_id, Some(&m_secret))
            .header("DPoP", &first[0])
            .form(&[("grant_type", "client_credentials"), ("scope", "api")])
            .send()
            .await
            .unwrap();
        let nonce = answer
            .headers()
            .get("dpop-nonce")
            .expect("a nonce with use_dpop_nonce")
            .to_str()
            .unwrap()
            .to_owned();
        let count = ((s3.rps * 1.3).max(300.0) * (secs + 2) as f64) as usize;
        tokio::task::spawn_blocking(move || sign_proofs(&key, &htu, &nonce, count))
            .await
            .unwrap()
    };
    let cpu = CpuMark::new(&server);
    let s12 = dpop_grants(&issuer, &dir, &basic, &proofs, secs);
    report.row(
        "S12 DPoP client_credentials",
        s12.rps,
        s12.p50_ms,
        s12.p99_ms,
        &format!(
            "{}, {} errors, {} proofs signed ahead",
            cpu.server(&server, s12.requests),
            s12.errors,
            proofs.len()
        ),
    );

    // A user access token (one code flow) for S6, a machine token for S5.
    let tokens = app.flow(&browser, &http()).await.expect("a code flow");
    let user_token = tokens["access_token"].as_str().unwrap().to_owned();
    let machine_token: Value = http()
        .post(format!("{issuer}/oauth/token"))
        .basic_auth(&m_id, Some(&m_secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let machine_token = machine_token["access_token"].as_str().unwrap().to_owned();
    let introspect_script = lua(
        &dir,
        "introspect.lua",
        "POST",
        &format!("token={machine_token}"),
        &[
            ("Authorization", format!("Basic {basic}")),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ],
    );
    let userinfo_script = lua(
        &dir,
        "userinfo.lua",
        "GET",
        "",
        &[("Authorization", format!("Bearer {user_token}"))],
    );
    let cpu = CpuMark::new(&server);
    let s5 = wrk(
        &format!("{issuer}/oauth/introspect"),
        secs,
        0,
        Some(&introspect_script),
    );
    report.row(
        "S5 introspection",
        s5.rps,
        s5.p50_ms,
        s5.p99_ms,
        &format!("{}, {} errors", cpu.server(&server, s5.requests), s5.errors),
    );
    let cpu = CpuMark::new(&server);
    let s6 = wrk(
        &format!("{issuer}/oauth/userinfo"),
        secs,
        0,
        Some(&userinfo_script),
    );
    report.row(
        "S6 userinfo",
        s6.rps,
        s6.p50_ms,
        s6.p99_ms,
        &format!("{}, {} errors", cpu.server(&server, s6.requests), s6.errors),
    );

    // S4: a seeded pool of single-use refresh tokens, each redeemed once.
    // Sized so that it never runs out: S4 signs one token per refresh, and has never come
    // near half the all-core sign rate (S3's rate alone left it short after a noisy S3).
    let pool_size = ((s3.rps * 0.8).max(sign_all * 0.6).max(300.0) * (secs + 2) as f64) as usize;
    let pool = seed(&database_url, &kek, &app.client_id, pool_size).await;
    let cpu = CpuMark::new(&server);
    let s4 = refreshes(&app, &dir, &pool, secs);
    report.row(
        "S4 refresh (rotation)",
        s4.rps,
        s4.p50_ms,
        s4.p99_ms,
        &format!(
            "{}, {} errors, pool of {pool_size}",
            cpu.server(&server, s4.requests),
            s4.errors
        ),
    );

    // S7: whole code flows, each worker a signed-in browser with remembered consent.
    let cpu = CpuMark::new(&server);
    let s7 = {
        let browsers = Arc::new(s7_browsers);
        let backend = http();
        let app = app.clone();
        drive(16, secs, move |worker| {
            let (app, browsers, backend) = (app.clone(), browsers.clone(), backend.clone());
            async move { app.flow(&browsers[worker], &backend).await.is_some() }
        })
        .await
    };
    report.row(
        "S7 code flows",
        s7.rate,
        s7.p50_ms,
        s7.p99_ms,
        &cpu.both(&server, s7.done),
    );
    let peak_kib = server.status("VmHWM:");
    println!(
        "S9 peak memory over S1-S7: {:.1} MiB (at rest before S1: {:.1} MiB)",
        peak_kib as f64 / 1024.0,
        rest_kib as f64 / 1024.0
    );

    // S8: a login flood with discovery sampled. Half the workers sign in with the right
    // password, half guess for unknown users (the same argon2 cost, then the failure tarpit).
    // As long as the flood, so both p99s rest on about as many samples: 5 ms apart, about two
    // thousand in ten seconds, so a p99 is not just the few worst of a few hundred samples.
    let histogram_before_idle = discovery_histogram(&issuer).await;
    let discovery_idle = {
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = sample_discovery(&issuer, stop.clone());
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        sampler.join().unwrap()
    };
    let histogram_before_flood = discovery_histogram(&issuer).await;
    let flood_over = Arc::new(AtomicBool::new(false));
    let sampler = sample_discovery(&issuer, flood_over.clone());
    let rss_before_flood = server.status("VmRSS:");
    let s8 = {
        let app = app.clone();
        drive(64, secs, move |worker| {
            let app = app.clone();
            async move {
                let right = worker % 2 == 0;
                let browser = http();
                let Ok(page) = browser.get(app.authorize_url()).send().await else {
                    return false;
                };
                let Ok(page) = page.text().await else {
                    return false;
                };
                let r = browser
                    .post(format!("{}/oauth/authorize", app.issuer))
                    .form(&[
                        ("request_id", field(&page, "request_id")),
                        ("csrf_token", field(&page, "csrf_token")),
                        ("step", "login".into()),
                        (
                            "username",
                            if right {
                                app.username.clone()
                            } else {
                                format!("nobody-{worker}-{}", uuid::Uuid::new_v4().simple())
                            },
                        ),
                        (
                            "password",
                            if right {
                                app.password.clone()
                            } else {
                                "wrong".into()
                            },
                        ),
                    ])
                    .send()
                    .await;
                // A wrong password gets the form again (200), a right one goes on (303).
                matches!(r, Ok(r) if r.status() == if right { 303 } else { 200 })
            }
        })
        .await
    };
    flood_over.store(true, Ordering::Relaxed);
    let during = sampler.join().unwrap();
    let histogram_after_flood = discovery_histogram(&issuer).await;
    // The server's own view of discovery's tail: the client-side one on two shared cores
    // measures the scheduler as much as the server.
    let server_idle99 = histogram_quantile(&histogram_before_idle, &histogram_before_flood, 0.99);
    let server_during99 = histogram_quantile(&histogram_before_flood, &histogram_after_flood, 0.99);
    let flood_peak_kib = server.status("VmHWM:");
    // Hashes the server moved off its background hashing threads because they were starved.
    let moved = metrics_text(&issuer)
        .await
        .lines()
        .find_map(|line| line.strip_prefix("oidcd_password_hashes_moved_total "))
        .unwrap_or("?")
        .to_owned();
    report.row(
        "S8 logins (half failing)",
        s8.rate,
        s8.p50_ms,
        s8.p99_ms,
        &format!(
            "discovery p99 {:.2} ms idle, {:.2} ms during (server: {server_idle99:.3} / \
             {server_during99:.3} ms); {moved} hashes moved",
            percentile(&discovery_idle, 0.99),
            percentile(&during, 0.99)
        ),
    );

    // S10: S3-S6 again over a large table of refresh tokens.
    println!("\n== S10: seeding {} refresh tokens", args.s10_rows);
    seed(&database_url, &kek, &app.client_id, args.s10_rows).await;
    let s10_3 = wrk(
        &format!("{issuer}/oauth/token"),
        secs,
        args.warmup,
        Some(&cc_script),
    );
    let pool2 = seed(&database_url, &kek, &app.client_id, pool_size).await;
    let s10_4 = refreshes(&app, &dir, &pool2, secs);
    let s10_5 = wrk(
        &format!("{issuer}/oauth/introspect"),
        secs,
        0,
        Some(&introspect_script),
    );
    let s10_6 = wrk(
        &format!("{issuer}/oauth/userinfo"),
        secs,
        0,
        Some(&userinfo_script),
    );
    report.row(
        "S10 S3 client_credentials",
        s10_3.rps,
        s10_3.p50_ms,
        s10_3.p99_ms,
        "",
    );
    report.row(
        "S10 S4 refresh",
        s10_4.rps,
        s10_4.p50_ms,
        s10_4.p99_ms,
        &format!("{} errors", s10_4.errors),
    );
    report.row(
        "S10 S5 introspection",
        s10_5.rps,
        s10_5.p50_ms,
        s10_5.p99_ms,
        "",
    );
    report.row("S10 S6 userinfo", s10_6.rps, s10_6.p50_ms, s10_6.p99_ms, "");

    println!("\n== ratios");
    report.target(
        "S1 / bare poem",
        s1.rps / bare.rps,
        s1.rps / bare.rps >= 0.5,
        ">= 0.5",
    );
    report.target(
        "S1 p99 / bare poem p99",
        s1.p99_ms / bare.p99_ms,
        s1.p99_ms <= 1.25 * bare.p99_ms,
        "<= 1.25",
    );
    report.target(
        "S2 / bare poem",
        s2.rps / bare.rps,
        s2.rps / bare.rps >= 0.5,
        ">= 0.5",
    );
    report.target(
        "S2 p99 / bare poem p99",
        s2.p99_ms / bare.p99_ms,
        s2.p99_ms <= 1.25 * bare.p99_ms,
        "<= 1.25",
    );
    report.target(
        "S3 / all-core sign rate",
        s3.rps / sign_all,
        s3.rps / sign_all >= 0.6,
        ">= 0.6",
    );
    report.target(
        "S3 server CPU per token / one signature (all cores)",
        cpu_per_token / sign_cost,
        cpu_per_token / sign_cost <= 1.3,
        "<= 1.3",
    );
    report.target(
        "S4 / all-core sign rate",
        s4.rps / sign_all,
        s4.rps / sign_all >= 0.3,
        ">= 0.3",
    );
    // Each S11 request writes (the assertion's jti, so that it is never accepted twice, on
    // any instance), as each S4 request does; S3 writes nothing.
    report.target(
        "S11 private_key_jwt / S3",
        s11.rps / s3.rps,
        s11.rps / s3.rps >= 0.4,
        ">= 0.4",
    );
    // Each S12 request writes too (the proof's jti) and checks one ES256 signature, like S11.
    report.target(
        "S12 DPoP / S3",
        s12.rps / s3.rps,
        s12.rps / s3.rps >= 0.4,
        ">= 0.4",
    );
    report.target("S5 / S1", s5.rps / s1.rps, s5.rps / s1.rps >= 0.3, ">= 0.3");
    report.target("S6 / S1", s6.rps / s1.rps, s6.rps / s1.rps >= 0.3, ">= 0.3");
    report.target(
        "S7 / all-core sign rate",
        s7.rate / sign_all,
        s7.rate / sign_all >= 0.15,
        ">= 0.15",
    );
    report.target(
        "S8 logins / all-core argon2 rate",
        s8.rate / argon,
        s8.rate / argon >= 0.8,
        ">= 0.8",
    );
    report.target(
        "S8 discovery p99 during / idle (server histogram)",
        server_during99 / server_idle99,
        server_during99 <= 3.0 * server_idle99,
        "<= 3",
    );
    let hash_bound_mib = (cpus() * 19) as f64 + 20.0;
    let flood_growth_mib = flood_peak_kib.saturating_sub(rss_before_flood) as f64 / 1024.0;
    report.target(
        "S8 memory growth (MiB)",
        flood_growth_mib,
        flood_growth_mib <= hash_bound_mib,
        &format!("<= {hash_bound_mib:.0}"),
    );
    report.target(
        "S9 peak RSS over S1-S7 (MiB)",
        peak_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0 <= 40.0,
        "<= 40",
    );
    for (name, base, large) in [
        ("S10 S3 / S3", s3.rps, s10_3.rps),
        ("S10 S4 / S4", s4.rps, s10_4.rps),
        ("S10 S5 / S5", s5.rps, s10_5.rps),
        ("S10 S6 / S6", s6.rps, s10_6.rps),
    ] {
        report.target(name, large / base, large / base >= 0.8, ">= 0.8");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    for (what, errors) in [
        ("S1 discovery", s1.errors),
        ("S2 JWKS", s2.errors),
        ("S3 client_credentials", s3.errors),
        ("S11 private_key_jwt", s11.errors),
        ("S12 DPoP", s12.errors),
        ("S4 refresh", s4.errors),
        ("S5 introspection", s5.errors),
        ("S6 userinfo", s6.errors),
        ("S7 code flows", s7.failed as f64),
        ("S8 logins", s8.failed as f64),
        ("S10 S3", s10_3.errors),
        ("S10 S4", s10_4.errors),
        ("S10 S5", s10_5.errors),
        ("S10 S6", s10_6.errors),
    ] {
        report.answered(what, errors);
    }
    if !report.errors.is_empty() {
        println!("\nerror answers: {}", report.errors.join("; "));
        std::process::exit(1);
    }
    if args.smoke {
        println!(
            "\nsmoke mode: ratios printed, not enforced (on a debug build, they mean nothing)"
        );
    } else if !report.misses.is_empty() {
        println!(
            "\n{} target(s) missed: {}",
            report.misses.len(),
            report.misses.join(", ")
        );
        std::process::exit(1);
    }
}

/// `count` client assertions for `client_id` at `audience`, each with its own `jti`, valid for
/// five minutes; signed on every core. The wall clock is the client's clock here.
fn sign_assertions(
    key: &josekit::jwk::Jwk,
    client_id: &str,
    audience: &str,
    count: usize,
) -> Vec<String> {
    let mut header = josekit::jws::JwsHeader::new();
    header.set_key_id("bench");
    presign(key, &header, count, |now, jti| {
        serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 300,
            "jti": jti,
        })
    })
}

/// `count` DPoP proofs by `key` for `POST htu` carrying `nonce`, each with its own `jti`.
fn sign_proofs(
    key: &josekit::jwk::alg::ec::EcKeyPair,
    htu: &str,
    nonce: &str,
    count: usize,
) -> Vec<String> {
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type("dpop+jwt");
    header.set_jwk(key.to_jwk_public_key());
    presign(&key.to_jwk_key_pair(), &header, count, |now, jti| {
        serde_json::json!({
            "htm": "POST",
            "htu": htu,
            "iat": now,
            "nonce": nonce,
            "jti": jti,
        })
    })
}

/// `count` ES256 JWTs with `header` and the claims `claims(now, jti)` makes, each with its
/// own `jti`; signed on every core. The wall clock is the client's clock here.
#[allow(clippy::disallowed_methods)]
fn presign(
    key: &josekit::jwk::Jwk,
    header: &josekit::jws::JwsHeader,
    count: usize,
    claims: impl Fn(u64, String) -> Value + Sync,
) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let per_thread = count.div_ceil(cpus());
    let claims = &claims;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cpus())
            .map(|t| {
                scope.spawn(move || {
                    let signer = josekit::jws::ES256.signer_from_jwk(key).unwrap();
                    (0..per_thread)
                        .map(|i| {
                            let jti = format!("{t}-{i}-{}", uuid::Uuid::new_v4().simple());
                            josekit::jws::serialize_compact(
                                claims(now, jti).to_string().as_bytes(),
                                header,
                                &signer,
                            )
                            .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

/// S11 under wrk: each request carries one assertion of the pool.
fn assertion_grants(issuer: &str, dir: &Path, assertions: &[String], secs: u64) -> Load {
    let script = pool_script(
        dir,
        "assertion",
        assertions,
        &[],
        PoolValue::InBody(
            "grant_type=client_credentials&scope=api&client_assertion_type=\
             urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=",
        ),
    );
    wrk(&format!("{issuer}/oauth/token"), secs, 0, Some(&script))
}

/// S12 under wrk: the machine client's client_credentials, each request with one DPoP proof of
/// the pool.
fn dpop_grants(issuer: &str, dir: &Path, basic: &str, proofs: &[String], secs: u64) -> Load {
    let script = pool_script(
        dir,
        "dpop",
        proofs,
        &[("Authorization", format!("Basic {basic}"))],
        PoolValue::InHeader {
            name: "DPoP",
            body: "grant_type=client_credentials&scope=api",
        },
    );
    wrk(&format!("{issuer}/oauth/token"), secs, 0, Some(&script))
}

/// S4 under wrk: each request redeems one token of the pool (single use).
fn refreshes(app: &App, dir: &Path, pool: &[String], secs: u64) -> Load {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", app.client_id, app.secret));
    let script = pool_script(
        dir,
        "refresh",
        pool,
        &[("Authorization", format!("Basic {basic}"))],
        PoolValue::InBody("grant_type=refresh_token&refresh_token="),
    );
    wrk(
        &format!("{}/oauth/token", app.issuer),
        secs,
        0,
        Some(&script),
    )
}

/// Where each request of a pool script carries its value.
enum PoolValue<'a> {
    /// At the end of the form body, after this prefix.
    InBody(&'a str),
    /// In this header, the form body fixed.
    InHeader { name: &'a str, body: &'a str },
}

/// A wrk script that POSTs a form with one value of `pool` per request, each value once:
/// each of wrk's two threads takes every other line of the pool's file.
fn pool_script(
    dir: &Path,
    name: &str,
    pool: &[String],
    headers: &[(&str, String)],
    value: PoolValue<'_>,
) -> PathBuf {
    let values = dir.join(format!("{name}-pool.txt"));
    std::fs::write(&values, pool.join("\n")).unwrap();
    let script = dir.join(format!("{name}.lua"));
    let headers: String = headers
        .iter()
        .map(|(k, v)| format!("wrk.headers[\"{k}\"] = \"{v}\"\n"))
        .collect();
    let format = match value {
        PoolValue::InBody(prefix) => {
            format!(r#"return wrk.format(nil, nil, nil, "{prefix}" .. value)"#)
        }
        PoolValue::InHeader { name, body } => format!(
            r#"wrk.headers["{name}"] = value
  return wrk.format(nil, nil, nil, "{body}")"#
        ),
    };
    std::fs::write(
        &script,
        format!(
            r#"wrk.method = "POST"
{headers}wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  values = {{}}
  local i = 0
  for line in io.lines("{path}") do
    if i % 2 == id then values[#values + 1] = line end
    i = i + 1
  end
  taken = 0
end
function request()
  taken = taken + 1
  local value = values[taken] or "the-pool-ran-out"
  {format}
end
"#,
            path = values.display()
        ),
    )
    .unwrap();
    script
}

/// The server's `/metrics` text.
async fn metrics_text(issuer: &str) -> String {
    http()
        .get(format!("{issuer}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The server's latency histogram for discovery: (upper bound in ms, requests at or under it),
/// cumulative, from `/metrics`.
async fn discovery_histogram(issuer: &str) -> Vec<(f64, f64)> {
    let text = metrics_text(issuer).await;
    let prefix = "oidcd_http_request_duration_seconds_bucket{endpoint=\"discovery\",le=\"";
    text.lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>().ok()? * 1000.0
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect()
}

/// The `q` quantile, in ms, of the requests counted between two readings of a histogram,
/// interpolated within its bucket as Prometheus's `histogram_quantile` does (a quantile in
/// the last, unbounded bucket is given as the last bound).
fn histogram_quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> f64 {
    let counts: Vec<(f64, f64)> = after
        .iter()
        .zip(before)
        .map(|(&(le, a), &(_, b))| (le, a - b))
        .collect();
    let total = counts.last().map_or(0.0, |&(_, n)| n);
    assert!(
        total > 0.0,
        "the server counted no discovery request between two readings"
    );
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, n) in &counts {
        if n >= rank && n > 0.0 {
            if le.is_infinite() {
                return lower.0;
            }
            let (from, below) = lower;
            return from + (le - from) * (rank - below) / (n - below).max(f64::MIN_POSITIVE);
        }
        lower = (le, n);
    }
    f64::NAN
}

/// Discovery latencies (ms, sorted), one request every 5 ms until `stop`. The sampler has
/// its own thread and runtime, so what it measures is the server, not its queueing behind the
/// flood's tasks in this process.
fn sample_discovery(issuer: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<f64>> {
    let url = format!("{issuer}/.well-known/openid-configuration");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let client = http();
            // The whole answer, body included: a connection goes back to the pool only once
            // its body has been read, so every sample after the first (untimed, it sets the
            // connection up) reuses it and measures the answer, not a handshake.
            let fetch = || async {
                match client.get(&url).send().await {
                    Ok(response) => response.bytes().await.is_ok(),
                    Err(_) => false,
                }
            };
            fetch().await;
            let mut all = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                if fetch().await {
                    all.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            all.sort_by(f64::total_cmp);
            all
        })
    })
}

/// Mints `count` refresh-token families for the bench user at `client_id`, on the server's
/// own database, each as a code exchange records it (a grant, and the first token of its
/// family), in transactions of a thousand. Between transactions it leaves the write lock free
/// for a moment, so a server on the same SQLite file (whose waiting writes poll for the lock)
/// is not shut out for the whole seeding.
async fn seed(database_url: &str, kek: &str, client_id: &str, count: usize) -> Vec<String> {
    use oidcd::store::grants::{GrantRow, RefreshRow};
    let config = oidcd::Config {
        database_url: oidcd::config::DatabaseUrl::new(database_url.to_owned()),
        kek: Some(oidcd::config::Secret::new(kek.to_owned())),
        ..oidcd::Config::default()
    };
    let runtime =
        oidcd::app::Runtime::open(config, oidcd::Clock::System, oidcd::db::Access::Existing)
            .await
            .unwrap();
    let user = oidcd::store::users::find_by_username(&runtime.db, "bench")
        .await
        .unwrap()
        .expect("the bench user");
    let client = oidcd::store::clients::get(&runtime.db, client_id)
        .await
        .unwrap();
    assert!(
        !user.disabled && client.allows_grant(oidcd::store::clients::GrantType::RefreshToken),
        "refresh tokens are seeded for an active user at a client that may refresh"
    );
    let lifetimes = &runtime.config.lifetimes;
    let now = runtime.clock.now();
    let absolute = now + lifetimes.refresh_token_absolute.as_i64();
    let started = Instant::now();
    let mut tokens = Vec::with_capacity(count);
    while tokens.len() < count {
        if !tokens.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let txn = runtime.db.begin().await.unwrap();
        for _ in 0..(count - tokens.len()).min(1000) {
            let grant_id = oidcd::crypto::b64url(&oidcd::crypto::random_bytes::<16>().unwrap());
            let grant = GrantRow {
                id: grant_id.clone(),
                client_id: client_id.to_owned(),
                user_id: user.id.clone(),
                scope: "openid offline_access".to_owned(),
                auth_time: now,
                amr: None,
                session_id: None,
                refresh_generation: 0,
                rotated_at: None,
                created_at: now,
                last_used_at: now,
                expires_at: absolute,
                revoked_at: None,
                id_token_claims: None,
                dpop_jkt: None,
                resources: "[]".to_owned(),
                access_revoked_at: None,
            };
            oidcd::store::grants::insert(&txn, &grant).await.unwrap();
            let token = oidcd::crypto::random_token().unwrap();
            let refresh = RefreshRow {
                token_hash: runtime.secrets.hash(&token),
                grant_id,
                generation: 0,
                created_at: now,
                expires_at: (now + lifetimes.refresh_token_idle.as_i64()).min(absolute),
            };
            oidcd::store::grants::insert_refresh(&txn, &refresh)
                .await
                .unwrap();
            tokens.push(token);
        }
        txn.commit().await.unwrap();
    }
    println!(
        "seeded {count} refresh tokens in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    runtime.db.pool().close_by_ref().await.ok();
    tokens
}
