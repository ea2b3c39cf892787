//! `argus-bench`: the benchmarks of issues #3 and #4, printed as figures (medians and spread,
//! one run). Real processes on loopback; simulated fleets use the agent's own connection code.
//!
//!   argus-bench commands [--agents N] [--inflight K] [--seconds S]
//!   argus-bench latency  [--rounds N]
//!   argus-bench fleet    [--agents N] [--revocations R] [--restarts 0|1|2]
//!   argus-bench handshake [--rounds N]
//!   argus-bench observability [--agents N] [--inflight K] [--seconds S] [--pairs P]
//!   argus-bench store [--agents N] [--inflight K] [--seconds S] [--history H]
//!   argus-bench cluster [--agents N (per node)] [--inflight K] [--seconds S] [--revocations R]
//!   argus-bench floods [--seconds S] [--rounds N]

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_e2e::{wait_until, Fleet, OPS_TOKEN};
use argus_fsm::handshake::{Hello, Intent};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("commands") => commands(flag("--agents", 100), flag("--inflight", 64), flag("--seconds", 10)),
        Some("latency") => latency(flag("--rounds", 20)),
        Some("fleet") => fleet(flag("--agents", 10_000), flag("--revocations", 100), flag("--restarts", 2)),
        Some("handshake") => handshake(flag("--rounds", 2_000)),
        Some("store") => {
            store(flag("--agents", 8), flag("--inflight", 32), flag("--seconds", 10), flag("--history", 100_000))
        }
        Some("cluster") => {
            cluster(flag("--agents", 3_000), flag("--inflight", 32), flag("--seconds", 10), flag("--revocations", 100))
        }
        Some("floods") => floods(flag("--seconds", 5), flag("--rounds", 40)),
        Some("observability") => {
            observability(flag("--agents", 8), flag("--inflight", 32), flag("--seconds", 10), flag("--pairs", 3))
        }
        _ => {
            eprintln!(
                "usage: argus-bench commands|latency|fleet|handshake|observability|store|cluster|floods [options]"
            );
            std::process::exit(2);
        }
    }
}

