//! Abuse resistance: login throttling per account and per IP, held in the database.

use oidcd::Clock;

use crate::helpers::{input_value, Backend, Browser, TestApp, TestClient, TestEnv, TestUser, T0};
use crate::on_both_databases;

on_both_databases!(
    failed_logins_lock_the_account_without_telling_whether_it_exists,
    failed_logins_from_one_ip_lock_that_ip,
    failed_client_authentication_is_limited_per_client_and_per_ip,
);
crate::on_postgres!(login_throttling_holds_across_instances);

/// One CPU-heavy test at a time: the login flood and the busy cores would otherwise starve
/// each other's hashing threads.
static CPU_HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Opens the login page for a fresh authorization request in `browser`.
async fn login_page(app: &TestApp, browser: &Browser, client: &TestClient) -> String {
    let url = app.code_request_url(client, "openid", &[]);
    browser.get(&url).await.text().await.unwrap()
}

pub async fn attempt(
    app: &TestApp,
    client: &TestClient,
    username: &str,
    password: &str,
) -> (u16, String) {
    let browser = Browser::new(app);
    let page = login_page(app, &browser, client).await;
    let response = browser
        .submit(
            &page,
            "login",
            &[("username", username), ("password", password)],
        )
        .await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (status, body)
}

fn normalized(page: &str, username: &str) -> String {
    let mut out = page.replace(username, "X");
    for name in ["csrf_token", "request_id"] {
        if let Some(v) = input_value(page, name) {
            out = out.replace(&v, "");
        }
    }
    out
}

async fn failed_logins_lock_the_account_without_telling_whether_it_exists(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let client = app.register_client().await;
    let user: TestUser = app.create_user().await;

    for _ in 0..5 {
        let (_, page) = attempt(&app, &client, &user.username, "wrong-password").await;
        assert!(page.contains("Wrong username or password."));
        let (_, page) = attempt(&app, &client, "nobody-at-all", "wrong-password").await;
        assert!(page.contains("Wrong username or password."));
    }

    // Locked: even the right password is refused, and an unknown name looks the same.
    let (known_status, known) = attempt(&app, &client, &user.username, &user.password).await;
    let (unknown_status, unknown) = attempt(&app, &client, "nobody-at-all", "whatever-it-is").await;
    assert!(known.contains("Too many failed attempts"));
    assert_eq!(known_status, unknown_status);
    assert_eq!(
        normalized(&known, &user.username),
        normalized(&unknown, "nobody-at-all")
    );
    assert!(oidcd::metrics::Metrics::get(&app.state.metrics.login_throttled) >= 2);

    // The lock ends with the window.
    clock.advance(901);
    let browser = Browser::new(&app);
    let page = login_page(&app, &browser, &client).await;
    let ok = browser.login(&page, &user).await;
    assert_eq!(ok.status(), 200, "the consent page");
    assert!(ok
        .text()
        .await
        .unwrap()
        .contains("name=\"step\" value=\"consent\""));
}

async fn failed_logins_from_one_ip_lock_that_ip(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.login.failures_per_ip = 3;
    let app = env.spawn_config(config, Clock::fixed(T0)).await;
    let client = app.register_client().await;
    let user = app.create_user().await;

    for name in ["alice", "bob", "carol"] {
        let (_, page) = attempt(&app, &client, name, "wrong-password").await;
        assert!(page.contains("Wrong username or password."));
    }
    // This account never failed, but the IP did.
    let (_, page) = attempt(&app, &client, &user.username, &user.password).await;
    assert!(page.contains("Too many failed attempts"));
}

async fn login_throttling_holds_across_instances(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.login.failures_per_account = 3;
    let (a, clock) = env.spawn_on_fixed_clock(config.clone()).await;
    let b = env.spawn_config(config, clock).await;
    let client = a.register_client().await;
    let user = a.create_user().await;

    attempt(&a, &client, &user.username, "wrong-1-password").await;
    attempt(&b, &client, &user.username, "wrong-2-password").await;
    attempt(&a, &client, &user.username, "wrong-3-password").await;

    let (_, page) = attempt(&b, &client, &user.username, &user.password).await;
    assert!(
        page.contains("Too many failed attempts"),
        "instance B knows about A's failures"
    );
}

