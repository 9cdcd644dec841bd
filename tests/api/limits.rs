//! Connection and request limits: oversized heads, slow clients, idle connections.

use std::time::{Duration, Instant};

use oidcd::config::Seconds;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{assert_oauth_error, Backend, TestApp, TestEnv};

async fn quick_timeouts() -> TestApp {
    TestEnv::new(Backend::Sqlite)
        .await
        .spawn_with(|c| {
            c.http.request_timeout = Seconds(1);
            c.http.idle_timeout = Seconds(2);
        })
        .await
}

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent and
/// how long that took.
async fn read_until_closed(
    stream: &mut tokio::net::tcp::OwnedReadHalf,
    limit: Duration,
) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server closed the connection within {limit:?}"
    );
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_request_head_trickled_in_is_cut_off() {
    let app = quick_timeouts().await;
    let stream = TcpStream::connect(host(&app)).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    // One header line every 200 ms: never idle, never finished.
    let dripping = tokio::spawn(async move {
        write
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .ok();
        for i in 0..200 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write
                .write_all(format!("X-Pad-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let (received, took) = read_until_closed(&mut read, Duration::from_secs(30)).await;
    dripping.abort();
    assert!(
        received.is_empty(),
        "no answer to half a request: {received}"
    );
    // The deadline is the request timeout (1 s) plus 5 s for the client.
    assert!(took >= Duration::from_secs(5), "closed after {took:?}");
}

#[tokio::test]
async fn a_body_that_never_finishes_is_answered_503_when_the_request_times_out() {
    let app = quick_timeouts().await;
    let stream = TcpStream::connect(host(&app)).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(
            b"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              grant_type",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut chunk = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), read.read(&mut chunk))
        .await
        .expect("an answer")
        .unwrap();
    let response = String::from_utf8_lossy(&chunk[..n]).into_owned();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("temporarily_unavailable"), "{response}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let app = quick_timeouts().await;
    let stream = TcpStream::connect(host(&app)).await.unwrap();
    let (mut read, _write) = stream.into_split();
    let (received, took) = read_until_closed(&mut read, Duration::from_secs(20)).await;
    assert!(received.is_empty());
    assert!(took >= Duration::from_secs(1), "closed after {took:?}");
}

#[tokio::test]
async fn oversized_request_targets_and_headers_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = crate::helpers::http_client();

    let long = format!(
        "/.well-known/openid-configuration?pad={}",
        "a".repeat(9 * 1024)
    );
    let response = client.get(app.url(&long)).send().await.unwrap();
    assert_oauth_error(response, 414, "invalid_request").await;

    let response = client
        .get(app.url("/.well-known/openid-configuration"))
        .header("X-Pad", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, 431, "invalid_request").await;

    let mut request = client.get(app.url("/.well-known/openid-configuration"));
    for i in 0..40 {
        request = request.header(format!("x-pad-{i}"), "b".repeat(512));
    }
    assert_oauth_error(request.send().await.unwrap(), 431, "invalid_request").await;

    // Far over hyper's own buffer: refused before any handler, never a 500.
    let response = client
        .get(app.url("/.well-known/openid-configuration"))
        .header("X-Pad", "c".repeat(512 * 1024))
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), 431);
    }

    // Ordinary requests are untouched.
    app.get_json("/.well-known/openid-configuration").await;
}