/// Percentiles of durations in milliseconds.
fn summary(label: &str, mut samples: Vec<Duration>) -> f64 {
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
struct Operator {
    http: reqwest::Client,
    base: String,
    pat: String,
}

impl Operator {
    fn new(fleet: &Fleet) -> Operator {
        let pem = std::fs::read(fleet.ops.ca()).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(argus_transport_quic::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(argus_transport_quic::pinned_roots(&pem).unwrap())
            .with_no_client_auth();
        let http = reqwest::Client::builder().use_preconfigured_tls(tls).pool_max_idle_per_host(256).build().unwrap();
        Operator { http, base: format!("https://{}", fleet.ops.api), pat: fleet.operator.clone() }
    }

    async fn post(&self, path: &str, session: Option<&str>, body: Value) -> (u16, Value) {
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

    async fn get(&self, path: &str) -> (u16, Value) {
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

    async fn command(&self, session: &str, command: &str, args: Value) -> Value {
        let (status, body) =
            self.post("/support/tenants/T1/commands", Some(session), json!({ "command": command, "args": args })).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Issue #4: command round trip, throughput across agents, tail_log on a 1 GiB log, read_file
/// of 1 MiB.
fn commands(agents: usize, inflight: usize, seconds: usize) {
    println!("== commands: {agents} agents, {inflight} in flight, {seconds} s");
    let mut fleet = Fleet::armed(&[]);
    for i in 0..agents {
        fleet.add_agent(&format!("b{i:03}"));
    }
    let tokens: Vec<String> = (0..agents).map(|i| fleet.activate(&format!("b{i:03}"))).collect();
    let root = fleet.agents[0].root.clone();
    let rt = runtime();
    let op = Arc::new(Operator::new(&fleet));
    rt.block_on(async {
        for _ in 0..200 {
            op.command(&tokens[0], "ping", json!({})).await;
        }
        let mut samples = Vec::new();
        for _ in 0..2000 {
            let start = Instant::now();
            op.command(&tokens[0], "ping", json!({})).await;
            samples.push(start.elapsed());
        }
        summary("ping round trip (HTTPS → ops → QUIC → agent → back, persistent client)", samples);

        let (total, rate) = throughput(&op, &tokens, inflight, seconds).await;
        println!("throughput: {total} pings in {seconds} s = {rate:.0} commands/s across {agents} agents, {inflight} in flight");
    });

    // tail_log: 25 KiB vs 1 GiB logs, 100 lines.
    let line = "2026-11-23T10:00:00Z INFO camera poll ok cycle=000000000\n";
    std::fs::write(root.join("argus.log.1"), line.repeat(25 * 1024 / line.len())).unwrap();
    {
        use std::io::Write as _;
        let mut file = std::io::BufWriter::new(std::fs::File::create(root.join("argus.log.2")).unwrap());
        let block = line.repeat(16 * 1024 * 1024 / line.len());
        for _ in 0..64 {
            file.write_all(block.as_bytes()).unwrap();
        }
    }
    let big = std::fs::metadata(root.join("argus.log.2")).unwrap().len();
    rt.block_on(async {
        let mut small = Vec::new();
        let mut large = Vec::new();
        for _ in 0..10 {
            op.command(&tokens[0], "tail_log", json!({"file": "argus.log.2", "lines": 100})).await;
        }
        for _ in 0..200 {
            let start = Instant::now();
            op.command(&tokens[0], "tail_log", json!({"file": "argus.log.1", "lines": 100})).await;
            small.push(start.elapsed());
            let start = Instant::now();
            let body = op.command(&tokens[0], "tail_log", json!({"file": "argus.log.2", "lines": 100})).await;
            large.push(start.elapsed());
            assert_eq!(body["result"]["lines"].as_array().unwrap().len(), 100);
        }
        let a = summary("tail_log 100 lines, 25 KiB log", small);
        let b = summary(&format!("tail_log 100 lines, {:.2} GiB log", big as f64 / (1u64 << 30) as f64), large);
        println!("tail_log ratio (1 GiB / 25 KiB, medians): {:.2}", b / a);

        std::fs::write(root.join("crashes").join("mib.txt"), vec![b'x'; 1024 * 1024]).unwrap();
        let mut samples = Vec::new();
        for _ in 0..100 {
            let start = Instant::now();
            let body = op.command(&tokens[0], "read_file", json!({"path": "crashes/mib.txt"})).await;
            samples.push(start.elapsed());
            assert_eq!(body["result"]["size"], 1024 * 1024);
        }
        summary("read_file 1 MiB end to end", samples);
    });
    let _ = std::fs::remove_file(root.join("argus.log.2"));
}

/// Issue #11: the same figures on both backends, side by side in one run — `ping` p50 over
/// 1,000 sequential commands, durable commands/s with `inflight` in flight, `agent ls` p50 —
/// first with no history, then after `history` past (ended) sessions were written into the
/// store while the server was stopped.
fn store(agents: usize, inflight: usize, seconds: usize, history: usize) {
    println!(
        "== store: sled vs PostgreSQL, {agents} agents, {inflight} in flight, {seconds} s, {history} past sessions"
    );
    let ids: Vec<String> = (0..agents).map(|i| format!("s{i:03}")).collect();
    for postgres in [false, true] {
        let backend = if postgres { "postgres" } else { "sled" };
        let ops = if postgres { argus_e2e::Ops::start_on_postgres(&[]) } else { argus_e2e::Ops::start_on_sled(&[]) };
        let mut fleet = Fleet::armed_on(ops);
        for id in &ids {
            fleet.add_agent(id);
        }
        let tokens: Vec<String> = ids.iter().map(|id| fleet.activate(id)).collect();
        // Both phases measure a server just restarted, with its agents back, so the only
        // difference is the history.
        let port = fleet.ops.agent.port();
        assert!(fleet.ops.stop().success());
        fleet.ops.serve(Some(port));
        for id in &ids {
            assert!(fleet.wait_online(id, true));
        }
        std::thread::sleep(SETTLE);
        let (ping, rate, ls) = store_figures(&fleet, &tokens, inflight, seconds);
        println!(
            "{backend}, no history: ping p50 {ping:.3} ms, {rate:.0} durable commands/s (every one audited), agent ls p50 {ls:.3} ms"
        );
        // History: past sessions written straight into the store while the server is stopped.
        assert!(fleet.ops.stop().success());
        let started = Instant::now();
        seed_history(&fleet, &ids, history);
        println!("{backend}: wrote {history} past sessions in {:.1} s", started.elapsed().as_secs_f64());
        fleet.ops.serve(Some(port));
        for id in &ids {
            assert!(fleet.wait_online(id, true));
        }
        std::thread::sleep(SETTLE);
        let (ping_h, rate_h, ls_h) = store_figures(&fleet, &tokens, inflight, seconds);
        println!(
            "{backend}, {history} past sessions: ping p50 {ping_h:.3} ms ({:+.1}%), {rate_h:.0} durable commands/s, agent ls p50 {ls_h:.3} ms ({:+.1}%)",
            (ping_h / ping - 1.0) * 100.0,
            (ls_h / ls - 1.0) * 100.0
        );
    }
}

/// Time given to a just-restarted server (and sled's background work after a bulk write)
/// before measuring.
const SETTLE: Duration = Duration::from_secs(20);

fn store_figures(fleet: &Fleet, tokens: &[String], inflight: usize, seconds: usize) -> (f64, f64, f64) {
    let op = Arc::new(Operator::new(fleet));
    let tokens = tokens.to_vec();
    runtime().block_on(async {
        for _ in 0..200 {
            op.command(&tokens[0], "ping", json!({})).await;
        }
        let mut samples = Vec::new();
        for _ in 0..1000 {
            let start = Instant::now();
            op.command(&tokens[0], "ping", json!({})).await;
            samples.push(start.elapsed());
        }
        samples.sort();
        let ping = samples[samples.len() / 2].as_secs_f64() * 1000.0;
        let mut ls = Vec::new();
        for _ in 0..200 {
            let start = Instant::now();
            let (status, _) = op.get("/support/tenants/T1/agents").await;
            assert_eq!(status, 200);
            ls.push(start.elapsed());
        }
        ls.sort();
        let ls = ls[ls.len() / 2].as_secs_f64() * 1000.0;
        let (_, rate) = throughput(&op, &tokens, inflight, seconds).await;
        (ping, rate, ls)
    })
}

/// `ping`s with `inflight` in flight over `tokens` for `seconds`: how many, and per second.
async fn throughput(op: &Arc<Operator>, tokens: &[String], inflight: usize, seconds: usize) -> (usize, f64) {
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds as u64);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..inflight {
        let (op, tokens, done) = (op.clone(), tokens.to_vec(), done.clone());
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

/// Writes `count` ended sessions (spread over `agents`) into the stopped server's store, in
/// batches.
fn seed_history(fleet: &Fleet, agents: &[String], count: usize) {
    use argus_fsm::machine::Machine as _;
    let url = argus_ops::store::resolve(None, &fleet.ops.data()).unwrap();
    let store = argus_ops::store::open(&url, &fleet.ops.data()).unwrap();
    let release = || argus_ops::store::SledStore::forget(&fleet.ops.data().join("db"));
    let now = argus_fsm::Timestamp(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64,
    );
    let indices: Vec<usize> = (0..count).collect();
    for chunk in indices.chunks(5_000) {
        let writes: Vec<argus_ops::store::Write> = chunk
            .iter()
            .map(|&i| {
                let mut token = [0u8; 32];
                token[..8].copy_from_slice(&(i as u64).to_le_bytes());
                token[31] = 0xee;
                let mut session = argus_fsm::session::Session::start(
                    format!("ses_history_{i}"),
                    "T1".into(),
                    agents[i % agents.len()].clone(),
                    "op@example.com".into(),
                    token,
                    "history".into(),
                    60_000,
                    now.plus_millis(-3_600_000),
                );
                session.handle(argus_fsm::session::SessionEvent::Deactivate, now.plus_millis(-3_590_000)).unwrap();
                argus_ops::store::Write::Session(session)
            })
            .collect();
        store.commit(&writes).unwrap();
    }
    // The server (another process) opens it next.
    drop(store);
    release();
}

/// Issue #13: metrics and access logging on versus off. Alternating runs (off, on, off, on, …),
/// each a fresh server and fleet: `ping` p50 over 1,000 sequential commands, then durable
/// commands/s with `inflight` in flight for `seconds`. Prints each run and the medians.
fn observability(agents: usize, inflight: usize, seconds: usize, pairs: usize) {
    println!("== observability: metrics + access log on vs off, {agents} agents, {inflight} in flight, {seconds} s, {pairs} pairs");
    let mut figures: [Vec<(f64, f64)>; 2] = [vec![], vec![]];
    for run in 0..pairs * 2 {
        let on = run % 2 == 1;
        let env: &[(&str, &str)] = if on {
            &[("ARGUS_LOG", "info"), ("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]
        } else {
            &[("ARGUS_LOG", "warn")]
        };
        let mut fleet = Fleet::armed(env);
        for i in 0..agents {
            fleet.add_agent(&format!("o{i:03}"));
        }
        let tokens: Vec<String> = (0..agents).map(|i| fleet.activate(&format!("o{i:03}"))).collect();
        // The same measurement as the store benchmark (its `agent ls` figure is not used here).
        let (p50, rate, _) = store_figures(&fleet, &tokens, inflight, seconds);
        let label = if on { "on " } else { "off" };
        println!("run {run}: metrics+access log {label}: ping p50 {p50:.3} ms, {rate:.0} durable commands/s");
        figures[usize::from(on)].push((p50, rate));
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let [off, on] = figures;
    let (off_p50, off_rate) = (median(off.iter().map(|f| f.0).collect()), median(off.iter().map(|f| f.1).collect()));
    let (on_p50, on_rate) = (median(on.iter().map(|f| f.0).collect()), median(on.iter().map(|f| f.1).collect()));
    println!("medians: off p50 {off_p50:.3} ms, {off_rate:.0}/s; on p50 {on_p50:.3} ms, {on_rate:.0}/s");
    println!(
        "on / off: ping p50 {:+.1}%, throughput {:+.1}%",
        (on_p50 / off_p50 - 1.0) * 100.0,
        (on_rate / off_rate - 1.0) * 100.0
    );
}

/// Functional deadlines measured precisely: kill switch → session ended (server audit), and
/// revoke answered → agent link closed (agent status file).
fn latency(rounds: usize) {
    println!("== latency: {rounds} rounds each");
    let mut fleet = Fleet::armed(&[]);
    let index = fleet.add_agent("k1");
    let mut kill = Vec::new();
    for _ in 0..rounds {
        fleet.activate("k1");
        let before = fleet.ops.audit_events("remote_support_session_ended").len();
        let start = Instant::now();
        assert!(fleet.agents[index].cli("remote-support-off").status.success());
        assert!(wait_until(Duration::from_secs(5), || fleet.ops.audit_events("remote_support_session_ended").len()
            > before));
        kill.push(start.elapsed());
        assert!(fleet.agents[index].cli("remote-support-on").status.success());
        assert!(wait_until(Duration::from_secs(5), || fleet.op(&["agent", "capabilities", "k1"]).json["manifest"]
            ["remote_support_on"]
            == true));
    }
    summary(
        "kill switch: remote-support-off issued → session ended on the server (incl. CLI start and audit polling)",
        kill,
    );
    let mut revoke = Vec::new();
    for i in 0..rounds {
        let id = format!("r{i}");
        let idx = fleet.add_agent(&id);
        let status = fleet.agents[idx].root.join("state").join("status.json");
        let start = Instant::now();
        assert_eq!(fleet.op(&["agent", "revoke", &id, "--tenant", "T1", "--reason", "bench", "--yes"]).code, 0);
        let answered = start.elapsed();
        assert!(wait_until(Duration::from_secs(5), || std::fs::read_to_string(&status)
            .is_ok_and(|s| !s.contains("\"connected\""))));
        revoke.push(start.elapsed().saturating_sub(answered));
        fleet.agents[idx].process.terminate();
    }
    summary("revocation: revoke answered → agent sees its link closed", revoke);
}

/// Issue #3: N simulated agents through the agent's own connection code, from one process.
/// Issue #3 and #15: a simulated fleet on one node — connect, memory per agent, two restarts
/// (the first without the ticket keys: every agent runs a full handshake, as before #15; the
/// second with them: agents resume), revocations during the second storm, then revocations
/// with the whole fleet connected. Each simulated agent has its own TLS client configuration,
/// so its own session ticket, as a real agent does.
fn fleet(agents: usize, revocations: usize, restarts: usize) {
    println!("== fleet: {agents} simulated agents");
    let mut fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    let rt = runtime();
    let pid = fleet.ops.server.as_ref().unwrap().child.id();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let keys: Vec<SigningKey> = (0..agents)
        .map(|i| SigningKey::from_bytes(&argus_fsm::signed::sha256(format!("bench-{i}").as_bytes())))
        .collect();
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    enroll_simulated(&rt, &admin, &keys, fleet.ops.agent, &ca, "f");
    let rss_before = rss_kib(pid);
    let online: Arc<Vec<std::sync::atomic::AtomicBool>> = Arc::new((0..agents).map(|_| false.into()).collect());
    let connected = Arc::new(AtomicUsize::new(0));
    let revoked_at: Arc<std::sync::Mutex<Vec<Option<Instant>>>> = Arc::new(std::sync::Mutex::new(vec![None; agents]));
    let closed_after: Arc<std::sync::Mutex<Vec<Duration>>> = Arc::new(std::sync::Mutex::new(Vec::new()));
    // A revoked agent let in again (must stay 0).
    let readmitted = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let addr = fleet.ops.agent;
    let handles: Vec<_> = {
        let _guard = rt.enter();
        let endpoints: Vec<quinn::Endpoint> =
            (0..16).map(|_| argus_agent::link::endpoint_for(addr, &ca).unwrap()).collect();
        let permits = Arc::new(tokio::sync::Semaphore::new(256));
        keys.iter()
            .enumerate()
            .map(|(i, key)| {
                let endpoint = endpoints[i % endpoints.len()].clone();
                // Its own ticket store, as a real agent's.
                let config = argus_transport_quic::client_config(&ca).unwrap();
                let key = key.clone();
                let (connected, online, permits) = (connected.clone(), online.clone(), permits.clone());
                let (revoked_at, closed_after, readmitted) =
                    (revoked_at.clone(), closed_after.clone(), readmitted.clone());
                rt.spawn(async move {
                    let mut attempt = 0u32;
                    loop {
                        let permit = permits.acquire().await.unwrap();
                        let hello =
                            Hello { agent_id: format!("f{i:05}"), tenant: "T1".into(), intent: Intent::Authenticate };
                        let outcome =
                            argus_agent::link::connect_with(&endpoint, config.clone(), addr, "127.0.0.1", hello, &key)
                                .await;
                        drop(permit);
                        let random = (i as u64).wrapping_mul(2654435761) ^ start.elapsed().as_nanos() as u64;
                        match outcome {
                            Ok(Ok((connection, _send, _recv, _))) => {
                                attempt = 0;
                                if revoked_at.lock().unwrap()[i].is_some() {
                                    readmitted.fetch_add(1, Ordering::SeqCst);
                                }
                                connected.fetch_add(1, Ordering::Relaxed);
                                online[i].store(true, Ordering::SeqCst);
                                connection.closed().await;
                                online[i].store(false, Ordering::SeqCst);
                                connected.fetch_sub(1, Ordering::Relaxed);
                                if let Some(at) = revoked_at.lock().unwrap()[i] {
                                    closed_after.lock().unwrap().push(at.elapsed());
                                    return;
                                }
                            }
                            Ok(Err(argus_agent::link::Turned::Busy(turn))) => {
                                tokio::time::sleep(argus_agent::link::retry_after(turn, random)).await;
                                continue;
                            }
                            Ok(Err(argus_agent::link::Turned::Refused(_))) => return,
                            Err(_) => attempt += 1,
                        }
                        tokio::time::sleep(argus_agent::link::backoff(attempt, random)).await;
                    }
                })
            })
            .collect()
    };
    let all = wait_until(Duration::from_secs(600), || connected.load(Ordering::Relaxed) == agents);
    println!(
        "connect: {} of {agents} connected and authenticated in {:.1} s",
        connected.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64()
    );
    assert!(all);
    std::thread::sleep(Duration::from_secs(2));
    // What the connected fleet costs the server at rest (keep-alives, timers), over 5 s.
    let (cpu_before, rest) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    println!(
        "server CPU at rest with {agents} connected: {:.1} % of a core",
        (cpu_seconds(pid) - cpu_before) / rest.elapsed().as_secs_f64() * 100.0
    );
    let rss_after = rss_kib(pid);
    println!(
        "server RSS: {rss_before} KiB before, {rss_after} KiB with {agents} connected: {:.1} KiB per connected agent",
        (rss_after.saturating_sub(rss_before)) as f64 / agents as f64
    );

    // Restarts: all back online with none left behind — first without the ticket keys (full
    // handshakes, the server before #15), then with them (resumed).
    let port = fleet.ops.agent.port();
    let mut storm_revocations = Vec::new();
    let mut answered = Vec::new();
    let both = [("full handshakes (ticket keys removed)", false), ("resumed (ticket keys kept)", true)];
    for (label, keep_keys) in both.into_iter().skip(2 - restarts.min(2)) {
        fleet.ops.stop();
        if !keep_keys {
            std::fs::remove_file(fleet.ops.data().join("tls").join("ticket-keys")).unwrap();
        }
        let restart = Instant::now();
        fleet.ops.serve(Some(port));
        let serving = restart.elapsed();
        // During the resumed storm: revoke agents as soon as they are back, while the rest of
        // the herd is still arriving.
        let revoker = keep_keys.then(|| {
            let (online, revoked_at) = (online.clone(), revoked_at.clone());
            let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
            let count = revocations.min(agents / 2);
            std::thread::spawn(move || {
                let rt = runtime();
                let mut sent = Vec::new();
                let mut candidates = (agents / 2..agents).cycle();
                let deadline = Instant::now() + Duration::from_secs(60);
                while sent.len() < count && Instant::now() < deadline {
                    let i = candidates.next().unwrap();
                    if !online[i].load(Ordering::SeqCst) || revoked_at.lock().unwrap()[i].is_some() {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                    let asked = Instant::now();
                    revoked_at.lock().unwrap()[i] = Some(asked);
                    rt.block_on(async {
                        let (status, body) = admin
                            .post(
                                &format!("/support/agents/f{i:05}/revoke"),
                                None,
                                json!({ "tenant": "T1", "reason": "bench" }),
                            )
                            .await;
                        assert_eq!(status, 200, "{body}");
                    });
                    sent.push((i, asked.elapsed()));
                }
                sent
            })
        });
        let expected = |revoked: usize| agents - revoked;
        let all = wait_until(Duration::from_secs(180), || {
            connected.load(Ordering::Relaxed) + closed_after.lock().unwrap().len() >= agents
        });
        let back = restart.elapsed();
        // The new server process's CPU over the whole storm (start-up included), per agent back.
        let storm_cpu = cpu_seconds(fleet.ops.server.as_ref().unwrap().child.id());
        if let Some(revoker) = revoker {
            (storm_revocations, answered) = revoker.join().unwrap().into_iter().unzip();
        }
        let text = argus_e2e::scrape(fleet.ops.addresses()["metrics"].as_str().unwrap());
        println!(
            "restart, {label}: {} of {} back online {:.1} s after the server was started again ({:.1} s after it was serving; server CPU {:.0} µs per agent back); {} resumed, {} given a later turn",
            connected.load(Ordering::Relaxed),
            expected(storm_revocations.len()),
            back.as_secs_f64(),
            (back - serving).as_secs_f64(),
            storm_cpu / agents as f64 * 1e6,
            argus_e2e::sample(&text, "argus_agent_tls_resumed_total"),
            argus_e2e::sample(&text, "argus_agent_handshakes_deferred_total"),
        );
        assert!(all, "not all agents came back");
    }
    let storm: Vec<Duration> = closed_after.lock().unwrap().clone();
    if !storm.is_empty() {
        summary("revocation during the reconnect storm: revoke request sent → connection closed at the agent", storm);
        // The server closes the link before it answers: this bounds the server's part, without
        // the wake-up of a simulated agent in a client process busy with the rest of the herd.
        summary("revocation during the reconnect storm: revoke request sent → answered", answered);
    }
    std::thread::sleep(Duration::from_secs(2));
    let readmitted_after_storm = readmitted.load(Ordering::SeqCst);
    println!(
        "revoked during the storm: {}, let in again afterwards: {readmitted_after_storm}",
        storm_revocations.len()
    );
    assert_eq!(readmitted_after_storm, 0, "a revoked agent got back in");

    // Revocations with the fleet connected: revoke answered → that agent's connection closed.
    let before = closed_after.lock().unwrap().len();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let count = revocations.min(agents / 2);
    rt.block_on(async {
        for i in 0..count {
            revoked_at.lock().unwrap()[i] = Some(Instant::now());
            let (status, body) = admin
                .post(&format!("/support/agents/f{i:05}/revoke"), None, json!({ "tenant": "T1", "reason": "bench" }))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    });
    wait_until(Duration::from_secs(30), || closed_after.lock().unwrap().len() == before + count);
    let samples = closed_after.lock().unwrap()[before..].to_vec();
    // The server closes the link before it answers, so this is an upper bound of "answered →
    // closed": it also counts the request itself.
    summary(
        &format!(
            "revocation with {} connected: revoke request sent → connection closed at the agent",
            connected.load(Ordering::Relaxed) + count
        ),
        samples,
    );
    for handle in handles {
        handle.abort();
    }
}

/// Issue #15: what one agent connection (TLS handshake, passkey proof, registration) costs
/// each side, full and resumed: `rounds` sequential connections each way, one simulated agent,
/// wall time per connection and CPU time of the server process and of this (client) process.
fn handshake(rounds: usize) {
    println!("== handshake: {rounds} sequential connections, full then resumed");
    let fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    let rt = runtime();
    let pid = fleet.ops.server.as_ref().unwrap().child.id();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let key = SigningKey::from_bytes(&argus_fsm::signed::sha256(b"handshake-bench"));
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    enroll_simulated(&rt, &admin, std::slice::from_ref(&key), fleet.ops.agent, &ca, "h");
    let addr = fleet.ops.agent;
    let resumed_config = argus_transport_quic::client_config(&ca).unwrap();
    let mut figures = Vec::new();
    for (label, resume) in [("full", false), ("resumed", true)] {
        let before_resumed = fleet.ops.metric("argus_agent_tls_resumed_total");
        let (server_cpu, client_cpu) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
        let mut samples = Vec::with_capacity(rounds);
        rt.block_on(async {
            let endpoint = argus_agent::link::endpoint_for(addr, &ca).unwrap();
            // Warm-up: the resumed run starts with a ticket in hand.
            let config =
                if resume { resumed_config.clone() } else { argus_transport_quic::client_config(&ca).unwrap() };
            connect_once(&endpoint, config, addr, &key).await;
            for _ in 0..rounds {
                let config =
                    if resume { resumed_config.clone() } else { argus_transport_quic::client_config(&ca).unwrap() };
                let started = Instant::now();
                connect_once(&endpoint, config, addr, &key).await;
                samples.push(started.elapsed());
            }
            endpoint.wait_idle().await;
        });
        let server = (cpu_seconds(pid) - server_cpu) / (rounds + 1) as f64 * 1e6;
        let client = (cpu_seconds(std::process::id()) - client_cpu) / (rounds + 1) as f64 * 1e6;
        let resumed = fleet.ops.metric("argus_agent_tls_resumed_total") - before_resumed;
        let median = summary(&format!("connection, {label}: connect → Welcome"), samples);
        println!(
            "  CPU per connection, {label}: server {server:.0} µs, client {client:.0} µs; {resumed} of {} resumed",
            rounds + 1
        );
        figures.push((median, server, client));
    }
    let ((full_wall, full_server, full_client), (res_wall, res_server, res_client)) = (figures[0], figures[1]);
    println!(
        "resumed / full: wall {:.2}, server CPU {:.2}, client CPU {:.2}",
        res_wall / full_wall,
        res_server / full_server,
        res_client / full_client
    );
}

/// Issue #16 items 1 and 2: how fast an enrolled agent from 127.0.0.1 connects (full TLS
/// handshake, passkey proof, Welcome) while QUIC Initials that are never answered arrive from 16
/// other loopback addresses at a rising rate; `rounds` sequential connections per rate, the
/// flood running for `seconds` before and during them. Prints the rate the flood reached, the
/// connection times, the server's CPU and what the listener did with the flood.
fn floods(seconds: usize, rounds: usize) {
    println!("== floods: {rounds} agent connections per rate, Initials from 16 other addresses");
    let fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    let rt = runtime();
    let pid = fleet.ops.server.as_ref().unwrap().child.id();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let key = SigningKey::from_bytes(&argus_fsm::signed::sha256(b"flood-bench"));
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    enroll_simulated(&rt, &admin, std::slice::from_ref(&key), fleet.ops.agent, &ca, "h");
    let addr = fleet.ops.agent;
    let sources: Vec<std::net::IpAddr> = (2..18).map(|i| std::net::IpAddr::from([127, 0, 0, i])).collect();
    let mut baseline = None;
    for rate in [0usize, 1_000, 4_000, 16_000] {
        let flood = (rate > 0).then(|| {
            let (ca, sources) = (ca.clone(), sources.clone());
            let count = (rate * (seconds * 2 + 5)) as u64;
            std::thread::spawn(move || argus_e2e::flood::initials(addr, &ca, &sources, count, rate as f64, false))
        });
        if flood.is_some() {
            std::thread::sleep(Duration::from_secs(seconds as u64));
        }
        let server_cpu = cpu_seconds(pid);
        let started = Instant::now();
        let mut samples = Vec::with_capacity(rounds);
        rt.block_on(async {
            let endpoint = argus_agent::link::endpoint_for(addr, &ca).unwrap();
            for _ in 0..rounds {
                let config = argus_transport_quic::client_config(&ca).unwrap();
                let begun = Instant::now();
                connect_once(&endpoint, config, addr, &key).await;
                samples.push(begun.elapsed());
            }
            endpoint.wait_idle().await;
        });
        let busy = (cpu_seconds(pid) - server_cpu) / started.elapsed().as_secs_f64() * 100.0;
        let label = if rate == 0 { "no flood".to_string() } else { format!("flood {rate}/s asked") };
        let median = summary(&format!("agent connect → Welcome, {label}"), samples);
        if let Some(flood) = flood {
            let sent = flood.join().unwrap();
            let shed =
                |reason: &str| fleet.ops.metric(&format!("argus_agent_handshakes_shed_total{{reason=\"{reason}\"}}"));
            println!(
                "  flood reached {:.0} Initials/s ({} sent); server CPU {busy:.0} % of a core while the agent connected; \
                 shed so far: retry {}, timeout {}, full {}; median {:.2}x the quiet one",
                sent.rate(),
                sent.initials,
                shed("retry"),
                shed("timeout"),
                shed("full"),
                median / baseline.unwrap_or(median)
            );
        } else {
            println!("  server CPU {busy:.0} % of a core while the agent connected");
            baseline = Some(median);
        }
    }
}

async fn connect_once(
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
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Enrolls one simulated agent per key (IDs `PREFIX00000`…) through `addr`, 128 at a time:
/// an enrollment token from the API, then the agent library's real enrollment handshake.
fn enroll_simulated(
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

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Issue #12: three nodes on one PostgreSQL. A routed command against a local one; durable
/// commands/s through one node and through all three; a simulated fleet split over the nodes
/// (memory per agent on each); revocation through one node of agents another holds; then one
/// node killed and how long its agents take to be online on the others, and how they spread.
fn cluster(per_node: usize, inflight: usize, seconds: usize, revocations: usize) {
    println!("== cluster: 3 nodes on one PostgreSQL, {per_node} simulated agents per node");
    let mut fleet = Fleet::armed_on(argus_e2e::Ops::start_on_postgres(&[]));
    let mut others: Vec<argus_e2e::Ops> = (0..2).map(|_| fleet.ops.join(None)).collect();
    let rt = runtime();
    // Real agents (held by node 0), each with a live session.
    let ids = ["c0", "c1", "c2"];
    for id in ids {
        fleet.add_agent(id);
    }
    let template = Operator::new(&fleet);
    let operator_on = |node: &argus_e2e::Ops| Operator {
        base: format!("https://{}", node.api),
        http: template.http.clone(),
        pat: template.pat.clone(),
    };
    let tokens: Vec<String> = ids.iter().map(|id| fleet.activate(id)).collect();
    std::thread::sleep(SETTLE);
    let local = Arc::new(operator_on(&fleet.ops));
    let routed = Arc::new(operator_on(&others[0]));
    let (local_p50, routed_p50) = rt.block_on(async {
        let mut medians = Vec::new();
        for op in [&local, &routed] {
            for _ in 0..200 {
                op.command(&tokens[0], "ping", json!({})).await;
            }
            let mut samples = Vec::new();
            for _ in 0..1000 {
                let start = Instant::now();
                op.command(&tokens[0], "ping", json!({})).await;
                samples.push(start.elapsed());
            }
            medians.push(summary(
                if Arc::ptr_eq(op, &local) {
                    "ping through the holding node"
                } else {
                    "ping through another node (routed)"
                },
                samples,
            ));
        }
        (medians[0], medians[1])
    });
    println!("routed command: +{:.3} ms p50 over a local one ({:.2}×)", routed_p50 - local_p50, routed_p50 / local_p50);
    let (one, three) = rt.block_on(async {
        let (_, one) = throughput(&local, &tokens, inflight, seconds).await;
        // The same load spread over the three nodes (two thirds of it routed).
        let ops: Vec<Arc<Operator>> = vec![local.clone(), routed.clone(), Arc::new(operator_on(&others[1]))];
        let done = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..inflight {
            let (op, tokens, done) = (ops[worker % 3].clone(), tokens.clone(), done.clone());
            let deadline = started + Duration::from_secs(seconds as u64);
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
        (one, done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
    });
    println!(
        "durable commands/s, {inflight} in flight: {one:.0} through one node, {three:.0} spread over three ({:.2}×)",
        three / one
    );

    // A simulated fleet: agents enrolled through node 0, each connecting first to node i % 3
    // and failing over like the real agent (next address, jittered backoff).
    let agents = per_node * 3;
    let nodes: Vec<std::net::SocketAddr> =
        std::iter::once(fleet.ops.agent).chain(others.iter().map(|o| o.agent)).collect();
    let pids: Vec<u32> =
        std::iter::once(&fleet.ops).chain(others.iter()).map(|o| o.server.as_ref().unwrap().child.id()).collect();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let keys: Vec<SigningKey> = (0..agents)
        .map(|i| SigningKey::from_bytes(&argus_fsm::signed::sha256(format!("cluster-{i}").as_bytes())))
        .collect();
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    enroll_simulated(&rt, &admin, &keys, nodes[0], &ca, "k");
    let rss_before: Vec<u64> = pids.iter().map(|&pid| rss_kib(pid)).collect();
    // Per agent: the node it is on (usize::MAX when not connected), and when it reconnected.
    let on_node: Arc<Vec<std::sync::atomic::AtomicUsize>> =
        Arc::new((0..agents).map(|_| AtomicUsize::new(usize::MAX)).collect());
    let connected = Arc::new(AtomicUsize::new(0));
    let revoked_at: Arc<std::sync::Mutex<Vec<Option<Instant>>>> = Arc::new(std::sync::Mutex::new(vec![None; agents]));
    let closed_after: Arc<std::sync::Mutex<Vec<Duration>>> = Arc::new(std::sync::Mutex::new(Vec::new()));
    let back_at: Arc<std::sync::Mutex<Vec<Option<Instant>>>> = Arc::new(std::sync::Mutex::new(vec![None; agents]));
    // The node list as the real agents hold it: addresses, then (once the nodes have told them)
    // how many agents each node holds.
    let told: Arc<std::sync::RwLock<Vec<argus_agent::link::Candidate>>> = Arc::new(std::sync::RwLock::new(
        nodes.iter().map(|n| argus_agent::link::Candidate { address: n.to_string(), agents_online: None }).collect(),
    ));
    let start = Instant::now();
    let handles: Vec<_> = {
        let _guard = rt.enter();
        let endpoints: Vec<quinn::Endpoint> =
            (0..16).map(|_| argus_agent::link::endpoint_for(nodes[0], &ca).unwrap()).collect();
        let permits = Arc::new(tokio::sync::Semaphore::new(256));
        keys.iter()
            .enumerate()
            .map(|(i, key)| {
                let endpoint = endpoints[i % endpoints.len()].clone();
                let (key, nodes, permits) = (key.clone(), nodes.clone(), permits.clone());
                let (on_node, connected, revoked_at, closed_after, back_at, told) = (
                    on_node.clone(),
                    connected.clone(),
                    revoked_at.clone(),
                    closed_after.clone(),
                    back_at.clone(),
                    told.clone(),
                );
                rt.spawn(async move {
                    // Like the real agent: a draw over the node list weighted by the loads told,
                    // skipping the node whose link just dropped; the first attempt splits the
                    // fleet evenly.
                    let names: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
                    let mut draws = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    let (mut attempt, mut lost, mut first) = (0u32, None::<String>, true);
                    loop {
                        let node = if std::mem::take(&mut first) {
                            i % nodes.len()
                        } else {
                            draws = draws.wrapping_add(0x9E37_79B9_7F4A_7C15);
                            let random = (draws ^ (draws >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                            let list = told.read().unwrap().clone();
                            let pick = argus_agent::link::next_server(&list, random, lost.take().as_deref());
                            names.iter().position(|n| *n == pick).unwrap()
                        };
                        let permit = permits.acquire().await.unwrap();
                        let hello =
                            Hello { agent_id: format!("k{i:05}"), tenant: "T1".into(), intent: Intent::Authenticate };
                        let outcome =
                            argus_agent::link::connect(&endpoint, nodes[node], "127.0.0.1", hello, &key).await;
                        drop(permit);
                        match outcome {
                            Ok(Ok((connection, _send, _recv, _))) => {
                                attempt = 0;
                                on_node[i].store(node, Ordering::SeqCst);
                                back_at.lock().unwrap()[i] = Some(Instant::now());
                                connected.fetch_add(1, Ordering::Relaxed);
                                connection.closed().await;
                                connected.fetch_sub(1, Ordering::Relaxed);
                                on_node[i].store(usize::MAX, Ordering::SeqCst);
                                if let Some(at) = revoked_at.lock().unwrap()[i] {
                                    closed_after.lock().unwrap().push(at.elapsed());
                                    return;
                                }
                                lost = Some(names[node].clone());
                            }
                            Ok(Err(_)) => return,
                            Err(_) => attempt += 1,
                        }
                        let wait = argus_agent::link::backoff(
                            attempt,
                            (i as u64).wrapping_mul(2654435761) ^ start.elapsed().as_nanos() as u64,
                        );
                        tokio::time::sleep(wait).await;
                    }
                })
            })
            .collect()
    };
    let all = wait_until(Duration::from_secs(600), || connected.load(Ordering::Relaxed) == agents);
    println!(
        "connect: {} of {agents} connected and authenticated in {:.1} s",
        connected.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64()
    );
    assert!(all);
    std::thread::sleep(Duration::from_secs(3));
    let split: Vec<usize> = (0..3).map(|n| on_node.iter().filter(|a| a.load(Ordering::SeqCst) == n).count()).collect();
    // What the nodes tell their agents once the loads have settled.
    for (candidate, held) in told.write().unwrap().iter_mut().zip(&split) {
        candidate.agents_online = Some(*held as u64);
    }
    for (n, pid) in pids.iter().enumerate() {
        let after = rss_kib(*pid);
        println!(
            "node {n}: {} agents, RSS {} → {after} KiB: {:.1} KiB per connected agent",
            split[n],
            rss_before[n],
            after.saturating_sub(rss_before[n]) as f64 / split[n].max(1) as f64
        );
    }

    // Revocation through node 2 of agents node 1 holds.
    let via_two = Operator {
        pat: fleet.ops.admin_pat.clone(),
        base: format!("https://{}", others[1].api),
        ..Operator::new(&fleet)
    };
    let targets: Vec<usize> =
        (0..agents).filter(|&i| on_node[i].load(Ordering::SeqCst) == 1).take(revocations).collect();
    rt.block_on(async {
        for &i in &targets {
            revoked_at.lock().unwrap()[i] = Some(Instant::now());
            let (status, body) = via_two
                .post(&format!("/support/agents/k{i:05}/revoke"), None, json!({ "tenant": "T1", "reason": "bench" }))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    });
    wait_until(Duration::from_secs(30), || closed_after.lock().unwrap().len() == targets.len());
    summary(
        &format!(
            "revocation through node 2 of an agent node 1 holds, {} connected: request sent → connection closed",
            connected.load(Ordering::Relaxed)
        ),
        closed_after.lock().unwrap().clone(),
    );

    // Kill node 0: its agents come back on nodes 1 and 2.
    let victims: Vec<usize> = (0..agents).filter(|&i| on_node[i].load(Ordering::SeqCst) == 0).collect();
    let killed = Instant::now();
    fleet.ops.kill();
    let back = wait_until(Duration::from_secs(120), || {
        victims.iter().all(|&i| {
            let node = on_node[i].load(Ordering::SeqCst);
            node == 1 || node == 2
        })
    });
    let times: Vec<Duration> = {
        let back_at = back_at.lock().unwrap();
        victims.iter().filter_map(|&i| back_at[i].filter(|at| *at > killed).map(|at| at - killed)).collect()
    };
    let moved = times.len();
    summary(
        &format!(
            "node 0 killed (kill -9): {moved} of {} of its agents online elsewhere, time after the kill",
            victims.len()
        ),
        times,
    );
    let to_one = victims.iter().filter(|&&i| on_node[i].load(Ordering::SeqCst) == 1).count();
    let to_two = victims.iter().filter(|&&i| on_node[i].load(Ordering::SeqCst) == 2).count();
    println!(
        "spread of the moved agents: node 1 {to_one} ({:.0}%), node 2 {to_two} ({:.0}%){}",
        to_one as f64 * 100.0 / victims.len().max(1) as f64,
        to_two as f64 * 100.0 / victims.len().max(1) as f64,
        if back { "" } else { " — NOT ALL BACK within 120 s" }
    );
    for handle in handles {
        handle.abort();
    }
    others.clear();
}
