//! Pairwise subject identifiers (OIDC Core 8.1): a pairwise client's users have a `sub` of
//! its sector's own, the same at every client of the sector and different at every other; ID
//! tokens, access tokens, userinfo, introspection and logout agree on it; and the sector
//! comes from the redirect URIs' host or a `sector_identifier_uri` that lists them.

use oidcd::oauth::registration::ClientRegistration;
use serde_json::{json, Value};

use crate::admin::Admin;
use crate::client_assertions::KeyServer;
use crate::device::{answer, poll};
use crate::helpers::{
    http_client, introspect, jwt_claims, location, location_params, stdout, Backend, Browser,
    TestApp, TestClient, TestEnv, TestUser, LOGOUT_URI, REDIRECT_URI,
};
use crate::on_both_databases;

on_both_databases!(
    a_pairwise_client_sees_its_sectors_own_sub_everywhere,
    a_sector_identifier_uri_lists_the_redirect_uris_of_the_sector,
    clients_without_a_redirect_host_are_sectors_of_their_own,
);

/// A pairwise client with these redirect URIs (and a sector document, when given).
async fn pairwise(app: &TestApp, redirect_uris: &[&str], sector: Option<&str>) -> TestClient {
    app.register_client_with(ClientRegistration {
        redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
        subject_type: Some("pairwise".into()),
        sector_identifier_uri: sector.map(str::to_owned),
        ..Default::default()
    })
    .await
}

/// `user` signs in to `client` at `redirect_uri` in `browser`; the token response.
async fn tokens_at(
    app: &TestApp,
    browser: &Browser,
    client: &TestClient,
    redirect_uri: &str,
    user: &TestUser,
) -> Value {
    let url = app.authorize_url(&[
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email offline_access"),
    ]);
    let done = browser.authorize(&url, user).await;
    let code = location_params(&done)["code"].clone();
    let response = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
            ],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The `sub` of the ID token in a token response.
