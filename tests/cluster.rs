//! Cluster mode (SPEC §10): three `argus-ops` nodes on loopback sharing one throwaway
//! PostgreSQL, one test per rule. Waits are for events, with generous bounds; exact figures
//! belong to the benchmark.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use argus_e2e::proxy::Proxy;
use argus_e2e::{bin, sample_install_root, wait_until, Agent, Fleet, Ops, Output, OPS_TOKEN};
use serde_json::{json, Value};

/// Node 0 (which founded the cluster and holds the PostgreSQL server) and two joined nodes.
struct Cluster {
    fleet: Fleet,
    others: Vec<Ops>,
}

impl Cluster {
    fn start() -> Cluster {
        let fleet = Fleet::armed_on(Ops::start_on_postgres(&[]));
        let others = (0..2).map(|_| fleet.ops.join(None)).collect();
        Cluster { fleet, others }
    }

    fn node(&self, i: usize) -> &Ops {
        if i == 0 {
            &self.fleet.ops
        } else {
            &self.others[i - 1]
        }
    }

    fn node_id(&self, i: usize) -> String {
        self.node(i).addresses()["node_id"].as_str().expect("node_id").to_string()
    }

    /// `argusctl --json ARGS` as the operator, against node `i`.
    fn op(&self, i: usize, args: &[&str]) -> Output {
        self.node(i).ctl(&self.fleet.operator, args)
    }

    /// Enrolls `agent_id` through node `first` (the server it is given) and starts it.
    fn agent(&mut self, agent_id: &str, first: usize) -> Agent {
        let root = self.fleet.ops.dir.path().join(format!("root-{agent_id}"));
        sample_install_root(&root);
        let token = self.fleet.ops.admin(&["agent", "enroll-token", agent_id, "--tenant", &self.fleet.tenant]);
        assert_eq!(token.code, 0, "{}", token.stderr);
        let out = self.fleet.enroll_at(
            &root,
            agent_id,
            token.json["token"].as_str().unwrap(),
            &self.node(first).agent.to_string(),
        );
        assert!(out.status.success(), "enroll: {}", String::from_utf8_lossy(&out.stderr));
        let agent = Agent::start(&root, self.fleet.ops.dir.path());
        assert!(
            wait_until(Duration::from_secs(20), || self.holder(0, agent_id).is_some()),
            "agent {agent_id} never came online"
        );
        agent
    }

    /// The node holding `agent_id` as node `via` lists it.
    fn holder(&self, via: usize, agent_id: &str) -> Option<String> {
        let out = self.op(via, &["agent", "ls", "--tenant", &self.fleet.tenant]);
        let rows = out.json["agents"].as_array().cloned().unwrap_or_default();
        rows.into_iter()
            .find(|a| a["agent_id"] == agent_id && a["online"] == true)
            .and_then(|a| a["node"].as_str().map(str::to_string))
    }

    fn activate(&self, via: usize, agent_id: &str) -> Output {
        self.op(via, &["agent", "activate", agent_id, "--tenant", &self.fleet.tenant, "--reason", "cluster e2e"])
    }

    fn command(&self, via: usize, token: &str, name: &str, args: Option<Value>) -> Output {
        let mut argv = vec!["support", "command", &self.fleet.tenant, "--session", token, "--command", name];
        let text = args.map(|a| a.to_string());
        if let Some(text) = &text {
            argv.extend(["--args", text]);
        }
        self.op(via, &argv)
    }

    /// Raw HTTPS to node `i` as the operator.
    fn http(&self, i: usize, method: &str, path: &str, extra: &[(&str, &str)], body: Option<Value>) -> (u16, Value) {
        let bearer = format!("Bearer {}", self.fleet.operator);
        let mut headers = vec![("authorization", bearer.as_str()), ("x-argus-ops-token", OPS_TOKEN)];
        headers.extend_from_slice(extra);
        self.node(i).http("127.0.0.1".parse().unwrap(), method, path, &headers, body)
    }

    fn verify_chain(&self) -> std::process::Output {
        let url = self.fleet.ops.postgres.as_ref().unwrap().url("argus");
        Command::new(bin("argus-ops"))
            .args(["audit", "verify"])
            .env("ARGUS_STORE", url)
            .output()
            .expect("audit verify runs")
    }
}

fn ok(out: &Output) {
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
}

fn refused(out: &Output, code: &str) {
    assert_eq!((out.code, out.json["error"].as_str()), (1, Some(code)), "{} {}", out.stdout, out.stderr);
}

fn cluster_events(cluster: &Cluster, event: &str) -> Vec<Value> {
    cluster.fleet.ops.audit_events(event)
}

