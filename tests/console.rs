//! The Operations Console end to end (issue #6): a real headless Chromium, driven through
//! WebDriver, against argus-console → argus-ops → a real argus-agent on loopback, with a small
//! front proxy that adds the `Cf-Access-Jwt-Assertion` header the way Cloudflare's edge does.
//! Ops and the console run in this process so the Access key source can be injected (no
//! variable can point it anywhere but the team domain); the agent is the real binary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argus_access::{AccessConfig, KeySource};
use argus_e2e::webdriver::Browser;
use argus_e2e::{target_dir, Fleet, Ops, OPS_TOKEN};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{json, Value};

const JWKS: &str = include_str!("../crates/access/testdata/cf_jwks.json");
const SIGNING_KEY: &str = include_str!("../crates/access/testdata/cf_test_a.pem");
const OTHER_KEY: &str = include_str!("../crates/access/testdata/cf_test_b.pem");
const TEAM: &str = "acme.cloudflareaccess.com";
const AUDIENCE: &str = "argus-console-e2e";
const OPERATOR: &str = "op@example.com";

/// The team's keys, as the JWKS endpoint would serve them.
struct TeamKeys;

impl KeySource for TeamKeys {
    fn fetch(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<JwkSet, String>> + Send + '_>> {
        Box::pin(async { serde_json::from_str(JWKS).map_err(|e| e.to_string()) })
    }
}

fn access() -> AccessConfig {
    AccessConfig {
        audience: AUDIENCE.into(),
        team_domain: TEAM.into(),
        allowed_emails: vec![OPERATOR.into(), "other@example.com".into()],
        allowed_domains: vec![],
    }
}

fn keys() -> Option<Arc<dyn KeySource>> {
    Some(Arc::new(TeamKeys))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An assertion as Cloudflare Access issues it.
fn assertion(email: &str, key: &str, expires_in: i64) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("kid-a".into());
    let claims = json!({
        "aud": [AUDIENCE], "iss": format!("https://{TEAM}"), "email": email,
        "iat": unix_now(), "exp": unix_now() + expires_in, "sub": "user-1", "type": "app",
    });
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(key.as_bytes()).unwrap()).unwrap()
}

/// Everything the servers in this process log, to check that no secret is ever written.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,hyper_util=info,reqwest=info,quinn=info,rustls=info,sled=info")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        buffer
    })
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned()
}

/// A console in this process, in front of `ops`.
fn console(runtime: &tokio::runtime::Runtime, ops: &Ops, access: Option<AccessConfig>) -> SocketAddr {
    let config = argus_console::ConsoleConfig {
        ops_url: format!("https://{}", ops.api),
        ops_ca_pem: std::fs::read(ops.ca()).unwrap(),
        ops_token: Some(OPS_TOKEN.into()),
        access,
        trusted_proxies: vec![],
    };
    let console = Arc::new(argus_console::Console::new(config, keys()).expect("console"));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(argus_console::serve(listener, console, std::future::pending()));
    addr
}

struct Front {
    console: SocketAddr,
    http: reqwest::Client,
    email: String,
}

/// Every answer body the console gave in this process (through the edge or to a raw request),
/// to check that no secret is ever in one.
fn answers() -> &'static Mutex<Vec<String>> {
    static ANSWERS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    ANSWERS.get_or_init(Default::default)
}

fn assert_no_secret_answered(secrets: &[&str]) {
    let answers = answers().lock().unwrap();
    assert!(!answers.is_empty());
    for answer in answers.iter() {
        for secret in secrets {
            assert!(!answer.contains(secret), "a secret was in an answer: {answer}");
        }
    }
}

/// The edge: replaces any client-sent assertion with a fresh one for the signed-in user and
/// forwards everything else as it came (the `Host` header included, as a tunnel does).
async fn edge(State(front): State<Arc<Front>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 4 << 20).await.unwrap();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut out = front.http.request(parts.method.clone(), format!("http://{}{path}", front.console)).body(bytes);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "cf-access-jwt-assertion" | "connection" | "content-length") {
            out = out.header(name, value);
        }
    }
    out = out.header("cf-access-jwt-assertion", assertion(&front.email, SIGNING_KEY, 300));
    let answer = out.send().await.expect("console answers");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !matches!(name.as_str(), "transfer-encoding" | "connection" | "content-length") {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap();
    answers().lock().unwrap().push(String::from_utf8_lossy(&bytes).into_owned());
    response.body(Body::from(bytes)).unwrap()
}

fn front_proxy(runtime: &tokio::runtime::Runtime, console: SocketAddr, email: &str) -> SocketAddr {
    let front = Arc::new(Front { console, http: reqwest::Client::new(), email: email.into() });
    let app = axum::Router::new().fallback(edge).with_state(front);
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    addr
}

