//! What the logs hold: never a secret, token, code or password, even at the most verbose level.

use crate::helpers::{input_value, location_params, Backend, Browser, ServerProcess, TestEnv};

#[tokio::test]
async fn no_secret_reaches_the_text_logs_of_a_full_flow() {
    full_flow_logs("text").await;
}

/// JSON mode: one JSON object per line, each written during a request carrying its id.
#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_id_and_no_secret() {
    let logs = full_flow_logs("json").await;
    let mut with_id = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let object: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(
            object["timestamp"].is_string() && object["level"].is_string(),
            "{line}"
        );
        if object["span"]["id"] == "flow-request-1" {
            with_id += 1;
        }
    }
    assert!(
        with_id >= 1,
        "the request id is on the request's lines:\n{logs}"
    );
}

/// Runs a whole flow, with failures, against an `oidcd` process logging at trace level in
/// `format`, checks that no secret of it was logged, and returns the logs.
async fn full_flow_logs(format: &str) -> String {
    let env = TestEnv::new(Backend::Sqlite).await;
    let provisioning = env.spawn().await;
    let client = provisioning.register_client().await;
    let user = provisioning.create_user().await;
    let mut server = env.serve_process(&[("OIDCD_LOG", "trace"), ("OIDCD_LOG_FORMAT", format)]);
    let app = provisioning.at(&server.issuer);
    let client_secret = client.secret.clone().unwrap();
    let mut secrets: Vec<(&str, String)> = vec![
        ("the password", user.password.clone()),
        ("the client secret", client_secret.clone()),
        ("the KEK", env.kek.clone()),
    ];

    // A wrong password first, then the right one, then consent.
    let browser = Browser::new(&app);
    let url = app.code_request_url(
        &client,
        "openid offline_access profile",
        &[("state", "s-1"), ("nonce", "n-1")],
    );
    let page = browser.get(&url).await.text().await.unwrap();
    secrets.push(("a CSRF token", input_value(&page, "csrf_token").unwrap()));
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    secrets.push(("a wrong password", wrong.clone()));
    let page = browser
        .submit(
            &page,
            "login",
            &[("username", &user.username), ("password", &wrong)],
        )
        .await
        .text()
        .await
        .unwrap();
    let signed_in = browser.login(&page, &user).await;
    for cookie in signed_in.headers().get_all("set-cookie") {
        let cookie = cookie.to_str().unwrap();
        let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        if !value.is_empty() {
            secrets.push(("the session cookie", value.to_owned()));
        }
    }
    let page = signed_in.text().await.unwrap();
    let done = browser.consent(&page, "allow").await;
    let code = location_params(&done)["code"].clone();
    secrets.push(("the authorization code", code.clone()));

    let response = app.exchange(&client, &code, None).await;
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    for name in ["access_token", "refresh_token", "id_token"] {
        secrets.push((name, tokens[name].as_str().unwrap().to_owned()));
    }

    let response = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(response.status(), 200);
    let refreshed: serde_json::Value = response.json().await.unwrap();
    for name in ["access_token", "refresh_token", "id_token"] {
        secrets.push((name, refreshed[name].as_str().unwrap().to_owned()));
    }
    let access = refreshed["access_token"].as_str().unwrap();
    let http = crate::helpers::http_client();
    let userinfo = http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(access)
        .header("x-request-id", "flow-request-1")
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    assert_eq!(userinfo.headers()["x-request-id"], "flow-request-1");
    let introspected = http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.id, Some(&client_secret))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), 200);
    let revoked = http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, Some(&client_secret))
        .form(&[("token", refreshed["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    // A wrong client secret.
    let wrong_secret = format!("not-{}", uuid::Uuid::new_v4().simple());
    secrets.push(("a wrong client secret", wrong_secret.clone()));
    let refused = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            Some((&client.id, &wrong_secret)),
        )
        .await;
    assert_eq!(refused.status(), 401);

    // A replayed code (logged as reuse, without the code).
    assert_eq!(app.exchange(&client, &code, None).await.status(), 400);

    // Everything printed, from the start-up banner to the last line of the shutdown, is free
    // of secrets.
    let (everything, logs) = stop_and_read_all(&mut server).await;
    assert!(
        logs.lines().count() > 10,
        "the server logged the flow at trace level:\n{logs}"
    );
    for (what, value) in &secrets {
        assert!(value.len() >= 8, "{what} is a real value");
        assert!(
            !everything.contains(value.as_str()),
            "{what} appears in the logs:\n{everything}"
        );
    }
    logs
}

/// Stops the server with SIGTERM, waits for it to exit, and returns everything it printed
/// (stdout and stderr) and what it logged, read to the end.
async fn stop_and_read_all(server: &mut ServerProcess) -> (String, String) {
    server.signal_term();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    // The process is gone: what its pipes hold is all it will ever write, and `stopped` is
    // among its last lines. Once that has been read, read on until nothing more arrives.
    let logs = server.wait_for_log("stopped").await;
    assert!(
        logs.contains("stopped"),
        "the server logged its stop:\n{logs}"
    );
    let mut seen = (server.output(), server.logs());
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = (server.output(), server.logs());
        if now == seen {
            return now;
        }
        seen = now;
    }
}
