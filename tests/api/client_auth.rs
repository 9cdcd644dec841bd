//! Client authentication that explains itself: the Basic challenge only for a client that
//! tried Basic (RFC 6749 5.2), a description naming the method the client is registered for,
//! an `info` log line for each refusal (never the secret), and operator-chosen secrets that
//! are refused when easy to guess.

use serde_json::{json, Value};

use crate::helpers::{http_client, stderr, Backend, TestApp, TestEnv};
use crate::on_both_databases;

on_both_databases!(a_client_learns_how_it_must_authenticate);

async fn a_client_learns_how_it_must_authenticate(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await; // client_secret_basic
    let secret = client.secret.clone().unwrap();
    let token_url = app.url("/oauth/token");

    // openid-client v6's default: the secret in the body. No challenge, since Basic was not
    // tried, and the description says what to do instead.
    let posted = http_client()
        .post(&token_url)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &client.id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 401);
    assert!(posted.headers().get("www-authenticate").is_none());
    let body: Value = posted.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("client_secret_basic"), "{description}");
    assert!(description.contains("HTTP Basic"), "{description}");

    // A wrong secret sent with Basic: the challenge names the scheme.
    let basic = http_client()
        .post(&token_url)
        .basic_auth(&client.id, Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert!(basic.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    // Neither for a public client's missing id.
    let bare = http_client()
        .post(&token_url)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    assert!(bare.headers().get("www-authenticate").is_none());
}

#[tokio::test]
async fn refused_client_authentication_is_logged_with_its_reason_but_never_the_secret() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let app = env.spawn().await;
    let client = app.register_client().await;
    let process = env.serve_process(&[]);
    let secret_sent = "not-the-secret-but-close-enough-to-look-real";
    let r = http_client()
        .post(format!("{}/oauth/token", process.issuer))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.id.as_str()),
            ("client_secret", secret_sent),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let logs = process.wait_for_log("client authentication refused").await;
    let line = logs
        .lines()
        .find(|l| l.contains("client authentication refused"))
        .unwrap_or_else(|| panic!("no log line: {logs}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains(&client.id), "{line}");
    assert!(
        line.contains("client_secret_post"),
        "the method tried: {line}"
    );
    assert!(
        line.contains("registered for client_secret_basic"),
        "the reason: {line}"
    );
    assert!(!logs.contains(secret_sent));
    assert!(!logs.contains(client.secret.as_deref().unwrap()));
}

#[tokio::test]
async fn weak_operator_secrets_are_refused_whatever_their_length() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for weak in [
        "a".repeat(32),
        "passwordpasswordpasswordpassword".to_owned(),
        "tomato-bicycle-mountain-kettle-river".to_owned(),
    ] {
        let out = app.env.oidcd(
            &[
                "client",
                "create",
                "--name",
                "A",
                "--secret",
                &weak,
                "--redirect-uri",
                "https://a.example.com/cb",
            ],
            &[],
        );
        assert!(!out.status.success(), "{weak} was accepted");
        assert!(
            stderr(&out).contains("too easy to guess"),
            "{}",
            stderr(&out)
        );
    }
    let strong = "k2J9-vQx7_Lm4Rz8Wn3Tb6Yp1Hc5Fd0Ga";
    let out = app.env.oidcd(
        &[
            "client",
            "create",
            "--name",
            "A",
            "--secret",
            strong,
            "--redirect-uri",
            "https://a.example.com/cb",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["client_secret"], json!(strong));
}