fn runtime() -> tokio::runtime::Runtime {
    logs();
    // Plain-HTTP clients in this test (to the console and the edge) still need a TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A raw request to the console, as a browser or an attacker would send it.
fn post(
    runtime: &tokio::runtime::Runtime,
    console: SocketAddr,
    action: &str,
    headers: &[(&str, String)],
    body: Value,
) -> (u16, Value) {
    runtime.block_on(async {
        let mut request = reqwest::Client::new().post(format!("http://{console}/api/tunnel/{action}")).json(&body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        answers().lock().unwrap().push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

fn same_origin(console: SocketAddr, pat: &str, assertion: Option<String>) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("origin", format!("http://{console}")),
        ("x-argus-console", "1".into()),
        ("authorization", format!("Bearer {pat}")),
    ];
    if let Some(assertion) = assertion {
        headers.push(("cf-access-jwt-assertion", assertion));
    }
    headers
}

#[test]
fn one_click_tunnel_in_through_a_real_browser() {
    let runtime = runtime();
    // An ops server with the browser path off, and its console: the button must be disabled.
    let ops_off = Ops::embedded(runtime.handle(), None, None);
    let console_off = console(&runtime, &ops_off, Some(access()));
    // The real one: browser path on, a tenant, an operator and a live agent.
    let mut fleet = Fleet::armed_on(Ops::embedded(runtime.handle(), Some(access()), keys()));
    fleet.add_agent("a1");
    let console_on = console(&runtime, &fleet.ops, Some(access()));
    let edge = front_proxy(&runtime, console_on, OPERATOR);

    let browser = Browser::start();
    let ready = |b: &Browser| b.script("return document.body.dataset.ready === 'true';") == json!(true);

    // 1. Flag off: the guided command is there, the one-click button is disabled with the hint.
    browser.goto(&format!("http://{console_off}/?tenant=T1&agent=a1"));
    browser.wait_for(Duration::from_secs(20), "the page to load", ready);
    browser.click(&browser.find("#tunnel-in"));
    let command = browser.text(&browser.find("#guided-command"));
    assert_eq!(command, "argusctl agent activate a1 --tenant T1 --reason \"…\"");
    assert!(!browser.enabled(&browser.find("#one-click")), "one-click must be disabled while ops has it off");
    let hint = browser.find("#one-click-hint");
    assert!(browser.displayed(&hint) && browser.text(&hint).contains("not enabled yet"), "the hint shows");

    // 2. Flag on, through the edge: the view, the modal, one click.
    browser.goto(&format!("http://{edge}/?tenant=T1&agent=a1"));
    browser.wait_for(Duration::from_secs(20), "the page to load", ready);
    assert_eq!(browser.script("return document.body.dataset.oneClick;"), json!("true"));
    browser.type_into(&browser.find("#pat"), &fleet.operator);
    browser.click(&browser.find("#show"));
    browser.wait_for(Duration::from_secs(20), "the agent view", |b| {
        b.script("const e = document.getElementById('agent-online'); return e ? e.textContent : '';") == json!("online")
    });
    browser.click(&browser.find("#tunnel-in"));
    assert_eq!(browser.text(&browser.find("#guided-command")), "argusctl agent activate a1 --tenant T1 --reason \"…\"");
    let one_click = browser.find("#one-click");
    assert!(browser.enabled(&one_click), "one-click is enabled when ops and the console have the browser path on");
    assert!(!browser.displayed(&browser.find("#one-click-hint")));
    browser.type_into(&browser.find("#reason"), "INC-4711 browser check");
    assert_eq!(
        browser.text(&browser.find("#guided-command")),
        "argusctl agent activate a1 --tenant T1 --reason 'INC-4711 browser check'"
    );
    browser.click(&one_click);
    browser.wait_for(Duration::from_secs(20), "the session token", |b| {
        b.script("return document.getElementById('token').textContent;").as_str().is_some_and(|t| t.starts_with("rst_"))
    });
    let token = browser.text(&browser.find("#token"));
    let shot = target_dir().join("browser-e2e").join("tunnel-in-modal.png");
    browser.screenshot(&shot);
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 1000).unwrap_or(false), "screenshot saved at {shot:?}");

    // The session is real: argusctl sees it with the token the page showed.
    let status = fleet.op(&["support", "status", "T1", "--session", &token]);
    assert_eq!((status.code, status.json["state"].as_str()), (0, Some("active")), "{}", status.stdout);
    // The token is shown once: after "done" it is gone from the page, and never stored.
    browser.click(&browser.find("#token-done"));
    assert!(!browser.source().contains(&token), "the token is no longer in the page");
    let stored = browser
        .script("return [localStorage.length, sessionStorage.length, document.cookie, location.href].join('|');");
    assert!(stored.as_str().unwrap().starts_with("0|0||"), "nothing stored: {stored}");
    assert!(!stored.as_str().unwrap().contains(&token));
    browser.click(&browser.find("#close-modal"));

    // Status from the same view reflects it; deactivate ends it.
    browser.click(&browser.find("#status"));
    browser.wait_for(Duration::from_secs(20), "the session to show active", |b| {
        b.script("return document.getElementById('session-state').textContent;")
            .as_str()
            .is_some_and(|t| t.starts_with("active until"))
    });
    browser.click(&browser.find("#deactivate"));
    browser.wait_for(Duration::from_secs(20), "the session to show ended", |b| {
        b.script("return document.getElementById('session-state').textContent;") == json!("ended (deactivated)")
    });
    let status = fleet.op(&["support", "status", "T1", "--session", &token]);
    assert_eq!(status.json["state"], "ended", "{}", status.stdout);

    // The audit records both with the Access identity.
    let started = fleet.ops.audit_events("remote_support_session_started");
    let started = started.last().expect("session started");
    assert_eq!(started["details"]["access_identity"], OPERATOR);
    assert_eq!(started["reason"], "INC-4711 browser check");
    let ended = fleet.ops.audit_events("remote_support_session_ended");
    let ended = ended.last().expect("session ended");
    assert_eq!(
        (ended["reason"].as_str(), ended["session_id"].clone()),
        (Some("deactivated"), started["session_id"].clone())
    );
    assert_eq!(ended["details"]["access_identity"], OPERATOR);

    // Neither the ops token nor a PAT appears in the page source, the served JavaScript, an
    // answer or a log line.
    let page = browser.source();
    let script =
        runtime.block_on(async { reqwest::get(format!("http://{edge}/app.js")).await.unwrap().text().await.unwrap() });
    let config = runtime.block_on(async {
        reqwest::get(format!("http://{edge}/api/tunnel/config")).await.unwrap().text().await.unwrap()
    });
    let logs = log_text() + &std::fs::read_to_string(&fleet.agents[0].process.log).unwrap_or_default();
    assert!(logs.contains("action forwarded"), "the console logged its actions");
    for (what, text) in [("page", &page), ("app.js", &script), ("config", &config), ("logs", &logs)] {
        assert!(!text.contains(OPS_TOKEN), "the ops token leaked into the {what}");
        assert!(!text.contains(&fleet.operator), "the operator PAT leaked into the {what}");
        assert!(!text.contains(&fleet.ops.admin_pat), "the admin PAT leaked into the {what}");
        assert!(!text.contains(&token), "the session token leaked into the {what}");
    }
    assert_no_secret_answered(&[OPS_TOKEN, &fleet.operator, &fleet.ops.admin_pat]);
    drop(browser);
    drop(ops_off);
}

#[test]
fn the_proxy_refuses_before_forwarding() {
    let runtime = runtime();
    let fleet = Fleet::armed_on(Ops::embedded(runtime.handle(), Some(access()), keys()));
    let console = console(&runtime, &fleet.ops, Some(access()));
    let pat = fleet.operator.clone();
    let body = json!({ "tenant": "T1", "agent": "a1", "reason": "r" });
    let good = || Some(assertion(OPERATOR, SIGNING_KEY, 300));
    let audit_before = fleet.ops.audit().len();

    // Cross-site: another Origin, no Origin, no custom header, not JSON.
    let mut evil = same_origin(console, &pat, good());
    evil[0].1 = "https://evil.example".into();
    assert_eq!(post(&runtime, console, "activate", &evil, body.clone()).1["error"], "cross_site_refused");
    let mut no_header = same_origin(console, &pat, good());
    no_header.remove(1);
    let (status, refused) = post(&runtime, console, "activate", &no_header, body.clone());
    assert_eq!((status, refused["error"].as_str()), (403, Some("cross_site_refused")));
    let no_origin: Vec<_> = same_origin(console, &pat, good()).into_iter().skip(1).collect();
    assert_eq!(post(&runtime, console, "activate", &no_origin, body.clone()).1["error"], "cross_site_refused");

    // The assertion is verified by the console itself: missing, expired, wrong key.
    for bad in [None, Some(assertion(OPERATOR, SIGNING_KEY, -600)), Some(assertion(OPERATOR, OTHER_KEY, 300))] {
        let (status, refused) = post(&runtime, console, "activate", &same_origin(console, &pat, bad), body.clone());
        assert_eq!((status, refused["error"].as_str()), (403, Some("ip_not_allowlisted")));
    }
    // No PAT: refused without a call to ops.
    let mut no_pat = same_origin(console, &pat, good());
    no_pat[2].1 = "Bearer ".into();
    assert_eq!(post(&runtime, console, "activate", &no_pat, body.clone()).1["error"], "invalid_pat");
    // Only named actions, only POST, no caller-supplied paths.
    for action in ["commands", "revoke", "..%2F..%2Fadmin%2Fpats", "activate%2F..%2F..%2Fadmin"] {
        let (status, refused) = post(&runtime, console, action, &same_origin(console, &pat, good()), body.clone());
        assert_eq!((status, refused["error"].as_str()), (404, Some("not_found")), "{action}");
    }
    let steering = json!({ "tenant": "T1", "agent": "../../admin/pats", "reason": "r" });
    let (status, refused) = post(&runtime, console, "activate", &same_origin(console, &pat, good()), steering);
    assert_eq!((status, refused["error"].as_str()), (400, Some("bad_request")));
    assert_eq!(fleet.ops.audit().len(), audit_before, "nothing above reached ops");

    // Forwarded, ops has the last word: the Access identity must be the PAT owner.
    let other = Some(assertion("other@example.com", SIGNING_KEY, 300));
    let (status, refused) = post(&runtime, console, "activate", &same_origin(console, &pat, other), body.clone());
    assert_eq!((status, refused["error"].as_str()), (403, Some("cf_identity_mismatch")));
    let denied = fleet.ops.audit_events("gate_denied");
    assert_eq!(denied.last().unwrap()["details"]["factor"], "cf_identity");
    // And ops' own answers come back with their codes (no such agent yet).
    let (status, refused) = post(&runtime, console, "activate", &same_origin(console, &pat, good()), body);
    assert_eq!((status, refused["error"].as_str()), (404, Some("agent_not_found")));

    assert_no_secret_answered(&[OPS_TOKEN, &fleet.operator, &fleet.ops.admin_pat]);

    // Web hygiene on every answer.
    let (headers, page) = runtime.block_on(async {
        let response = reqwest::get(format!("http://{console}/")).await.unwrap();
        (response.headers().clone(), response.text().await.unwrap())
    });
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(!page.contains("<script>") && page.contains("<script src=\"/app.js\""), "no inline script");
    assert!(!page.contains("http://") && !page.contains("https://"), "no external resources");
}

#[test]
fn one_click_stays_off_unless_both_ops_and_the_console_have_the_browser_path() {
    let runtime = runtime();
    let ops_on = Ops::embedded(runtime.handle(), Some(access()), keys());
    let ops_off = Ops::embedded(runtime.handle(), None, None);
    let config = |console: SocketAddr| {
        runtime.block_on(async {
            let url = format!("http://{console}/api/tunnel/config");
            reqwest::get(url).await.unwrap().json::<Value>().await.unwrap()
        })
    };
    assert_eq!(config(console(&runtime, &ops_on, Some(access()))), json!({ "one_click_enabled": true }));
    assert_eq!(config(console(&runtime, &ops_off, Some(access()))), json!({ "one_click_enabled": false }));
    let plain = console(&runtime, &ops_on, None);
    assert_eq!(config(plain), json!({ "one_click_enabled": false }));
    // A console without the browser path forwards nothing.
    let headers = same_origin(plain, &ops_on.admin_pat, Some(assertion(OPERATOR, SIGNING_KEY, 300)));
    let (status, refused) = post(&runtime, plain, "status", &headers, json!({ "tenant": "T1", "agent": "a1" }));
    assert_eq!((status, refused["error"].as_str()), (403, Some("ip_not_allowlisted")));
}

#[test]
fn the_console_binary_refuses_a_foreign_team_domain_and_serves_its_page() {
    let ops = Ops::start(&[]);
    let console = |env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(argus_e2e::bin("argus-console"));
        command
            .args(["--listen", "127.0.0.1:0", "--ops-url", &format!("https://{}", ops.api), "--ops-ca"])
            .arg(ops.ca())
            .env_clear()
            .envs(env.iter().copied());
        command
    };
    // Refuses to start: a team domain that is not Cloudflare Access's, or no ops token.
    let foreign = [
        ("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", "1"),
        ("CF_ACCESS_TEAM_DOMAIN", "acme.example.com"),
        ("CF_ACCESS_AUD", "aud"),
        ("ARGUS_OPS_TOKEN", OPS_TOKEN),
    ];
    let out = console(&foreign).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CF_ACCESS_TEAM_DOMAIN"), "names the variable");
    let no_token = [
        ("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", "1"),
        ("CF_ACCESS_TEAM_DOMAIN", TEAM),
        ("CF_ACCESS_AUD", "aud"),
        ("REMOTE_SUPPORT_CF_ALLOWED_EMAILS", OPERATOR),
    ];
    let out = console(&no_token).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ARGUS_OPS_TOKEN"));

    // Browser path off: the real binary serves the page and reports one-click off.
    let log = ops.dir.path().join("console.log");
    let child = console(&[("ARGUS_OPS_TOKEN", OPS_TOKEN), ("ARGUS_LOG", "info")])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut process = argus_e2e::Process { child, log: log.clone() };
    let mut addr = None;
    argus_e2e::wait_until(Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        addr = text.split("listen=").nth(1).and_then(|rest| rest.split_whitespace().next()).map(str::to_string);
        addr.is_some()
    });
    let addr = addr.expect("console logged its address");
    let runtime = runtime();
    let (page, config) = runtime.block_on(async {
        let page = reqwest::get(format!("http://{addr}/")).await.unwrap().text().await.unwrap();
        let config = reqwest::get(format!("http://{addr}/api/tunnel/config")).await.unwrap();
        (page, config.json::<Value>().await.unwrap())
    });
    assert!(page.contains("Tunnel In"));
    assert_eq!(config, json!({ "one_click_enabled": false }));
    process.terminate();
    assert!(!process.log_text().contains(OPS_TOKEN));
}