#[test]
fn joined_nodes_share_the_ca_and_each_lists_every_node() {
    let cluster = Cluster::start();
    let ca = std::fs::read(cluster.node(0).ca()).unwrap();
    let ids: Vec<String> = (0..3).map(|i| cluster.node_id(i)).collect();
    // One checkpoint key for the cluster, served by every node (SPEC §14).
    let key = |i: usize| cluster.node(i).http("127.0.0.1".parse().unwrap(), "GET", "/audit/checkpoint-key", &[], None);
    let (status, first_key) = key(0);
    assert_eq!(status, 200, "{first_key}");
    for i in 0..3 {
        let node = cluster.node(i);
        assert_eq!(key(i), (200, first_key.clone()), "node {i} signs with the cluster's checkpoint key");
        assert_eq!(std::fs::read(node.ca()).unwrap(), ca, "node {i} pins the cluster CA");
        assert!(node.addresses()["peer"].as_str().is_some(), "node {i} names its peer listener");
        // Each node's own certificate (signed by the one CA: argusctl pins ca.pem and talks to it).
        let listed = cluster.op(i, &["cluster", "ls"]);
        ok(&listed);
        let nodes = listed.json["nodes"].as_array().unwrap();
        let mut alive: Vec<&str> =
            nodes.iter().filter(|n| n["alive"] == true).map(|n| n["node_id"].as_str().unwrap()).collect();
        alive.sort();
        let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
        expected.sort();
        assert_eq!(alive, expected, "node {i} lists every live node: {listed:?}");
        for node in nodes {
            for field in ["api", "agent", "peer", "agents_online", "last_heartbeat"] {
                assert!(!node[field].is_null(), "{field} in {node}");
            }
        }
    }
    // The listing needs remote_support or admin: a tenant admin is refused (and audited).
    let tenant_admin = cluster.fleet.ops.admin(&[
        "pat",
        "create",
        "--owner",
        "ta@example.com",
        "--scope",
        "tenant_admin",
        "--tenant",
        "T1",
    ]);
    ok(&tenant_admin);
    let pat = tenant_admin.json["pat"].as_str().unwrap().to_string();
    refused(&cluster.node(1).ctl(&pat, &["cluster", "ls"]), "missing_role");
    // Nor an operator's PAT bound to one tenant: the counts span every tenant.
    let bound = cluster.fleet.ops.admin(&[
        "pat",
        "create",
        "--owner",
        "op-t1@example.com",
        "--scope",
        "remote_support",
        "--tenant",
        "T1",
    ]);
    ok(&bound);
    refused(&cluster.node(1).ctl(bound.json["pat"].as_str().unwrap(), &["cluster", "ls"]), "missing_role");
    assert!(
        !cluster.node(0).data().join("tls/ca.key").exists(),
        "nor does the founding node: it is sealed in the store"
    );
    let certs: Vec<Vec<u8>> =
        (0..3).map(|i| std::fs::read(cluster.node(i).data().join("tls/server.pem")).unwrap()).collect();
    assert!(certs[0] != certs[1] && certs[1] != certs[2], "every node has its own certificate");
    assert!(!cluster.node(1).data().join("tls/ca.key").exists(), "a joined node keeps no CA key of its own");
}

#[test]
fn every_operator_route_answers_the_same_through_a_node_that_does_not_hold_the_agent() {
    let mut cluster = Cluster::start();
    let _agent = cluster.agent("a1", 0);
    // Node 1 learns of the agent's record by announcement (SPEC §10: within 1 s).
    let holder = Some(cluster.node_id(0));
    assert!(
        wait_until(Duration::from_secs(5), || cluster.holder(1, "a1") == holder),
        "node 1 sees node 0 holding a1: {:?}",
        cluster.holder(1, "a1")
    );
    // Capabilities, once the manifest the agent sent node 0 has reached node 1's view.
    assert!(
        wait_until(Duration::from_secs(10), || !cluster.op(1, &["agent", "capabilities", "a1"]).json["manifest"]
            .is_null()),
        "capabilities through node 1: {}",
        cluster.node(1).log()
    );
    let activated = cluster.activate(1, "a1");
    ok(&activated);
    let token = activated.json["session_token"].as_str().unwrap().to_string();
    // The same session is refused a second time on any node.
    refused(&cluster.activate(2, "a1"), "session_already_active");
    let status = cluster.op(2, &["support", "status", &cluster.fleet.tenant, "--session", &token]);
    ok(&status);
    assert_eq!(status.json["state"], "active");
    let pong = cluster.command(2, &token, "ping", None);
    ok(&pong);
    assert_eq!(pong.json["result"]["pong"], true);
    let tail = cluster.command(1, &token, "tail_log", Some(json!({ "lines": 2 })));
    ok(&tail);
    assert_eq!(tail.json["result"]["lines"], json!(["line 299", "line 300"]));
    // Refusals keep their codes through the hop: the agent's own, and the server's.
    refused(
        &cluster.command(1, &token, "read_file", Some(json!({ "path": "../ops/tls/ca.pem" }))),
        "path_not_allowlisted",
    );
    refused(&cluster.command(2, &token, "read_file", Some(json!({ "path": "crashes/none.txt" }))), "file_not_found");
    refused(&cluster.command(2, &token, "reboot", None), "command_not_allowlisted");
    // A patch applied through node 1 is a replay through node 2.
    let new = cluster.fleet.ops.dir.path().join("new.yaml");
    std::fs::write(&new, "poll: 9\n").unwrap();
    let patch = sign_patch(&cluster.fleet, &new);
    let argv = [
        "support",
        "command",
        &cluster.fleet.tenant,
        "--session",
        &token,
        "--command",
        "apply_patch",
        "--patch",
        patch.to_str().unwrap(),
    ];
    ok(&cluster.op(1, &argv));
    refused(&cluster.op(2, &argv), "patch_replayed");
    // Deactivation through node 2 answers once the agent (on node 0) refuses the session.
    ok(&cluster.op(2, &["support", "deactivate", &cluster.fleet.tenant, "--session", &token, "--reason", "done"]));
    refused(&cluster.command(0, &token, "ping", None), "session_expired");
    // One record per command that reached the session (the one after the end is refused before
    // it runs), written by the node that served it.
    let commands = cluster_events(&cluster, "remote_support_command");
    let by_node = |i: usize| commands.iter().filter(|e| e["node"] == cluster.node_id(i).as_str()).count();
    assert_eq!(commands.len(), 7, "{commands:#?}");
    assert_eq!((by_node(0), by_node(1), by_node(2)), (0, 3, 4), "{commands:#?}");
    assert_eq!(cluster_events(&cluster, "remote_support_session_started").len(), 1);
    assert_eq!(cluster_events(&cluster, "remote_support_session_ended").len(), 1);
    // The activation's early grant to the holding node goes once the session is durable: the
    // holding node checks it against the store and must find it (found by the nemesis run:
    // relayed before the flush, it was refused and recorded as peer_relay_refused).
    let refused_relays = cluster_events(&cluster, "peer_relay_refused");
    assert!(refused_relays.is_empty(), "{refused_relays:#?}");
    let verified = cluster.verify_chain();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}

