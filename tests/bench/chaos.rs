//! `argus-bench chaos` (issue #18): a nemesis run against the real binaries, Jepsen's way.
//!
//! Three `argus-ops` nodes on a highly available PostgreSQL (a primary and a synchronous
//! streaming standby, both hosts in the store URL), real agents (processes) plus simulated
//! ones, and concurrent operator clients (activate, ping, apply_patch sent twice through two
//! nodes, deactivate, PAT creation, revoke with a fresh agent replacing the revoked one,
//! disarm/arm, the agents' kill switch). A nemesis injects, each kind on its own schedule so
//! they overlap: `kill -9` of a node and its restart, `SIGSTOP`/`SIGCONT` of a node (1–15 s),
//! `kill -9` of the database primary (postmaster and backends) with the standby promoted and
//! the old primary rebuilt as a standby, and a partition of the peer links between two nodes
//! (UDP relays in front of the peer listeners). Every client operation is recorded with its
//! start, end and outcome; every command the agents run is recorded agent-side (their log).
//! The checker (`check`) then reads the history, the audit chain and the agents' records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use argus_e2e::pg::Postgres;
use argus_e2e::udp_relay::UdpRelay;
use argus_e2e::{bin, sample_install_root, Agent, Fleet, Ops, OPS_TOKEN};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Wall-clock milliseconds (the agents log theirs in the same clock).
fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// How an operation ended, as the client saw it.
#[derive(Clone, Debug)]
enum Outcome {
    Ok(Value),
    /// An answer with an error code: the operation did not take effect.
    Failed(u16, String),
    /// No answer (a timeout, a connection lost): it may or may not have taken effect.
    Unknown(String),
}

impl Outcome {
    fn ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// One client operation.
#[derive(Clone, Debug)]
struct Op {
    kind: &'static str,
    node: usize,
    /// What it names: a session ID, an agent ID, a patch ID, a PAT owner, the tenant.
    target: String,
    start: i64,
    end: i64,
    outcome: Outcome,
}

/// One injected fault.
#[derive(Clone, Debug)]
struct Fault {
    kind: &'static str,
    detail: String,
    start: i64,
    /// When the nemesis undid it (restart, SIGCONT, heal) or, for the database, promoted.
    healed: i64,
    /// The real agents the node held when it was killed (their commands mark recovery).
    held: Vec<String>,
}

/// What the run shares between clients, nemesis and checker.
struct World {
    apis: RwLock<Vec<SocketAddr>>,
    history: Mutex<Vec<Op>>,
    faults: Mutex<Vec<Fault>>,
    stop: AtomicBool,
    http: reqwest::Client,
    operator: String,
    admin: String,
    /// The real agents' current IDs, by slot.
    slots: Mutex<Vec<Slot>>,
    /// Every agent log ever written (revoked agents' included).
    /// Each real agent's log, by agent ID.
    agent_logs: Mutex<Vec<(String, PathBuf)>>,
    enrolled: AtomicUsize,
}

struct Slot {
    agent_id: String,
    agent: Option<Agent>,
    /// Being replaced: no new sessions.
    replacing: bool,
}

impl World {
    fn record(&self, op: Op) {
        self.history.lock().unwrap().push(op);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// One HTTP call to node `node`, as `pat`: its outcome.
    async fn call(
        &self,
        node: usize,
        method: &str,
        path: &str,
        pat: &str,
        session: Option<&str>,
        body: Value,
    ) -> Outcome {
        let api = self.apis.read().unwrap()[node];
        let url = format!("https://{api}{path}");
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        }
        .header("X-Argus-Ops-Token", OPS_TOKEN)
        .bearer_auth(pat)
        .timeout(Duration::from_secs(30));
        if let Some(session) = session {
            request = request.header("X-Argus-Session", session);
        }
        match request.send().await {
            Err(error) => Outcome::Unknown(error.to_string()),
            Ok(response) => {
                let status = response.status().as_u16();
                match response.json::<Value>().await {
                    Ok(body) if (200..300).contains(&status) => Outcome::Ok(body),
                    Ok(body) => Outcome::Failed(status, body["error"].as_str().unwrap_or("?").to_string()),
                    Err(error) => Outcome::Unknown(format!("status {status}, unreadable body: {error}")),
                }
            }
        }
    }

    /// [`World::call`], recorded as one operation.
    #[allow(clippy::too_many_arguments)]
    async fn op(
        &self,
        kind: &'static str,
        node: usize,
        target: &str,
        method: &str,
        path: &str,
        pat: &str,
        session: Option<&str>,
        body: Value,
    ) -> Outcome {
        let start = now_ms();
        let outcome = self.call(node, method, path, pat, session, body).await;
        self.record(Op { kind, node, target: target.to_string(), start, end: now_ms(), outcome: outcome.clone() });
        outcome
    }
}

impl World {
    /// Activates a session on `agent_id` through `node`, recorded (target `AGENT/SESSION`):
    /// its session ID and token when acknowledged.
    async fn activate(&self, node: usize, agent_id: &str) -> Option<(String, String)> {
        let path = format!("/support/agents/{agent_id}/activate");
        let body = json!({ "tenant": "T1", "reason": "chaos", "ttl_seconds": 600 });
        let start = now_ms();
        let activated = self.call(node, "POST", &path, &self.operator, None, body).await;
        let started = match &activated {
            Outcome::Ok(body) => Some((
                body["session_id"].as_str().unwrap_or("?").to_string(),
                body["session_token"].as_str().unwrap_or("").to_string(),
            )),
            _ => None,
        };
        let session_id = started.as_ref().map_or("", |(id, _)| id.as_str());
        let target = format!("{agent_id}/{session_id}");
        self.record(Op { kind: "activate", node, target, start, end: now_ms(), outcome: activated });
        started
    }

    /// A command in session `session_id` (its `token`) through `node`, recorded as `kind` with
    /// `target`.
    async fn command(&self, kind: &'static str, node: usize, target: &str, token: &str, body: Value) -> Outcome {
        self.op(kind, node, target, "POST", "/support/tenants/T1/commands", &self.operator, Some(token), body).await
    }

    /// Disarms or arms tenant T1 (`kind` is the route's last word) through `node`, recorded.
    async fn tenant_action(&self, kind: &'static str, node: usize) -> Outcome {
        let path = format!("/support/tenants/T1/{kind}");
        self.op(kind, node, "T1", "POST", &path, &self.admin, None, json!({ "reason": "chaos" })).await
    }

