//! OpenID Connect RP-Initiated Logout 1.0.

use crate::helpers::{
    input_value, location, location_params, Backend, Browser, TestApp, TestClient, LOGOUT_URI,
};
use crate::on_both_databases;

on_both_databases!(
    logout_with_a_matching_id_token_hint_ends_the_session_and_redirects,
    logout_without_a_hint_asks_first_and_needs_the_csrf_token,
    logout_refuses_unregistered_redirects_and_foreign_hints,
);

/// Signs a new user in through the code flow in `browser`; returns the code.
async fn signed_in(app: &TestApp, browser: &Browser, client: &TestClient) -> String {
    let user = app.create_user().await;
    let url = app.code_request_url(client, "openid", &[]);
    let done = browser.authorize(&url, &user).await;
    location_params(&done)["code"].clone()
}

async fn session_is_alive(app: &TestApp, browser: &Browser, client: &TestClient) -> bool {
    let url = app.code_request_url(client, "openid", &[("prompt", "none")]);
    let response = browser.get(&url).await;
    location_params(&response).contains_key("code")
}

async fn logout_with_a_matching_id_token_hint_ends_the_session_and_redirects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let browser = Browser::new(&app);
    let code = signed_in(&app, &browser, &client).await;
    let tokens: serde_json::Value = app
        .exchange(&client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(session_is_alive(&app, &browser, &client).await);

    let mut url = url::Url::parse(&app.url("/oauth/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", LOGOUT_URI)
        .append_pair("state", "bye");
    let response = browser.get(url.as_str()).await;

    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), format!("{LOGOUT_URI}?state=bye"));
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert!(
        !session_is_alive(&app, &browser, &client).await,
        "the session is over"
    );
}

async fn logout_without_a_hint_asks_first_and_needs_the_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let browser = Browser::new(&app);
    signed_in(&app, &browser, &client).await;

    let mut url = url::Url::parse(&app.url("/oauth/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &client.id)
        .append_pair("post_logout_redirect_uri", LOGOUT_URI);
    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Sign out?"));
    assert!(
        session_is_alive(&app, &browser, &client).await,
        "nothing ended without asking"
    );

    // Without the CSRF token nothing happens.
    let forged = browser
        .http
        .post(app.url("/oauth/logout"))
        .form(&[
            ("step", "logout"),
            ("csrf_token", "forged"),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(session_is_alive(&app, &browser, &client).await);

    // "Stay signed in" keeps the session.
    let csrf = input_value(&page, "csrf_token").unwrap();
    let kept = browser
        .http
        .post(app.url("/oauth/logout"))
        .form(&[("step", "cancel"), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(kept.text().await.unwrap().contains("still signed in"));
    assert!(session_is_alive(&app, &browser, &client).await);

    // Confirming signs out and goes where the client asked.
    let confirmed = browser
        .http
        .post(app.url("/oauth/logout"))
        .form(&[
            ("step", "logout"),
            ("csrf_token", csrf.as_str()),
            ("client_id", client.id.as_str()),
            ("post_logout_redirect_uri", LOGOUT_URI),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 303);
    assert_eq!(location(&confirmed), LOGOUT_URI);
    assert!(!session_is_alive(&app, &browser, &client).await);
}

async fn logout_refuses_unregistered_redirects_and_foreign_hints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.register_client().await;
    let other = app.register_client().await;
    let browser = Browser::new(&app);
    let code = signed_in(&app, &browser, &client).await;
    let tokens: serde_json::Value = app
        .exchange(&client, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let hint = tokens["id_token"].as_str().unwrap();

    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "unregistered redirect",
            vec![
                ("client_id", &client.id),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
        ),
        (
            "redirect without a client",
            vec![("post_logout_redirect_uri", LOGOUT_URI)],
        ),
        (
            "hint for another client",
            vec![("id_token_hint", hint), ("client_id", &other.id)],
        ),
        (
            "forged hint",
            vec![("id_token_hint", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")],
        ),
        ("unknown client", vec![("client_id", "nobody")]),
    ];
    for (label, params) in cases {
        let mut url = url::Url::parse(&app.url("/oauth/logout")).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        let response = browser.get(url.as_str()).await;
        assert_eq!(response.status(), 400, "{label}");
        assert!(response.headers().get("location").is_none(), "{label}");
    }
    assert!(session_is_alive(&app, &browser, &client).await);
}