fn sign_patch(fleet: &Fleet, file: &Path) -> std::path::PathBuf {
    let out = fleet.ops.dir.path().join("patch.json");
    let signed = argus_e2e::ctl_with(
        &[],
        &[
            "patch",
            "sign",
            "--key",
            fleet.keys.join("patch.key").to_str().unwrap(),
            "--target",
            "config.yaml",
            "--file",
            file.to_str().unwrap(),
            "--not-before",
            "2026-01-01T00:00:00Z",
            "--not-after",
            "2030-01-01T00:00:00Z",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    out
}

#[test]
fn three_simultaneous_activations_on_three_nodes_make_one_session() {
    let mut cluster = Cluster::start();
    let _agent = cluster.agent("a1", 0);
    let outcomes: Vec<Output> = std::thread::scope(|scope| {
        let cluster = &cluster;
        let runs: Vec<_> = (0..3).map(|i| scope.spawn(move || cluster.activate(i, "a1"))).collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let won = outcomes.iter().filter(|o| o.code == 0).count();
    let lost = outcomes.iter().filter(|o| o.json["error"] == "session_already_active").count();
    assert_eq!((won, lost), (1, 2), "{outcomes:#?}");
    assert_eq!(cluster_events(&cluster, "remote_support_session_started").len(), 1);
}

#[test]
fn revocation_on_one_node_cuts_off_the_agent_another_node_holds() {
    let mut cluster = Cluster::start();
    let agent = cluster.agent("a1", 2);
    assert_eq!(cluster.holder(0, "a1"), Some(cluster.node_id(2)));
    let started = Instant::now();
    ok(&cluster
        .op(0, &["agent", "revoke", "a1", "--tenant", &cluster.fleet.tenant, "--reason", "lost laptop", "--yes"]));
    // Node 2 closed the link before the revocation was answered (its presence row goes with it).
    assert_eq!(cluster.holder(2, "a1"), None, "node 2 still holds the revoked agent");
    eprintln!("revoke on node 0 → link on node 2 closed, seen from outside after {:?}", started.elapsed());
    // And the agent does not get back in, on any node.
    let status = agent.root.join("state/status.json");
    assert!(
        wait_until(Duration::from_secs(20), || std::fs::read(&status)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|s| s["refused"] == "agent_revoked")),
        "the revoked agent was not refused"
    );
    assert!(cluster.holder(1, "a1").is_none());
    let rows = cluster.op(1, &["agent", "ls", "--tenant", &cluster.fleet.tenant]).json["agents"].clone();
    assert_eq!((rows[0]["online"].clone(), rows[0]["node"].clone()), (json!(false), Value::Null), "{rows}");
}

/// Wall-clock milliseconds (what the agent's `at_ms` is).
fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// When the agent started each command it ran, from its own log (`command executed … at_ms=`).
fn executed_at(log: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|line| line.contains("command executed"))
        .filter_map(|line| line.split("at_ms=").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

fn signal(ops: &Ops, signal: &str) {
    let pid = ops.server.as_ref().expect("a server process").child.id().to_string();
    assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
}

#[test]
fn a_revocation_answers_only_once_the_holding_node_has_cut_the_agent_off_and_nothing_runs_after() {
    let mut cluster = Cluster::start();
    let agent = cluster.agent("a1", 2);
    let first = cluster.activate(1, "a1");
    ok(&first);
    let token = first.json["session_token"].as_str().unwrap().to_string();
    ok(&cluster.command(1, &token, "ping", None));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (answered_ms, pings) = std::thread::scope(|scope| {
        // Commands keep arriving through the node that holds the agent and one that relays.
        let (cluster, token, stop) = (&cluster, &token, &stop);
        let hammer = scope.spawn(move || {
            let mut pings = Vec::new();
            // Bounded by itself too: a failed assertion below must not leave it running.
            let deadline = Instant::now() + Duration::from_secs(40);
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::SeqCst) || Instant::now() > deadline {
                    break;
                }
                let started = wall_ms();
                let out = cluster.command(1 + i % 2, token, "ping", None);
                pings.push((started, out.code, out.json["error"].clone()));
            }
            pings
        });
        std::thread::sleep(Duration::from_millis(300));
        // The holding node is paused: it hears nothing until it wakes 1.5 s later.
        signal(cluster.node(2), "-STOP");
        let woke = scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            signal(cluster.node(2), "-CONT");
            Instant::now()
        });
        let revoke = ["agent", "revoke", "a1", "--tenant", &cluster.fleet.tenant, "--reason", "stolen", "--yes"];
        ok(&cluster.op(0, &revoke));
        let (answered_at, answered_ms) = (Instant::now(), wall_ms());
        let woke = woke.join().unwrap();
        // Before the answer: the holder woke, ended the session on the agent and cut its link.
        assert!(woke < answered_at, "the revocation was answered while the holding node was paused");
        assert_eq!(cluster.holder(2, "a1"), None, "the holding node lists the revoked agent online");
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        (answered_ms, hammer.join().unwrap())
    });
    let after: Vec<_> = pings.iter().filter(|(started, ..)| *started > answered_ms).collect();
    assert!(!after.is_empty(), "no command was tried after the revocation");
    assert!(after.iter().all(|(_, code, _)| *code != 0), "a command succeeded after the revocation: {after:?}");
    let ran_after: Vec<i64> = executed_at(&agent.process.log).into_iter().filter(|at| *at > answered_ms).collect();
    assert!(ran_after.is_empty(), "the agent ran commands after the revocation was answered: {ran_after:?}");
    assert!(!executed_at(&agent.process.log).is_empty(), "the agent's log names no command at all");
}

