//! The audit trail and secret hygiene through the real binaries: the chain verifies offline,
//! a tampered record is named, dry runs send nothing, and no secret reaches a log or record.

use std::process::Command;

use argus_e2e::{bin, ctl_with, Fleet, OPS_TOKEN};

#[test]
fn audit_chain_verifies_offline_and_names_a_tampered_record() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let events = fleet.ops.audit();
    assert!(events.len() >= 6);
    for pair in events.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(pair[1]["seq"].as_u64().unwrap(), pair[0]["seq"].as_u64().unwrap() + 1);
    }
    // Filters: tenant, since, limit.
    let limited = fleet.op(&["audit", "ls", "--limit", "2"]);
    assert_eq!(limited.json["events"].as_array().unwrap().len(), 2);
    // A `since` that is neither RFC 3339 nor a duration is refused before any request; the
    // server refuses one that reaches it all the same.
    let bad_since = fleet.op(&["audit", "ls", "--since", "yesterday"]);
    assert_eq!(bad_since.code, 2, "{}", bad_since.stderr);
    let pat = format!("Bearer {}", fleet.operator);
    let (status, body) = fleet.ops.http(
        "127.0.0.1".parse().unwrap(),
        "GET",
        "/support/audit?since=yesterday",
        &[("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", &pat)],
        None,
    );
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    assert!(fleet.ops.stop().success());
    let verify =
        Command::new(bin("argus-ops")).args(["audit", "verify", "--data-dir"]).arg(fleet.ops.data()).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(String::from_utf8_lossy(&verify.stdout).contains(&format!("{} records", events.len())));

    // Tamper with record 3 the way an attacker with disk (or database) access would.
    match &fleet.ops.postgres {
        Some(pg) => {
            pg.psql(
                "argus",
                "UPDATE audit SET record = replace(record, '\"actor\":\"', '\"actor\":\"mallory-') WHERE seq = 3",
            );
        }
        None => tamper(&fleet.ops.data(), 3),
    }
    let verify =
        Command::new(bin("argus-ops")).args(["audit", "verify", "--data-dir"]).arg(fleet.ops.data()).output().unwrap();
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("seq 3"), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn tamper(data: &std::path::Path, seq: u64) {
    let store = argus_e2e_store::open(data);
    store.tamper(seq);
    drop(store);
    // Let go of the database, so `argus-ops audit verify` (another process) can open it.
    argus_ops::store::SledStore::forget(&data.join("db"));
}

/// Raw store access for the tamper test, through the server crate's own store type.
mod argus_e2e_store {
    pub struct Store(argus_ops::store::SledStore);
    pub fn open(data: &std::path::Path) -> Store {
        Store(argus_ops::store::SledStore::open(&data.join("db")).unwrap())
    }
    impl Store {
        pub fn tamper(&self, seq: u64) {
            let key = argus_ops::store::audit_record_key(seq);
            let raw = String::from_utf8(self.0.raw_get(&key).unwrap().unwrap()).unwrap();
            let edited = raw.replacen("\"actor\":\"", "\"actor\":\"mallory-", 1);
            assert_ne!(raw, edited);
            self.0.raw_put(&key, edited.as_bytes()).unwrap();
        }
    }
}

#[test]
fn dry_run_sends_nothing_and_redacts_secrets() {
    // Point it at a closed port: a dry run must succeed without any network I/O.
    let env = [
        ("ARGUS_SERVER", "https://127.0.0.1:9"),
        ("ARGUS_CA_CERT", "/nonexistent/ca.pem"),
        ("ARGUS_OPS_TOKEN", OPS_TOKEN),
        ("ARGUS_PAT", "argus_pat_supersecret"),
    ];
    for args in [
        vec!["--dry-run", "agent", "revoke", "a1", "--tenant", "T1", "--reason", "r"],
        vec!["--dry-run", "agent", "activate", "a1", "--tenant", "T1", "--reason", "r", "--ttl", "45m"],
        vec!["--dry-run", "support", "command", "T1", "--session", "rst_secret", "--command", "ping"],
        vec!["--dry-run", "tenant", "arm", "T1", "--reason", "r"],
    ] {
        let out = ctl_with(&env, &args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(out.stdout.contains("127.0.0.1:9"));
        for secret in [OPS_TOKEN, "argus_pat_supersecret", "rst_secret"] {
            assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret), "{args:?} printed a secret");
        }
        assert!(out.stdout.contains("<redacted>"));
    }
    let activate =
        ctl_with(&env, &["--dry-run", "agent", "activate", "a1", "--tenant", "T1", "--reason", "r", "--ttl", "45m"]);
    assert!(activate.stdout.contains("\"ttl_seconds\": 2700"));
    // Without --dry-run, revoke without --yes refuses before any I/O (exit 2)...
    assert_eq!(ctl_with(&env, &["agent", "revoke", "a1", "--tenant", "T1", "--reason", "r"]).code, 2);
    // ...and an unreachable server is exit 3.
    let env3 = [("ARGUS_SERVER", "https://127.0.0.1:9"), ("ARGUS_CA_CERT", "/dev/null")];
    let unreachable = ctl_with(&env3, &["agent", "fleet"]);
    assert!(matches!(unreachable.code, 2 | 3), "{}", unreachable.stderr);
}