fn sub(tokens: &Value) -> String {
    jwt_claims(tokens["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_pairwise_client_sees_its_sectors_own_sub_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.create_user().await;
    let other_page = "https://rp.example.com/elsewhere";
    let elsewhere = "https://b.example.org/cb";
    let a = pairwise(&app, &[REDIRECT_URI], None).await;
    let same_sector = pairwise(&app, &[other_page], None).await;
    let other_sector = pairwise(&app, &[elsewhere], None).await;
    let public = app.register_client().await;
    let browser = Browser::new(&app);

    let tokens = tokens_at(&app, &browser, &a, REDIRECT_URI, &user).await;
    let mine = sub(&tokens);
    assert_ne!(mine, user.sub, "not the user's id");
    assert_eq!(
        sub(&tokens_at(&app, &browser, &same_sector, other_page, &user).await),
        mine,
        "one sector, one sub"
    );
    assert_ne!(
        sub(&tokens_at(&app, &browser, &other_sector, elsewhere, &user).await),
        mine,
        "another sector, another sub"
    );
    assert_eq!(
        sub(&tokens_at(&app, &browser, &public, REDIRECT_URI, &user).await),
        user.sub,
        "a public client sees the user's id"
    );

    // Every token and answer about this user agrees, for this client.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(access)["sub"], mine.as_str());
    let response = app.userinfo(access).await;
    assert_eq!(response.status(), 200);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["sub"], mine.as_str());
    assert_eq!(info["email"], format!("{}@example.com", user.username));
    assert_eq!(introspect(&app, &a, access).await["sub"], mine.as_str());
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let seen = introspect(&app, &a, refresh).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["sub"], mine.as_str());
    let response = app.refresh(&a, refresh).await;
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.unwrap();
    assert_eq!(sub(&refreshed), mine);

    // The ID token is a logout hint like any other: the session ends at once.
    let mut url = url::Url::parse(&app.url("/oauth/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", refreshed["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", LOGOUT_URI);
    let response = browser.get(url.as_str()).await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), LOGOUT_URI);

    // A disabled user's pairwise tokens die with the account, as anyone's.
    oidcd::oidc::accounts::set_disabled(
        app.state.provider(),
        &user.sub,
        true,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(introspect(&app, &a, access).await["active"], false);
    assert_eq!(app.userinfo(access).await.status(), 401);
}

async fn a_sector_identifier_uri_lists_the_redirect_uris_of_the_sector(backend: Backend) {
    let app = TestEnv::new(backend)
        .await
        .spawn_with(|config| config.fetch.allow_loopback = true)
        .await;
    let sector = KeyServer::start().await;
    let one = "https://one.example/cb";
    let two = "https://two.example/cb";
    sector.serve(json!([one, two]).to_string());
    let both = pairwise(&app, &[one, two], Some(&sector.url())).await;
    let just_two = pairwise(&app, &[two], Some(&sector.url())).await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    assert_eq!(
        sub(&tokens_at(&app, &browser, &both, one, &user).await),
        sub(&tokens_at(&app, &browser, &just_two, two, &user).await),
        "one sector document, one sector"
    );

    let admin = Admin::new(&app).await;
    let client = |redirect_uris: Value, extra: Value| {
        let mut body = json!({
            "client_name": "Pairwise", "redirect_uris": redirect_uris,
            "subject_type": "pairwise"
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let closed = "http://127.0.0.1:9/sector.json";
    for (body, says) in [
        (client(json!([one, two]), json!({})), "several hosts"),
        (
            client(
                json!([one, "https://three.example/cb"]),
                json!({"sector_identifier_uri": sector.url()}),
            ),
            "does not list",
        ),
        (
            client(json!([one]), json!({"sector_identifier_uri": closed})),
            "could not be fetched",
        ),
        (
            client(
                json!([one]),
                json!({"sector_identifier_uri": "http://sector.example/x.json"}),
            ),
            "http",
        ),
        (
            json!({"client_name": "P", "redirect_uris": [one], "sector_identifier_uri": sector.url()}),
            "pairwise clients",
        ),
    ] {
        let (status, error) = admin.post("/admin/clients", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["field"], "sector_identifier_uri", "{error}");
        assert!(
            error["error_description"].as_str().unwrap().contains(says),
            "{says}: {error}"
        );
    }
    let (status, error) = admin
        .post(
            "/admin/clients",
            json!({"client_name": "P", "redirect_uris": [one], "subject_type": "secret"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "subject_type");

    // Registered through the admin API, and shown.
    let (status, made) = admin
        .post(
            "/admin/clients",
            client(json!([one]), json!({"sector_identifier_uri": sector.url()})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["subject_type"], "pairwise");
    assert_eq!(made["sector_identifier_uri"], sector.url());
    let id = made["client_id"].as_str().unwrap();
    // A redirect URI the document does not list is refused until it does.
    let three = "https://three.example/cb";
    let path = format!("/admin/clients/{id}");
    let (status, error) = admin
        .patch(&path, json!({"redirect_uris": [one, three]}))
        .await;
    assert_eq!(status, 400, "{error}");
    sector.serve(json!([one, two, three]).to_string());
    let (status, _) = admin
        .patch(&path, json!({"redirect_uris": [one, three]}))
        .await;
    assert_eq!(status, 200);

    // Without a document, the redirect URIs cannot leave the sector: every sub would change.
    let (_, made) = admin
        .post("/admin/clients", client(json!([one]), json!({})))
        .await;
    let path = format!("/admin/clients/{}", made["client_id"].as_str().unwrap());
    let (status, error) = admin.patch(&path, json!({"redirect_uris": [two]})).await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "redirect_uris");
    let (status, _) = admin
        .patch(
            &path,
            json!({"redirect_uris": [one, "https://one.example/again"]}),
        )
        .await;
    assert_eq!(status, 200, "the same host is the same sector");

    // The command line.
    // Run beside the test's runtime, which serves the sector document.
    let (env, url) = (app.env.clone(), sector.url());
    let made = tokio::task::spawn_blocking(move || {
        env.oidcd(
            &[
                "client",
                "create",
                "--name",
                "CLI",
                "--redirect-uri",
                one,
                "--redirect-uri",
                two,
                "--subject-type",
                "pairwise",
                "--sector-identifier-uri",
                &url,
            ],
            &[("OIDCD_FETCH_ALLOW_LOOPBACK", "true")],
        )
    })
    .await
    .unwrap();
    assert!(made.status.success(), "{made:?}");
    let made: Value = serde_json::from_str(&stdout(&made)).unwrap();
    assert_eq!(made["subject_type"], "pairwise");
    let refused = app.env.oidcd(
        &[
            "client",
            "create",
            "--name",
            "CLI",
            "--redirect-uri",
            one,
            "--redirect-uri",
            two,
            "--subject-type",
            "pairwise",
        ],
        &[],
    );
    assert!(!refused.status.success());
}

async fn clients_without_a_redirect_host_are_sectors_of_their_own(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (app, clock) = env.spawn_on_fixed_clock(env.config()).await;
    let user = app.create_user().await;
    // Registered without a redirect URI (the test helper would give them one).
    let admin = Admin::new(&app).await;
    let mut devices = Vec::new();
    for _ in 0..2 {
        let (status, made) = admin
            .post(
                "/admin/clients",
                json!({"client_name": "TV", "public": true, "grant_types": ["device_code"],
                       "subject_type": "pairwise"}),
            )
            .await;
        assert_eq!(status, 201, "{made}");
        devices.push(TestClient {
            id: made["client_id"].as_str().unwrap().to_owned(),
            secret: None,
        });
    }
    let mut subs = Vec::new();
    for client in devices {
        let response = http_client()
            .post(app.url("/oauth/device_authorization"))
            .form(&[("client_id", client.id.as_str()), ("scope", "openid")])
            .send()
            .await
            .unwrap();
        let auth: Value = response.json().await.unwrap();
        let browser = Browser::new(&app);
        answer(
            &app,
            &browser,
            auth["user_code"].as_str().unwrap(),
            &user,
            "approve",
        )
        .await;
        clock.advance(5);
        let response = poll(&app, &client, auth["device_code"].as_str().unwrap()).await;
        assert_eq!(response.status(), 200);
        subs.push(sub(&response.json().await.unwrap()));
    }
    assert_ne!(subs[0], subs[1], "two devices, two sectors");
    assert!(!subs.contains(&user.sub));
}
