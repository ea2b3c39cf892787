//! Faults on the PostgreSQL store, through the real binaries (SPEC §10 "Store outages"):
//! the database crashes (`immediate` stop) in the middle of a stream of acknowledged writes and
//! comes back; `argus-ops` is killed with SIGKILL in the middle of one. Every acknowledged
//! action is in the audit trail afterwards, nothing refused took effect, refusals are 503
//! `store_unavailable` and quick, and the node recovers without a restart.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use argus_e2e::Ops;

/// Creates PAT `owner` through the API; the status and error code.
fn create_pat(ops: &Ops, owner: &str) -> (u16, Option<String>) {
    let (status, body) = ops.create_pat(owner);
    (status, body["error"].as_str().map(str::to_string))
}

/// Owners of `pat_created` records in the audit trail (each at most once).
fn audited_owners(ops: &Ops) -> Vec<String> {
    ops.audit_events("pat_created").iter().filter_map(|e| e["details"]["owner"].as_str().map(str::to_string)).collect()
}

fn listed_owners(ops: &Ops) -> BTreeSet<String> {
    let out = ops.admin(&["pat", "ls"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json["pats"].as_array().unwrap().iter().map(|p| p["owner"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_database_crash_mid_stream_loses_nothing_acknowledged_and_the_node_recovers_by_itself() {
    let mut ops = Ops::start_on_postgres(&[]);
    // Four writers at once, so failed flushes carry several requests' batches (group commit).
    const WRITERS: usize = 4;
    const ROUNDS: usize = 60;
    let outcomes = std::sync::Mutex::new(Vec::new());
    let stage = std::sync::atomic::AtomicUsize::new(0);
    let mut postgres = ops.postgres.take().expect("on PostgreSQL");
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (ops, outcomes, stage) = (&ops, &outcomes, &stage);
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    // Phases by round: before the crash, during the outage, after the restart.
                    while stage.load(std::sync::atomic::Ordering::SeqCst) < phase(round) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    let owner = format!("w{writer}r{round}@example.com");
                    let started = Instant::now();
                    let answer = create_pat(ops, &owner);
                    outcomes.lock().unwrap().push((round, owner, answer, started.elapsed()));
                }
            });
        }
        let done_with = |rounds: usize| {
            argus_e2e::wait_until(Duration::from_secs(60), || {
                outcomes.lock().unwrap().iter().filter(|(round, ..)| *round < rounds).count() == rounds * WRITERS
            })
        };
        assert!(done_with(20));
        postgres.stop(true);
        stage.store(1, std::sync::atomic::Ordering::SeqCst);
        assert!(done_with(40));
        // Restart while the writers are still sending.
        stage.store(2, std::sync::atomic::Ordering::SeqCst);
        postgres.start_server();
    });
    ops.postgres = Some(postgres);
    let outcomes = outcomes.into_inner().unwrap();
    let (mut acked, mut refused) = (Vec::new(), Vec::new());
    for (round, owner, answer, took) in &outcomes {
        match answer {
            (201, None) => acked.push(owner.clone()),
            (503, Some(code)) if code == "store_unavailable" => {
                assert!(*took < Duration::from_secs(10), "a refusal took {took:?}");
                refused.push(owner.clone());
            }
            other => panic!("round {round}: unexpected answer {other:?}"),
        }
    }
    assert!(refused.len() >= WRITERS * 15, "the outage was seen: {} refused", refused.len());
    // The node recovers by itself (the database is back; argus-ops was never restarted).
    let mut attempt = 0;
    assert!(
        argus_e2e::wait_until(Duration::from_secs(15), || {
            attempt += 1;
            let owner = format!("after{attempt}@example.com");
            let answer = create_pat(&ops, &owner);
            match answer {
                (201, None) => acked.push(owner),
                _ => refused.push(owner),
            }
            answer.0 == 201
        }),
        "the node did not recover"
    );
    // Every acknowledged action is recorded once; nothing refused took effect.
    let audited = audited_owners(&ops);
    let listed = listed_owners(&ops);
    for owner in &acked {
        assert_eq!(audited.iter().filter(|o| *o == owner).count(), 1, "{owner} audited once");
        assert!(listed.contains(owner), "{owner} listed");
    }
    for owner in &refused {
        assert!(!audited.contains(owner) && !listed.contains(owner), "{owner} was refused yet took effect");
    }
    // The chain is one unbroken chain.
    let verify = std::process::Command::new(argus_e2e::bin("argus-ops"))
        .args(["audit", "verify", "--data-dir"])
        .arg(ops.data())
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(ops.stop().success());
}

