//! What every benchmark shares: figures, the operator client, simulated enrollment, CPU and memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_e2e::{Fleet, OPS_TOKEN};
use argus_fsm::handshake::{Hello, Intent};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

/// Percentiles of durations in milliseconds.
pub(crate) fn summary(label: &str, mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    println!(
        "{label}: n={} p50={:.3} ms p90={:.3} ms p99={:.3} ms min={:.3} ms max={:.3} ms",
        samples.len(),
        pick(0.5),
        pick(0.9),
        pick(0.99),
        pick(0.0),
        pick(1.0)
    );
    pick(0.5)
}

/// A persistent HTTPS client for the operator API.
pub(crate) struct Operator {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) pat: String,
}

impl Operator {
    pub(crate) fn new(fleet: &Fleet) -> Operator {
        let http = https_client(&std::fs::read(fleet.ops.ca()).unwrap());
        Operator { http, base: format!("https://{}", fleet.ops.api), pat: fleet.operator.clone() }
    }

    pub(crate) async fn post(&self, path: &str, session: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("X-Argus-Ops-Token", OPS_TOKEN)
            .bearer_auth(&self.pat)
            .json(&body);
        if let Some(session) = session {
            request = request.header("X-Argus-Session", session);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("X-Argus-Ops-Token", OPS_TOKEN)
            .bearer_auth(&self.pat)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn command(&self, session: &str, command: &str, args: Value) -> Value {
        let (status, body) =
            self.post("/support/tenants/T1/commands", Some(session), json!({ "command": command, "args": args })).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// An HTTPS client pinned to the deployment's CA.
pub(crate) fn https_client(ca_pem: &[u8]) -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(argus_transport_quic::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(argus_transport_quic::pinned_roots(ca_pem).unwrap())
        .with_no_client_auth();
    reqwest::Client::builder().use_preconfigured_tls(tls).pool_max_idle_per_host(256).build().unwrap()
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

pub(crate) async fn connect_once(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: std::net::SocketAddr,
    key: &SigningKey,
) {
    let hello = Hello { agent_id: "h00000".into(), tenant: "T1".into(), intent: Intent::Authenticate };
    let (connection, ..) = argus_agent::link::connect_with(endpoint, config, addr, "127.0.0.1", hello, key)
        .await
        .unwrap()
        .expect("let in");
    // The ticket came with the end of the TLS handshake, before the Hello was even answered.
    connection.close(0u32.into(), b"bench");
}

/// User + system CPU seconds of a process so far (`/proc/PID/stat`, clock ticks of 10 ms).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Enrolls one simulated agent per key (IDs `PREFIX00000`…) through `addr`, 128 at a time:
/// an enrollment token from the API, then the agent library's real enrollment handshake.
pub(crate) fn enroll_simulated(
    rt: &tokio::runtime::Runtime,
    admin: &Operator,
    keys: &[SigningKey],
    addr: std::net::SocketAddr,
    ca: &[u8],
    prefix: &str,
) {
    let started = Instant::now();
    rt.block_on(async {
        let endpoints: Vec<quinn::Endpoint> =
            (0..16).map(|_| argus_agent::link::endpoint_for(addr, ca).unwrap()).collect();
        let permits = Arc::new(tokio::sync::Semaphore::new(128));
        let mut tasks = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let agent_id = format!("{prefix}{i:05}");
            let (status, token) =
                admin.post("/support/tenants/T1/enrollment-tokens", None, json!({ "agent_id": agent_id })).await;
            assert_eq!(status, 201, "{token}");
            let token = token["token"].as_str().unwrap().to_string();
            let (endpoint, key) = (endpoints[i % endpoints.len()].clone(), key.clone());
            let permit = permits.clone().acquire_owned().await.unwrap();
            tasks.push(tokio::spawn(async move {
                let intent = Intent::Enroll { token, passkey: key.verifying_key().to_bytes() };
                let hello = Hello { agent_id, tenant: "T1".into(), intent };
                let outcome = argus_agent::link::connect(&endpoint, addr, "127.0.0.1", hello, &key).await.unwrap();
                outcome.expect("enrollment accepted").0.close(0u32.into(), b"enrolled");
                drop(permit);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    println!("setup: {} agents enrolled in {:.1} s", keys.len(), started.elapsed().as_secs_f64());
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// `ping`s with `inflight` in flight over `tokens` for `seconds`, the workers spread over `ops`
/// (one operator client, or one per node): how many, and per second.
pub(crate) async fn throughput(
    ops: &[Arc<Operator>],
    tokens: &[String],
    inflight: usize,
    seconds: usize,
) -> (usize, f64) {
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds as u64);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..inflight {
        let (op, tokens, done) = (ops[worker % ops.len()].clone(), tokens.to_vec(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while Instant::now() < deadline {
                op.command(&tokens[i % tokens.len()], "ping", json!({})).await;
                done.fetch_add(1, Ordering::Relaxed);
                i += inflight;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = done.load(Ordering::Relaxed);
    (total, total as f64 / started.elapsed().as_secs_f64())
}

/// 1,000 sequential `ping`s on `token` after 200 to warm up: each one's round trip.
pub(crate) async fn ping_round_trips(op: &Operator, token: &str) -> Vec<Duration> {
    for _ in 0..200 {
        op.command(token, "ping", json!({})).await;
    }
    let mut samples = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let start = Instant::now();
        op.command(token, "ping", json!({})).await;
        samples.push(start.elapsed());
    }
    samples
}
