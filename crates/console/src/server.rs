//! The console's HTTP server: the embedded page, the tunnel config, and the named-action proxy.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use argus_access::{AccessConfig, AccessError, AccessVerifier, KeySource};
use argus_fsm::Code;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::actions::{self, refusal, Action, Answer, Method, OpsCall, Plan};
use crate::web::{self, ActionHeaders};

/// Largest action body the console reads.
pub const MAX_ACTION_BODY: usize = 64 * 1024;
/// How long the console waits for the ops API.
pub const OPS_TIMEOUT: Duration = Duration::from_secs(40);
/// How long the config endpoint waits for `/healthz`.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// What the console needs to run.
pub struct ConsoleConfig {
    /// The ops API base, `https://HOST:PORT`.
    pub ops_url: String,
    /// The ops CA certificate (PEM): the only root the console trusts for the ops API.
    pub ops_ca_pem: Vec<u8>,
    /// `ARGUS_OPS_TOKEN`, injected into every forwarded request; never sent to the browser.
    pub ops_token: Option<String>,
    /// The browser path (SPEC §6): `None` while `REMOTE_SUPPORT_ALLOW_CF_ASSERTION` is off.
    pub access: Option<AccessConfig>,
    /// `CONSOLE_TRUSTED_PROXIES`: the only TCP peers whose `Cf-Connecting-Ip` is believed
    /// (default none: the TCP peer is the caller).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The console's state.
pub struct Console {
    http: reqwest::Client,
    ops_url: String,
    ops_token: Option<String>,
    verifier: Option<AccessVerifier>,
    trusted_proxies: Vec<ipnet::IpNet>,
}

impl Console {
    /// Builds the console; `keys` overrides the team JWKS (tests embedding the console only —
    /// no flag or variable reaches it).
    pub fn new(config: ConsoleConfig, keys: Option<Arc<dyn KeySource>>) -> anyhow::Result<Console> {
        let ops_url = config.ops_url.trim_end_matches('/').to_string();
        if !ops_url.starts_with("https://") {
            anyhow::bail!("--ops-url must be an https:// URL, got {ops_url:?}");
        }
        let mut roots = rustls::RootCertStore::empty();
        let mut reader = std::io::BufReader::new(config.ops_ca_pem.as_slice());
        for cert in rustls_pemfile::certs(&mut reader) {
            roots.add(cert.context("reading the ops CA")?).context("adding the ops CA")?;
        }
        if roots.is_empty() {
            anyhow::bail!("the ops CA file holds no certificate");
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder().use_preconfigured_tls(tls).timeout(OPS_TIMEOUT).build()?;
        let ops_token = config.ops_token.filter(|t| !t.is_empty());
        let verifier = match config.access {
            Some(access) => {
                if ops_token.is_none() {
                    anyhow::bail!("ARGUS_OPS_TOKEN must be set while the browser path is on");
                }
                let keys: Arc<dyn KeySource> = match keys {
                    Some(keys) => keys,
                    None => Arc::new(argus_access::TeamJwks::new(&access)?),
                };
                Some(AccessVerifier::new(access, keys))
            }
            None => None,
        };
        Ok(Console { http, ops_url, ops_token, verifier, trusted_proxies: config.trusted_proxies })
    }

    /// Whether the console itself can verify assertions (its half of one-click).
    pub fn browser_path(&self) -> bool {
        self.verifier.is_some()
    }
}

/// The console's routes. Nothing else is served, and nothing else is proxied.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }))
        .route("/app.js", get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/app.css", get(|| async { page(APP_CSS, "text/css; charset=utf-8") }))
        .route("/api/tunnel/config", get(config))
        .route("/api/tunnel/{action}", post(action))
        .fallback(|| async { error(Code::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async { error(Code::NotFound, "no such route") })
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    console: Arc<Console>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(console).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

async fn security_headers(request: Request<Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    for (name, value) in web::SECURITY_HEADERS {
        response.headers_mut().insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    response
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn error(code: Code, message: &str) -> Response {
    answer(refusal(code, message))
}

fn answer((status, body): Answer) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, Json(body)).into_response()
}

async fn config(State(console): State<Arc<Console>>) -> Response {
    let ops_on = console.browser_path() && console.ops_browser_path().await;
    Json(json!({ "one_click_enabled": ops_on })).into_response()
}

impl Console {
    /// Whether the ops API reports the browser path on (`/healthz`); unreachable counts as off.
    async fn ops_browser_path(&self) -> bool {
        let request = self.http.get(format!("{}/healthz", self.ops_url)).timeout(HEALTH_TIMEOUT);
        match request.send().await {
            Ok(response) => response.json::<Value>().await.is_ok_and(|body| body["browser_path"] == true),
            Err(error) => {
                tracing::warn!(error = %error.without_url(), "ops /healthz unreachable");
                false
            }
        }
    }

    /// Sends one fixed call with the server-side secrets and the caller's credentials.
    async fn send(&self, call: &OpsCall, caller: &Caller<'_>) -> Answer {
        let url = format!("{}{}", self.ops_url, call.path);
        let mut request = match call.method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
        };
        request = request
            .header("x-argus-ops-token", self.ops_token.as_deref().unwrap_or_default())
            .header(header::AUTHORIZATION, caller.pat)
            .header("cf-access-jwt-assertion", caller.assertion);
        if let Some(ip) = caller.client {
            // Ops believes this only when the console is one of its trusted proxies; then its
            // rate limit and audit see each browser, not the console.
            request = request.header("x-forwarded-for", ip.to_string());
        }
        if let Some(session) = &call.session {
            request = request.header("x-argus-session", session);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let failed = |why: &str| refusal(Code::OpsUnreachable, why);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.json::<Value>().await {
                    Ok(body) => (status, body),
                    Err(_) => failed("the ops API answered something that is not JSON"),
                }
            }
            Err(error) => {
                tracing::warn!(error = %error.without_url(), "ops API unreachable");
                failed("the ops API could not be reached")
            }
        }
    }
}

/// Who an action is for: the credentials forwarded as they came, and the browser's address.
struct Caller<'a> {
    pat: &'a str,
    assertion: &'a str,
    client: Option<IpAddr>,
}

/// The browser's address: Cloudflare's `Cf-Connecting-Ip` when the TCP peer is a trusted
/// proxy and the header parses, else the TCP peer. A browser talking to the console directly
/// cannot choose the address ops' rate limit and audit see.
fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = peer.map(|ip| ip.to_canonical());
    if !peer.is_some_and(|ip| argus_access::network::contains(trusted, ip)) {
        return peer;
    }
    headers.get("cf-connecting-ip").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<IpAddr>().ok()).or(peer)
}