#[test]
fn ops_with_the_browser_path_on_and_nobody_allowlisted_fails_closed() {
    let runtime = runtime();
    let mut empty = access();
    empty.allowed_emails.clear();
    let ops = Ops::embedded(runtime.handle(), Some(empty), keys());
    let lo = "127.0.0.1".parse().unwrap();
    let admin = format!("Bearer {}", ops.admin_pat);
    let headers = [("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", admin.as_str())];
    // From the operator network, with or without an assertion: 503, nothing runs.
    let (status, body) = ops.http(lo, "GET", "/support/fleet", &headers, None);
    assert_eq!((status, body["error"].as_str()), (503, Some("cf_allowlist_empty")));
    let token = assertion(OPERATOR, SIGNING_KEY, 300);
    let with_assertion = [headers[0], headers[1], ("Cf-Access-Jwt-Assertion", token.as_str())];
    let (status, body) =
        ops.http(lo, "POST", "/admin/pats", &with_assertion, Some(json!({ "owner": "x@y", "scopes": ["admin"] })));
    assert_eq!((status, body["error"].as_str()), (503, Some("cf_allowlist_empty")));
    let (status, body) = ops.http(lo, "GET", "/healthz", &[], None);
    assert_eq!((status, body["browser_path"].as_bool()), (200, Some(true)));
}

