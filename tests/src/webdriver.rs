//! A small W3C WebDriver client for the console's browser tests: starts
//! Debian's `chromedriver` on a free 127.0.0.1 port and drives headless
//! Chromium through it over plain HTTP (JSON), with the reqwest client the
//! tests already use. (The `fantoccini` crate needs Mozilla's `webdriver`
//! crate, MPL-2.0, which deny.toml's permissive-only licence list refuses.)
//! Missing `chromium` or `chromedriver` panics: the tests fail, never skip.

use serde_json::{json, Value};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `/usr/bin/chromium` (Debian's `chromium` package).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// `/usr/bin/chromedriver` (Debian's `chromium-driver` package).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C element key of a found element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver.
pub struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    /// Stop chromedriver and every browser it started (its own process
    /// group), also when a test panics mid-session: Chromium must not
    /// outlive the test.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Start chromedriver; panics (the test fails) when Chromium or
    /// chromedriver is not installed.
    pub async fn start() -> Driver {
        for p in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(p).exists(),
                "{p} is missing: install Debian's chromium and chromium-driver (the browser tests never skip)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("free port: {e}"));
        let child = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if let Ok(r) = d.http.get(format!("{}/status", d.base)).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == true {
                        return d;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready on port {port}");
    }

    /// A new headless browser that trusts only the server key whose
    /// SubjectPublicKeyInfo sha256 (base64) is `spki` for certificate
    /// errors; `profile` is its user data directory.
    pub async fn browser(&self, spki: &str, profile: &Path) -> Browser {
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--window-size=1360,900",
                            "--hide-scrollbars", "--no-first-run",
                            format!("--user-data-dir={}", profile.display()),
                            format!("--ignore-certificate-errors-spki-list={spki}"),
                        ]
                    }
                }
            }
        });
        let v = post(&self.http, &format!("{}/session", self.base), caps).await;
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        Browser {
            http: self.http.clone(),
            url: format!("{}/session/{id}", self.base),
        }
    }
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Value {
    let r = http
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("WebDriver POST {url}: {e}"));
    let v: Value = r
        .json()
        .await
        .unwrap_or_else(|e| panic!("WebDriver answer: {e}"));
    if v["value"]["error"].is_string() {
        panic!("WebDriver POST {url} {body}: {}", v["value"]);
    }
    v["value"].clone()
}

/// One browser session.
pub struct Browser {
    http: reqwest::Client,
    url: String,
}

impl Browser {
    async fn cmd(&self, path: &str, body: Value) -> Value {
        post(&self.http, &format!("{}{path}", self.url), body).await
    }

    async fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.url);
        let v: Value = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver GET {url}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("WebDriver answer: {e}"));
        if v["value"]["error"].is_string() {
            panic!("WebDriver GET {url}: {}", v["value"]);
        }
        v["value"].clone()
    }

    /// Navigate to `url` and wait for the load.
    pub async fn goto(&self, url: &str) {
        self.cmd("/url", json!({ "url": url })).await;
    }

    /// The current URL.
    pub async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page title.
    pub async fn title(&self) -> String {
        self.get("/title")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page's serialized DOM.
    pub async fn source(&self) -> String {
        self.get("/source")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching a CSS selector (panics when none).
    pub async fn find(&self, css: &str) -> String {
        // A page reached by a click may still be loading on a busy machine:
        // look again for up to 15 s before failing.
        let url = format!("{}/element", self.url);
        let body = json!({ "using": "css selector", "value": css });
        let mut tries = 0;
        let v = loop {
            let r: Value = self
                .http
                .post(&url)
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("WebDriver POST {url}: {e}"))
                .json()
                .await
                .unwrap_or_else(|e| panic!("WebDriver answer: {e}"));
            if r["value"]["error"].as_str() == Some("no such element") && tries < 60 {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                continue;
            }
            if r["value"]["error"].is_string() {
                panic!("WebDriver POST {url} {body}: {}", r["value"]);
            }
            break r["value"].clone();
        };
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: no element in {v}"))
            .to_string()
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .cmd(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An element's rendered text.
    pub async fn text(&self, el: &str) -> String {
        self.get(&format!("/element/{el}/text"))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Click an element.
    pub async fn click(&self, el: &str) {
        self.cmd(&format!("/element/{el}/click"), json!({})).await;
    }

    /// Type into an element.
    pub async fn send_keys(&self, el: &str, text: &str) {
        self.cmd(&format!("/element/{el}/value"), json!({ "text": text }))
            .await;
    }

    /// Run a script in the page (WebDriver's, not the page's: the CSP does
    /// not apply) and return its value.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.cmd("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let v = self.get("/screenshot").await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot: {e}"))
    }

    /// A PNG of the whole page (the window resized to the document's height,
    /// at most `max_height` pixels).
    pub async fn full_screenshot(&self, max_height: u64) -> Vec<u8> {
        let h = self
            .execute("return document.documentElement.scrollHeight;", json!([]))
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(400, max_height);
        self.cmd("/window/rect", json!({ "width": 1360, "height": h + 100 }))
            .await;
        let png = self.screenshot().await;
        self.cmd("/window/rect", json!({ "width": 1360, "height": 900 }))
            .await;
        png
    }

    /// Delete every cookie.
    pub async fn delete_cookies(&self) {
        let url = format!("{}/cookie", self.url);
        let _ = self.http.delete(&url).send().await;
    }

    /// End the session (closes the browser).
    pub async fn close(self) {
        let _ = self.http.delete(&self.url).send().await;
    }
}
