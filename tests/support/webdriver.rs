//! A small W3C WebDriver client for the browser end-to-end test: Debian's `chromedriver`
//! driving headless `chromium`. Only the endpoints the test uses. (fantoccini would bring a
//! second `http`, a second ICU and two `cookie` versions into the build for eight calls.)

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A `chromedriver` process and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

/// An element reference.
#[derive(Clone, Debug)]
pub struct Element(String);

fn find_program(names: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and opens a headless Chromium session.
    pub fn start() -> Browser {
        let driver_path = find_program(&["chromedriver"]).expect(
            "chromedriver not found: the browser test needs Debian's chromium and chromium-driver \
             (`apt-get install chromium chromium-driver`; .ci/test installs them)",
        );
        let chromium = find_program(&["chromium", "chromium-browser"]).expect("chromium not found (see above)");
        // Its own process group, so that dropping the browser ends chromedriver and every
        // Chromium process it started, even when a test fails midway.
        let mut driver = Command::new(driver_path)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // "ChromeDriver was started successfully on port N."
        let stdout = driver.stdout.take().expect("chromedriver stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(20)).expect("chromedriver reported its port");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let mut browser =
            Browser { driver, base: format!("http://127.0.0.1:{port}"), session: String::new(), http, runtime };
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--no-first-run", "--disable-extensions"]
            }
        } } });
        let created = browser.call("POST", "/session", Some(capabilities));
        browser.session = created["sessionId"].as_str().expect("session id").to_string();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}/session", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = self.http.request(method.parse().unwrap(), url).json(&body.unwrap_or_else(|| json!({})));
        let request = if method == "GET" || method == "DELETE" { request.body(Vec::new()) } else { request };
        let answer: Value = self.runtime.block_on(async {
            let response = request.send().await.expect("webdriver request");
            response.json().await.expect("webdriver JSON")
        });
        let value = answer["value"].clone();
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            panic!("webdriver {method} {path}: {error}: {}", value["message"]);
        }
        value
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The first element matching a CSS selector, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.call("POST", "/elements", Some(json!({ "using": "css selector", "value": css })));
            if let Some(first) = found.as_array().and_then(|all| all.first()) {
                return Element(first[ELEMENT].as_str().expect("element id").to_string());
            }
            assert!(Instant::now() < deadline, "no element matches {css}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks an element.
    pub fn click(&self, element: &Element) {
        self.call("POST", &format!("/element/{}/click", element.0), None);
    }

    /// Types into an element (after clearing it).
    pub fn type_into(&self, element: &Element, text: &str) {
        self.call("POST", &format!("/element/{}/clear", element.0), None);
        self.call("POST", &format!("/element/{}/value", element.0), Some(json!({ "text": text })));
    }

    /// An element's rendered text.
    pub fn text(&self, element: &Element) -> String {
        self.call("GET", &format!("/element/{}/text", element.0), None).as_str().unwrap_or_default().to_string()
    }

    /// Whether an element is enabled.
    pub fn enabled(&self, element: &Element) -> bool {
        self.call("GET", &format!("/element/{}/enabled", element.0), None).as_bool().unwrap_or(false)
    }

    /// Whether an element is displayed.
    pub fn displayed(&self, element: &Element) -> bool {
        self.call("GET", &format!("/element/{}/displayed", element.0), None).as_bool().unwrap_or(false)
    }

    /// Runs a script in the page and returns its value.
    pub fn script(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": [] })))
    }

    /// The page source as the browser holds it now.
    pub fn source(&self) -> String {
        self.call("GET", "/source", None).as_str().unwrap_or_default().to_string()
    }

    /// Waits up to `limit` for `check` to hold, polling the page.
    pub fn wait_for(&self, limit: Duration, what: &str, mut check: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + limit;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Resizes the window (e.g. a narrow screen).
    pub fn resize(&self, width: u32, height: u32) {
        self.call("POST", "/window/rect", Some(json!({ "width": width, "height": height })));
    }

    /// Saves a PNG screenshot of the viewport.
    pub fn screenshot(&self, path: &Path) {
        let png = self.call("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().expect("base64 PNG")).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = self.runtime.block_on(async { self.http.delete(url).send().await });
        }
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
