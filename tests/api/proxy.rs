//! Behind a real reverse proxy: nginx (Debian's package) terminates TLS in front of oidcd,
//! whose `http.trusted_proxies` names it. The per-address limits then count each client's
//! own address, taken from `X-Forwarded-For`; the same header sent straight to oidcd by a
//! peer that is not a trusted proxy changes nothing.
//!
//! Clients come from several loopback addresses (127.0.0.2, 127.0.0.3, ...: all of
//! 127.0.0.0/8 is this machine), so nginx sees each as a different client.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use oidcd::Clock;

use crate::helpers::{
    code_request_url_at, input_value, Backend, Browser, TestApp, TestClient, TestEnv, T0,
};

/// Set by CI: the tests then fail, rather than skip, when nginx is missing.
const NGINX_ENV: &str = "TEST_NGINX";

fn nginx() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(NGINX_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let default = Path::new("/usr/sbin/nginx");
    default.exists().then(|| default.to_owned())
}

/// nginx in front of an app: TLS on a port of its own, `proxy_pass` to the app.
struct Proxy {
    child: Child,
    cert_pem: Vec<u8>,
}

impl Drop for Proxy {
    /// SIGTERM, so the master stops its workers too (SIGKILL would leave them running).
    fn drop(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A self-signed certificate for 127.0.0.1, and its key, as PEM.
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509NameBuilder, X509};

    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "127.0.0.1").unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(None, None))
        .unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    (
        cert.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

/// Starts nginx on `port`, proxying to the app at `upstream` (host:port), the way the
/// README's configuration does.
async fn start_proxy(nginx: &Path, dir: &Path, port: u16, upstream: &str) -> Proxy {
    let dir = dir.join("nginx");
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let (cert, key) = self_signed();
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("key.pem"), &key).unwrap();
    let d = dir.display();
    let conf = format!(
        r#"
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
daemon off;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        location / {{
            proxy_pass http://{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Forwarded "";
        }}
    }}
}}
"#
    );
    // As root, nginx's workers would switch to `nobody`, who cannot read this directory.
    let conf = if running_as_root() {
        format!("user root;\n{conf}")
    } else {
        conf
    };
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut child = Command::new(nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    // Wait until it accepts connections.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Proxy {
                child,
                cert_pem: cert,
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A browser on `address`, speaking to the issuer through the proxy.
fn browser_from(address: &str, proxy: &Proxy, issuer: &str) -> Browser {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .local_address(address.parse::<IpAddr>().unwrap())
        .add_root_certificate(reqwest::Certificate::from_pem(&proxy.cert_pem).unwrap())
        .build()
        .unwrap();
    Browser {
        http,
        issuer: issuer.to_owned(),
    }
}

/// Signs in as `username` in `browser` and returns the page that answered the password.
async fn try_login(
    browser: &Browser,
    client: &TestClient,
    username: &str,
    password: &str,
) -> String {
    let url = code_request_url_at(&browser.issuer, client, "openid", &[]);
    let page = browser.get(&url).await.text().await.unwrap();
    assert!(
        input_value(&page, "csrf_token").is_some(),
        "a login page: {page}"
    );
    let answer = browser
        .submit(
            &page,
            "login",
            &[("username", username), ("password", password)],
        )
        .await;
    answer.text().await.unwrap()
}

struct Setup {
    app: TestApp,
    proxy: Proxy,
    issuer: String,
}

async fn behind_nginx() -> Option<Setup> {
    let Some(nginx) = nginx() else {
        println!("skipped: nginx is not installed (set {NGINX_ENV} to require it)");
        return None;
    };
    let env = TestEnv::new(Backend::Sqlite).await;
    let port = free_port();
    let issuer = format!("https://127.0.0.1:{port}");
    let mut config = env.config();
    config.issuer = Some(issuer.clone());
    config.http.trusted_proxies = "127.0.0.1".parse().unwrap();
    config.login.failures_per_ip = 3;
    config.client_auth.failures_per_ip = 3;
    let app = env.spawn_config(config, Clock::fixed(T0)).await;
    let upstream = app.address.trim_start_matches("http://").to_owned();
    let proxy = start_proxy(&nginx, &env.dir, port, &upstream).await;
    Some(Setup { app, proxy, issuer })
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_address_has_its_own_login_limit() {
    let Some(Setup { app, proxy, issuer }) = behind_nginx().await else {
        return;
    };
    let client = app.register_client().await;
    let user = app.create_user().await;

    // Wrong passwords for made-up names from five addresses: five times the per-address
    // limit in all, which used to lock every user out.
    for n in 2..=6 {
        let browser = browser_from(&format!("127.0.0.{n}"), &proxy, &issuer);
        for guess in 0..3 {
            let page = try_login(&browser, &client, &format!("nobody-{n}-{guess}"), "wrong").await;
            assert!(page.contains("Wrong username or password."), "{page}");
        }
    }
    // A person on another address signs in.
    let browser = browser_from("127.0.0.9", &proxy, &issuer);
    let page = try_login(&browser, &client, &user.username, &user.password).await;
    assert!(
        page.contains("name=\"step\" value=\"consent\""),
        "the consent page: {page}"
    );
    // Each address is still held to its own limit.
    let browser = browser_from("127.0.0.2", &proxy, &issuer);
    let page = try_login(&browser, &client, &user.username, &user.password).await;
    assert!(page.contains("Too many failed attempts"), "{page}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_address_has_its_own_client_auth_limit() {
    let Some(Setup { app, proxy, issuer }) = behind_nginx().await else {
        return;
    };
    let service = app
        .register_client_with(oidcd::oauth::registration::ClientRegistration {
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["photos:read".into()],
            ..Default::default()
        })
        .await;
    let client_credentials = |from: &str, id: &str, secret: &str| {
        let request = browser_from(from, &proxy, &issuer)
            .http
            .post(format!("{issuer}/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        async move { request.send().await.unwrap() }
    };
    for n in 2..=6 {
        for guess in 0..3 {
            let id = format!("made-up-{n}-{guess}");
            let r = client_credentials(&format!("127.0.0.{n}"), &id, "guess-guess-guess").await;
            assert_eq!(r.status(), 401);
        }
    }
    let secret = service.secret.clone().unwrap();
    let ok = client_credentials("127.0.0.9", &service.id, &secret).await;
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    let refused = client_credentials("127.0.0.2", &service.id, &secret).await;
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Too many"),
        "{body}"
    );
}

#[tokio::test]
async fn forwarded_headers_from_a_peer_that_is_not_a_trusted_proxy_change_nothing() {
    let Some(Setup { app, .. }) = behind_nginx().await else {
        return;
    };
    let client = app.register_client().await;
    let user = app.create_user().await;
    // Straight to oidcd from 127.0.0.2, which is no proxy of its, claiming a new address
    // with every request.
    let spoofing = |n: u32| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", format!("203.0.113.{n}").parse().unwrap());
        headers.insert("forwarded", format!("for=198.51.100.{n}").parse().unwrap());
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
                .default_headers(headers)
                .build()
                .unwrap(),
            issuer: app.address.clone(),
        }
    };
    for n in 0..3 {
        let page = try_login(&spoofing(n), &client, &format!("nobody-{n}"), "wrong").await;
        assert!(page.contains("Wrong username or password."), "{page}");
    }
    // All three counted against 127.0.0.2, whatever the headers said.
    let page = try_login(&spoofing(99), &client, &user.username, &user.password).await;
    assert!(page.contains("Too many failed attempts"), "{page}");
}