async fn action(State(console): State<Arc<Console>>, Path(name): Path<String>, request: Request<Body>) -> Response {
    let Some(action) = Action::from_name(&name) else { return error(Code::NotFound, "no such action") };
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let client = client_ip(headers, peer, &console.trusted_proxies);
    // 1. Same-origin proof (CSRF).
    let facts = ActionHeaders {
        origin: text("origin"),
        host: text("host"),
        custom: text(web::ACTION_HEADER),
        content_type: text("content-type"),
        fetch_site: text("sec-fetch-site"),
    };
    if let Err(why) = web::check_same_origin(&facts) {
        tracing::info!(action = action.name(), ?why, "cross-site action refused");
        return error(Code::CrossSiteRefused, why.message());
    }
    // 2. The Access assertion, verified here before anything is forwarded.
    let Some(verifier) = &console.verifier else {
        return error(
            Code::IpNotAllowlisted,
            "one-click tunnel-in is not enabled on this console; use the argusctl command",
        );
    };
    let Some(assertion) = text("cf-access-jwt-assertion") else {
        return error(Code::IpNotAllowlisted, "no Cloudflare Access assertion came with the request");
    };
    let identity = match verifier.verify(assertion).await {
        Ok(email) => email,
        Err(AccessError::AllowlistEmpty) => {
            return error(Code::CfAllowlistEmpty, "the browser path is on but nobody is allowlisted")
        }
        Err(reason) => {
            tracing::info!(action = action.name(), %reason, "Access assertion not accepted");
            return error(Code::IpNotAllowlisted, "the Cloudflare Access assertion was not accepted");
        }
    };
    // 3. The operator's PAT, forwarded as it came (ops checks it, and that it is theirs).
    let Some(pat) = text("authorization").filter(|v| v.starts_with("Bearer argus_pat_")) else {
        return error(Code::InvalidPat, "enter your personal access token (argus_pat_…)");
    };
    // 4. The body, bounded, then the fixed plan.
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ACTION_BODY).await else {
        return error(Code::TooLarge, "the request body is too large");
    };
    let plan = match actions::plan(action, &bytes) {
        Ok(plan) => plan,
        Err(refusal) => return error(refusal.code, refusal.message),
    };
    let caller = Caller { pat, assertion, client };
    let outcome = match plan {
        Plan::Single(call) => console.send(&call, &caller).await,
        Plan::OfTenant { call, tenant } => actions::of_tenant(&tenant, console.send(&call, &caller).await),
        Plan::Status(status) => {
            let listing = console.send(&status.listing, &caller).await;
            let capabilities = console.send(&status.capabilities, &caller).await;
            let session = match &status.session {
                Some(call) => Some(console.send(call, &caller).await),
                None => None,
            };
            match actions::combine_status(&status.agent, &status.tenant, listing, capabilities, session) {
                Ok(view) => (200, view),
                Err(refusal) => refusal,
            }
        }
    };
    tracing::info!(action = action.name(), status = outcome.0, %identity, "action forwarded");
    answer(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cf_connecting_ip_is_believed_only_from_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("cf-connecting-ip", HeaderValue::from_static("203.0.113.9"));
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // Default (no trusted proxies): a browser cannot choose the address ops sees.
        assert_eq!(client_ip(&headers, Some(ip("198.51.100.7")), &[]), Some(ip("198.51.100.7")));
        assert_eq!(client_ip(&headers, Some(ip("198.51.100.7")), &trusted), Some(ip("198.51.100.7")));
        // From a trusted proxy (also as an IPv4-mapped peer), the header names the browser.
        assert_eq!(client_ip(&headers, Some(ip("10.1.2.3")), &trusted), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(&headers, Some(ip("::ffff:10.1.2.3")), &trusted), Some(ip("203.0.113.9")));
        // An unparsable header from a trusted proxy falls back to the peer.
        headers.insert("cf-connecting-ip", HeaderValue::from_static("not-an-ip"));
        assert_eq!(client_ip(&headers, Some(ip("10.1.2.3")), &trusted), Some(ip("10.1.2.3")));
    }
}