/// SPEC §3.3: the read-only named actions answer the ops API's JSON unchanged, each gated like
/// its route and each only on the browser path; arguments are IDs, times and bounded numbers,
/// never paths; another tenant's agent or a PAT bound to another tenant shows nothing.
#[test]
fn the_read_only_actions_show_the_fleet_and_nothing_beyond_the_callers_reach() {
    let runtime = runtime();
    let mut fleet = Fleet::armed_on(Ops::embedded(runtime.handle(), Some(access()), keys()));
    fleet.add_agent("a1");
    let console = console(&runtime, &fleet.ops, Some(access()));
    let headers = |pat: &str| same_origin(console, pat, Some(assertion(OPERATOR, SIGNING_KEY, 300)));
    let operator = fleet.operator.clone();
    let act = |action: &str, body: Value| post(&runtime, console, action, &headers(&operator), body);

    // Each answers what ops answers for the same route.
    let (status, rollup) = act("fleet", json!({}));
    assert_eq!(status, 200, "{rollup}");
    assert_eq!(rollup["tenants"], fleet.op(&["agent", "fleet"]).json["tenants"]);
    let (status, agents) = act("agents", json!({ "tenant": "T1" }));
    assert_eq!(status, 200, "{agents}");
    assert_eq!(agents["agents"][0]["agent_id"], "a1");
    assert!(fleet.ops.audit().len() > 3);
    let (status, manifest) = act("capabilities", json!({ "tenant": "T1", "agent": "a1" }));
    assert_eq!((status, manifest["agent_id"].as_str(), manifest["tenant"].as_str()), (200, Some("a1"), Some("T1")));
    let (status, trail) = act("audit", json!({ "tenant": "T1", "limit": 3 }));
    assert_eq!(status, 200, "{trail}");
    let events = trail["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.len() <= 3 && events.iter().all(|e| e["tenant"] == "T1"), "{trail}");
    // A tenant's access requests (SPEC §13), all or only the pending ones.
    let asked = fleet.op(&["access", "request", "a1", "--tenant", "T1", "--reason", "INC-9"]);
    assert_eq!(asked.code, 0, "{}", asked.stderr);
    let id = asked.json["request_id"].clone();
    let (status, requests) = act("access_requests", json!({ "tenant": "T1" }));
    assert_eq!((status, requests["access_requests"][0]["request_id"].clone()), (200, id.clone()), "{requests}");
    let (status, pending) = act("access_requests", json!({ "tenant": "T1", "pending": true }));
    assert_eq!((status, pending["access_requests"][0]["state"].as_str()), (200, Some("pending")), "{pending}");

    // Another tenant's agent through a tenant it does not belong to: as if it did not exist.
    let (status, refused) = act("capabilities", json!({ "tenant": "T2", "agent": "a1" }));
    assert_eq!((status, refused["error"].as_str()), (404, Some("agent_not_found")));
    // Paths, queries and unbounded numbers in arguments are refused before anything is sent.
    for (action, body) in [
        ("agents", json!({ "tenant": "../admin/pats" })),
        ("capabilities", json!({ "tenant": "T1", "agent": "a1/../../admin" })),
        ("audit", json!({ "tenant": "T1&tenant=T2" })),
        ("audit", json!({ "tenant": "T1", "since": "2026-01-01T00:00:00Z&limit=100000" })),
        ("audit", json!({ "tenant": "T1", "limit": 100000 })),
        ("access_requests", json!({ "tenant": "T1/../../admin" })),
        ("access_requests", json!({ "tenant": "T1", "pending": "yes" })),
        ("fleet", json!({ "path": "/admin/pats" })),
    ] {
        let (status, refused) = act(action, body.clone());
        assert_eq!((status, refused["error"].as_str()), (400, Some("bad_request")), "{action} {body}");
    }
    // A PAT bound to another tenant: ops' own scoping answers, and T1 shows nothing.
    let keys = fleet.keys.join("tenant.pub");
    assert_eq!(fleet.ops.admin(&["tenant", "create", "T2", "--consent-key", keys.to_str().unwrap()]).code, 0);
    let bound = fleet.ops.admin(&["pat", "create", "--owner", OPERATOR, "--scope", "remote_support", "--tenant", "T2"]);
    let bound = bound.json["pat"].as_str().unwrap().to_string();
    let as_t2 = |action: &str, body: Value| post(&runtime, console, action, &headers(&bound), body);
    let (status, agents) = as_t2("agents", json!({ "tenant": "T1" }));
    assert!(status == 403 || status == 404, "{status} {agents}");
    assert!(agents.get("agents").is_none(), "{agents}");
    let (status, manifest) = as_t2("capabilities", json!({ "tenant": "T1", "agent": "a1" }));
    assert_eq!((status, manifest["error"].as_str()), (404, Some("agent_not_found")));
    let (_, rollup) = as_t2("fleet", json!({}));
    assert!(rollup["tenants"].as_array().unwrap().iter().all(|t| t["tenant"] == "T2"), "{rollup}");
    let (status, trail) = as_t2("audit", json!({ "tenant": "T1" }));
    assert!(status >= 400 || trail["events"].as_array().is_some_and(Vec::is_empty), "{status} {trail}");
    let (status, requests) = as_t2("access_requests", json!({ "tenant": "T1" }));
    assert!(status >= 400 && requests.get("access_requests").is_none(), "{status} {requests}");

    // Without the browser path's assertion, no action answers with data.
    let no_assertion = same_origin(console, &operator, None);
    for (action, body) in [("fleet", json!({})), ("agents", json!({ "tenant": "T1" }))] {
        let (status, refused) = post(&runtime, console, action, &no_assertion, body);
        assert_eq!((status, refused["error"].as_str()), (403, Some("ip_not_allowlisted")), "{action}");
    }
    assert_no_secret_answered(&[OPS_TOKEN, &fleet.operator, &fleet.ops.admin_pat, &bound]);
}

/// axe-core's browser build: `target/axe/node_modules/axe-core/axe.min.js`, installed from npm
/// (`.ci/test` does it; so does this, once, when it is missing).
fn axe_source() -> String {
    let prefix = target_dir().join("axe");
    let file = prefix.join("node_modules").join("axe-core").join("axe.min.js");
    if !file.exists() {
        let status = std::process::Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg("axe-core@4")
            .status()
            .expect("npm runs (the accessibility check needs axe-core from npm)");
        assert!(status.success(), "npm install axe-core failed");
    }
    std::fs::read_to_string(&file).expect("axe.min.js")
}

/// Serious and critical accessibility violations axe-core finds on the page as it is now.
fn axe_violations(browser: &Browser, axe: &str) -> Vec<String> {
    let script = format!(
        "{axe}\nreturn axe.run(document, {{ resultTypes: ['violations'] }}).then(r => r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', ')));"
    );
    let found = browser.script(&script);
    found.as_array().expect("axe answers a list").iter().map(|v| v.as_str().unwrap_or("?").to_string()).collect()
}

fn rows(browser: &Browser, table: &str) -> Vec<Value> {
    let script = format!(
        "return Array.from(document.querySelectorAll('#{table} tbody tr')).map(r =>
            Array.from(r.children).map(c => c.textContent.trim()));"
    );
    browser.script(&script).as_array().cloned().unwrap_or_default()
}

