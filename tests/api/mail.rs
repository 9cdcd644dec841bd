//! Mail: a forgotten password reset by a link mailed through a real SMTP server on loopback
//! (aiosmtpd, from `examples/rp/setup`), the same answer for an unknown address and no mail,
//! each link good once and only for a while, every session ended by a reset, mail limited
//! per account (sparing the owner's browser) and per client address; and a verification
//! link that sets `email_verified`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oidcd::config::{Seconds, SmtpTls};
use oidcd::Config;
use serde_json::json;

use crate::account::page;
use std::sync::Arc;

use reqwest::cookie::Jar;

use crate::abuse::browser_from;
use crate::admin::Admin;
use crate::factors::{account_sign_in, set_up_app};
use crate::helpers::{
    input_value, location, Backend, Browser, ScratchDir, TestApp, TestEnv, TestUser,
};
use crate::on_both_databases;

on_both_databases!(
    a_forgotten_password_is_reset_by_a_mailed_link_that_works_once,
    a_mailed_link_confirms_the_address,
);

/// An SMTP server on loopback that keeps what it receives in a Maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    dir: ScratchDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mail as the server received it.
#[derive(Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Mail {
    /// The first link in the body that leads to `path`.
    pub fn link(&self, path: &str) -> String {
        self.body
            .split_whitespace()
            .find(|word| word.starts_with("http") && word.contains(path))
            .unwrap_or_else(|| panic!("no link to {path} in {}", self.body))
            .to_owned()
    }
}

impl SmtpServer {
    /// Starts aiosmtpd from the venv `examples/rp/setup` makes; `None` (after saying why)
    /// when it is not installed and `TEST_RP_LIBRARIES` does not require it.
    pub async fn start() -> Option<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("target/rp-venv/bin/python");
        let installed = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            let why = "aiosmtpd is not installed in target/rp-venv";
            if std::env::var("TEST_RP_LIBRARIES").is_ok_and(|v| v == "1") {
                panic!("{why}; run examples/rp/setup (TEST_RP_LIBRARIES=1 requires it)");
            }
            eprintln!("skipped: {why} (examples/rp/setup installs it)");
            return None;
        }
        let dir = ScratchDir::new("smtp");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self { child, port, dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not start on port {port}");
    }

    /// `config` sending through this server.
    pub fn configure(&self, config: &mut Config) {
        config.mail.smtp_host = Some("127.0.0.1".into());
        config.mail.smtp_port = self.port;
        config.mail.smtp_tls = SmtpTls::None;
        config.mail.from = Some("Sign-in <no-reply@example.com>".into());
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("mail/new"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort_by_key(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok());
        files
    }

    /// The mails received so far, once there are `n` (waiting up to ten seconds).
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..200 {
            if self.files().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mails: Vec<Mail> = self.files().iter().map(|f| parse(f)).collect();
        assert!(
            mails.len() >= n,
            "{} mails, not {n}: {mails:?}",
            mails.len()
        );
        mails
    }

    /// The mails received so far, after waiting long enough for any on their way.
    pub async fn settled(&self) -> Vec<Mail> {
        tokio::time::sleep(Duration::from_millis(700)).await;
        self.files().iter().map(|f| parse(f)).collect()
    }
}

fn parse(file: &Path) -> Mail {
    let text = std::fs::read_to_string(file).unwrap().replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    let body = if header("Content-Transfer-Encoding") == "quoted-printable" {
        body.replace("=\n", "").replace("=3D", "=")
    } else {
        body.to_owned()
    };
    Mail {
        to: header("X-RcptTo"),
        subject: header("Subject"),
        body,
    }
}

/// Posts a recovery page's form (its CSRF token from `page`).
async fn post_form(
    browser: &Browser,
    url: &str,
    page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![(
        "csrf_token".to_owned(),
        input_value(page, "csrf_token").expect("a CSRF token"),
    )];
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    browser.http.post(url).form(&form).send().await.unwrap()
}