/// #18: a paused node that wakes never acts on a stale view. A PAT is revoked on node 0 while
/// node 3 is stopped and its database connection cut: on waking, node 3 cannot have heard of it,
/// and it must not let the PAT in — it re-reads the store first (503 while it cannot), and once
/// the store is back the PAT is refused there too.
#[test]
fn a_node_that_wakes_from_a_pause_re_reads_the_store_before_deciding() {
    let cluster = Cluster::start();
    let pg = cluster.fleet.ops.postgres.as_ref().unwrap();
    let proxy = Proxy::start(format!("127.0.0.1:{}", pg.port).parse().unwrap());
    let url = format!("postgres://argus:{}@{}/argus?sslmode=disable", pg.password(), proxy.addr);
    let sleeper = cluster.fleet.ops.join(Some(&url));
    let created =
        cluster.fleet.ops.admin(&["pat", "create", "--owner", "paused@example.com", "--scope", "remote_support"]);
    ok(&created);
    let (id, pat) = (created.json["id"].as_str().unwrap(), created.json["pat"].as_str().unwrap());
    assert!(
        wait_until(Duration::from_secs(10), || sleeper.ctl(pat, &["agent", "fleet"]).code == 0),
        "the new PAT never worked on node 3: {}",
        sleeper.log()
    );
    signal(&sleeper, "-STOP");
    ok(&cluster.fleet.ops.admin(&["pat", "revoke", id, "--yes"]));
    proxy.cut();
    std::thread::sleep(Duration::from_millis(2_500));
    signal(&sleeper, "-CONT");
    let woke = sleeper.ctl(pat, &["agent", "fleet"]);
    refused(&woke, "store_unavailable");
    proxy.restore();
    assert!(
        wait_until(Duration::from_secs(30), || sleeper.ctl(pat, &["agent", "fleet"]).json["error"] == "invalid_pat"),
        "the revoked PAT was not refused once the store was back: {}",
        sleeper.log()
    );
    assert!(sleeper.log().contains("paused or starved"), "{}", sleeper.log());
}

#[test]
fn a_malformed_node_id_and_a_verify_with_neither_data_dir_nor_database_are_usage_errors() {
    let serve = Command::new(bin("argus-ops"))
        .args(["serve", "--data-dir", "/nonexistent", "--node-id", "not a node id"])
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(2), "{}", String::from_utf8_lossy(&serve.stderr));
    assert!(String::from_utf8_lossy(&serve.stderr).contains("node ID"));
    let verify = Command::new(bin("argus-ops")).args(["audit", "verify"]).env_remove("ARGUS_STORE").output().unwrap();
    assert_eq!(verify.status.code(), Some(2), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stderr).contains("--data-dir"));
}

#[test]
fn disarm_and_consent_withdrawal_on_one_node_end_sessions_another_node_holds() {
    let mut cluster = Cluster::start();
    let _agent = cluster.agent("a1", 2);
    let tenant = cluster.fleet.tenant.clone();
    let first = cluster.activate(2, "a1");
    ok(&first);
    let token = first.json["session_token"].as_str().unwrap().to_string();
    ok(&cluster.command(2, &token, "ping", None));
    ok(&cluster.op(0, &["tenant", "disarm", &tenant, "--reason", "incident over"]));
    let after = cluster.command(2, &token, "ping", None);
    refused(&after, "session_expired");
    let status = cluster.op(1, &["support", "status", &tenant, "--session", &token]);
    assert_eq!(status.json["ended_reason"], "tenant_disarmed", "{status:?}");
    // Armed again; a new session, ended by a consent withdrawal on node 1.
    ok(&cluster.fleet.ops.admin(&["tenant", "arm", &tenant, "--reason", "next incident"]));
    let second = cluster.activate(2, "a1");
    ok(&second);
    let token = second.json["session_token"].as_str().unwrap().to_string();
    ok(&cluster.node(1).admin(&["tenant", "consent", &tenant, "--withdraw", "--reason", "customer said no"]));
    refused(&cluster.command(2, &token, "ping", None), "session_expired");
    let status = cluster.op(0, &["support", "status", &tenant, "--session", &token]);
    assert_eq!(status.json["ended_reason"], "consent_withdrawn", "{status:?}");
    let reasons: Vec<Value> =
        cluster_events(&cluster, "remote_support_session_ended").into_iter().map(|e| e["reason"].clone()).collect();
    assert_eq!(reasons, vec![json!("tenant_disarmed"), json!("consent_withdrawn")]);
}

#[test]
fn an_expiry_watched_by_three_nodes_is_recorded_once() {
    let mut cluster = Cluster::start();
    let _agent = cluster.agent("a1", 1);
    let body = json!({ "tenant": cluster.fleet.tenant, "reason": "short", "ttl_seconds": 2 });
    let (status, session) = cluster.http(0, "POST", "/support/agents/a1/activate", &[], Some(body));
    assert_eq!(status, 201, "{session}");
    let token = session["session_token"].as_str().unwrap().to_string();
    let path = format!("/support/tenants/{}/session", cluster.fleet.tenant);
    // Every node learns of the session, so all three expiry drivers watch it.
    for i in 0..3 {
        assert!(
            wait_until(Duration::from_secs(5), || cluster
                .http(i, "GET", &path, &[("x-argus-session", &token)], None)
                .0
                == 200),
            "node {i} knows the session"
        );
    }
    let ended = || cluster_events(&cluster, "remote_support_session_ended");
    assert!(wait_until(Duration::from_secs(15), || !ended().is_empty()), "the expiry was recorded");
    // Each driver runs at least once a second: three seconds more gives every node its chance
    // to record it again.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        assert_eq!(ended().len(), 1, "{:#?}", ended());
    }
    assert_eq!(ended()[0]["reason"], "expired");
    for i in 0..3 {
        let (_, answer) = cluster.http(i, "GET", &path, &[("x-argus-session", &token)], None);
        assert_eq!((answer["state"].as_str(), answer["ended_reason"].as_str()), (Some("ended"), Some("expired")));
    }
}