async fn failed_client_authentication_is_limited_per_client_and_per_ip(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.client_auth.failures_per_client = 3;
    config.client_auth.failures_per_ip = 6;
    let app = env.spawn_config(config, Clock::fixed(T0)).await;
    let service = || oidcd::oauth::registration::ClientRegistration {
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["photos:read".into()],
        ..Default::default()
    };
    let target = app.register_client_with(service()).await;
    let bystander = app.register_client_with(service()).await;
    let grant = [("grant_type", "client_credentials")];

    for _ in 0..3 {
        let r = app
            .token(&grant, Some((&target.id, "guess-guess-guess")))
            .await;
        crate::helpers::assert_oauth_error(r, 401, "invalid_client").await;
    }
    // The right secret is refused now, at the token endpoint and at introspection alike.
    let locked = app
        .token(
            &grant,
            Some((&target.id, target.secret.as_deref().unwrap())),
        )
        .await;
    let body = crate::helpers::assert_oauth_error(locked, 401, "invalid_client").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("Too many"));
    let introspect = crate::helpers::http_client()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&target.id, target.secret.as_deref())
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(introspect.status(), 401);
    // Another client from the same IP still works (3 failures < 6)...
    let ok = app
        .token(
            &grant,
            Some((&bystander.id, bystander.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(ok.status(), 200);
    // ...until the IP's own limit: three more failures under other ids.
    for id in ["a", "b", "c"] {
        app.token(&grant, Some((id, "guess-guess-guess"))).await;
    }
    let blocked = app
        .token(
            &grant,
            Some((&bystander.id, bystander.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(blocked.status(), 401);
    assert!(oidcd::metrics::Metrics::get(&app.state.metrics.client_auth_throttled) >= 3);
}

crate::on_both_databases!(hostile_requests_get_protocol_errors_never_a_500);

/// Oversized bodies, huge parameters, repeated parameters, invalid UTF-8 and wrong content
/// types at every endpoint that reads a body: each gets the protocol's own error.
async fn hostile_requests_get_protocol_errors_never_a_500(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let http = crate::helpers::http_client();
    let huge = "x".repeat(200_000);
    let big_param = format!("grant_type=authorization_code&code={}", "y".repeat(60_000));
    let bodies: Vec<(&str, &str, Vec<u8>)> = vec![
        ("oversized", "application/x-www-form-urlencoded", huge.clone().into_bytes()),
        ("huge parameter", "application/x-www-form-urlencoded", big_param.into_bytes()),
        ("repeated", "application/x-www-form-urlencoded", b"grant_type=client_credentials&grant_type=refresh_token&token=a&token=b&scope=a&scope=b".to_vec()),
        ("invalid utf-8", "application/x-www-form-urlencoded", b"grant_type=\xff\xfe&token=\xc3\x28&code=%ff%fe".to_vec()),
        ("json", "application/json", br#"{"grant_type":"client_credentials"}"#.to_vec()),
        ("no content type", "", b"grant_type=client_credentials".to_vec()),
        ("multipart", "multipart/form-data; boundary=x", b"--x--".to_vec()),
        ("empty", "application/x-www-form-urlencoded", Vec::new()),
    ];
    let endpoints = [
        "/oauth/token",
        "/oauth/device_authorization",
        "/oauth/introspect",
        "/oauth/revoke",
        "/oauth/userinfo",
        "/oauth/authorize",
        "/oauth/logout",
        "/device",
        "/admin/clients",
    ];
    for path in endpoints {
        for (label, content_type, body) in &bodies {
            let mut req = http
                .post(app.url(path))
                .basic_auth(&client.id, client.secret.as_deref())
                .body(body.clone());
            if !content_type.is_empty() {
                req = req.header("content-type", *content_type);
            }
            let response = req.send().await.unwrap();
            let status = response.status().as_u16();
            assert!(
                (400..500).contains(&status) || status == 200,
                "{path} {label}: status {status}"
            );
            let ct = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let text = response.text().await.unwrap();
            if ct.starts_with("application/json") {
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert!(
                    json["error"].is_string() || status == 200,
                    "{path} {label}: {text}"
                );
            } else if ct.starts_with("text/html") {
                assert!(text.contains("<html"), "{path} {label}");
            } else {
                // Bare challenges (401 without a body) are fine; anything else is not.
                assert!(
                    status == 401 || status == 405 || text.is_empty(),
                    "{path} {label}: {ct} {text}"
                );
            }
        }
    }
    // Huge query strings at the page endpoints.
    for path in ["/oauth/authorize", "/oauth/logout", "/device"] {
        let response = http
            .get(format!("{}?state={}", app.url(path), "s".repeat(20_000)))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            (400..500).contains(&status) || status == 200,
            "{path}: {status}"
        );
    }
}

/// Busy threads at normal priority on every core leave the background hashing threads
/// (SCHED_IDLE) next to no CPU time. A login is still answered: its hash, starved, moves to the
/// fallback threads, and the metrics count it.
#[tokio::test]
async fn a_login_is_answered_while_busy_cores_starve_the_background_hashing_threads() {
    let _alone = CPU_HEAVY.lock().await;
    let env = TestEnv::new(Backend::Sqlite).await;
    let provisioning = env.spawn().await;
    let client = provisioning.register_client().await;
    // Production-strength hashes: starved, one would take many seconds.
    let server = env.serve_process(&[
        ("OIDCD_ARGON2_MEMORY_KIB", "19456"),
        ("OIDCD_ARGON2_ITERATIONS", "2"),
        ("OIDCD_ARGON2_MAX_CONCURRENT", "1"),
    ]);
    let app = provisioning.at(&server.issuer);
    let (status, _) = attempt(&app, &client, "nobody-before", "wrong").await;
    assert_eq!(status, 200);
    // The first login's hash may have been starved already by the tests alongside.
    let moved_before = moved_hashes(&app).await;

    // Arrange: two spinning threads per core.
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let spinners = Spinners::start(2 * cores);

    // Act
    let (status, page) = attempt(&app, &client, "nobody-starved", "wrong").await;
    drop(spinners);

    // Assert
    assert_eq!(status, 200);
    assert!(page.contains("name=\"step\" value=\"login\""));
    assert!(
        moved_hashes(&app).await > moved_before,
        "the starved hash moved"
    );
}

/// Threads spinning at normal priority until dropped (also when the test fails, so the tests
/// after it do not run beside them).
struct Spinners {
    spinning: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Spinners {
    fn start(count: usize) -> Self {
        let spinning = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let threads = (0..count)
            .map(|_| {
                let spinning = spinning.clone();
                std::thread::spawn(move || {
                    while spinning.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Self { spinning, threads }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.spinning
            .store(false, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

async fn moved_hashes(app: &TestApp) -> u64 {
    let text = crate::helpers::http_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("oidcd_password_hashes_moved_total "))
        .unwrap()
        .parse()
        .unwrap()
}

/// Many concurrent wrong passwords, each costing a full production-strength argon2 hash (the
/// usernames are unknown, so the configured parameters apply), while discovery is sampled.
/// Hashing runs on its own bounded sets of threads at a lower priority, so discovery is never
/// queued behind the flood, the memory stays near the bound times the argon2 memory, and it
/// is given back once the flood is over.
#[tokio::test]
async fn a_login_flood_leaves_discovery_answered_and_memory_bounded() {
    const ATTACKERS: usize = 24;
    const ATTEMPTS: usize = 5;
    const ARGON2_MIB: u64 = 19;
    const HASH_BOUND: u64 = 2;
    let _alone = CPU_HEAVY.lock().await;
    let env = TestEnv::new(Backend::Sqlite).await;
    let provisioning = env.spawn().await;
    let client = provisioning.register_client().await;
    let server = env.serve_process(&[
        ("OIDCD_ARGON2_MEMORY_KIB", "19456"),
        ("OIDCD_ARGON2_ITERATIONS", "2"),
        ("OIDCD_ARGON2_MAX_CONCURRENT", "2"),
        ("OIDCD_LOGIN_FAILURES_PER_ACCOUNT", "100000"),
        ("OIDCD_LOGIN_FAILURES_PER_IP", "100000"),
    ]);
    let app = provisioning.at(&server.issuer);
    // Warm up, then take the resting peak.
    let (status, _) = attempt(&app, &client, "nobody-warm-up", "wrong").await;
    assert_eq!(status, 200);
    let resting_kib = server.peak_rss_kib();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let resting_rss_kib = server.rss_kib();
    // The hashing threads run below the threads that serve requests: the background lane at
    // SCHED_IDLE (policy 5), the fallback lane niced.
    let policies = server.thread_policies("oidcd-argon2-");
    assert_eq!(
        policies,
        vec![5, 5],
        "policies of the background hashing threads"
    );
    let niced = server.thread_nice_values("oidcd-argon2f-");
    assert_eq!(
        niced,
        vec![10, 10],
        "nice values of the fallback hashing threads"
    );

    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = tokio::spawn({
        let (url, flooding) = (
            app.url("/.well-known/openid-configuration"),
            flooding.clone(),
        );
        async move {
            let http = crate::helpers::http_client();
            let mut slowest = std::time::Duration::ZERO;
            let mut samples = 0;
            while flooding.load(std::sync::atomic::Ordering::SeqCst) {
                let started = std::time::Instant::now();
                let response = http.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
                slowest = slowest.max(started.elapsed());
                samples += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            (samples, slowest)
        }
    });
    let started = std::time::Instant::now();
    let mut attackers = Vec::new();
    for a in 0..ATTACKERS {
        let (app, client) = (app.at(&app.address), client.clone());
        attackers.push(tokio::spawn(async move {
            for i in 0..ATTEMPTS {
                let (status, page) =
                    attempt(&app, &client, &format!("nobody-{a}-{i}"), "wrong").await;
                assert_eq!(status, 200);
                assert!(page.contains("name=\"step\" value=\"login\""));
            }
        }));
    }
    for attacker in attackers {
        attacker.await.unwrap();
    }
    let flood = started.elapsed();
    flooding.store(false, std::sync::atomic::Ordering::SeqCst);
    let (samples, slowest) = sampler.await.unwrap();
    let peak_kib = server.peak_rss_kib();
    eprintln!(
        "{} failed logins in {flood:?}; discovery sampled {samples} times, slowest {slowest:?}; \
         peak memory {resting_kib} KiB at rest, {peak_kib} KiB under the flood",
        ATTACKERS * ATTEMPTS
    );
    // Generous bounds: the point is that discovery never waits for the flood to drain, and
    // that memory does not grow with the number of attackers (24 unbounded hashes would take
    // 456 MiB).
    assert!(samples >= 3);
    assert!(
        slowest < flood / 2 && slowest < std::time::Duration::from_secs(5),
        "discovery took {slowest:?} during a {flood:?} flood"
    );
    // Twice the bound: when other work on the machine starves the background lane, its
    // hashes run again on the fallback lane while the starved ones still hold their memory.
    let allowed_kib = resting_kib + (2 * HASH_BOUND * ARGON2_MIB + 20) * 1024;
    assert!(
        peak_kib <= allowed_kib,
        "peak {peak_kib} KiB over {allowed_kib} KiB"
    );
    // Idle again: each thread's argon2 memory (19 MiB) goes back to the system.
    let mut rss_kib = server.rss_kib();
    for _ in 0..50 {
        if rss_kib < resting_rss_kib + 12 * 1024 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        rss_kib = server.rss_kib();
    }
    assert!(
        rss_kib < resting_rss_kib + 12 * 1024,
        "{rss_kib} KiB resident after the flood, {resting_rss_kib} KiB before it"
    );
}