/// Asks for a reset link for `account` in `browser`: the page it answers with.
async fn ask_reset(app: &TestApp, browser: &Browser, account: &str) -> (u16, String) {
    let url = app.url("/account/forgot-password");
    let response = browser.get(&url).await;
    assert_eq!(response.status(), 200);
    let form = response.text().await.unwrap();
    let response = post_form(browser, &url, &form, &[("account", account)]).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Makes `user`'s address one not confirmed yet.
pub async fn unconfirm(app: &TestApp, user: &TestUser) {
    let mut claims = oidcd::store::users::get(&app.state.db, &user.sub)
        .await
        .unwrap()
        .claims;
    claims.insert("email_verified".into(), false.into());
    oidcd::store::users::set_claims(&app.state.db, &user.sub, &claims, 0)
        .await
        .unwrap();
}

fn email_of(user: &TestUser) -> String {
    format!("{}@example.com", user.username)
}

async fn a_forgotten_password_is_reset_by_a_mailed_link_that_works_once(backend: Backend) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    smtp.configure(&mut config);
    config.mail.reset_link_lifetime = Seconds(600);
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    let user = app.create_user().await;

    // The owner is signed in somewhere; the sign-in form offers a reset.
    let owner = Browser::new(&app);
    account_sign_in(&app, &owner, &user).await;
    assert!(page(&app, &owner, "").await.contains("Sign out here"));
    let stranger = Browser::new(&app);
    let sign_in = page(&app, &stranger, "").await;
    assert!(
        sign_in.contains("forgot-password\">Forgot your password?"),
        "{sign_in}"
    );

    // Asked by address (in another case) and by username, and for ones nobody has: the
    // same page either way.
    let asker = Browser::new(&app);
    let (status, known) = ask_reset(&app, &asker, &email_of(&user).to_uppercase()).await;
    assert_eq!(status, 200);
    assert!(
        known.contains("a link to set a new password is on its way"),
        "{known}"
    );
    let (status, unknown) = ask_reset(&app, &asker, "nobody@example.com").await;
    assert_eq!(status, 200);
    assert_eq!(
        known, unknown,
        "the same page whether or not the address is known"
    );
    let (_, known) = ask_reset(&app, &asker, &user.username).await;
    let (_, unknown) = ask_reset(&app, &asker, "nobody-here").await;
    assert_eq!(
        known, unknown,
        "the same page whether or not the username is known"
    );
    let mails = smtp.wait_for(2).await;
    assert_eq!(
        smtp.settled().await.len(),
        2,
        "no mail for the unknown ones"
    );
    let mail = &mails[0];
    assert_eq!(mail.to, email_of(&user));
    assert_eq!(mail.subject, "Reset your password");
    assert!(mail.body.contains(&user.username) && mail.body.contains("10 minutes"));
    let link = mail.link("/account/reset-password?token=");
    let second_link = mails[1].link("/account/reset-password?token=");

    // Opening the link (twice, as a mail scanner might) spends nothing.
    let reader = Browser::new(&app);
    assert_eq!(reader.get(&link).await.status(), 200);
    let response = reader.get(&link).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let form = response.text().await.unwrap();
    assert!(form.contains(&user.username));
    let reset_url = app.url("/account/reset-password");
    let token = input_value(&form, "token").unwrap();

    // A password that breaks the rules keeps the link; a forged form is refused.
    let response = post_form(
        &reader,
        &reset_url,
        &form,
        &[("token", &token), ("new_password", "short")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("The new password must be 8 to 1024 characters"));
    let forged = reader
        .http
        .post(&reset_url)
        .form(&[
            ("csrf_token", "forged"),
            ("token", &token),
            ("new_password", "a-new-password-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // Sent twice at the same moment: one sets the password, the other finds the link spent.
    let one = [
        ("token", token.as_str()),
        ("new_password", "a-new-password-1"),
    ];
    let other = [
        ("token", token.as_str()),
        ("new_password", "another-password-2"),
    ];
    let (first, second) = tokio::join!(
        post_form(&reader, &reset_url, &form, &one),
        post_form(&reader, &reset_url, &form, &other),
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 404]);
    let (done, new_password) = if first.status() == 303 {
        (first, "a-new-password-1")
    } else {
        (second, "another-password-2")
    };
    assert!(location(&done).ends_with("/account?done=password-reset"));
    assert!(page(&app, &reader, "?done=password-reset")
        .await
        .contains("Your new password is set"));
    assert_eq!(reader.get(&link).await.status(), 404);
    let dead = reader.get(&second_link).await;
    assert_eq!(
        dead.status(),
        404,
        "a link asked for before the change dies with it"
    );
    assert!(dead.text().await.unwrap().contains("no longer works"));

    // Every session ended; the old password no longer signs in, the new one does.
    assert!(!page(&app, &owner, "").await.contains("Sign out here"));
    let form = page(&app, &stranger, "").await;
    let response = crate::account::post(
        &app,
        &stranger,
        &form,
        &[
            ("step", "login"),
            ("username", &user.username),
            ("password", &user.password),
        ],
    )
    .await;
    assert_eq!(response.status(), 200, "the old password is refused");
    let renewed = TestUser {
        password: new_password.into(),
        ..user
    };
    account_sign_in(&app, &stranger, &renewed).await;
    assert!(page(&app, &stranger, "").await.contains("Sign out here"));

    // A link dies with its time: the form sent after it is refused.
    ask_reset(&app, &asker, &renewed.username).await;
    let mails = smtp.wait_for(3).await;
    let link = mails[2].link("/account/reset-password?token=");
    let response = reader.get(&link).await;
    assert_eq!(response.status(), 200);
    let form = response.text().await.unwrap();
    let token = input_value(&form, "token").unwrap();
    clock.advance(600);
    let response = post_form(
        &reader,
        &reset_url,
        &form,
        &[("token", &token), ("new_password", "a-third-password-3")],
    )
    .await;
    assert_eq!(response.status(), 404);
}

/// A link dies when the address it went to stops being the account's; the new address is
/// found; and a reset does not stand in for the second factor.
#[tokio::test]
async fn a_reset_link_dies_with_its_address_and_the_second_factor_stays() {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let env = TestEnv::new(Backend::Sqlite).await;
    let mut config = env.config();
    smtp.configure(&mut config);
    let (app, clock) = env.spawn_on_fixed_clock(config).await;
    let user = app.create_user().await;
    let browser = Browser::new(&app);
    account_sign_in(&app, &browser, &user).await;
    set_up_app(&app, &browser, &clock).await;

    ask_reset(&app, &Browser::new(&app), &user.username).await;
    let old_link = smtp.wait_for(1).await[0].link("/account/reset-password?token=");
    let admin = Admin::new(&app).await;
    let (status, _) = admin
        .patch(
            &format!("/admin/users/{}", user.sub),
            json!({"claims": {"email": "Ada.New@Example.org"}}),
        )
        .await;
    assert_eq!(status, 200);
    let reader = Browser::new(&app);
    assert_eq!(reader.get(&old_link).await.status(), 404);

    ask_reset(&app, &Browser::new(&app), "ada.new@example.org").await;
    let mails = smtp.wait_for(2).await;
    assert_eq!(mails[1].to, "Ada.New@Example.org");
    let response = reader
        .get(&mails[1].link("/account/reset-password?token="))
        .await;
    let form = response.text().await.unwrap();
    let token = input_value(&form, "token").unwrap();
    let response = post_form(
        &reader,
        &app.url("/account/reset-password"),
        &form,
        &[("token", &token), ("new_password", "a-new-password-1")],
    )
    .await;
    assert_eq!(response.status(), 303);

    // The link proved the new address.
    let stored = oidcd::store::users::get(&app.state.db, &user.sub)
        .await
        .unwrap();
    assert_eq!(stored.claims["email_verified"], true);

    // The new password, then the authenticator app is still asked for.
    let renewed = TestUser {
        password: "a-new-password-1".into(),
        ..user
    };
    account_sign_in(&app, &reader, &renewed).await;
    let next = page(&app, &reader, "").await;
    assert!(next.contains("Code from your authenticator app"), "{next}");
    assert!(!next.contains("Sign out here"));

    // A link dies with the account when it is disabled.
    ask_reset(&app, &Browser::new(&app), &renewed.username).await;
    let link = smtp.wait_for(3).await[2].link("/account/reset-password?token=");
    let (status, _) = admin
        .post(&format!("/admin/users/{}/disable", renewed.sub), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(reader.get(&link).await.status(), 404);
}

async fn a_mailed_link_confirms_the_address(backend: Backend) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let env = TestEnv::new(backend).await;
    let mut config = env.config();
    smtp.configure(&mut config);
    let (app, _clock) = env.spawn_on_fixed_clock(config).await;
    let user = app.create_user().await;
    unconfirm(&app, &user).await;

    let browser = Browser::new(&app);
    account_sign_in(&app, &browser, &user).await;
    let account = page(&app, &browser, "").await;
    assert!(account.contains("(not confirmed)"), "{account}");
    let response =
        crate::account::post(&app, &browser, &account, &[("step", "send_verification")]).await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).ends_with("?done=verify-sent"));
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].subject, "Confirm your email address");
    let link = mails[0].link("/account/verify-email?token=");

    // Opened signed out (another browser): a button confirms.
    let other = Browser::new(&app);
    let response = other.get(&link).await;
    assert_eq!(response.status(), 200);
    let form = response.text().await.unwrap();
    assert!(form.contains(&email_of(&user)));
    let url = app.url("/account/verify-email");
    let token = input_value(&form, "token").unwrap();
    let response = post_form(&other, &url, &form, &[("token", &token)]).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("is confirmed"));
    let stored = oidcd::store::users::get(&app.state.db, &user.sub)
        .await
        .unwrap();
    assert_eq!(stored.claims["email_verified"], true);
    assert!(page(&app, &browser, "").await.contains("(confirmed)"));

    // Spent.
    let response = post_form(&other, &url, &form, &[("token", &token)]).await;
    assert_eq!(response.status(), 404);
}