#[test]
fn after_the_holding_node_is_killed_its_agents_come_back_elsewhere_and_the_session_survives() {
    let mut cluster = Cluster::start();
    let agents = [cluster.agent("a1", 0), cluster.agent("a2", 0)];
    let dead = cluster.node_id(0);
    for agent in &agents {
        // Each agent has been told where the other nodes are.
        let nodes = agent.root.join("state/nodes.json");
        assert!(
            wait_until(Duration::from_secs(10), || std::fs::read(&nodes)
                .ok()
                .and_then(|b| serde_json::from_slice::<Vec<argus_fsm::wire::NodeLoad>>(&b).ok())
                .is_some_and(|list| list.len() == 3)),
            "the agent learned the three nodes"
        );
    }
    let activated = cluster.activate(1, "a1");
    ok(&activated);
    let token = activated.json["session_token"].as_str().unwrap().to_string();
    let killed = Instant::now();
    cluster.fleet.ops.kill();
    // Right after the kill, a command through a survivor answers — the agent's node is gone, so
    // `agent_offline` (or, if it already moved, its answer) — and does not hang.
    let asked = Instant::now();
    let early = cluster.command(1, &token, "ping", None);
    assert!(early.code == 0 || early.json["error"] == "agent_offline", "{early:?}");
    assert!(asked.elapsed() < Duration::from_secs(15), "answered after {:?}", asked.elapsed());
    eprintln!("a command for the dead node's agent answered {:?} after {:?}", early.json["error"], asked.elapsed());
    let moved = |agent: &str| cluster.holder(1, agent).is_some_and(|node| node != dead);
    assert!(
        wait_until(Duration::from_secs(40), || moved("a1") && moved("a2")),
        "agents did not come back on the surviving nodes"
    );
    eprintln!("kill -9 of the holding node → both agents online elsewhere after {:?}", killed.elapsed());
    let pong = cluster.command(2, &token, "ping", None);
    ok(&pong);
    // The agents notice the dead node (6 s) before the cluster does (its heartbeat 10 s old).
    let seen_dead = || {
        let listed = cluster.op(2, &["cluster", "ls"]);
        let nodes = listed.json["nodes"].as_array().cloned().unwrap_or_default();
        nodes.iter().find(|n| n["node_id"] == dead.as_str()).is_some_and(|n| n["alive"] == false)
    };
    assert!(wait_until(Duration::from_secs(20), seen_dead), "the killed node is still listed alive");
}

#[test]
fn a_node_that_loses_the_database_stops_acknowledging_while_the_others_carry_on() {
    let cluster = Cluster::start();
    let pg = cluster.fleet.ops.postgres.as_ref().unwrap();
    let proxy = Proxy::start(format!("127.0.0.1:{}", pg.port).parse().unwrap());
    let url = format!("postgres://argus:{}@{}/argus?sslmode=disable", pg.password(), proxy.addr);
    let cut_off = cluster.fleet.ops.join(Some(&url));
    let tenant = cluster.fleet.tenant.clone();
    ok(&cut_off.ctl(&cluster.fleet.operator, &["tenant", "show", &tenant]));
    proxy.cut();
    let started = Instant::now();
    let out = cut_off.admin(&["tenant", "disarm", &tenant, "--reason", "through the cut node"]);
    refused(&out, "store_unavailable");
    assert!(started.elapsed() < Duration::from_secs(20), "answered in {:?}", started.elapsed());
    // The others write as usual, and nothing the cut node refused took effect.
    ok(&cluster.op(1, &["agent", "ls", "--tenant", &tenant]));
    let pat = cluster.node(2).admin(&["pat", "create", "--owner", "other@example.com", "--scope", "remote_support"]);
    ok(&pat);
    assert_eq!(cluster.node(1).admin(&["tenant", "show", &tenant]).json["armed"], true);
    // Back: the cut node recovers by itself.
    proxy.restore();
    assert!(
        wait_until(Duration::from_secs(30), || cut_off
            .admin(&["tenant", "disarm", &tenant, "--reason", "through the node, recovered"])
            .code
            == 0),
        "the node did not recover: {}",
        cut_off.log()
    );
    assert_eq!(cluster.node(2).admin(&["tenant", "show", &tenant]).json["armed"], false);
    let verified = cluster.verify_chain();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}

/// Sends one request on the peer link to `peer` as the holder of `cert`/`key` (a node of the
/// cluster CA, or whoever minted one): the reply.
fn peer_request(
    ca_pem: &[u8],
    cert_pem: &str,
    key_pem: &str,
    peer: std::net::SocketAddr,
    request: &argus_fsm::wire::PeerRequest,
) -> argus_fsm::wire::PeerReply {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let certs = argus_transport_quic::parse_certificates(cert_pem.as_bytes()).unwrap();
        let key = argus_transport_quic::parse_private_key(key_pem.as_bytes()).unwrap();
        let endpoint = argus_transport_quic::peer_endpoint("127.0.0.1:0".parse().unwrap(), ca_pem, certs, key).unwrap();
        let connection = endpoint.connect(peer, argus_transport_quic::PEER_SERVER_NAME).unwrap().await.unwrap();
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        argus_transport_quic::write_frame(&mut send, request).await.unwrap();
        let _ = send.finish();
        let reply = argus_transport_quic::read_frame(&mut recv).await.unwrap().expect("a reply");
        connection.close(0u32.into(), b"");
        endpoint.wait_idle().await;
        reply
    })
}