/// The phase a round belongs to: 0 before the crash, 1 during the outage, 2 after the restart.
fn phase(round: usize) -> usize {
    match round {
        0..20 => 0,
        20..40 => 1,
        _ => 2,
    }
}

#[test]
fn killing_the_node_loses_no_acknowledged_record() {
    let mut ops = Ops::start_on_postgres(&[]);
    let mut acked = Vec::new();
    for i in 0..40 {
        let owner = format!("k{i}@example.com");
        if create_pat(&ops, &owner) == (201, None) {
            acked.push(owner);
        }
    }
    // SIGKILL: no shutdown flush.
    let server = ops.server.as_mut().unwrap();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    ops.server = None;
    ops.serve(None);
    let audited = audited_owners(&ops);
    assert_eq!(acked.len(), 40);
    for owner in &acked {
        assert!(audited.contains(owner), "{owner} acknowledged before the kill, and lost");
    }
}

/// `argus-ops` with `ARGS` and `ARGUS_STORE=store`: exit code and stderr.
fn ops_with_store(args: &[&str], store: &str) -> (Option<i32>, String) {
    let out =
        std::process::Command::new(argus_e2e::bin("argus-ops")).args(args).env("ARGUS_STORE", store).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
}

#[test]
fn bad_store_urls_wrong_passwords_and_unreachable_hosts_are_named_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ops");
    let data = data.to_str().unwrap();
    // Malformed: exit 2, naming what is wrong.
    for (url, names) in [
        ("mysql://argus:hunter2@db/argus", "mysql"),
        ("postgres://argus:hunter2@db:99999/argus", "port"),
        ("postgres://argus:hunter2@db/argus?sslmode=sometimes", "sslmode"),
        ("postgres://argus:hunter2@db", "database"),
    ] {
        let (code, text) = ops_with_store(&["init", "--data-dir", data], url);
        assert_eq!(code, Some(2), "{url}: {text}");
        assert!(text.contains(names) && !text.contains("hunter2"), "{url}: {text}");
        assert!(!std::path::Path::new(data).join("tls").exists(), "nothing written for a refused store");
    }
    // Unreachable: exit 1 within seconds, no password.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let (code, text) =
        ops_with_store(&["init", "--data-dir", data], &format!("postgres://argus:hunter2@127.0.0.1:{closed}/argus"));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("cannot connect") && !text.contains("hunter2"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    // A refused login: exit 1 with the server's reason, no password.
    let pg = argus_e2e::pg::Postgres::start();
    let (code, text) = ops_with_store(&["init", "--data-dir", data], &pg.url_with_password("argus", "hunter2"));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("password authentication failed") && !text.contains("hunter2"), "{text}");
    // And the right one works; the URL is kept 0600 and never printed.
    let (code, text) = ops_with_store(&["init", "--json", "--data-dir", data], &pg.url("argus"));
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains(pg.password()), "{text}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(std::path::Path::new(data).join("store.url")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Founding printed the cluster secret once; the CA key is in the database only sealed under
    // it, and not on the founding node's disk.
    let founded: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let secret = founded["cluster_secret"].as_str().expect("founding prints cluster_secret").to_string();
    assert!(secret.starts_with("argus_cs_"), "{founded}");
    assert!(!std::path::Path::new(data).join("tls/ca.key").exists(), "no clear CA key on the founding node");
    let stored = pg.psql("argus", "SELECT key_pem FROM cluster_ca");
    assert!(stored.starts_with("argus-sealed-ca-v1:") && !stored.contains("PRIVATE KEY"), "{stored}");
    // A second init on a database that holds a deployment joins it (cluster mode) only with
    // the secret: missing names the variable, wrong is refused, and neither writes anything.
    let other = dir.path().join("other");
    let join = |secret: Option<&str>| {
        let mut command = std::process::Command::new(argus_e2e::bin("argus-ops"));
        command.args(["init", "--json", "--data-dir", other.to_str().unwrap()]).env("ARGUS_STORE", pg.url("argus"));
        if let Some(secret) = secret {
            command.env("ARGUS_CLUSTER_SECRET", secret);
        }
        let out = command.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
    };
    let (code, text) = join(None);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("ARGUS_CLUSTER_SECRET"), "{text}");
    assert!(!other.exists(), "a refused join writes nothing");
    let wrong = format!("argus_cs_{}", "ab".repeat(32));
    let (code, text) = join(Some(&wrong));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("wrong secret") && !text.contains(&wrong), "{text}");
    assert!(!other.exists(), "a refused join writes nothing");
    let (code, text) = join(Some(&secret));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(r#""joined":true"#) && text.contains(r#""admin_pat":null"#), "{text}");
    assert!(!text.contains(pg.password()) && !text.contains(&secret), "{text}");
    assert!(!other.join("tls/ca.key").exists(), "a joined node keeps no CA key");
    // A database migrated by a newer build: serve refuses, exit 1, naming both versions.
    pg.psql("argus", "INSERT INTO argus_schema (version) VALUES (999)");
    let out = std::process::Command::new(argus_e2e::bin("argus-ops"))
        .args(["serve", "--api-listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir", data])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let known = format!("({})", argus_ops::store::postgres::SCHEMA_VERSION);
    assert!(text.contains("999") && text.contains(&known) && !text.contains(pg.password()), "{text}");
}