    /// Deactivates `session_id` through `node`, recorded.
    async fn deactivate(&self, node: usize, session_id: &str, token: &str) {
        let path = "/support/tenants/T1/session/deactivate";
        let body = json!({ "reason": "chaos" });
        self.op("deactivate", node, session_id, "POST", path, &self.operator, Some(token), body).await;
    }
}

/// The run's settings.
pub(crate) struct Settings {
    pub seconds: u64,
    pub faults_per_kind: u32,
    pub seed: u64,
    pub real_agents: usize,
    pub simulated_agents: usize,
    /// The fault kinds to inject; empty: all four.
    pub kinds: Vec<String>,
}

/// The database: a primary and a synchronous standby on two fixed ports (the store URL's).
struct Db {
    servers: Vec<Option<Postgres>>,
    ports: [u16; 2],
    primary: usize,
}

impl Db {
    fn start() -> Db {
        let primary = Postgres::start();
        let standby = primary.start_standby();
        primary.make_synchronous();
        let ports = [primary.port, standby.port];
        Db { servers: vec![Some(primary), Some(standby)], ports, primary: 0 }
    }

    fn url(&self) -> String {
        let password = self.servers[self.primary].as_ref().unwrap().password().to_string();
        format!(
            "postgres://argus:{password}@127.0.0.1:{},127.0.0.1:{}/argus?sslmode=disable&connect_timeout=2",
            self.ports[0], self.ports[1]
        )
    }

    fn primary(&self) -> &Postgres {
        self.servers[self.primary].as_ref().unwrap()
    }