/// SPEC §10 "Joining needs more than the database" and "Relayed work is checked where it
/// runs": the database holds the CA key only sealed; a certificate minted with the CA key (an
/// attacker who got it) or a real node's certificate cannot make the holding node run a command
/// for a session that is not live for that agent, tenant and operator. Each refusal is audited
/// as `peer_relay_refused`, and nothing runs; real relays still work.
#[test]
fn relayed_work_runs_only_from_a_live_node_for_a_session_live_for_that_agent_tenant_and_operator() {
    use argus_fsm::command::Command as AgentCommand;
    use argus_fsm::wire::{PeerReply, PeerRequest, Reply, SessionGrant};

    let mut cluster = Cluster::start();
    let _agent = cluster.agent("a1", 0);
    let holder = cluster.holder(0, "a1").expect("held");
    let holder_index = (0..3).find(|i| cluster.node_id(*i) == holder).unwrap();
    let other = (holder_index + 1) % 3;
    let peer: std::net::SocketAddr = cluster.node(holder_index).addresses()["peer"].as_str().unwrap().parse().unwrap();
    let ca_pem = std::fs::read(cluster.node(0).ca()).unwrap();
    let pg = cluster.fleet.ops.postgres.as_ref().unwrap();

    // What the database shows is not a key.
    let stored = pg.psql("argus", "SELECT key_pem FROM cluster_ca");
    assert!(stored.starts_with("argus-sealed-ca-v1:") && !stored.contains("PRIVATE KEY"), "{stored}");
    let sealed = argus_ops::bootstrap::seal::unseal(
        &format!("argus_cs_{}", "00".repeat(32)),
        &String::from_utf8_lossy(&ca_pem),
        &stored,
    );
    assert!(sealed.is_err(), "no key without the secret");

    let read_config = |session_id: &str, owner: &str| PeerRequest::Relay {
        agent_id: "a1".into(),
        grant: SessionGrant {
            session_id: session_id.into(),
            tenant: cluster.fleet.tenant.clone(),
            owner: owner.into(),
            expires_at: argus_fsm::Timestamp(i64::MAX / 2),
            approval: None,
        },
        command: AgentCommand::ReadFile { path: "config.yaml".try_into().unwrap() },
    };
    let refused = |reply: PeerReply| match reply {
        PeerReply::Relayed(Reply::Refused { code, .. }) => code.as_str() == "session_not_found",
        _ => false,
    };
    let commands_run = || cluster_events(&cluster, "remote_support_command").len();
    let before = commands_run();

    // 1. A certificate minted with the CA key (as someone who stole the key and the secret
    //    would), an invented session: refused, not from a live node.
    let secret = cluster.fleet.ops.cluster_secret.clone().unwrap();
    let ca_key = argus_ops::bootstrap::seal::unseal(&secret, &String::from_utf8_lossy(&ca_pem), &stored).unwrap();
    let (minted_cert, minted_key) = argus_ops::bootstrap::tls::issue(&ca_key, &[]).unwrap();
    let reply = peer_request(&ca_pem, &minted_cert, &minted_key, peer, &read_config("sess_invented", "op@example.com"));
    assert!(refused(reply.clone()), "{reply:?}");

    // 2. A real node's certificate, an invented session: refused, naming that node.
    let node_tls = cluster.node(other).data().join("tls");
    let (node_cert, node_key) = (
        std::fs::read_to_string(node_tls.join("server.pem")).unwrap(),
        std::fs::read_to_string(node_tls.join("server.key")).unwrap(),
    );
    let reply = peer_request(&ca_pem, &node_cert, &node_key, peer, &read_config("sess_invented", "op@example.com"));
    assert!(refused(reply.clone()), "{reply:?}");

    // 3. A real node, a real live session, but claimed for another operator: refused.
    let activated = cluster.activate(other, "a1");
    ok(&activated);
    let session_id = activated.json["session_id"].as_str().unwrap().to_string();
    let reply = peer_request(&ca_pem, &node_cert, &node_key, peer, &read_config(&session_id, "mallory@example.com"));
    assert!(refused(reply.clone()), "{reply:?}");

    // 4. Cutting off an agent that is not revoked: refused from a minted certificate and from
    //    a real node alike; the link stays.
    let cut_off = PeerRequest::CutOff { agent_id: "a1".into() };
    assert_eq!(peer_request(&ca_pem, &minted_cert, &minted_key, peer, &cut_off), PeerReply::NotHere);
    assert_eq!(peer_request(&ca_pem, &node_cert, &node_key, peer, &cut_off), PeerReply::NotHere);
    assert_eq!(cluster.holder(holder_index, "a1"), Some(holder.clone()), "the agent was cut off");

    // Nothing ran, and every refusal is on record with the peer's node when it is one.
    assert_eq!(commands_run(), before, "no relayed command ran");
    let refusals = cluster_events(&cluster, "peer_relay_refused");
    let whys: Vec<(Value, Value)> =
        refusals.iter().map(|r| (r["details"]["why"].clone(), r["details"]["peer_node"].clone())).collect();
    let other_id = json!(cluster.node_id(other));
    assert!(whys.contains(&(json!("not_a_live_node"), Value::Null)), "{whys:?}");
    assert!(whys.contains(&(json!("no_such_session"), other_id.clone())), "{whys:?}");
    assert!(whys.contains(&(json!("session_mismatch"), other_id.clone())), "{whys:?}");
    assert!(whys.contains(&(json!("not_revoked"), other_id)), "{whys:?}");
    let cut_offs = refusals.iter().filter(|r| r["details"]["request"] == "cut_off").count();
    assert_eq!(cut_offs, 2, "{refusals:?}");
    assert!(refusals.iter().all(|r| r["agent"] == "a1" && r["tenant"] == "T1"), "{refusals:?}");

    // 5. The real thing still works: the operator's command through the other node.
    let token = activated.json["session_token"].as_str().unwrap();
    let read = cluster.command(other, token, "read_file", Some(json!({ "path": "config.yaml" })));
    ok(&read);
    assert_eq!(read.json["result"]["content"], "poll: 5\n");
}

