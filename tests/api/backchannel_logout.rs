//! Sessions that end reach the apps: OpenID Connect Back-Channel Logout 1.0 through the
//! outbox (delivered once, retried until the app is back, across restarts and instances),
//! the tokens of the session revoked (`logout.revoke`), and the admin API's view of a
//! user's apps and sessions.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinHandle;

use crate::admin::admin_token;
use crate::helpers::{
    http_client, introspect, jwt_claims, location_params, Backend, Browser, TestApp, TestClient,
    TestEnv, TestUser, LOGOUT_URI,
};
use crate::jwks::verify_with_jwks;
use crate::{on_both_databases, on_postgres};
use oidcd::oauth::registration::ClientRegistration;
use oidcd::store::clients::LogoutChannels;

on_both_databases!(
    a_logout_reaches_every_app_that_took_part_and_ends_its_access_tokens,
    an_app_that_is_down_gets_its_token_when_back_even_across_a_restart,
    admins_see_and_end_a_users_sessions_and_apps,
    signing_in_again_keeps_the_apps_of_the_session_and_someone_else_ends_it,
);
on_postgres!(two_instances_send_each_delivery_once);

/// A relying party's back-channel logout endpoint: records each POST (path and
/// `logout_token`) and answers `status`; `down` stops listening (connections are refused),
/// `up` listens again on the same port.
pub struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<(String, String)>>>,
    status: Arc<AtomicU16>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Receiver {
    pub async fn start(status: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let receiver = Self {
            port,
            got: Arc::default(),
            status: Arc::new(AtomicU16::new(status)),
            task: Mutex::new(None),
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let got = self.got.clone();
        let status = self.status.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let got = got.clone();
                let status = status.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut buf = [0u8; 4096];
                    let (head, body) = loop {
                        let n = stream.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&data).to_string();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if body.len() >= length {
                                break (head.to_owned(), body.to_owned());
                            }
                        }
                    };
                    let path = head
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let token = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "logout_token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    got.lock().unwrap().push((path, token));
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn down(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }

    pub async fn up(&self) {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.port),
            }
        };
        self.serve(listener);
    }

    /// What arrived so far: (path, logout token).
    pub fn got(&self) -> Vec<(String, String)> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` tokens arrived; what arrived.
    /// Waits until `n` tokens have arrived at `path` (whatever else arrives meanwhile, in
    /// whatever order the deliveries run); all that arrived.
    pub async fn wait_for_at(&self, path: &str, n: usize) -> Vec<(String, String)> {
        for _ in 0..150 {
            let got = self.got();
            if got.iter().filter(|(p, _)| p == path).count() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("not {n} logout tokens at {path}: {:?}", self.got());
    }

    pub async fn wait_for(&self, n: usize) -> Vec<(String, String)> {
        for _ in 0..150 {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} logout tokens arrived, not {n}", self.got().len());
    }
}

/// Checks a logout token as a relying party must (Back-Channel Logout 1.0 section 2.6); its
/// claims.
pub async fn check_logout_token(app: &TestApp, token: &str, client: &TestClient) -> Value {
    let jwks = app.get_json("/jwks.json").await;
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "logout+jwt");
    let claims = verify_with_jwks(token, &jwks);
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["aud"], client.id.as_str());
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let iat = claims["iat"].as_i64().unwrap();
    assert!(claims["exp"].as_i64().unwrap() > iat);
    claims
}

fn with_backchannel(name: &str, uri: String) -> ClientRegistration {
    ClientRegistration {
        name: name.into(),
        logout: LogoutChannels {
            backchannel_logout_uri: Some(uri),
            backchannel_logout_session_required: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Signs `user` in to `client` in `browser` and exchanges the code: the token response.
pub async fn sign_in(
    app: &TestApp,
    browser: &Browser,
    client: &TestClient,
    user: &TestUser,
) -> Value {
    let url = app.code_request_url(client, "openid profile offline_access", &[]);
    let done = browser.authorize(&url, user).await;
    let code = location_params(&done)["code"].clone();
    let response = app.exchange(client, &code, None).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn deliveries(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let response = http_client()
        .get(app.url(&format!("/admin/logout-deliveries{query}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != 200 {
        panic!("{status}: {}", response.text().await.unwrap());
    }
    response.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the admin API shows `pred` true of the deliveries.
async fn wait_deliveries(
    app: &TestApp,
    admin: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..150 {
        let items = deliveries(app, admin, "").await;
        if pred(&items) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never: {:?}", deliveries(app, admin, "").await);
}

async fn a_logout_reaches_every_app_that_took_part_and_ends_its_access_tokens(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.fetch.allow_loopback = true;
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    let admin = admin_token(&app).await;
    let rp = Receiver::start(200).await;
    let photos = app
        .register_client_with(with_backchannel("Photos", rp.url("/photos/logout")))
        .await;
    let notes = app
        .register_client_with(with_backchannel("Notes", rp.url("/notes/logout")))
        .await;
    let plain = app.register_client().await;
    let user = app.create_user().await;

    // One browser session, three apps; another browser's session, untouched.
    let browser = Browser::new(&app);
    let photo_tokens = sign_in(&app, &browser, &photos, &user).await;
    let note_tokens = sign_in(&app, &browser, &notes, &user).await;
    let plain_tokens = sign_in(&app, &browser, &plain, &user).await;
    let elsewhere = sign_in(&app, &Browser::new(&app), &photos, &user).await;
    let id_token = photo_tokens["id_token"].as_str().unwrap();
    let sid = jwt_claims(id_token)["sid"].as_str().unwrap().to_owned();

    let logout = app.url(&format!(
        "/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
        url::form_urlencoded::byte_serialize(LOGOUT_URI.as_bytes()).collect::<String>()
    ));
    let response = browser.get(&logout).await;
    assert_eq!(response.status(), 302);
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(LOGOUT_URI));

    // Each app with a back-channel URI gets one verifiable token naming the session.
    let got = rp.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rp.got().len(), 2, "one token per app: {:?}", rp.got());
    for (client, path) in [(&photos, "/photos/logout"), (&notes, "/notes/logout")] {
        let (_, token) = got.iter().find(|(p, _)| p == path).unwrap();
        let claims = check_logout_token(&app, token, client).await;
        assert_eq!(claims["sid"], sid.as_str());
        assert_eq!(claims["sub"], user.sub.as_str());
    }
    let items = wait_deliveries(&app, &admin, |items| {
        items.len() == 2 && items.iter().all(|d| d["state"] == "delivered")
    })
    .await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    for member in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(discovery[member], true, "{member}");
    }
    assert!(items
        .iter()
        .all(|d| d["attempts"] == 1 && d["sid"] == sid.as_str()));
    assert!(deliveries(&app, &admin, "?state=pending").await.is_empty());
    let metrics = http_client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("oidcd_logout_deliveries_total 2"),
        "{metrics}"
    );

    // The access tokens of the session are dead, at userinfo and introspection alike...
    for (client, tokens) in [
        (&photos, &photo_tokens),
        (&notes, &note_tokens),
        (&plain, &plain_tokens),
    ] {
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(app.userinfo(access).await.status(), 401);
        assert_eq!(introspect(&app, client, access).await["active"], false);
    }
    // ...those of the other session are not...
    let other = elsewhere["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo(other).await.status(), 200);
    // ...and offline access outlives the session (logout.revoke = access_tokens): a refresh
    // gets a working access token.
    clock.advance(1);
    let refreshed = app
        .refresh(&photos, photo_tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(
        app.userinfo(refreshed["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // With logout.revoke = grants, the refresh tokens die with the session too.
    let env = app.stop().await;
    let mut config = env.config();
    config.fetch.allow_loopback = true;
    config.logout.revoke = oidcd::config::LogoutRevoke::Grants;
    let (app, _clock) = env.spawn_on_fixed_clock(config).await;
    let browser = Browser::new(&app);
    let tokens = sign_in(&app, &browser, &photos, &user).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let response = browser
        .get(&app.url(&format!("/oauth/logout?id_token_hint={id_token}")))
        .await;
    assert_eq!(response.status(), 200);
    let refused = app
        .refresh(&photos, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    rp.wait_for(3).await;
}

async fn an_app_that_is_down_gets_its_token_when_back_even_across_a_restart(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.fetch.allow_loopback = true;
    config.logout.retry_for = oidcd::config::Seconds(120);
    let (app, clock) = env.spawn_on_fixed_clock(config.clone()).await;
    let admin = admin_token(&app).await;
    let back_later = Receiver::start(200).await;
    back_later.down();
    let refusing = Receiver::start(400).await;
    let gone = Receiver::start(200).await;
    gone.down();
    let photos = app
        .register_client_with(with_backchannel("Photos", back_later.url("/logout")))
        .await;
    let notes = app
        .register_client_with(with_backchannel("Notes", refusing.url("/logout")))
        .await;
    let maps = app
        .register_client_with(with_backchannel("Maps", gone.url("/logout")))
        .await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    let tokens = sign_in(&app, &browser, &photos, &user).await;
    sign_in(&app, &browser, &notes, &user).await;
    sign_in(&app, &browser, &maps, &user).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let sid = jwt_claims(id_token)["sid"].as_str().unwrap().to_owned();
    let response = browser
        .get(&app.url(&format!("/oauth/logout?id_token_hint={id_token}")))
        .await;
    assert_eq!(response.status(), 200);

    // The first attempts: the app that refuses is given up at once; the others wait.
    let items = wait_deliveries(&app, &admin, |items| {
        items.len() == 3 && items.iter().all(|d| d["attempts"] == 1)
    })
    .await;
    let of = |items: &[Value], client: &TestClient| {
        items
            .iter()
            .find(|d| d["client_id"] == client.id.as_str())
            .unwrap()
            .clone()
    };
    let refused = of(&items, &notes);
    assert_eq!(refused["state"], "failed");
    assert!(
        refused["last_error"].as_str().unwrap().contains("400"),
        "{refused}"
    );
    for client in [&photos, &maps] {
        let pending = of(&items, client);
        assert_eq!(pending["state"], "pending", "{pending}");
        assert!(pending["last_error"].as_str().is_some(), "{pending}");
    }
    assert_eq!(refusing.got().len(), 1);
    clock.advance(3);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        of(&deliveries(&app, &admin, "").await, &photos)["attempts"],
        1,
        "not before its backoff"
    );

    // oidcd restarts; the app comes back; its token arrives once the backoff has passed.
    let env = app.stop().await;
    back_later.up().await;
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    // A new address, so a new issuer: a new admin token.
    let admin = admin_token(&app).await;
    clock.advance(10);
    let got = back_later.wait_for(1).await;
    let claims = check_logout_token(&app, &got[0].1, &photos).await;
    assert_eq!(claims["sid"], sid.as_str());
    let items = wait_deliveries(&app, &admin, |items| {
        items
            .iter()
            .any(|d| d["client_id"] == photos.id.as_str() && d["state"] == "delivered")
    })
    .await;
    assert_eq!(of(&items, &photos)["attempts"], 2);

    // The app that never comes back is given up after logout.retry_for.
    clock.advance(200);
    let items = wait_deliveries(&app, &admin, |items| {
        items
            .iter()
            .any(|d| d["client_id"] == maps.id.as_str() && d["state"] == "failed")
    })
    .await;
    assert!(of(&items, &maps)["last_error"]
        .as_str()
        .unwrap()
        .contains("logout.retry_for"));
    assert!(gone.got().is_empty());
    assert_eq!(back_later.got().len(), 1, "delivered once");
}

async fn admins_see_and_end_a_users_sessions_and_apps(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.fetch.allow_loopback = true;
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    let admin = admin_token(&app).await;
    let rp = Receiver::start(200).await;
    let photos = app
        .register_client_with(with_backchannel("Photos", rp.url("/photos")))
        .await;
    // Notes does not need `sid`: told of the user as a whole, it gets one token naming them.
    let mut without_sid = with_backchannel("Notes", rp.url("/notes"));
    without_sid.logout.backchannel_logout_session_required = false;
    let notes = app.register_client_with(without_sid).await;
    let user = app.create_user().await;
    let (laptop, phone) = (Browser::new(&app), Browser::new(&app));
    let on_laptop = sign_in(&app, &laptop, &photos, &user).await;
    let on_phone = sign_in(&app, &phone, &photos, &user).await;
    let notes_tokens = sign_in(&app, &laptop, &notes, &user).await;
    let phone_sid = jwt_claims(on_phone["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = |path: String| {
        let admin = admin.clone();
        let url = app.url(&path);
        async move {
            let response = http_client()
                .get(url)
                .bearer_auth(admin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let delete = |path: String| {
        let admin = admin.clone();
        let url = app.url(&path);
        async move {
            http_client()
                .delete(url)
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    let sessions = get(format!("/admin/users/{}/sessions", user.sub)).await;
    let sids: Vec<&str> = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids.len(), 2);
    assert!(sids.contains(&phone_sid.as_str()));
    let apps = get(format!("/admin/users/{}/apps", user.sub)).await;
    let names: Vec<&str> = apps["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["client_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Notes", "Photos"]);
    assert_eq!(apps["items"][1]["offline_access"], true);
    assert!(apps["items"][1]["scope"]
        .as_str()
        .unwrap()
        .contains("openid"));

    // Ending the phone's session: its app hears of it, its access token dies, the laptop's
    // lives.
    assert_eq!(
        delete(format!("/admin/users/{}/sessions/{phone_sid}", user.sub)).await,
        204
    );
    assert_eq!(
        delete(format!("/admin/users/{}/sessions/{phone_sid}", user.sub)).await,
        404
    );
    let got = rp.wait_for(1).await;
    assert_eq!(got[0].0, "/photos");
    assert_eq!(
        check_logout_token(&app, &got[0].1, &photos).await["sid"],
        phone_sid.as_str()
    );
    assert_eq!(
        app.userinfo(on_phone["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    assert_eq!(
        app.userinfo(on_laptop["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // Revoking Photos: its refresh and access tokens die, it hears of it (the user, no
    // session), and it must ask for consent again.
    clock.advance(1);
    assert_eq!(
        delete(format!("/admin/users/{}/apps/{}", user.sub, photos.id)).await,
        204
    );
    assert_eq!(
        delete(format!("/admin/users/{}/apps/{}", user.sub, photos.id)).await,
        404
    );
    // Photos needs `sid`: a token for each session it took part in.
    let got = rp.wait_for(3).await;
    let laptop_sid = jwt_claims(on_laptop["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut told = Vec::new();
    for (_, token) in &got[1..] {
        let claims = check_logout_token(&app, token, &photos).await;
        assert_eq!(claims["sub"], user.sub.as_str());
        told.push(claims["sid"].as_str().unwrap().to_owned());
    }
    told.sort();
    let mut expected = vec![laptop_sid, phone_sid.clone()];
    expected.sort();
    assert_eq!(told, expected);
    assert_eq!(
        app.userinfo(on_laptop["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    let refused = app
        .refresh(&photos, on_laptop["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refused.status(), 400);
    let page = laptop
        .get(&app.code_request_url(&photos, "openid", &[]))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"step\" value=\"consent\""),
        "consent is asked again"
    );
    let apps = get(format!("/admin/users/{}/apps", user.sub)).await;
    assert_eq!(apps["items"].as_array().unwrap().len(), 1);

    // Disabling the user: the laptop's session ends and Notes hears of it.
    let response = http_client()
        .post(app.url(&format!("/admin/users/{}/disable", user.sub)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Photos got the three tokens so far; two come to Notes now. Waiting for those (not for
    // a total), since other deliveries may still run alongside them.
    let got = rp.wait_for_at("/notes", 2).await;
    let to_notes: Vec<Value> = {
        let mut v = Vec::new();
        for (path, token) in got.iter().filter(|(p, _)| p == "/notes") {
            assert_eq!(path, "/notes");
            v.push(check_logout_token(&app, token, &notes).await);
        }
        v
    };
    assert_eq!(
        to_notes.len(),
        2,
        "the session's end and the user's: {to_notes:?}"
    );
    assert!(to_notes.iter().all(|c| c["sub"] == user.sub.as_str()));
    // Notes does not need `sid`: told of the user as a whole, one token names just them.
    assert_eq!(
        to_notes.iter().filter(|c| c.get("sid").is_none()).count(),
        1
    );
    assert_eq!(
        app.userinfo(notes_tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    let sessions = get(format!("/admin/users/{}/sessions", user.sub)).await;
    assert_eq!(sessions["items"], json!([]));
}

async fn two_instances_send_each_delivery_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.fetch.allow_loopback = true;
    let clock = oidcd::Clock::fixed(crate::helpers::T0);
    let a = env.spawn_config(config.clone(), clock.clone()).await;
    let b = env.spawn_config(config, clock.clone()).await;
    let rp = Receiver::start(200).await;
    let photos = a
        .register_client_with(with_backchannel("Photos", rp.url("/logout")))
        .await;
    // Twenty deliveries due at once, and both instances sending at the same moment (beside
    // their own loops).
    let now = clock.now();
    for i in 0..20 {
        let delivery = oidcd::store::logout_deliveries::Delivery {
            id: format!("delivery-{i:02}"),
            client_id: photos.id.clone(),
            uri: rp.url("/logout"),
            subject: "someone".into(),
            sid: Some(format!("session-{i:02}")),
            state: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
            expires_at: now + 3600,
        };
        oidcd::store::logout_deliveries::insert(&a.state.db, &delivery)
            .await
            .unwrap();
    }
    let (from_a, from_b) = tokio::join!(
        oidcd::tasks::logout_sender::send_due(&a.state),
        oidcd::tasks::logout_sender::send_due(&b.state),
    );
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    assert!(from_a + from_b <= 20, "{from_a} + {from_b}");
    let got = rp.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got_now = rp.got();
    assert_eq!(
        got_now.len(),
        20,
        "each delivery once: {} arrived",
        got_now.len()
    );
    let mut sids: Vec<String> = Vec::new();
    for (_, token) in &got {
        sids.push(jwt_claims(token)["sid"].as_str().unwrap().to_owned());
    }
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 20);
}

async fn signing_in_again_keeps_the_apps_of_the_session_and_someone_else_ends_it(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    config.fetch.allow_loopback = true;
    let (app, _clock) = env.spawn_on_fixed_clock(config).await;
    let rp = Receiver::start(200).await;
    let photos = app
        .register_client_with(with_backchannel("Photos", rp.url("/photos")))
        .await;
    let notes = app
        .register_client_with(with_backchannel("Notes", rp.url("/notes")))
        .await;
    let ada = app.create_user().await;
    let grace = app.create_user().await;
    let browser = Browser::new(&app);
    sign_in(&app, &browser, &photos, &ada).await;

    // Ada signs in again (prompt=login): a new session, which Photos is part of still.
    let url = app.code_request_url(&notes, "openid", &[("prompt", "login")]);
    let done = browser.authorize(&url, &ada).await;
    let code = location_params(&done)["code"].clone();
    let tokens: Value = app
        .exchange(&notes, &code, None)
        .await
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let sid = jwt_claims(id_token)["sid"].as_str().unwrap().to_owned();
    assert!(rp.got().is_empty(), "nobody signed out");
    let response = browser
        .get(&app.url(&format!("/oauth/logout?id_token_hint={id_token}")))
        .await;
    assert_eq!(response.status(), 200);
    let got = rp.wait_for(2).await;
    for (path, token) in &got {
        let client = if path == "/photos" { &photos } else { &notes };
        let claims = check_logout_token(&app, token, client).await;
        assert_eq!(claims["sid"], sid.as_str(), "{path}");
    }

    // Grace signs in on a browser where Ada is signed in: Ada's session ends, and its app
    // hears of it.
    let shared = Browser::new(&app);
    let first = sign_in(&app, &shared, &photos, &ada).await;
    let ada_sid = jwt_claims(first["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = app.code_request_url(&notes, "openid", &[("prompt", "login")]);
    shared.authorize(&url, &grace).await;
    let got = rp.wait_for(3).await;
    let claims = check_logout_token(&app, &got[2].1, &photos).await;
    assert_eq!(claims["sub"], ada.sub.as_str());
    assert_eq!(claims["sid"], ada_sid.as_str());
    assert_eq!(
        app.userinfo(first["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
}
