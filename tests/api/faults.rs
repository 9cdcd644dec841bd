//! Faults: the database going away and coming back, SIGTERM with requests in flight, SIGKILL
//! in the middle of traffic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oidcd::config::DatabaseUrl;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::helpers::{
    assert_oauth_error, http_client, postgres_url, Backend, TestApp, TestClient, TestEnv,
    POSTGRES_ENV,
};

/// A TCP proxy between the server and PostgreSQL that the test can cut and restore, so the
/// database disappears for this server only.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = tokio::spawn({
            let cut = cut.clone();
            let links = links.clone();
            async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    if cut.load(Ordering::SeqCst) {
                        // The database host is gone: the connection is dropped at once.
                        drop(inbound);
                        continue;
                    }
                    let target = target.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().unwrap().push(link.abort_handle());
                }
            }
        })
        .abort_handle();
        Self {
            port,
            cut,
            links,
            accept,
        }
    }

    /// Drops every open connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// A server on PostgreSQL whose database connections all pass through a `Proxy`.
async fn behind_a_proxy(env: &TestEnv) -> (Proxy, TestApp) {
    let direct = url::Url::parse(&env.database_url).unwrap();
    let target = format!(
        "{}:{}",
        direct.host_str().unwrap(),
        direct.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(target).await;
    let mut proxied = direct.clone();
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.port)).unwrap();
    let app = env
        .spawn_with(|c| c.database_url = DatabaseUrl::new(proxied.to_string()))
        .await;
    (proxy, app)
}

/// A machine client, a code-flow client, and a refresh token of a user's at the latter.
async fn clients_and_a_refresh_token(app: &TestApp) -> (TestClient, TestClient, String) {
    let machine = app.register_machine_client().await;
    let client = app.register_client().await;
    let user = app.create_user().await;
    let tokens = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    (machine, client, refresh_token)
}