    /// The primary's host dies; the standby is promoted (and, as Patroni does without strict
    /// mode, stops waiting for a standby); the dead one is rebuilt as the new standby on its
    /// port and made synchronous again. Answers when the kill and the promotion happened.
    fn fail_over(&mut self) -> (i64, i64) {
        let old = self.primary;
        let new = 1 - old;
        let killed = now_ms();
        self.servers[old].as_mut().unwrap().kill9();
        let promoted_server = self.servers[new].as_ref().unwrap();
        promoted_server.promote();
        promoted_server.make_asynchronous();
        let promoted = now_ms();
        self.primary = new;
        // The old primary's data is thrown away: a fresh base backup of the new primary.
        let rebuilt = self.primary().start_standby_on(self.ports[old]);
        assert_eq!(rebuilt.port, self.ports[old], "the rebuilt standby could not take its old port back");
        drop(self.servers[old].replace(rebuilt));
        self.primary().make_synchronous();
        (killed, promoted)
    }
}

/// One node and what the nemesis knows of it.
struct Node {
    ops: Ops,
    relay: UdpRelay,
    /// Its peer endpoint's address (the source the other relays see).
    peer: SocketAddr,
    down: bool,
    paused: bool,
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Restarts `ops` (same agent port) until it serves: the database may be failing over.
fn restart(ops: &mut Ops) {
    let port = ops.agent.port();
    for attempt in 0.. {
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ops.serve(Some(port))));
        if started.is_ok() {
            return;
        }
        assert!(attempt < 10, "a node would not restart");
        if let Some(mut server) = ops.server.take() {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn signal(ops: &Ops, signal: rustix::process::Signal) {
    let pid = ops.server.as_ref().expect("running").child.id() as i32;
    let _ = rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), signal);
}

pub(crate) fn chaos(settings: Settings) -> bool {
    let Settings { seconds, faults_per_kind, seed, real_agents, simulated_agents, kinds } = settings;
    let injects = |kind: &str| kinds.is_empty() || kinds.iter().any(|k| k == kind);
    println!(
        "== chaos: 3 nodes on a primary + synchronous standby, {real_agents} real and {simulated_agents} simulated agents, {seconds} s, ~{faults_per_kind} faults of each kind, seed {seed}"
    );
    let db = Db::start();
    let url = db.url();
    let mut fleet = Fleet::armed_on(Ops::start_on_url(&url, &[("ARGUS_LOG", "info")]));
    let patch_key = fleet.keys.join("patch.pub");
    let mut joined: Vec<Ops> = (0..2).map(|_| fleet.ops.join(Some(&url))).collect();
    // Every node behind a relay on its peer listener, announced instead of the listener.
    let mut nodes = Vec::new();
    let mut all: Vec<Ops> = Vec::new();
    // Node 0 stays inside the fleet fixture; its server is moved into the node list.
    let founding = std::mem::replace(
        &mut fleet.ops,
        Ops { server: None, postgres: None, embedded: None, ..clone_shell(&joined[0]) },
    );
    all.push(founding);
    all.append(&mut joined);
    for mut ops in all {
        let port = free_udp_port();
        let peer: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let relay = UdpRelay::start(peer);
        ops.serve_args = vec![
            "--peer-listen".into(),
            peer.to_string(),
            "--peer-advertise".into(),
            relay.addr.to_string(),
            "--patch-pubkey".into(),
            patch_key.to_string_lossy().into(),
        ];
        if let Some(mut server) = ops.server.take() {
            server.terminate();
        }
        restart(&mut ops);
        nodes.push(Node { ops, relay, peer, down: false, paused: false });
    }
    let ca = std::fs::read(nodes[0].ops.ca()).unwrap();
    let http = crate::common::https_client(&ca);
    let world = Arc::new(World {
        apis: RwLock::new(nodes.iter().map(|n| n.ops.api).collect()),
        history: Mutex::default(),
        faults: Mutex::default(),
        stop: AtomicBool::new(false),
        http,
        operator: fleet.operator.clone(),
        admin: nodes[0].ops.admin_pat.clone(),
        slots: Mutex::default(),
        agent_logs: Mutex::default(),
        enrolled: AtomicUsize::new(0),
    });
    let agent_addrs: String = nodes.iter().map(|n| n.ops.agent.to_string()).collect::<Vec<_>>().join(",");
    let work = nodes[0].ops.dir.path().to_path_buf();
    let rt = crate::common::runtime();
    for _ in 0..real_agents {
        let agent = rt.block_on(enroll(&world, &fleet_shell(&fleet), &work, &agent_addrs)).expect("setup enrolls");
        world.slots.lock().unwrap().push(agent);
    }
    let simulated: Vec<String> = (0..simulated_agents).map(|i| format!("s{i:03}")).collect();
    let stop_simulated = start_simulated(&rt, &world, &simulated, &nodes, &ca);
    let nodes = Arc::new(Mutex::new(nodes));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    println!("setup done; running {seconds} s");

    // The clients.
    let mut clients = Vec::new();
    for slot in 0..real_agents {
        clients.push(rt.spawn(session_worker(
            world.clone(),
            slot,
            seed ^ slot as u64,
            fleet.keys.clone(),
            work.clone(),
        )));
    }
    clients.push(rt.spawn(pat_writer(world.clone(), seed ^ 0x100)));
    clients.push(rt.spawn(simulated_sessions(world.clone(), simulated.clone(), seed ^ 0x200)));
    clients.push(rt.spawn(tenant_toggler(world.clone(), seed ^ 0x300)));
    clients.push(rt.spawn(kill_switch(world.clone(), seed ^ 0x400)));
    clients.push(rt.spawn(revoker(
        world.clone(),
        seed ^ 0x500,
        fleet_shell(&fleet),
        work.clone(),
        agent_addrs.clone(),
    )));

    // The nemesis: each kind on its own thread and schedule.
    let interval = Duration::from_millis(seconds * 1000 / u64::from(faults_per_kind.max(1)));
    let db = Arc::new(Mutex::new(db));
    let nemeses = vec![
        injects("node_kill").then(|| {
            spawn_nemesis("node_kill", seed ^ 1, interval, deadline, {
                let (nodes, world) = (nodes.clone(), world.clone());
                move |rng| node_kill(&nodes, &world, rng)
            })
        }),
        injects("pause").then(|| {
            spawn_nemesis("pause", seed ^ 2, interval, deadline, {
                let (nodes, world) = (nodes.clone(), world.clone());
                move |rng| pause(&nodes, &world, rng)
            })
        }),
        injects("db_failover").then(|| {
            spawn_nemesis("db_failover", seed ^ 3, interval, deadline, {
                let (db, world) = (db.clone(), world.clone());
                move |_| {
                    let (killed, promoted) = db.lock().unwrap().fail_over();
                    world.faults.lock().unwrap().push(Fault {
                        kind: "db_failover",
                        detail: String::new(),
                        start: killed,
                        healed: promoted,
                        held: vec![],
                    });
                }
            })
        }),
        injects("partition").then(|| {
            spawn_nemesis("partition", seed ^ 4, interval, deadline, {
                let (nodes, world) = (nodes.clone(), world.clone());
                move |rng| partition(&nodes, &world, rng)
            })
        }),
    ];
    for nemesis in nemeses.into_iter().flatten() {
        nemesis.join().expect("the nemesis ran");
    }
    // Heal everything, let the clients finish what they hold, and stop.
    {
        let mut nodes = nodes.lock().unwrap();
        for i in 0..nodes.len() {
            if nodes[i].paused {
                signal(&nodes[i].ops, rustix::process::Signal::CONT);
                nodes[i].paused = false;
            }
            if nodes[i].down {
                restart(&mut nodes[i].ops);
                nodes[i].down = false;
                world.apis.write().unwrap()[i] = nodes[i].ops.api;
            }
        }
    }
    world.stop.store(true, Ordering::SeqCst);
    rt.block_on(async {
        for client in clients {
            let _ = tokio::time::timeout(Duration::from_secs(90), client).await;
        }
    });
    stop_simulated.store(true, Ordering::SeqCst);
    // The agents' records are complete once they have stopped.
    for slot in world.slots.lock().unwrap().iter_mut() {
        if let Some(mut agent) = slot.agent.take() {
            agent.process.terminate();
        }
    }
    let db = db.lock().unwrap();
    let log_dirs: Vec<PathBuf> = nodes.lock().unwrap().iter().map(|n| n.ops.dir.path().to_path_buf()).collect();
    let report = check(&world, &db, &url, &log_dirs);
    drop(nodes);
    report
}

/// A copy of an `Ops`'s plain fields (the fixture keeps a shell for its helpers).
fn clone_shell(ops: &Ops) -> Ops {
    Ops {
        dir: tempfile::tempdir().unwrap(),
        admin_pat: ops.admin_pat.clone(),
        api: ops.api,
        agent: ops.agent,
        env: ops.env.clone(),
        serve_args: vec![],
        nofile: None,
        cluster_secret: ops.cluster_secret.clone(),
        server: None,
        embedded: None,
        postgres: None,
    }
}

/// What enrolling needs of the fleet fixture.
#[derive(Clone)]
struct FleetShell {
    tenant: String,
    keys: PathBuf,
}

fn fleet_shell(fleet: &Fleet) -> FleetShell {
    FleetShell { tenant: fleet.tenant.clone(), keys: fleet.keys.clone() }
}

/// Enrolls a new real agent (an enrollment token through any node that answers) and starts
/// it; it is given every node.
async fn enroll(world: &World, fleet: &FleetShell, work: &Path, servers: &str) -> Option<Slot> {
    let n = world.enrolled.fetch_add(1, Ordering::SeqCst);
    let agent_id = format!("real-{n:03}");
    let root = work.join(format!("root-{agent_id}"));
    sample_install_root(&root);
    let mut token = None;
    for attempt in 0..60 {
        if world.stopped() && attempt > 0 {
            return None;
        }
        let node = attempt % world.apis.read().unwrap().len();
        let path = format!("/support/tenants/{}/enrollment-tokens", fleet.tenant);
        if let Outcome::Ok(body) =
            world.call(node, "POST", &path, &world.admin, None, json!({ "agent_id": agent_id })).await
        {
            token = body["token"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let token = token?;
    for attempt in 0..30 {
        let out = tokio::process::Command::new(bin("argus-agent"))
            .args(["enroll", "--install-root"])
            .arg(&root)
            .args(["--server", servers, "--server-ca"])
            .arg(work.join("ops").join("tls").join("ca.pem"))
            .args(["--tenant", &fleet.tenant, "--agent-id", &agent_id, "--token", &token, "--patch-pubkey"])
            .arg(fleet.keys.join("patch.pub"))
            .output()
            .await
            .expect("enroll runs");
        if out.status.success() {
            break;
        }
        if attempt == 29 || world.stopped() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let agent = Agent::start(&root, work);
    world.agent_logs.lock().unwrap().push((agent_id.clone(), agent.process.log.clone()));
    Some(Slot { agent_id, agent: Some(agent), replacing: false })
}

/// Simulated agents: the agent library's connection code, reconnecting to a random node.
fn start_simulated(
    rt: &tokio::runtime::Runtime,
    world: &Arc<World>,
    ids: &[String],
    nodes: &[Node],
    ca: &[u8],
) -> Arc<AtomicBool> {
    use ed25519_dalek::SigningKey;
    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.ops.agent).collect();
    let admin = crate::common::Operator {
        http: world.http.clone(),
        base: format!("https://{}", nodes[0].ops.api),
        pat: world.admin.clone(),
    };
    let keys: Vec<SigningKey> = ids
        .iter()
        .map(|id| SigningKey::from_bytes(&argus_fsm::signed::sha256(format!("chaos-{id}").as_bytes())))
        .collect();
    crate::common::enroll_simulated(rt, &admin, &keys, addrs[0], ca, "s");
    let _entered = rt.enter();
    for (i, key) in keys.into_iter().enumerate() {
        let endpoint = argus_agent::link::endpoint_for(addrs[0], ca).unwrap();
        let agent = argus_e2e::simulated::SimulatedAgent::new(format!("s{i:05}"), key, endpoint, ca, i as u64);
        let (addrs, stop) = (addrs.clone(), stop.clone());
        rt.spawn(async move {
            let counters = argus_e2e::simulated::Counters::default();
            let mut pick = i;
            let server = |lost: Option<SocketAddr>| {
                pick += 1;
                let mut addr = addrs[pick % addrs.len()];
                if Some(addr) == lost {
                    pick += 1;
                    addr = addrs[pick % addrs.len()];
                }
                addr
            };
            let stop2 = stop.clone();
            let linked = move |connection: quinn::Connection, _| {
                let stop = stop2.clone();
                async move {
                    loop {
                        tokio::select! {
                            _ = connection.closed() => return argus_e2e::simulated::AfterLink::Reconnect,
                            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                                if stop.load(Ordering::SeqCst) {
                                    return argus_e2e::simulated::AfterLink::Stop;
                                }
                            }
                        }
                    }
                }
            };
            agent.run(usize::MAX, None, &counters, server, linked).await
        });
    }
    stop
}

/// Random node.
fn any_node(world: &World, rng: &mut impl Rng) -> usize {
    rng.random_range(0..world.apis.read().unwrap().len())
}

/// A real agent's sessions: activate, pings, one patch sent through two nodes at once,
/// deactivate; again, until the run stops.
async fn session_worker(world: Arc<World>, slot: usize, seed: u64, keys: PathBuf, work: PathBuf) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut patch_number = 0;
    while !world.stopped() {
        let agent_id = {
            let slots = world.slots.lock().unwrap();
            if slots[slot].replacing {
                None
            } else {
                Some(slots[slot].agent_id.clone())
            }
        };
        let Some(agent_id) = agent_id else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let node = any_node(&world, &mut rng);
        let Some((session_id, token)) = world.activate(node, &agent_id).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let commands = rng.random_range(3..10);
        for i in 0..commands {
            if world.stopped() {
                break;
            }
            let node = any_node(&world, &mut rng);
            let ping = json!({ "command": "ping", "args": {} });
            let answer = world.command("command", node, &session_id, &token, ping).await;
            if let Outcome::Failed(_, code) = &answer {
                if ["session_expired", "agent_revoked", "tenant_disarmed", "remote_support_off", "session_not_found"]
                    .contains(&code.as_str())
                {
                    break;
                }
            }
            if i == commands / 2 {
                // One patch, sent through two nodes at once: it may apply once at most.
                patch_number += 1;
                let Some((patch_id, envelope)) = sign_patch(&keys, &work, slot, patch_number).await else { continue };
                let (a, b) = (any_node(&world, &mut rng), any_node(&world, &mut rng));
                let body = json!({ "command": "apply_patch", "args": { "patch": envelope } });
                let first = world.command("apply_patch", a, &patch_id, &token, body.clone());
                let second = world.command("apply_patch", b, &patch_id, &token, body);
                let _ = futures_util::future::join(first, second).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(10..100))).await;
        }
        let node = any_node(&world, &mut rng);
        world.deactivate(node, &session_id, &token).await;
    }
}

/// Signs a new patch of `config.yaml` (its ID from argusctl's answer).
async fn sign_patch(keys: &Path, work: &Path, slot: usize, n: usize) -> Option<(String, Value)> {
    let content = work.join(format!("patch-{slot}-{n}.yaml"));
    let out = work.join(format!("patch-{slot}-{n}.json"));
    std::fs::write(&content, format!("poll: {n}\n")).ok()?;
    let signed = tokio::process::Command::new(bin("argusctl"))
        .args(["patch", "sign", "--key"])
        .arg(keys.join("patch.key"))
        .args(["--target", "config.yaml", "--file"])
        .arg(&content)
        .args(["--not-before", "2026-01-01T00:00:00Z", "--not-after", "2030-01-01T00:00:00Z", "--out"])
        .arg(&out)
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&signed.stdout);
    let patch_id = text.split_whitespace().nth(2)?.to_string();
    let envelope: Value = serde_json::from_slice(&std::fs::read(&out).ok()?).ok()?;
    Some((patch_id, envelope))
}