/// A command runs only where its outcome can be recorded (SPEC §10 "Store outages": every
/// route that must write answers 503): once the node has lost the database, a patch
/// answers 503 `store_unavailable` and the agent's file is untouched — it is not relayed and
/// run first, to find afterwards that nothing can record it. Once the database is back, the
/// same patch applies and is audited once.
#[test]
fn a_command_is_not_run_while_its_outcome_cannot_be_recorded() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut fleet = argus_e2e::Fleet::armed_on(Ops::start_on_postgres(&[]));
    let index = fleet.add_agent("a1");
    let root = fleet.agents[index].root.clone();
    std::fs::set_permissions(root.join("config.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let key =
        argus_fsm::signed::parse_signing_key_file(&std::fs::read_to_string(fleet.keys.join("patch.key")).unwrap())
            .unwrap();
    let token = fleet.activate("a1");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let body = argus_fsm::signed::PatchBody {
        version: 1,
        patch_id: "00000000-0000-4000-8000-0000000000aa".into(),
        target: "config.yaml".into(),
        content: b"poll: 7\n".to_vec(),
        mode: 0o644,
        base_sha256: None,
        not_before: now - 60,
        not_after: now + 3600,
        agents: vec![],
    };
    let file = fleet.ops.dir.path().join("patch.json");
    std::fs::write(&file, argus_fsm::signed::sign_patch(&key, &body).to_json_pretty()).unwrap();
    let apply = |fleet: &argus_e2e::Fleet| {
        let args = [
            "support",
            "command",
            "T1",
            "--session",
            &token,
            "--command",
            "apply_patch",
            "--patch",
            file.to_str().unwrap(),
        ];
        fleet.op(&args)
    };
    let before = std::fs::read(root.join("config.yaml")).unwrap();

    let postgres = fleet.ops.postgres.take().expect("on PostgreSQL");
    postgres.stop(true);
    // The node learns the database is away from its listening connection, without having to
    // fail a write first: its view may miss other nodes' ends from now on.
    argus_e2e::wait_until(Duration::from_secs(5), || fleet.ops.log().contains("could not read other nodes' changes"));
    let refused = apply(&fleet);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(refused.stderr.contains("store_unavailable"), "{}", refused.stderr);
    assert_eq!(std::fs::read(root.join("config.yaml")).unwrap(), before, "the patch ran while nothing could record it");

    let mut postgres = postgres;
    postgres.start_server();
    fleet.ops.postgres = Some(postgres);
    let mut applied = None;
    assert!(
        argus_e2e::wait_until(Duration::from_secs(20), || {
            let out = apply(&fleet);
            let ok = out.code == 0;
            applied = Some(out);
            ok
        }),
        "the node never recovered: {:?}",
        applied.map(|out| out.stderr)
    );
    assert_eq!(std::fs::read(root.join("config.yaml")).unwrap(), b"poll: 7\n");
    assert_eq!(fleet.ops.audit_events("patch_applied").len(), 1, "applied and audited once");
}

/// A node (re)started while its database is away — failing over, or not up yet after a power
/// cut — waits for it (up to 30 s) instead of exiting, and serves once it is back.
#[test]
fn serve_waits_for_a_database_that_is_not_back_yet() {
    let mut ops = Ops::start_on_postgres(&[]);
    assert!(ops.stop().success());
    let mut postgres = ops.postgres.take().expect("on PostgreSQL");
    postgres.stop(false);
    let port = postgres.port;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_secs(3));
            postgres.start_server();
        });
        ops.serve(None);
    });
    assert_eq!(postgres.port, port, "the database came back on its port");
    ops.postgres = Some(postgres);
    assert_eq!(create_pat(&ops, "after-wait@example.com"), (201, None));
    assert!(ops.log().contains("the store is not reachable yet"), "{}", ops.log());
}