/// Mail to one account is limited per client address, then per account (what one address
/// was refused spends nothing of the account's count), the owner's browser counted apart;
/// asking is limited per client address; an operator's template words the mail.
#[tokio::test]
async fn reset_mail_is_limited_without_locking_the_owner_out() {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let env = TestEnv::new(Backend::Sqlite).await;
    let mut config = env.config();
    smtp.configure(&mut config);
    config.mail.per_account_per_ip = 2;
    config.mail.per_account = 3;
    config.mail.per_ip = 5;
    config.http.trusted_proxies = "127.0.0.1".parse().unwrap();
    // The operator's own words for the mail, like the pages.
    let templates = ScratchDir::new("mail-templates");
    std::fs::write(
        templates.join("password_reset_mail.txt"),
        "{% block subject %}Example Corp: your password{% endblock %}\n\
         {% block body %}Dear {{ username }}, follow {{ link }} within {{ lifetime }}.{% endblock %}",
    )
    .unwrap();
    config.pages.templates_dir = Some(templates.to_path_buf());
    let app = env.spawn_config(config, oidcd::Clock::System).await;
    let user = app.create_user().await;
    let from = |address: &str| browser_from(&app, address, Arc::new(Jar::default()));

    // A stranger asks five times from one address: two mails.
    let stranger = from("198.51.100.1");
    for _ in 0..5 {
        let (status, _) = ask_reset(&app, &stranger, &user.username).await;
        assert_eq!(status, 200);
    }
    let mails = smtp.wait_for(2).await;
    assert_eq!(smtp.settled().await.len(), 2);
    assert_eq!(mails[0].subject, "Example Corp: your password");
    assert!(mails[0]
        .body
        .starts_with(&format!("Dear {}, follow http", user.username)));
    assert!(mails[0].body.contains("within 30 minutes."));

    // Another address still gets one (the refused three spent nothing of the account's
    // count); then the account's count is spent for browsers that never signed in.
    ask_reset(&app, &from("198.51.100.2"), &user.username).await;
    smtp.wait_for(3).await;
    ask_reset(&app, &from("198.51.100.3"), &user.username).await;
    assert_eq!(smtp.settled().await.len(), 3);

    // The owner's browser, which signed in before, still gets one.
    let owner = from("203.0.113.9");
    account_sign_in(&app, &owner, &user).await;
    let (status, _) = ask_reset(&app, &owner, &user.username).await;
    assert_eq!(status, 200);
    smtp.wait_for(4).await;

    // The sixth request from the first address is refused.
    let (status, page_text) = ask_reset(&app, &stranger, "nobody@example.com").await;
    assert_eq!(status, 429);
    assert!(
        page_text.contains("Too many password resets"),
        "{page_text}"
    );

    // Without SMTP settings, nothing of this is offered.
    let plain = TestApp::spawn(Backend::Sqlite).await;
    let browser = Browser::new(&plain);
    assert!(!page(&plain, &browser, "")
        .await
        .contains("Forgot your password?"));
    let response = browser.get(&plain.url("/account/forgot-password")).await;
    assert_eq!(response.status(), 404);
}