/// PATs with unique owners: the one operation whose every record is exactly identifiable.
async fn pat_writer(world: Arc<World>, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut n = 0;
    while !world.stopped() {
        n += 1;
        let owner = format!("chaos{n}@example.com");
        let node = any_node(&world, &mut rng);
        world
            .op(
                "pat_create",
                node,
                &owner,
                "POST",
                "/admin/pats",
                &world.admin,
                None,
                json!({ "owner": owner, "scopes": ["remote_support"] }),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..120))).await;
    }
}

/// Sessions on the simulated agents (no commands: they do not answer them).
async fn simulated_sessions(world: Arc<World>, ids: Vec<String>, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    while !world.stopped() && !ids.is_empty() {
        let agent_id = format!("s{:05}", rng.random_range(0..ids.len()));
        let node = any_node(&world, &mut rng);
        if let Some((session_id, token)) = world.activate(node, &agent_id).await {
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..1000))).await;
            let node = any_node(&world, &mut rng);
            world.deactivate(node, &session_id, &token).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..300))).await;
    }
}

/// Disarms the tenant now and then, and arms it again (until the arm is acknowledged).
async fn tenant_toggler(world: Arc<World>, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    loop {
        if sleep_unless_stopped(&world, Duration::from_millis(rng.random_range(8_000..20_000))).await {
            return;
        }
        let node = any_node(&world, &mut rng);
        world.tenant_action("disarm", node).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(500..3_000))).await;
        // Armed again whatever happens (the run must not end disarmed).
        for _ in 0..120 {
            let node = any_node(&world, &mut rng);
            if world.tenant_action("arm", node).await.ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Sleeps, unless the run stops first (true then).
async fn sleep_unless_stopped(world: &World, duration: Duration) -> bool {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        if world.stopped() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    world.stopped()
}

/// The tenant's kill switch on a real agent: off (recorded when the CLI returns), then on.
async fn kill_switch(world: Arc<World>, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    loop {
        if sleep_unless_stopped(&world, Duration::from_millis(rng.random_range(10_000..25_000))).await {
            return;
        }
        let picked = {
            let slots = world.slots.lock().unwrap();
            let slot = rng.random_range(0..slots.len());
            slots[slot].agent.as_ref().map(|a| (slots[slot].agent_id.clone(), a.root.clone()))
        };
        let Some((agent_id, root)) = picked else { continue };
        for (kind, subcommand) in [("kill_switch_off", "remote-support-off"), ("kill_switch_on", "remote-support-on")] {
            let start = now_ms();
            let out = tokio::process::Command::new(bin("argus-agent"))
                .args([subcommand, "--install-root"])
                .arg(&root)
                .output()
                .await;
            let outcome = match out {
                Ok(out) if out.status.success() => Outcome::Ok(Value::Null),
                Ok(out) => Outcome::Failed(0, String::from_utf8_lossy(&out.stderr).chars().take(200).collect()),
                Err(error) => Outcome::Unknown(error.to_string()),
            };
            world.record(Op { kind, node: usize::MAX, target: agent_id.clone(), start, end: now_ms(), outcome });
            tokio::time::sleep(Duration::from_millis(rng.random_range(1_000..4_000))).await;
        }
    }
}

/// Revokes a real agent now and then, and enrolls a fresh one in its slot.
async fn revoker(world: Arc<World>, seed: u64, fleet: FleetShell, work: PathBuf, servers: String) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    loop {
        if sleep_unless_stopped(&world, Duration::from_millis(rng.random_range(20_000..45_000))).await {
            return;
        }
        let (slot, agent_id) = {
            let slots = world.slots.lock().unwrap();
            let slot = rng.random_range(0..slots.len());
            (slot, slots[slot].agent_id.clone())
        };
        let mut revoked = false;
        for _ in 0..120 {
            let node = any_node(&world, &mut rng);
            let answer = world
                .op(
                    "revoke",
                    node,
                    &agent_id,
                    "POST",
                    &format!("/support/agents/{agent_id}/revoke"),
                    &world.admin,
                    None,
                    json!({ "tenant": "T1", "reason": "chaos" }),
                )
                .await;
            match answer {
                Outcome::Ok(_) => {
                    revoked = true;
                    break;
                }
                Outcome::Failed(_, code) if code == "agent_revoked" => {
                    revoked = true;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
            if world.stopped() {
                break;
            }
        }
        if !revoked {
            continue;
        }
        let old = {
            let mut slots = world.slots.lock().unwrap();
            slots[slot].replacing = true;
            slots[slot].agent.take()
        };
        // The revoked agent keeps running a little (it must refuse, not be trusted to stop).
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(mut old) = old {
            old.process.terminate();
        }
        match enroll(&world, &fleet, &work, &servers).await {
            Some(fresh) => world.slots.lock().unwrap()[slot] = fresh,
            None => return,
        }
    }
}

/// Runs `inject` about every `interval` (jittered, counted from one fault's start to the next,
/// so a long fault does not thin the schedule) until `deadline`.
fn spawn_nemesis(
    kind: &'static str,
    seed: u64,
    interval: Duration,
    deadline: Instant,
    mut inject: impl FnMut(&mut rand_chacha::ChaCha8Rng) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("nemesis-{kind}"))
        .spawn(move || {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut next = Instant::now() + interval.mul_f64(rng.random_range(0.2..1.0));
            loop {
                if next >= deadline {
                    return;
                }
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next += interval.mul_f64(rng.random_range(0.6..1.4));
                inject(&mut rng);
            }
        })
        .unwrap()
}

/// The real agents node `i` holds, as a live node lists them.
fn held_by(world: &World, node_id: &str, via: usize) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listed = rt.block_on(world.call(via, "GET", "/support/tenants/T1/agents", &world.operator, None, Value::Null));
    match listed {
        Outcome::Ok(body) => body["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["node"] == node_id && a["agent_id"].as_str().is_some_and(|id| id.starts_with("real-")))
            .filter_map(|a| a["agent_id"].as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

fn node_kill(nodes: &Mutex<Vec<Node>>, world: &World, rng: &mut rand_chacha::ChaCha8Rng) {
    let (i, node_id, via) = {
        let nodes = nodes.lock().unwrap();
        let candidates: Vec<usize> = (0..nodes.len()).filter(|&i| !nodes[i].down && !nodes[i].paused).collect();
        if candidates.len() < 2 {
            return;
        }
        let i = candidates[rng.random_range(0..candidates.len())];
        let node_id = nodes[i].ops.addresses()["node_id"].as_str().unwrap_or("").to_string();
        (i, node_id, candidates.iter().copied().find(|&j| j != i).unwrap())
    };
    let held = held_by(world, &node_id, via);
    let start = {
        let mut nodes = nodes.lock().unwrap();
        if nodes[i].down || nodes[i].paused {
            return;
        }
        nodes[i].ops.kill();
        nodes[i].down = true;
        now_ms()
    };
    std::thread::sleep(Duration::from_millis(rng.random_range(1_000..5_000)));
    let mut nodes = nodes.lock().unwrap();
    restart(&mut nodes[i].ops);
    nodes[i].down = false;
    world.apis.write().unwrap()[i] = nodes[i].ops.api;
    world.faults.lock().unwrap().push(Fault {
        kind: "node_kill",
        detail: format!("node {i}"),
        start,
        healed: now_ms(),
        held,
    });
}

fn pause(nodes: &Mutex<Vec<Node>>, world: &World, rng: &mut rand_chacha::ChaCha8Rng) {
    let i = {
        let mut nodes = nodes.lock().unwrap();
        let candidates: Vec<usize> = (0..nodes.len()).filter(|&i| !nodes[i].down && !nodes[i].paused).collect();
        if candidates.len() < 2 {
            return;
        }
        let i = candidates[rng.random_range(0..candidates.len())];
        signal(&nodes[i].ops, rustix::process::Signal::STOP);
        nodes[i].paused = true;
        i
    };
    let start = now_ms();
    std::thread::sleep(Duration::from_millis(rng.random_range(1_000..15_000)));
    let mut nodes = nodes.lock().unwrap();
    signal(&nodes[i].ops, rustix::process::Signal::CONT);
    nodes[i].paused = false;
    world.faults.lock().unwrap().push(Fault {
        kind: "pause",
        detail: format!("node {i}"),
        start,
        healed: now_ms(),
        held: vec![],
    });
}

fn partition(nodes: &Mutex<Vec<Node>>, world: &World, rng: &mut rand_chacha::ChaCha8Rng) {
    let (a, b) = {
        let nodes = nodes.lock().unwrap();
        let a = rng.random_range(0..nodes.len());
        let b = (a + rng.random_range(1..nodes.len())) % nodes.len();
        nodes[a].relay.block(nodes[b].peer);
        nodes[b].relay.block(nodes[a].peer);
        (a, b)
    };
    let start = now_ms();
    std::thread::sleep(Duration::from_millis(rng.random_range(2_000..10_000)));
    let nodes = nodes.lock().unwrap();
    nodes[a].relay.heal(nodes[b].peer);
    nodes[b].relay.heal(nodes[a].peer);
    world.faults.lock().unwrap().push(Fault {
        kind: "partition",
        detail: format!("nodes {a}|{b}"),
        start,
        healed: now_ms(),
        held: vec![],
    });
}

/// What an agent's log says it ran: (session, command, patch ID, when it started).
#[derive(Debug, Clone)]
struct Executed {
    session: String,
    command: String,
    patch_id: Option<String>,
    at: i64,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    Some(rest.split_whitespace().next().unwrap_or(""))
}

/// When each real agent's link came up (the agents log it with the time), by agent ID.
fn connections(logs: &[(String, PathBuf)]) -> HashMap<String, Vec<i64>> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for (agent_id, log) in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("connected and authenticated")) {
            if let Some(at) = field(line, "at_ms").and_then(|at| at.parse().ok()) {
                out.entry(agent_id.clone()).or_default().push(at);
            }
        }
    }
    out
}

fn executed_commands(logs: &[(String, PathBuf)]) -> Vec<Executed> {
    let mut out = Vec::new();
    for (_, log) in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("command executed")) {
            let (Some(session), Some(command), Some(at)) =
                (field(line, "session"), field(line, "command"), field(line, "at_ms"))
            else {
                continue;
            };
            let patch_id = field(line, "patch_id").filter(|p| *p != "-").map(str::to_string);
            out.push(Executed {
                session: session.to_string(),
                command: command.to_string(),
                patch_id,
                at: at.parse().unwrap_or(0),
            });
        }
    }
    out
}