#[test]
fn serve_gives_up_on_a_database_that_never_comes_back_naming_why() {
    let mut ops = Ops::start_on_postgres(&[]);
    assert!(ops.stop().success());
    let postgres = ops.postgres.take().expect("on PostgreSQL");
    postgres.stop(false);
    let (code, stderr, ran) = ops.serve_until_exit(&[], Duration::from_secs(90));
    assert_eq!(code, Some(1), "serve exits 1 when the store stays unreachable: {stderr}");
    // It waited its 30 s (a failover is given the time) and then said why.
    assert!(ran >= Duration::from_secs(29), "gave up after {ran:?}");
    assert!(stderr.contains("the store is not reachable yet"), "{stderr}");
    // The reason it gave up: the store's own words, after the 30 s.
    let gave_up = stderr.rfind("the store is unavailable: cannot connect to the database");
    assert!(gave_up.is_some_and(|at| at > stderr.find("not reachable yet").unwrap()), "{stderr}");
    // No password of the store URL in what it printed.
    assert!(!stderr.contains(&postgres.password), "{stderr}");
}

#[test]
fn a_peer_listener_on_a_wildcard_address_needs_an_address_other_nodes_can_dial() {
    let mut ops = Ops::start_on_postgres(&[]);
    assert!(ops.stop().success());
    let within = Duration::from_secs(30);
    let (code, stderr, _) = ops.serve_until_exit(&["--peer-listen", "0.0.0.0:0"], within);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("ARGUS_PEER_ADVERTISE"), "says what to set: {stderr}");
    let (code, stderr, _) =
        ops.serve_until_exit(&["--peer-listen", "127.0.0.1:0", "--peer-advertise", "0.0.0.0:4500"], within);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not an address another node can dial"), "{stderr}");
    // With a dialable address it serves and announces that one.
    ops.serve_args = ["--peer-listen", "0.0.0.0:0", "--peer-advertise", "127.0.0.1:4599"].map(String::from).to_vec();
    ops.serve(None);
    let out = ops.admin(&["cluster", "ls"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["nodes"][0]["peer"], "127.0.0.1:4599", "{}", out.json);
}
