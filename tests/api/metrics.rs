//! `/metrics`: each counter moves when its event happens; request ids on responses.

use std::collections::HashMap;

use oidcd::config::Seconds;

use crate::helpers::{Backend, TestApp, TestEnv, T0};

/// The samples of a Prometheus text exposition, by `name{labels}`.
async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, sample: &str) -> f64 {
    let get = |m: &HashMap<String, f64>| {
        *m.get(sample)
            .unwrap_or_else(|| panic!("{sample} is exposed"))
    };
    get(after) - get(before)
}

#[tokio::test]
async fn each_counter_moves_when_its_event_happens() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let clock = oidcd::Clock::fixed(T0);
    let mut config = env.config();
    config.login.failures_per_account = 1;
    config.client_auth.failures_per_client = 1;
    let app = env.spawn_config(config, clock.clone()).await;
    let client = app.register_client().await;
    let machine = app.register_machine_client().await;
    let user = app.create_user().await;
    let start = scrape(&app).await;

    // Tokens per grant, and the token endpoint's requests and latencies.
    let cc = app
        .token(
            &[("grant_type", "client_credentials")],
            Some((&machine.id, machine.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(cc.status(), 200);
    let code = app
        .code_for(&client, &user, "openid offline_access", &[])
        .await;
    let tokens: serde_json::Value = app
        .exchange(&client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let r0 = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(&client, r0).await.status(), 200);
    let after_tokens = scrape(&app).await;
    for grant in ["client_credentials", "authorization_code", "refresh_token"] {
        let sample = format!("oidcd_tokens_issued_total{{grant=\"{grant}\"}}");
        assert_eq!(moved(&start, &after_tokens, &sample), 1.0, "{sample}");
    }
    assert_eq!(
        moved(
            &start,
            &after_tokens,
            "oidcd_http_requests_total{endpoint=\"token\",status=\"2xx_3xx\"}"
        ),
        3.0
    );
    assert_eq!(
        moved(
            &start,
            &after_tokens,
            "oidcd_http_request_duration_seconds_count{endpoint=\"token\"}"
        ),
        3.0
    );
    assert!(
        moved(
            &start,
            &after_tokens,
            "oidcd_http_request_duration_seconds_sum{endpoint=\"token\"}"
        ) > 0.0
    );
    assert!(
        moved(
            &start,
            &after_tokens,
            "oidcd_http_requests_total{endpoint=\"authorize\",status=\"2xx_3xx\"}"
        ) >= 2.0
    );

    // Reuse detection: a code redeemed twice, a refresh token replayed after the grace window.
    assert_eq!(app.exchange(&client, &code, None).await.status(), 400);
    let tokens = app
        .signed_in_tokens(&client, &user, "openid offline_access")
        .await;
    let r0 = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(&client, r0).await.status(), 200);
    clock.advance(60);
    assert_eq!(app.refresh(&client, r0).await.status(), 400);

    // A failed login, then the account's lock (one failure allowed).
    let browser = crate::helpers::Browser::new(&app);
    let url = app.code_request_url(&client, "openid", &[]);
    for _ in 0..2 {
        let page = browser.get(&url).await.text().await.unwrap();
        browser
            .submit(
                &page,
                "login",
                &[("username", &user.username), ("password", "wrong")],
            )
            .await;
    }

    // Client authentication: one failure allowed, the next attempt refused.
    for _ in 0..2 {
        app.token(
            &[("grant_type", "client_credentials")],
            Some((&machine.id, "not-the-secret")),
        )
        .await;
    }
    let after_abuse = scrape(&app).await;
    for (sample, expected) in [
        ("oidcd_code_reuse_total", 1.0),
        ("oidcd_refresh_token_reuse_total", 1.0),
        ("oidcd_login_failures_total", 1.0),
        ("oidcd_login_throttled_total", 1.0),
        ("oidcd_client_auth_throttled_total", 1.0),
    ] {
        assert_eq!(
            moved(&after_tokens, &after_abuse, sample),
            expected,
            "{sample}"
        );
    }
    assert!(
        moved(
            &after_tokens,
            &after_abuse,
            "oidcd_http_requests_total{endpoint=\"token\",status=\"4xx\"}"
        ) >= 4.0
    );

    // A scheduled rotation, once the active key has served its interval.
    clock.advance(31 * 86_400);
    let mut rotated = 0.0;
    for _ in 0..50 {
        if oidcd::tasks::rotation::tick(&app.state)
            .await
            .unwrap()
            .is_none()
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        rotated = moved(&start, &scrape(&app).await, "oidcd_key_rotations_total");
        if rotated > 0.0 {
            break;
        }
    }
    assert_eq!(rotated, 1.0);
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = TestEnv::new(Backend::Sqlite)
        .await
        .spawn_with(|c| c.http.idle_timeout = Seconds(60))
        .await;
    let fresh = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    // A plain id from a proxy in front is kept; anything else is replaced.
    for (sent, kept) in [("edge-42.a_b", true), ("has space", false), ("x", true)] {
        let response = app
            .client
            .get(app.url("/nowhere"))
            .header("x-request-id", sent)
            .send()
            .await;
        let Ok(response) = response else {
            assert!(!kept, "{sent}");
            continue;
        };
        assert_eq!(response.status(), 404);
        let echoed = response.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(echoed == sent, kept, "{sent} -> {echoed}");
    }
}