/// Milliseconds of an audit record's `at` (RFC 3339, UTC).
fn at_ms(record: &Value) -> i64 {
    let text = record["at"].as_str().unwrap_or("");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

/// Reads the history, the audit chain and the agents' records; prints every anomaly, the
/// counts and each fault kind's recovery times. True when there is no anomaly.
fn check(world: &World, db: &Db, url: &str, log_dirs: &[PathBuf]) -> bool {
    let history = world.history.lock().unwrap().clone();
    let faults = world.faults.lock().unwrap().clone();
    // The raw history, for a second look (`ARGUS_CHAOS_HISTORY=FILE`: one JSON object a line).
    if let Ok(path) = std::env::var("ARGUS_CHAOS_HISTORY") {
        let mut lines = String::new();
        for op in &history {
            let outcome = match &op.outcome {
                Outcome::Ok(_) => json!("ok"),
                Outcome::Failed(status, code) => json!({ "status": status, "code": code }),
                Outcome::Unknown(why) => json!({ "unanswered": why }),
            };
            lines.push_str(&json!({ "op": op.kind, "node": op.node, "target": op.target, "start": op.start, "end": op.end, "outcome": outcome }).to_string());
            lines.push('\n');
        }
        for fault in &faults {
            lines.push_str(&json!({ "fault": fault.kind, "detail": fault.detail, "start": fault.start, "healed": fault.healed, "held": fault.held }).to_string());
            lines.push('\n');
        }
        if let Err(error) = std::fs::write(&path, lines) {
            eprintln!("could not write the history to {path}: {error}");
        }
    }
    let mut anomalies: Vec<String> = Vec::new();
    // The chain verifies as one chain.
    let verify =
        std::process::Command::new(bin("argus-ops")).args(["audit", "verify", "--store", url]).output().unwrap();
    if !verify.status.success() {
        anomalies.push(format!("broken chain: {}", String::from_utf8_lossy(&verify.stdout)));
    }
    let records: Vec<Value> = db
        .primary()
        .psql("argus", "SELECT record FROM audit ORDER BY seq")
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let events = |name: &'static str| records.iter().filter(move |r| r["event"] == name);

    // PATs: exactly one record per acknowledged creation, none for a failed one.
    let mut pat_records: HashMap<&str, usize> = HashMap::new();
    for r in events("pat_created") {
        *pat_records.entry(r["details"]["owner"].as_str().unwrap_or("")).or_default() += 1;
    }
    for op in history.iter().filter(|o| o.kind == "pat_create") {
        let n = pat_records.get(op.target.as_str()).copied().unwrap_or(0);
        match (&op.outcome, n) {
            (Outcome::Ok(_), 1) | (Outcome::Failed(..), 0) | (Outcome::Unknown(_), 0 | 1) => {}
            (Outcome::Ok(_), 0) => anomalies.push(format!("acknowledged PAT {} has no audit record", op.target)),
            (Outcome::Failed(status, code), _) => {
                anomalies.push(format!("PAT {} answered {status} {code} yet recorded {n}×", op.target))
            }
            (_, n) => anomalies.push(format!("PAT {} recorded {n}×", op.target)),
        }
    }
    // Sessions: one start per acknowledged activation, one end at most per session.
    let mut started: HashMap<&str, usize> = HashMap::new();
    for r in events("remote_support_session_started") {
        *started.entry(r["session_id"].as_str().unwrap_or("")).or_default() += 1;
    }
    let mut ended: HashMap<&str, usize> = HashMap::new();
    for r in events("remote_support_session_ended") {
        *ended.entry(r["session_id"].as_str().unwrap_or("")).or_default() += 1;
    }
    let acked_sessions: HashSet<String> = history
        .iter()
        .filter(|o| o.kind == "activate" && o.outcome.ok())
        .map(|o| o.target.split_once('/').map(|(_, s)| s.to_string()).unwrap_or_default())
        .collect();
    for session in &acked_sessions {
        if started.get(session.as_str()).copied().unwrap_or(0) != 1 {
            anomalies.push(format!(
                "acknowledged session {session} has {} start records",
                started.get(session.as_str()).copied().unwrap_or(0)
            ));
        }
    }
    let unknown_activations =
        history.iter().filter(|o| o.kind == "activate" && matches!(o.outcome, Outcome::Unknown(_))).count();
    let unacked_starts = started.keys().filter(|s| !acked_sessions.contains(**s)).count();
    if unacked_starts > unknown_activations {
        anomalies.push(format!(
            "{unacked_starts} sessions started without an acknowledged activation, but only {unknown_activations} activations went unanswered"
        ));
    }
    for (session, n) in &ended {
        if *n > 1 {
            anomalies.push(format!("session {session} ended {n}×"));
        }
    }
    for op in history.iter().filter(|o| o.kind == "deactivate" && o.outcome.ok()) {
        if ended.get(op.target.as_str()).copied().unwrap_or(0) != 1 {
            anomalies.push(format!("acknowledged deactivation of {} has no end record", op.target));
        }
    }
    // Two live sessions for one agent at any moment (in chain order).
    let mut live: HashMap<String, String> = HashMap::new();
    let mut agent_of: HashMap<String, String> = HashMap::new();
    for r in &records {
        let session = r["session_id"].as_str().unwrap_or("").to_string();
        let agent = r["agent"].as_str().unwrap_or("").to_string();
        match r["event"].as_str() {
            Some("remote_support_session_started") => {
                if let Some(other) = live.get(&agent) {
                    anomalies.push(format!(
                        "agent {agent}: session {session} started while {other} was live (seq {})",
                        r["seq"]
                    ));
                }
                live.insert(agent.clone(), session.clone());
                agent_of.insert(session, agent);
            }
            Some("remote_support_session_ended") if live.get(&agent) == Some(&session) => {
                live.remove(&agent);
            }
            _ => {}
        }
    }
    // Commands: per session, acknowledged ≤ recorded ≤ acknowledged + unanswered; every
    // acknowledged one ran on the agent.
    let executed = executed_commands(&world.agent_logs.lock().unwrap());
    let mut ran: HashMap<&str, usize> = HashMap::new();
    for e in executed.iter().filter(|e| e.command == "ping") {
        *ran.entry(e.session.as_str()).or_default() += 1;
    }
    let mut recorded: HashMap<&str, usize> = HashMap::new();
    for r in events("remote_support_command")
        .filter(|r| r["details"]["outcome"] == "ok" && r["details"]["command"] == "ping")
    {
        *recorded.entry(r["session_id"].as_str().unwrap_or("")).or_default() += 1;
    }
    let mut per_session: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for op in history.iter().filter(|o| o.kind == "command") {
        let entry = per_session.entry(op.target.as_str()).or_default();
        match op.outcome {
            Outcome::Ok(_) => entry.0 += 1,
            Outcome::Unknown(_) => entry.1 += 1,
            Outcome::Failed(..) => {}
        }
    }
    let mut ran_unrecorded = 0;
    for (session, (acked, unknown)) in &per_session {
        let audited = recorded.get(session).copied().unwrap_or(0);
        let executed = ran.get(session).copied().unwrap_or(0);
        if audited < *acked {
            anomalies.push(format!("session {session}: {acked} commands acknowledged, {audited} recorded"));
        }
        if audited > acked + unknown {
            anomalies.push(format!(
                "session {session}: {audited} commands recorded, only {acked} acknowledged and {unknown} unanswered"
            ));
        }
        if executed < *acked {
            anomalies.push(format!("session {session}: {acked} commands acknowledged, {executed} ran on the agent"));
        }
        ran_unrecorded += executed.saturating_sub(audited);
    }
    // Patches: none applied twice; an acknowledged one ran and is recorded once.
    let mut applied: HashMap<&str, usize> = HashMap::new();
    for e in executed.iter().filter_map(|e| e.patch_id.as_deref()) {
        *applied.entry(e).or_default() += 1;
    }
    for (patch, n) in &applied {
        if *n > 1 {
            anomalies.push(format!("patch {patch} applied {n}×"));
        }
    }
    let mut patch_records: HashMap<&str, usize> = HashMap::new();
    for r in events("patch_applied") {
        *patch_records.entry(r["details"]["patch_id"].as_str().unwrap_or("")).or_default() += 1;
    }
    for (patch, n) in &patch_records {
        if *n > 1 {
            anomalies.push(format!("patch {patch} recorded applied {n}×"));
        }
    }
    let acked_patches: HashSet<&str> =
        history.iter().filter(|o| o.kind == "apply_patch" && o.outcome.ok()).map(|o| o.target.as_str()).collect();
    for patch in &acked_patches {
        if patch_records.get(patch).copied().unwrap_or(0) != 1 || applied.get(patch).copied().unwrap_or(0) != 1 {
            anomalies.push(format!(
                "acknowledged patch {patch}: recorded {}×, applied {}×",
                patch_records.get(patch).copied().unwrap_or(0),
                applied.get(patch).copied().unwrap_or(0)
            ));
        }
    }
    // A command run after its session's end or its agent's revocation was acknowledged (the
    // kill switch and a disarm take effect within 1 s: SPEC §5, §10).
    let mut ended_at: HashMap<&str, i64> = HashMap::new();
    for op in history.iter().filter(|o| o.kind == "deactivate" && o.outcome.ok()) {
        ended_at.entry(op.target.as_str()).and_modify(|t| *t = (*t).min(op.end)).or_insert(op.end);
    }
    let mut revoked_at: HashMap<&str, i64> = HashMap::new();
    for op in history.iter().filter(|o| {
        o.kind == "revoke" && (o.outcome.ok() || matches!(&o.outcome, Outcome::Failed(_, c) if c == "agent_revoked"))
    }) {
        revoked_at.entry(op.target.as_str()).and_modify(|t| *t = (*t).min(op.end)).or_insert(op.end);
    }
    let disarms: Vec<i64> = history.iter().filter(|o| o.kind == "disarm" && o.outcome.ok()).map(|o| o.end).collect();
    let arms: Vec<i64> = history.iter().filter(|o| o.kind == "arm" && o.outcome.ok()).map(|o| o.start).collect();
    let offs: Vec<(&str, i64)> = history
        .iter()
        .filter(|o| o.kind == "kill_switch_off" && o.outcome.ok())
        .map(|o| (o.target.as_str(), o.end))
        .collect();
    let session_start: HashMap<&str, i64> = records
        .iter()
        .filter(|r| r["event"] == "remote_support_session_started")
        .map(|r| (r["session_id"].as_str().unwrap_or(""), at_ms(r)))
        .collect();
    for e in &executed {
        if let Some(end) = ended_at.get(e.session.as_str()) {
            if e.at > *end {
                anomalies.push(format!(
                    "{} in session {} ran {} ms after its deactivation was acknowledged",
                    e.command,
                    e.session,
                    e.at - end
                ));
            }
        }
        let agent = agent_of.get(&e.session).map(String::as_str).unwrap_or("");
        if let Some(revoked) = revoked_at.get(agent) {
            if e.at > *revoked {
                anomalies.push(format!(
                    "{} on {agent} ran {} ms after its revocation was acknowledged",
                    e.command,
                    e.at - revoked
                ));
            }
        }
        let started = session_start.get(e.session.as_str()).copied().unwrap_or(0);
        for disarm in disarms.iter().filter(|d| **d >= started) {
            // Disarmed and not armed again before the command: it must not run a second later.
            let rearmed = arms.iter().any(|a| *a > *disarm && *a < e.at);
            if e.at > disarm + 1_000 && !rearmed {
                anomalies.push(format!(
                    "{} in session {} ran {} ms after a disarm was acknowledged",
                    e.command,
                    e.session,
                    e.at - disarm
                ));
            }
        }
        for (off_agent, off) in &offs {
            if *off_agent == agent && *off >= started && e.at > off + 1_000 {
                anomalies.push(format!(
                    "{} in session {} ran {} ms after the kill switch went off",
                    e.command,
                    e.session,
                    e.at - off
                ));
            }
        }
    }

    // Figures.
    let mut counts: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for op in &history {
        let c = counts.entry(op.kind).or_default();
        match op.outcome {
            Outcome::Ok(_) => c.0 += 1,
            Outcome::Failed(..) => c.1 += 1,
            Outcome::Unknown(_) => c.2 += 1,
        }
    }
    println!("operations (ok / refused / unanswered):");
    for (kind, (ok, failed, unknown)) in &counts {
        println!("  {kind:16} {ok:7} / {failed:6} / {unknown:5}");
    }
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for op in &history {
        if let Outcome::Failed(status, code) = &op.outcome {
            *codes.entry(format!("{} {status} {code}", op.kind)).or_default() += 1;
        }
    }
    println!("refusals by operation and code: {codes:?}");
    let mut unanswered: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_node: BTreeMap<usize, usize> = BTreeMap::new();
    for op in &history {
        match &op.outcome {
            Outcome::Unknown(why) => *unanswered.entry(why.chars().take(60).collect()).or_default() += 1,
            Outcome::Ok(_) if op.node != usize::MAX => *per_node.entry(op.node).or_default() += 1,
            _ => {}
        }
    }
    println!("unanswered, by reason: {unanswered:?}");
    println!("acknowledged through each node: {per_node:?}");
    println!(
        "audit records: {}; commands run on agents: {} ({} ran but their record failed to store, answered 503)",
        records.len(),
        executed.len(),
        ran_unrecorded
    );
    println!("recovery per fault kind (from the fault until an operation started after it succeeds; a node kill: a command on an agent the node held):");
    let durable_ok = |o: &&Op| o.outcome.ok() && matches!(o.kind, "command" | "pat_create");
    let recovery = |fault: &Fault, from: i64| {
        history
            .iter()
            .filter(|o| o.start >= from)
            .filter(durable_ok)
            .filter(|o| {
                fault.held.is_empty()
                    || o.kind == "command" && agent_of.get(&o.target).is_some_and(|a| fault.held.contains(a))
            })
            .map(|o| o.end - from)
            .min()
    };
    let mut by_kind: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
    for fault in &faults {
        if let Some(took) = recovery(fault, fault.start) {
            by_kind.entry(fault.kind).or_default().push((took, fault.detail.as_str()));
        }
        if fault.kind == "db_failover" {
            if let Some(took) = recovery(fault, fault.healed) {
                by_kind.entry("db_promoted").or_default().push((took, ""));
            }
        }
    }
    // The same, counting only faults no other fault overlapped until they were recovered from
    // (what a single failure costs, the SPEC's targets).
    let mut isolated: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (i, fault) in faults.iter().enumerate() {
        let from = if fault.kind == "db_failover" { fault.healed } else { fault.start };
        let Some(took) = recovery(fault, from) else { continue };
        let (lo, hi) = (fault.start - 2_000, from + took);
        let alone = faults.iter().enumerate().all(|(j, other)| j == i || other.healed < lo || other.start > hi);
        if alone {
            isolated
                .entry(if fault.kind == "db_failover" { "db_promoted" } else { fault.kind })
                .or_default()
                .push(took);
        }
    }
    // SPEC §10's measure: a node's agents online on another node (their first link after the
    // kill, as the agents logged it).
    let links = connections(&world.agent_logs.lock().unwrap());
    let mut online_again: Vec<i64> = faults
        .iter()
        .filter(|f| f.kind == "node_kill")
        .flat_map(|f| f.held.iter().map(move |agent| (f.start, agent)))
        .filter_map(|(start, agent)| links.get(agent)?.iter().filter(|&&at| at >= start).min().map(|at| at - start))
        .collect();
    online_again.sort();
    if !online_again.is_empty() {
        let pick = |q: f64| online_again[((online_again.len() - 1) as f64 * q).round() as usize];
        println!(
            "  a killed node's agents online again: n={} median={} ms p90={} ms worst={} ms (SPEC §10: within 15 s)",
            online_again.len(),
            pick(0.5),
            pick(0.9),
            pick(1.0)
        );
    }
    for (kind, mut times) in by_kind {
        times.sort();
        let total =
            faults.iter().filter(|f| f.kind == kind || kind == "db_promoted" && f.kind == "db_failover").count();
        println!(
            "  {kind:12} faults={total:4} recovered={:4} median={:6} ms p90={:6} ms worst={:6} ms {}",
            times.len(),
            times[times.len() / 2].0,
            times[(times.len() - 1) * 9 / 10].0,
            times[times.len() - 1].0,
            match kind {
                "db_failover" => "(from the kill of the primary)".to_string(),
                "db_promoted" => "(the same, from the promotion)".to_string(),
                _ => format!("(worst: {})", times[times.len() - 1].1),
            }
        );
    }
    println!("recovery from faults that no other fault overlapped:");
    for (kind, mut times) in isolated {
        times.sort();
        println!(
            "  {kind:12} n={:4} median={:6} ms p90={:6} ms worst={:6} ms",
            times.len(),
            times[times.len() / 2],
            times[(times.len() - 1) * 9 / 10],
            times[times.len() - 1]
        );
    }
    let mut relays: BTreeMap<String, usize> = BTreeMap::new();
    for r in events("peer_relay_refused") {
        *relays.entry(format!("{} {}", r["details"]["request"], r["details"]["why"])).or_default() += 1;
    }
    println!("peer relays refused (a node acting on stale presence is refused, and recorded): {relays:?}");
    if anomalies.is_empty() {
        println!("anomalies: 0");
    } else {
        println!("anomalies: {}", anomalies.len());
        for anomaly in anomalies.iter().take(200) {
            println!("  ANOMALY {anomaly}");
        }
        forensics(&anomalies, &history, &faults, &records, log_dirs);
    }
    anomalies.is_empty()
}

/// For each session an anomaly names: every operation on it, its audit records, and the faults
/// around them (what a reader needs to tell a bug from a checker's mistake).
fn forensics(anomalies: &[String], history: &[Op], faults: &[Fault], records: &[Value], log_dirs: &[PathBuf]) {
    let mut sessions: Vec<&str> = Vec::new();
    for anomaly in anomalies {
        for word in anomaly.split_whitespace() {
            if word.starts_with("ses_") && !sessions.contains(&word) {
                sessions.push(word);
            }
        }
    }
    for session in sessions.into_iter().take(20) {
        println!("  --- {session}");
        let ops: Vec<&Op> =
            history.iter().filter(|o| o.target == session || o.target.ends_with(&format!("/{session}"))).collect();
        for op in &ops {
            let outcome = match &op.outcome {
                Outcome::Ok(_) => "ok".to_string(),
                Outcome::Failed(status, code) => format!("{status} {code}"),
                Outcome::Unknown(why) => format!("unanswered ({})", why.chars().take(60).collect::<String>()),
            };
            println!("    op {} via node {} {}..{} → {outcome}", op.kind, op.node, op.start, op.end);
        }
        for r in records.iter().filter(|r| r["session_id"] == session) {
            println!(
                "    audit seq {} at {} ({}) {} reason={} node={}",
                r["seq"],
                r["at"],
                at_ms(r),
                r["event"],
                r["reason"],
                r["node"]
            );
        }
        let (from, to) = (
            ops.iter().map(|o| o.start).min().unwrap_or(0) - 20_000,
            ops.iter().map(|o| o.end).max().unwrap_or(0) + 20_000,
        );
        for fault in faults.iter().filter(|f| f.healed >= from && f.start <= to) {
            println!("    fault {} {} {}..{}", fault.kind, fault.detail, fault.start, fault.healed);
        }
        for (node, dir) in log_dirs.iter().enumerate() {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if !name.ends_with(".log") {
                    continue;
                }
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                for line in text.lines().filter(|l| l.contains(session)).take(10) {
                    println!("    node {node} {name}: {}", line.chars().take(300).collect::<String>());
                }
            }
        }
    }
}