#[test]
fn no_secret_reaches_a_log_line_or_an_audit_record() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let token = fleet.activate("a1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    let enroll =
        fleet.ops.admin(&["agent", "enroll-token", "a2", "--tenant", "T1"]).json["token"].as_str().unwrap().to_string();
    let audit = serde_json::to_string(&fleet.ops.audit()).unwrap();
    let passkey = std::fs::read_to_string(fleet.agents[0].root.join("state").join("passkey.key")).unwrap();
    let secrets = [
        fleet.ops.admin_pat.as_str(),
        fleet.operator.as_str(),
        OPS_TOKEN,
        token.as_str(),
        enroll.as_str(),
        passkey.trim(),
    ];
    let logs = [fleet.ops.log(), fleet.agents[0].process.log_text()];
    for secret in secrets {
        assert!(!audit.contains(secret), "audit holds a secret");
        for log in &logs {
            assert!(!log.contains(secret), "a log holds a secret");
        }
    }
    assert!(!logs[0].is_empty(), "the server logged something to check");
}

#[test]
fn unreachable_server_with_a_valid_ca_is_exit_three() {
    let fleet = Fleet::armed(&[]);
    let ca = fleet.ops.ca();
    let env = [("ARGUS_SERVER", "https://127.0.0.1:9"), ("ARGUS_CA_CERT", ca.to_str().unwrap())];
    let out = ctl_with(&env, &["agent", "fleet"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.json["error"], "unreachable");
}

#[test]
fn init_reports_its_files_and_refuses_to_overwrite_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ops");
    let first = Command::new(bin("argus-ops")).args(["init", "--json", "--data-dir"]).arg(&data).output().unwrap();
    assert!(first.status.success());
    let json: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert!(json["admin_pat"].as_str().unwrap().starts_with("argus_pat_"));
    assert_eq!(json["ca_cert"].as_str().unwrap(), data.join("tls").join("ca.pem").to_str().unwrap());
    assert!(json["data_dir"].is_string());
    use std::os::unix::fs::PermissionsExt as _;
    for private in ["ca.key", "server.key"] {
        let mode = std::fs::metadata(data.join("tls").join(private)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{private} is readable by others");
    }
    let ca = std::fs::read(data.join("tls").join("ca.pem")).unwrap();
    let second = Command::new(bin("argus-ops")).args(["init", "--json", "--data-dir"]).arg(&data).output().unwrap();
    assert!(!second.status.success(), "a second init must refuse");
    assert_eq!(std::fs::read(data.join("tls").join("ca.pem")).unwrap(), ca, "the existing CA is untouched");
    // The bootstrap PAT is shown once and stored only as a hash.
    let pat = json["admin_pat"].as_str().unwrap();
    let stored = std::process::Command::new("grep").args(["-r", "-l", pat]).arg(&data).output().unwrap();
    assert!(stored.stdout.is_empty(), "the PAT is stored in clear somewhere");
}

#[test]
fn tenant_and_enrollment_actions_are_each_audited_once() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    assert_eq!(fleet.ops.audit_events("tenant_consent_recorded").len(), 1);
    assert_eq!(fleet.ops.audit_events("enrollment_token_issued").len(), 1);
    let withdrawn = fleet.ops.admin(&["tenant", "consent", "T1", "--withdraw", "--reason", "audit test"]);
    assert_eq!(withdrawn.code, 0, "{}", withdrawn.stderr);
    let records = fleet.ops.audit_events("tenant_consent_withdrawn");
    assert_eq!(records.len(), 1);
    assert_eq!((records[0]["tenant"].as_str(), records[0]["reason"].as_str()), (Some("T1"), Some("audit test")));
}