#[tokio::test]
async fn a_database_outage_is_answered_503_and_the_server_recovers_by_itself() {
    if postgres_url().is_none() {
        eprintln!("skipped: {POSTGRES_ENV} is not set");
        return;
    }
    let env = TestEnv::new(Backend::Postgres).await;
    let (proxy, app) = behind_a_proxy(&env).await;
    let (machine, client, refresh_token) = clients_and_a_refresh_token(&app).await;
    let cc = |c: &TestClient| {
        let (id, secret) = (c.id.clone(), c.secret.clone().unwrap());
        let app = &app;
        async move {
            app.token(
                &[("grant_type", "client_credentials")],
                Some((&id, &secret)),
            )
            .await
        }
    };
    assert_eq!(cc(&machine).await.status(), 200);

    proxy.cut();

    // Whatever needs the database says so, in each endpoint's own error shape.
    let response = cc(&machine).await;
    assert_eq!(response.headers()["retry-after"], "5");
    assert_oauth_error(response, 503, "temporarily_unavailable").await;
    assert_oauth_error(
        app.refresh(&client, &refresh_token).await,
        503,
        "temporarily_unavailable",
    )
    .await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let page = http_client()
        .get(app.code_request_url(&client, "openid", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Temporarily unavailable"));
    // What needs no database still works: discovery and the cached key set.
    app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        app.get_json("/jwks.json").await["keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    proxy.restore();

    // No restart: the pool reconnects on its own.
    let mut recovered = false;
    for _ in 0..60 {
        if cc(&machine).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        recovered,
        "the token endpoint recovers once the database is back"
    );
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The refresh refused during the outage consumed nothing.
    let response = app.refresh(&client, &refresh_token).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn connections_cut_while_the_server_sat_idle_cost_no_request() {
    if postgres_url().is_none() {
        eprintln!("skipped: {POSTGRES_ENV} is not set");
        return;
    }
    let env = TestEnv::new(Backend::Postgres).await;
    let (proxy, app) = behind_a_proxy(&env).await;
    let (machine, client, refresh_token) = clients_and_a_refresh_token(&app).await;
    // Several connections in the pool, all of them used.
    assert_eq!(burst(&app, &machine, 8).await, [200; 8]);

    // A database restart (or a firewall's idle timeout) while nobody is asking: every
    // connection the server holds is dropped, and new ones are accepted again at once.
    proxy.cut();
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Each idle connection is checked before it is handed out, so nothing is answered 503:
    // not the next request, nor a burst, nor a write.
    assert_eq!(burst(&app, &machine, 1).await, [200]);
    assert_eq!(burst(&app, &machine, 8).await, [200; 8]);
    assert_eq!(app.refresh(&client, &refresh_token).await.status(), 200);
}

/// `n` client_credentials requests sent at once; their statuses.
async fn burst(app: &TestApp, client: &TestClient, n: usize) -> Vec<u16> {
    let requests: Vec<_> = (0..n)
        .map(|_| {
            let url = app.url("/oauth/token");
            let (id, secret) = (client.id.clone(), client.secret.clone().unwrap());
            tokio::spawn(async move {
                http_client()
                    .post(url)
                    .basic_auth(id, Some(secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let provisioning = env.spawn().await;
    let machine = provisioning.register_machine_client().await;
    let mut server = env.serve_process(&[]);
    let address = server.issuer.trim_start_matches("http://").to_owned();

    // A token request whose body has not all arrived when the signal does.
    let body = "grant_type=client_credentials";
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let credentials = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            machine.id,
            machine.secret.unwrap()
        ))
    };
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {credentials}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal_term();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A new connection is no longer accepted...
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "the listener closes at SIGTERM"
    );
    // ...but the request in flight completes with a real answer.
    stream.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"access_token\""), "{response}");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

#[tokio::test]
async fn sigkill_during_a_burst_of_refreshes_loses_no_answered_token() {
    const FAMILIES: usize = 12;
    let env = TestEnv::new(Backend::Sqlite).await;
    let provisioning = env.spawn().await;
    let client = provisioning.register_client().await;
    let user = provisioning.create_user().await;
    // The same address (and so the same issuer) before and after the restart.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let settings = [("OIDCD_REFRESH_GRACE", "5m"), ("OIDCD_BIND", bind.as_str())];
    let mut server = env.serve_process(&settings);
    let app = provisioning.at(&server.issuer);

    let mut latest = Vec::new();
    for _ in 0..FAMILIES {
        let tokens = app
            .signed_in_tokens(&client, &user, "openid offline_access")
            .await;
        latest.push(Arc::new(Mutex::new((
            tokens["refresh_token"].as_str().unwrap().to_owned(),
            tokens["access_token"].as_str().unwrap().to_owned(),
        ))));
    }

    // Every family refreshes in a loop; each answered pair is remembered.
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut burst = Vec::new();
    for slot in &latest {
        let (slot, app, client, answered) = (
            slot.clone(),
            app.at(&server.issuer),
            client.clone(),
            answered.clone(),
        );
        burst.push(tokio::spawn(async move {
            loop {
                let current = slot.lock().unwrap().0.clone();
                let Ok(response) = http_client()
                    .post(app.url("/oauth/token"))
                    .basic_auth(&client.id, client.secret.as_deref())
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", current.as_str()),
                    ])
                    .send()
                    .await
                else {
                    return;
                };
                if response.status() != 200 {
                    return;
                }
                let Ok(tokens) = response.json::<serde_json::Value>().await else {
                    return;
                };
                *slot.lock().unwrap() = (
                    tokens["refresh_token"].as_str().unwrap().to_owned(),
                    tokens["access_token"].as_str().unwrap().to_owned(),
                );
                answered.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while answered.load(Ordering::SeqCst) < FAMILIES * 3 {
        assert!(
            std::time::Instant::now() < deadline && !burst.iter().all(|t| t.is_finished()),
            "the burst stopped early: {}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    for task in burst {
        task.await.unwrap();
    }
    assert!(answered.load(Ordering::SeqCst) >= FAMILIES * 3);

    let restarted = env.serve_process(&settings);
    assert_eq!(restarted.issuer, server.issuer);
    let app = provisioning.at(&restarted.issuer);
    for slot in &latest {
        let (refresh_token, access_token) = slot.lock().unwrap().clone();
        assert_eq!(app.userinfo(&access_token).await.status(), 200);
        let response = app.refresh(&client, &refresh_token).await;
        assert_eq!(
            response.status(),
            200,
            "an answered refresh token still works: {}",
            response.text().await.unwrap()
        );
    }
    assert!(!restarted.output().contains("panicked"));
}
