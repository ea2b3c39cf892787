//! The HTTPS client: pins the ops CA, sends the gate's headers, and classifies answers.

use std::time::Duration;

use serde_json::Value;

use crate::global::{Failure, Global};
use crate::output::Shape;

/// One API request, described before it is sent (so `--dry-run` can print it).
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    pub session: Option<String>,
    /// For session-bound requests: the tenant whose kept session to use when no token is given.
    pub session_tenant: Option<String>,
    pub shape: Shape,
}

impl Request {
    pub fn get(path: &str, shape: Shape) -> Request {
        Request {
            method: "GET",
            path: path.into(),
            query: vec![],
            body: None,
            session: None,
            session_tenant: None,
            shape,
        }
    }
    pub fn post(path: &str, body: Value, shape: Shape) -> Request {
        Request { method: "POST", body: Some(body), ..Request::get(path, shape) }
    }
    pub fn put(path: &str, body: Value, shape: Shape) -> Request {
        Request { method: "PUT", body: Some(body), ..Request::get(path, shape) }
    }
    pub fn delete(path: &str, body: Value, shape: Shape) -> Request {
        Request { method: "DELETE", body: Some(body), ..Request::get(path, shape) }
    }
    pub fn delete_without_body(path: &str, shape: Shape) -> Request {
        Request { method: "DELETE", ..Request::get(path, shape) }
    }
    pub fn query(mut self, query: Vec<(&'static str, String)>) -> Request {
        self.query = query;
        self
    }
    /// A request under a session of `tenant`: with this token, or (when `None`) the kept one.
    pub fn session_for(mut self, tenant: &str, token: Option<String>) -> Request {
        self.session = token;
        self.session_tenant = Some(tenant.to_string());
        self
    }

    /// Everything but GET changes something.
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    fn url(&self, server: &str) -> String {
        let mut url = format!("{}{}", server.trim_end_matches('/'), self.path);
        if !self.query.is_empty() {
            let pairs: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={}", encode_query(v))).collect();
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        url
    }

    /// The request as `--dry-run` shows it: every secret header value is `<redacted>`.
    pub fn preview(&self, g: &Global) -> String {
        let mut text = format!("{} {}\n", self.method, self.url(g.server()));
        text.push_str("Content-Type: application/json\n");
        if g.ops_token.is_some() {
            text.push_str("X-Argus-Ops-Token: <redacted>\n");
        }
        if g.pat.is_some() {
            text.push_str("Authorization: Bearer <redacted>\n");
        }
        if self.session.is_some() {
            text.push_str("X-Argus-Session: <redacted>\n");
        }
        if let Some(body) = &self.body {
            text.push('\n');
            text.push_str(&serde_json::to_string_pretty(&redact_body(body)).unwrap_or_default());
            text.push('\n');
        }
        text
    }
}

/// Bodies carry no secrets except a patch's signature material, which is not secret; nothing
/// to redact today, but keep one place that decides.
fn redact_body(body: &Value) -> Value {
    body.clone()
}

fn encode_query(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What the server said.
pub enum Outcome {
    Success(Value),
    ServerError { body: Value, code: String, message: String },
}

/// A client bound to one server and its pinned CA.
pub struct Client {
    http: reqwest::Client,
    server: String,
    pat: Option<String>,
    ops_token: Option<String>,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    /// Builds the client; a missing or unreadable CA is a usage error (exit 2).
    pub fn new(g: &Global) -> Result<Client, Failure> {
        let ca = g
            .ca_cert
            .as_ref()
            .ok_or_else(|| Failure::Usage("no CA certificate: pass --ca-cert or set ARGUS_CA_CERT".into()))?;
        let pem = std::fs::read(ca).map_err(|e| Failure::Usage(format!("reading {}: {e}", ca.display())))?;
        let roots =
            argus_transport_quic::pinned_roots(&pem).map_err(|e| Failure::Usage(format!("{}: {e}", ca.display())))?;
        let tls = rustls::ClientConfig::builder_with_provider(argus_transport_quic::crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Failure::Usage(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Failure::Usage(format!("HTTP client: {e:?}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Usage(e.to_string()))?;
        Ok(Client { http, server: g.server().to_string(), pat: g.pat.clone(), ops_token: g.ops_token.clone(), runtime })
    }

    /// Sends the request and answers the body as text when it succeeded (an export's JSON
    /// lines), else the server's code and message.
    pub fn send_text(&self, request: &Request) -> Result<Result<String, (String, String)>, Failure> {
        let (status, bytes) = self.exchange(request)?;
        if status.is_success() {
            // Valid UTF-8 (the usual case) is taken as it is, without a copy.
            let text = String::from_utf8(bytes)
                .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned());
            return Ok(Ok(text));
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = body.get("error").and_then(Value::as_str).unwrap_or("http_error").to_string();
        let message =
            body.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or(format!("HTTP {status}"));
        Ok(Err((code, message)))
    }

    /// Sends the request and classifies the answer.
    pub fn send(&self, request: &Request) -> Result<Outcome, Failure> {
        let (status, bytes) = self.exchange(request)?;
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if status.is_success() {
            return Ok(Outcome::Success(body));
        }
        let code = body.get("error").and_then(Value::as_str).unwrap_or("http_error").to_string();
        let message =
            body.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("HTTP {status}"));
        Ok(Outcome::ServerError { body, code, message })
    }

    /// Sends the request: the status and the body's bytes.
    fn exchange(&self, request: &Request) -> Result<(reqwest::StatusCode, Vec<u8>), Failure> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("static method names are valid");
        let mut builder = self.http.request(method, request.url(&self.server));
        if let Some(token) = &self.ops_token {
            builder = builder.header("X-Argus-Ops-Token", token);
        }
        if let Some(pat) = &self.pat {
            builder = builder.bearer_auth(pat);
        }
        if let Some(session) = &request.session {
            builder = builder.header("X-Argus-Session", session);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        self.runtime.block_on(async {
            let response = builder.send().await.map_err(|e| Failure::Unreachable(describe(&e)))?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| Failure::Unreachable(describe(&e)))?;
            Ok((status, bytes.to_vec()))
        })
    }
}

/// A transport error in one line, with its cause (certificate problems included).
fn describe(error: &reqwest::Error) -> String {
    let mut text = format!("could not reach the server: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