/// SPEC §10 "The chain never goes backwards": the newest records deleted and the head moved
/// back by someone with database access. The running node refuses to write after the cut (no
/// `seq` reused), says why in `/readyz` and its log, still refuses after a restart, and
/// `audit verify --expect-head` names the cut that a plain verify cannot see.
#[test]
fn a_chain_cut_back_in_the_database_is_refused_and_its_seqs_never_reused() {
    let fleet = Fleet::armed_on(argus_e2e::Ops::start_on_postgres(&[]));
    let mut ops = fleet.ops;
    let events = ops.audit();
    let head = events.last().unwrap().clone();
    let last = head["seq"].as_u64().unwrap();
    let cut = last - 2;
    // Held here, so the node can be restarted; dropped (stopped) after the node stops.
    let pg = ops.postgres.take().unwrap();
    pg.psql(
        "argus",
        &format!(
            "BEGIN; DELETE FROM audit WHERE seq > {cut};
             UPDATE audit_head SET seq = {cut}, hash = (SELECT hash FROM audit WHERE seq = {cut}); COMMIT;"
        ),
    );
    // The running node: the next write follows the store's head, finds it behind what it
    // wrote, and is refused.
    let disarm = ops.admin(&["tenant", "disarm", "T1", "--reason", "after the cut"]);
    assert_eq!(disarm.code, 1, "{} {}", disarm.stdout, disarm.stderr);
    assert_eq!(disarm.json["error"], "store_unavailable", "{}", disarm.stdout);
    let again = ops.admin(&["tenant", "arm", "T1", "--reason", "still refused"]);
    assert_eq!(again.json["error"], "store_unavailable", "{}", again.stdout);
    let rows = |sql: &str| pg.psql("argus", sql).trim().to_string();
    assert_eq!(rows(&format!("SELECT count(*) FROM audit WHERE seq > {cut}")), "0", "no seq written again");
    let ready = |ops: &argus_e2e::Ops| ops.http("127.0.0.1".parse().unwrap(), "GET", "/readyz", &[], None);
    let (status, body) = ready(&ops);
    assert_eq!(status, 503, "{body}");
    assert!(body["reason"].as_str().unwrap().starts_with("audit_head_behind"), "{body}");
    assert!(ops.log().contains("audit_head_behind"), "the log names it");
    // Restarted on the same data dir: the node remembers the head it had written.
    ops.stop();
    ops.serve(None);
    let (status, body) = ready(&ops);
    assert_eq!(status, 503, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("audit_head_behind"), "{body}");
    assert_eq!(ops.admin(&["tenant", "disarm", "T1", "--reason", "x"]).json["error"], "store_unavailable");
    // Offline: a plain verify sees an intact shorter chain; the expected head names the cut.
    let url = pg.url("argus");
    let verify = |extra: &[&str]| {
        Command::new(bin("argus-ops")).args(["audit", "verify", "--store", &url]).args(extra).output().unwrap()
    };
    let plain = verify(&[]);
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stdout));
    let expected = format!("{last}:{}", head["hash"].as_str().unwrap());
    let checked = verify(&["--expect-head", &expected]);
    assert_eq!(checked.status.code(), Some(1), "{}", String::from_utf8_lossy(&checked.stdout));
    let text = String::from_utf8_lossy(&checked.stdout);
    assert!(text.contains(&format!("seq {}", cut + 1)) && text.contains("expected head"), "{text}");
    let malformed = verify(&["--expect-head", "12"]);
    assert_eq!(malformed.status.code(), Some(2), "a malformed head is a usage error");
    ops.stop();
}

/// SPEC §12 "Verifying": a stored record with an extra field or other whitespace is broken,
/// and an undecodable record is named by its own seq (it was "seq 1" on PostgreSQL).
#[test]
fn audit_verify_checks_the_canonical_bytes_and_names_the_first_broken_seq() {
    let fleet = Fleet::armed_on(argus_e2e::Ops::start_on_postgres(&[]));
    let mut ops = fleet.ops;
    for i in 0..8 {
        let verb = if i % 2 == 0 { "disarm" } else { "arm" };
        assert_eq!(ops.admin(&["tenant", verb, "T1", "--reason", &format!("r{i}")]).code, 0);
    }
    ops.stop();
    let pg = ops.postgres.as_ref().unwrap();
    let url = pg.url("argus");
    let verify = || {
        let out = Command::new(bin("argus-ops")).args(["audit", "verify", "--store", &url]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert_eq!(verify().0, Some(0), "{}", verify().1);
    let original = pg.psql("argus", "SELECT record FROM audit WHERE seq = 5").trim().to_string();
    let cases = [
        ("an extra field", 5, "UPDATE audit SET record = '{\"extra\":1,' || substr(record, 2) WHERE seq = 5"),
        ("other whitespace", 5, "UPDATE audit SET record = replace(record, '\",\"', '\", \"') WHERE seq = 5"),
        ("undecodable", 12, "UPDATE audit SET record = '{not json' WHERE seq = 12"),
    ];
    for (what, seq, sql) in cases {
        pg.psql("argus", sql);
        let (code, text) = verify();
        assert_eq!(code, Some(1), "{what}: {text}");
        assert!(text.contains(&format!("broken at seq {seq}:")), "{what}: {text}");
        pg.psql("argus", &format!("UPDATE audit SET record = $${original}$$ WHERE seq = 5"));
    }
}