/// The migration path for a cluster founded before the secret (its CA key in clear): joining is
/// refused and names `argus-ops cluster seal`, which seals it once under a new secret, printed
/// once; from then on the new secret joins and nothing else does.
#[test]
fn a_cluster_founded_before_the_secret_is_sealed_once_and_its_secret_rotated() {
    let ops = Ops::start_on_postgres(&[]);
    let pg = ops.postgres.as_ref().unwrap();
    let url = pg.url("argus");
    let ca = std::fs::read_to_string(ops.ca()).unwrap();
    let clear = argus_ops::bootstrap::seal::unseal(
        ops.cluster_secret.as_deref().unwrap(),
        &ca,
        &pg.psql("argus", "SELECT key_pem FROM cluster_ca"),
    )
    .unwrap();
    // The database as such a cluster left it.
    pg.psql("argus", &format!("UPDATE cluster_ca SET key_pem = $${clear}$$"));
    let work = tempfile::tempdir().unwrap();
    let join = |name: &str, secret: Option<&str>| {
        let mut command = Command::new(bin("argus-ops"));
        command.args(["init", "--json", "--data-dir"]).arg(work.path().join(name)).env("ARGUS_STORE", &url);
        if let Some(secret) = secret {
            command.env("ARGUS_CLUSTER_SECRET", secret);
        }
        let out = command.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
    };
    let (code, text) = join("n2", ops.cluster_secret.as_deref());
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("argus-ops cluster seal"), "{text}");
    let seal = || {
        let out = Command::new(bin("argus-ops")).args(["cluster", "seal", "--json", "--store", &url]).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = seal();
    assert_eq!(code, Some(0), "{stderr}");
    let secret = serde_json::from_str::<Value>(&stdout).unwrap()["cluster_secret"].as_str().unwrap().to_string();
    let stored = pg.psql("argus", "SELECT key_pem FROM cluster_ca");
    assert!(stored.starts_with("argus-sealed-ca-v1:") && !stored.contains("PRIVATE KEY"), "{stored}");
    assert_eq!(argus_ops::bootstrap::seal::unseal(&secret, &ca, &stored).unwrap(), clear, "the same CA key");
    let (code, _, stderr) = seal();
    assert_eq!(code, Some(1), "sealing twice is refused");
    assert!(stderr.contains("already sealed"), "{stderr}");
    let (code, text) = join("n3", ops.cluster_secret.as_deref());
    assert_eq!(code, Some(1), "the old secret does not open the new seal: {text}");
    let (code, text) = join("n4", Some(&secret));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(r#""joined":true"#), "{text}");
    // Rotating the secret: the current one opens the key, a new one seals it; the old one
    // no longer joins, the new one does.
    let reseal = |current: Option<&str>| {
        let mut command = Command::new(bin("argus-ops"));
        command.args(["cluster", "reseal", "--json", "--store", &url]).env_remove("ARGUS_CLUSTER_SECRET");
        if let Some(current) = current {
            command.env("ARGUS_CLUSTER_SECRET", current);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, stderr) = reseal(None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("ARGUS_CLUSTER_SECRET"), "{stderr}");
    let (code, _, stderr) = reseal(ops.cluster_secret.as_deref());
    assert_eq!(code, Some(1), "a wrong current secret reseals nothing: {stderr}");
    let (code, stdout, stderr) = reseal(Some(&secret));
    assert_eq!(code, Some(0), "{stderr}");
    let rotated = serde_json::from_str::<Value>(&stdout).unwrap()["cluster_secret"].as_str().unwrap().to_string();
    assert_ne!(rotated, secret);
    let (code, text) = join("n5", Some(&secret));
    assert_eq!(code, Some(1), "the old secret no longer joins: {text}");
    let (code, text) = join("n6", Some(&rotated));
    assert_eq!(code, Some(0), "{text}");
    // The nodes keep serving throughout.
    assert_eq!(ops.admin(&["agent", "fleet"]).code, 0);
}

/// SPEC §12 "Floods" on the peer listener: 4,000 Initials at 1,000/s from other addresses that
/// never answer; a node of the cluster still opens a fresh peer link and is answered (SPEC: within
/// 5 s; asserted with a generous bound, the figure printed).
#[test]
fn a_flood_of_initials_on_the_peer_listener_does_not_keep_nodes_out() {
    use argus_fsm::wire::{PeerReply, PeerRequest};

    let cluster = Cluster::start();
    let peer: std::net::SocketAddr = cluster.node(0).addresses()["peer"].as_str().unwrap().parse().unwrap();
    let ca_pem = std::fs::read(cluster.node(0).ca()).unwrap();
    let flood = {
        let ca_pem = ca_pem.clone();
        let sources: Vec<std::net::IpAddr> = (2..10).map(|i| std::net::IpAddr::from([127, 0, 0, i])).collect();
        std::thread::spawn(move || argus_e2e::flood::initials(peer, &ca_pem, &sources, 4_000, 1_000.0, false))
    };
    std::thread::sleep(Duration::from_secs(1));
    let tls = cluster.node(1).data().join("tls");
    let (cert, key) = (
        std::fs::read_to_string(tls.join("server.pem")).unwrap(),
        std::fs::read_to_string(tls.join("server.key")).unwrap(),
    );
    let end = PeerRequest::EndSession {
        agent_id: "nobody".into(),
        session_id: "sess_none".into(),
        reason: argus_fsm::session::EndReason::Deactivated,
    };
    let started = Instant::now();
    let reply = peer_request(&ca_pem, &cert, &key, peer, &end);
    let answered = started.elapsed();
    let sent = flood.join().unwrap();
    eprintln!(
        "peer flood: {} Initials at {:.0}/s; a node's fresh peer link answered in {answered:?}",
        sent.initials,
        sent.rate()
    );
    assert_eq!(reply, PeerReply::NotHere, "checked and answered (no such session)");
    // SPEC's bound is 5 s; a debug build on a loaded 2-core machine was seen at 5.76 s once, so
    // the test holds a generous 10 s (a listener that kept nodes out never answers at all) and
    // prints the figure; `argus-bench floods` measures the same flood on the agent listener.
    assert!(answered < Duration::from_secs(10), "answered after {answered:?} during the flood");
}

/// SPEC §13 in a cluster: an access request made on node 0 (which holds the agent), approved
/// on node 1, and activated on node 2 — whose grant, with its approvals, reaches the agent
/// through the holding node, which answers the agent's verdict. Accepted: commands run through
/// another node. Refused (an approval by a key the agent does not list): the activation on
/// node 1 answers the agent's `approval_invalid` through the hop and no live session remains.
#[test]
fn a_request_made_on_one_node_approved_on_another_opens_a_session_activated_on_a_third() {
    let mut cluster = Cluster::start();
    let agent = cluster.agent("a1", 0);
    let keys = cluster.fleet.keys.clone();
    for name in ["alice", "mallory"] {
        ok(&argus_e2e::ctl_with(&[], &["keygen", "--out", keys.join(name).to_str().unwrap()]));
    }
    let set = Command::new(bin("argus-agent"))
        .args(["approvers", "set", "--install-root"])
        .arg(&agent.root)
        .arg("--key")
        .arg(keys.join("alice.pub"))
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let admin = cluster.fleet.ops.admin(&[
        "pat",
        "create",
        "--owner",
        "admin@t1.example",
        "--scope",
        "tenant_admin",
        "--tenant",
        "T1",
    ]);
    ok(&admin);
    let admin = admin.json["pat"].as_str().unwrap().to_string();
    for i in 0..3 {
        assert!(
            wait_until(Duration::from_secs(15), || {
                cluster.op(i, &["agent", "capabilities", "a1"]).json["manifest"]["approval_threshold"] == 1
            }),
            "node {i} learns the agent's policy"
        );
    }
    let request = |i: usize| {
        let out = cluster.op(i, &["access", "request", "a1", "--tenant", "T1", "--reason", "INC-7", "--ttl", "20m"]);
        ok(&out);
        out.json["request_id"].as_str().unwrap().to_string()
    };
    let state_on = |i: usize, id: &str| cluster.op(i, &["access", "show", id]).json["state"].clone();
    let approve_on = |i: usize, id: &str, name: &str| {
        assert!(wait_until(Duration::from_secs(15), || state_on(i, id) == "pending"), "node {i} sees the request");
        let key = keys.join(format!("{name}.key"));
        let out =
            cluster.node(i).ctl(&admin, &["access", "approve", id, "--key", key.to_str().unwrap(), "--approver", name]);
        ok(&out);
        assert_eq!(out.json["state"], "approved");
    };
    let activate_on = |i: usize, id: &str| {
        assert!(wait_until(Duration::from_secs(15), || state_on(i, id) == "approved"), "node {i} sees the approval");
        cluster.op(i, &["agent", "activate", "a1", "--tenant", "T1", "--request", id])
    };
    assert_eq!(cluster.holder(2, "a1"), Some(cluster.node_id(0)), "node 0 holds the agent");

    let accepted = request(0);
    approve_on(1, &accepted, "alice");
    let opened = activate_on(2, &accepted);
    ok(&opened);
    let token = opened.json["session_token"].as_str().unwrap().to_string();
    ok(&cluster.command(1, &token, "ping", None));
    ok(&cluster.op(1, &["support", "deactivate", "T1", "--session", &token, "--reason", "done"]));
    assert!(wait_until(Duration::from_secs(15), || state_on(2, &accepted) == "used"));
    refused(&cluster.op(2, &["agent", "activate", "a1", "--tenant", "T1", "--request", &accepted]), "approval_invalid");

    let forged = request(2);
    approve_on(0, &forged, "mallory");
    refused(&activate_on(1, &forged), "approval_invalid");
    let agents = cluster.op(2, &["agent", "ls", "--tenant", "T1"]);
    assert_eq!(agents.json["agents"][0]["session_active"], false, "{}", agents.stdout);
    let started = cluster_events(&cluster, "remote_support_session_started");
    let ended = cluster_events(&cluster, "remote_support_session_ended");
    assert_eq!((started.len(), ended.len()), (2, 2), "each session started ended once");
    assert_eq!(ended[1]["actor"], "system", "{}", ended[1]);
    // The session refused by the agent never ran anything: one command on record.
    assert_eq!(cluster_events(&cluster, "remote_support_command").len(), 1);
}