/// Issue #21: the console as the operator's home. Against a real ops server with agents online,
/// offline, revoked, one with a live session and one with its kill switch off: the fleet table
/// (sorted by what needs attention), a tenant's agents with filters, an agent's panel with its
/// manifest, a live session counting down and deactivated, the audit tail; each view
/// screenshotted under target/browser-e2e/, at 1280×800 and on a narrow screen; axe-core finds
/// no serious or critical violation; a tampered action, a path in an argument and a PAT bound
/// to another tenant are refused from the page itself.
#[test]
fn the_console_shows_the_fleet_an_agent_and_a_live_session_in_a_real_browser() {
    let runtime = runtime();
    let mut fleet = Fleet::armed_on(Ops::embedded(runtime.handle(), Some(access()), keys()));
    for agent in ["a1", "a2", "a3", "a4", "a5"] {
        fleet.add_agent(agent);
    }
    // a2: the machine's owner switched remote support off.
    assert!(fleet.agents[1].cli("remote-support-off").status.success());
    // a3: offline.
    fleet.agents[2].process.terminate();
    assert!(fleet.wait_online("a3", false), "a3 goes offline");
    // a4: revoked.
    let revoked = fleet.op(&["agent", "revoke", "a4", "--tenant", "T1", "--reason", "stolen laptop", "--yes"]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    // a5: a live session opened from a terminal.
    let _terminal_session = fleet.activate("a5");
    // A second tenant, quiet: it sorts after T1.
    let keys_file = fleet.keys.join("tenant.pub");
    assert_eq!(fleet.ops.admin(&["tenant", "create", "T2", "--consent-key", keys_file.to_str().unwrap()]).code, 0);
    let console = console(&runtime, &fleet.ops, Some(access()));
    let edge = front_proxy(&runtime, console, OPERATOR);
    let axe = axe_source();
    let shots = target_dir().join("browser-e2e");
    let browser = Browser::start();
    browser.resize(1280, 800);
    let ready = |b: &Browser| b.script("return document.body.dataset.ready === 'true';") == json!(true);
    browser.goto(&format!("http://{edge}/"));
    browser.wait_for(Duration::from_secs(20), "the page to load", ready);
    assert!(!browser.displayed(&browser.find("#guided")), "the browser path is on: no guided commands");

    // The fleet: T1 first (a live session, an agent offline), with its counts.
    browser.type_into(&browser.find("#pat"), &fleet.operator);
    browser.click(&browser.find("#load-fleet"));
    browser.wait_for(Duration::from_secs(20), "the fleet table", |b| rows(b, "fleet-table").len() == 2);
    let fleet_rows = rows(&browser, "fleet-table");
    assert_eq!(fleet_rows[0], json!(["T1", "armed", "on record", "4", "3", "1", "1", "1"]), "{fleet_rows:?}");
    assert_eq!(fleet_rows[1][0], "T2");
    browser.script("document.getElementById('fleet-view').scrollIntoView({ block: 'start' });");
    browser.screenshot(&shots.join("console-fleet.png"));
    let violations = axe_violations(&browser, &axe);
    assert!(violations.is_empty(), "fleet view: {violations:#?}");

    // A tenant's agents: online, offline, revoked, the kill switch, the live session; filters.
    browser.click(&browser.find("#fleet-table tbody tr[data-tenant='T1'] button"));
    browser.wait_for(Duration::from_secs(20), "the agents table", |b| rows(b, "agents-table").len() == 5);
    let agents: BTreeMap<String, Vec<String>> = rows(&browser, "agents-table")
        .into_iter()
        .map(|r| {
            let cells: Vec<String> = r.as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
            (cells[1].clone(), cells)
        })
        .collect();
    assert_eq!(
        (agents["a1"][0].as_str(), agents["a1"][4].as_str(), agents["a1"][5].as_str()),
        ("online", "on", "none")
    );
    assert_eq!((agents["a2"][0].as_str(), agents["a2"][4].as_str()), ("online", "off (kill switch)"));
    assert_eq!(agents["a3"][0], "offline");
    assert_eq!(agents["a4"][0], "revoked");
    assert_eq!((agents["a5"][0].as_str(), agents["a5"][5].as_str()), ("online", "live"));
    browser.script("document.getElementById('tenant-view').scrollIntoView({ block: 'start' });");
    browser.screenshot(&shots.join("console-agents.png"));
    browser.click(&browser.find("#filter-online"));
    let online: Vec<String> =
        rows(&browser, "agents-table").iter().map(|r| r[1].as_str().unwrap().to_string()).collect();
    assert_eq!(online, ["a1", "a2", "a5"], "online only");
    browser.click(&browser.find("#filter-session"));
    let live: Vec<String> = rows(&browser, "agents-table").iter().map(|r| r[1].as_str().unwrap().to_string()).collect();
    assert_eq!(live, ["a5"], "online with a live session only");
    browser.click(&browser.find("#filter-online"));
    browser.click(&browser.find("#filter-session"));
    let violations = axe_violations(&browser, &axe);
    assert!(violations.is_empty(), "agents view: {violations:#?}");

    // An agent's panel, from the table, by keyboard-focusable buttons.
    browser.click(&browser.find("#agents-table tbody tr[data-agent='a1'] button"));
    browser.wait_for(Duration::from_secs(20), "the agent panel", |b| {
        b.script("const e = document.getElementById('agent-online'); return e ? e.textContent : '';") == json!("online")
    });
    browser.wait_for(Duration::from_secs(10), "the manifest's allowlists", |b| {
        b.text(&b.find("#capability-facts")).contains("Files it may read")
    });
    assert!(browser.text(&browser.find("#capability-facts")).contains("argus.log"), "the read allowlist shows");
    assert!(!browser.displayed(&browser.find("#stale-badge")), "a fresh manifest has no stale badge");
    browser.script("document.getElementById('view').scrollIntoView({ block: 'start' });");
    browser.screenshot(&shots.join("console-agent.png"));

    // Tunnel In with one click; the session counts down; the audit tail shows its start.
    browser.click(&browser.find("#tunnel-in"));
    browser.type_into(&browser.find("#reason"), "INC-5150 console views");
    browser.click(&browser.find("#one-click"));
    browser.wait_for(Duration::from_secs(20), "the session token", |b| {
        b.script("return document.getElementById('token').textContent;").as_str().is_some_and(|t| t.starts_with("rst_"))
    });
    browser.click(&browser.find("#token-done"));
    browser.click(&browser.find("#close-modal"));
    let left = |b: &Browser| b.text(&b.find("#time-left"));
    browser.wait_for(Duration::from_secs(10), "the countdown", |b| left(b).ends_with(" left"));
    let first = left(&browser);
    assert!(first.starts_with("29:") || first.starts_with("30:"), "{first}");
    browser.wait_for(Duration::from_secs(5), "the countdown to move", |b| left(b) != first);
    browser.wait_for(Duration::from_secs(20), "the audit tail", |b| {
        b.text(&b.find("#audit-table")).contains("remote_support_session_started")
    });
    // The tenant's access requests, with their state.
    let asked = fleet.op(&["access", "request", "a1", "--tenant", "T1", "--reason", "INC-5151 approvals"]);
    assert_eq!(asked.code, 0, "{}", asked.stderr);
    let request_id = asked.json["request_id"].as_str().unwrap().to_string();
    browser.wait_for(Duration::from_secs(20), "the request in the list", |b| {
        let text = b.text(&b.find("#requests-table"));
        text.contains(&request_id) && text.contains("pending")
    });
    browser.script("document.getElementById('view').scrollIntoView({ block: 'start' });");
    browser.screenshot(&shots.join("console-session.png"));
    let violations = axe_violations(&browser, &axe);
    assert!(violations.is_empty(), "agent panel with a live session: {violations:#?}");

    // Deactivate: the session shows why it ended, the countdown stops, the tail shows the end.
    browser.click(&browser.find("#deactivate"));
    browser.wait_for(Duration::from_secs(20), "the session to show ended", |b| {
        b.script("return document.getElementById('session-state').textContent;") == json!("ended (deactivated)")
    });
    assert_eq!(left(&browser), "—");
    browser.wait_for(Duration::from_secs(20), "the end in the audit tail", |b| {
        b.text(&b.find("#audit-table")).contains("remote_support_session_ended")
    });
    browser.script("document.getElementById('audit-view').scrollIntoView({ block: 'start' });");
    browser.screenshot(&shots.join("console-audit.png"));

    // A narrow screen: everything still readable (tables scroll, facts stack).
    browser.resize(420, 900);
    browser.script("document.getElementById('fleet-view').scrollIntoView({ block: 'start' });");
    browser.screenshot(&shots.join("console-narrow.png"));
    let violations = axe_violations(&browser, &axe);
    assert!(violations.is_empty(), "narrow screen: {violations:#?}");
    for shot in ["fleet", "agents", "agent", "session", "audit", "narrow"] {
        let file = shots.join(format!("console-{shot}.png"));
        assert!(std::fs::metadata(&file).map(|m| m.len() > 1000).unwrap_or(false), "screenshot {file:?}");
    }

    // From the page itself: a tampered action name, a path in an argument, a PAT bound to T2.
    let fetch = |action: &str, pat: &str, body: Value| {
        let script = format!(
            "return fetch('/api/tunnel/' + {action:?}, {{ method: 'POST', credentials: 'same-origin',
                headers: {{ 'Content-Type': 'application/json', 'X-Argus-Console': '1', 'Authorization': 'Bearer ' + {pat:?} }},
                body: JSON.stringify({body}) }}).then(async r => [r.status, await r.text()]);"
        );
        let answer = browser.script(&script);
        (
            answer[0].as_u64().unwrap_or(0),
            serde_json::from_str::<Value>(answer[1].as_str().unwrap_or("")).unwrap_or(Value::Null),
        )
    };
    let (status, answer) = fetch("fleet/../../admin/pats", &fleet.operator, json!({}));
    assert!(status == 404 || status == 400, "a tampered action: {status} {answer}");
    assert!(answer.get("tenants").is_none() && answer.get("pats").is_none(), "{answer}");
    let (status, answer) = fetch("capabilities", &fleet.operator, json!({ "tenant": "T1", "agent": "../admin/pats" }));
    assert_eq!((status, answer["error"].as_str()), (400, Some("bad_request")), "a path in an argument");
    let bound = fleet.ops.admin(&["pat", "create", "--owner", OPERATOR, "--scope", "remote_support", "--tenant", "T2"]);
    let bound = bound.json["pat"].as_str().unwrap().to_string();
    let (status, answer) = fetch("agents", &bound, json!({ "tenant": "T1" }));
    assert!(
        (status == 403 || status == 404) && answer.get("agents").is_none(),
        "another tenant's PAT: {status} {answer}"
    );
    let (status, answer) = fetch("fleet", &bound, json!({}));
    assert_eq!(status, 200, "{answer}");
    assert!(answer["tenants"].as_array().unwrap().iter().all(|t| t["tenant"] == "T2"), "{answer}");
    assert_no_secret_answered(&[OPS_TOKEN, &fleet.ops.admin_pat]);
}
