//! A small W3C WebDriver client over reqwest, driving headless Chromium through chromedriver
//! at a phone-sized viewport (375 CSS pixels wide).
//!
//! `TEST_CHROMEDRIVER` names the chromedriver binary; CI sets it, and then a missing browser
//! fails the tests. Unset, `/usr/bin/chromedriver` is used when present and the browser tests
//! are skipped, loudly, when it is not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub const CHROMEDRIVER_ENV: &str = "TEST_CHROMEDRIVER";
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// At most two browsers at once on these machines.
static BROWSERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The chromedriver to use, or `None` (skip) when none is configured or installed.
pub fn chromedriver() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(CHROMEDRIVER_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let default = Path::new("/usr/bin/chromedriver");
    default.exists().then(|| default.to_owned())
}

fn chromium() -> String {
    std::env::var("TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

pub struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    process: Child,
    _permit: tokio::sync::SemaphorePermit<'static>,
    /// Where screenshots go (test artefacts, not committed).
    shots: PathBuf,
    name: String,
}

pub struct Element(String);

impl Driver {
    /// Starts chromedriver and a headless Chromium session; `name` prefixes screenshots.
    pub async fn start(driver: &Path, name: &str) -> Self {
        let permit = BROWSERS.acquire().await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver.display()));
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if r.status().is_success() {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver answers");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run", "--lang=en-US"],
                "mobileEmulation": {"deviceMetrics": {"width": 375, "height": 812, "pixelRatio": 2.0}},
            },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a browser session: {created}"))
            .to_owned();
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            http,
            base,
            session,
            process,
            _permit: permit,
            shots,
            name: name.to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = response["value"]["error"].as_str() {
            panic!(
                "WebDriver {path}: {error}: {}",
                response["value"]["message"]
            );
        }
        response["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn find(&self, css: &str) -> Element {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        Element(
            found[ELEMENT_KEY]
                .as_str()
                .unwrap_or_else(|| panic!("{css}: {found}"))
                .to_owned(),
        )
    }

    pub async fn count(&self, css: &str) -> usize {
        self.call(
            reqwest::Method::POST,
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .await
        .as_array()
        .map_or(0, Vec::len)
    }

    pub async fn type_into(&self, element: &Element, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Empties a text field.
    pub async fn clear(&self, element: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        )
        .await;
    }

    /// Adds a WebAuthn virtual authenticator to the browser (W3C WebAuthn 11.3): CTAP2, built
    /// in, keeping discoverable credentials, verifying its user and consenting to every
    /// request without asking. Its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        self.call(
            reqwest::Method::POST,
            "/webauthn/authenticator",
            Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserConsenting": true,
                "isUserVerified": true,
            })),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
    }

    /// Puts a credential (as [`virtual_credentials`](Self::virtual_credentials) lists them:
    /// id, RP id, private key, user handle, signature counter) into a virtual authenticator.
    pub async fn add_virtual_credential(&self, authenticator: &str, credential: &Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/webauthn/authenticator/{authenticator}/credential"),
            Some(credential.clone()),
        )
        .await;
    }

    /// Empties a virtual authenticator.
    pub async fn remove_virtual_credentials(&self, authenticator: &str) {
        self.call(
            reqwest::Method::DELETE,
            &format!("/webauthn/authenticator/{authenticator}/credentials"),
            None,
        )
        .await;
    }

    /// Makes the pages loaded from now on see a browser that offers no passkeys in autofill
    /// (conditional mediation), where a virtual authenticator would answer at once: they
    /// fall back to their buttons.
    pub async fn without_passkey_autofill(&self) {
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source":
                "PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);"}),
        )
        .await;
    }

    /// The credentials a virtual authenticator holds.
    pub async fn virtual_credentials(&self, authenticator: &str) -> Vec<Value> {
        self.call(
            reqwest::Method::GET,
            &format!("/webauthn/authenticator/{authenticator}/credentials"),
            None,
        )
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
    }

    pub async fn click(&self, element: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks the button whose visible text is `label`, as a person would pick it, and waits
    /// for the page it leads to.
    pub async fn click_button(&self, label: &str) {
        self.script("window.__before_click = true; return null;")
            .await;
        self.press(label).await;
        self.wait_for_next_page(label).await;
    }

    /// Clicks `element` (a button found by CSS, where several say the same) and waits for the
    /// page it leads to.
    pub async fn click_and_wait(&self, element: &Element) {
        self.script("window.__before_click = true; return null;")
            .await;
        self.click(element).await;
        self.wait_for_next_page("the element").await;
    }

    async fn wait_for_next_page(&self, label: &str) {
        for _ in 0..200 {
            let arrived = self
                .script(
                    "return window.__before_click === undefined && document.readyState === 'complete';",
                )
                .await;
            if arrived == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {label:?} led nowhere; at {}", self.url().await);
    }

    async fn press(&self, label: &str) {
        let buttons = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": "button"})),
            )
            .await;
        for button in buttons.as_array().unwrap() {
            let id = button[ELEMENT_KEY].as_str().unwrap().to_owned();
            let text = self
                .call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
                .await;
            if text.as_str().map(str::trim) == Some(label) {
                self.click(&Element(id)).await;
                return;
            }
        }
        panic!("no button labelled {label:?} on {}", self.url().await);
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            None,
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
    }

    pub async fn script(&self, source: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": source, "args": []})),
        )
        .await
    }

    /// Sends a Chrome DevTools Protocol command to the page through chromedriver's own
    /// endpoint; returns its result.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({ "cmd": command, "params": params })),
        )
        .await
    }

    /// Emulates `prefers-color-scheme: <scheme>` (`light` or `dark`; `""` goes back to the
    /// browser's own) on the page showing and those after it. Styles follow at once, without
    /// a reload.
    pub async fn set_color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// Saves a PNG of the viewport as `<name>-<step>.png`; returns its path.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        use base64::Engine as _;
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        let path = self.shots.join(format!("{}-{step}.png", self.name));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// What a person checks on any page: every visible field has a label, the page fits the
    /// 375-pixel viewport without sideways scrolling, every button says what it does, and
    /// keyboard focus is visible.
    pub async fn assert_usable(&self) {
        let report = self
            .script(
                r#"
                const fields = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
                const unlabelled = fields
                  .filter(f => !(f.id && document.querySelector(`label[for="${f.id}"]`)) && !f.closest('label'))
                  .map(f => f.name);
                const buttons = [...document.querySelectorAll('button')];
                const blank = buttons.filter(b => !b.textContent.trim()).length;
                const small = buttons.filter(b => b.getBoundingClientRect().height < 32).length;
                return {
                  unlabelled, blank, small,
                  width: window.innerWidth,
                  scrollWidth: document.documentElement.scrollWidth,
                  focusRule: [...document.styleSheets].some(s => [...s.cssRules].some(r => (r.selectorText || '').includes(':focus'))),
                  lang: document.documentElement.lang,
                  title: document.title,
                };
                "#,
            )
            .await;
        let page = self.url().await;
        assert_eq!(report["width"], 375, "a phone-sized viewport on {page}");
        assert!(
            report["scrollWidth"].as_u64().unwrap() <= 375,
            "{page} fits 375 px without sideways scrolling: {report}"
        );
        assert_eq!(
            report["unlabelled"],
            json!([]),
            "every field on {page} has a label"
        );
        assert_eq!(report["blank"], 0, "every button on {page} has words");
        assert_eq!(
            report["small"], 0,
            "buttons on {page} are big enough to tap"
        );
        assert_eq!(
            report["focusRule"], true,
            "keyboard focus is styled on {page}"
        );
        assert_eq!(report["lang"], "en");
        assert!(!report["title"].as_str().unwrap().is_empty());
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Closes Chromium (a blocking DELETE of the session, so it runs even when the test
        // panicked), then stops chromedriver.
        use std::io::{Read as _, Write as _};
        let address = self.base.trim_start_matches("http://");
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
